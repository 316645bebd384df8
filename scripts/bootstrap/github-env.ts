import { spawnSync } from "node:child_process";
import type { Environment, GitHubRepo } from "./args";
import type { StepResult } from "./progress";

/** The variables the workflows read from the GitHub environment (none is a secret). */
export type GitHubVariables = Readonly<Record<string, string>>;

type Gh = (args: readonly string[]) => { ok: boolean; stdout: string; missing: boolean };

const runGh: Gh = (args) => {
  const result = spawnSync("gh", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return { ok: result.status === 0, stdout: result.stdout ?? "", missing: result.error !== undefined };
};

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The exact commands that create the environment (if needed) and set its variables. */
export function ghCommands(repo: GitHubRepo, env: Environment, vars: GitHubVariables): string[] {
  const slug = `${repo.owner}/${repo.name}`;
  return [
    `gh api --method PUT repos/${slug}/environments/${env}`,
    ...Object.entries(vars).map(
      ([name, value]) => `gh variable set ${name} --env ${env} --repo ${slug} --body ${shellQuote(value)}`,
    ),
  ];
}

/** The exact commands that set repository-level variables (no environment). */
export function ghRepositoryCommands(repo: GitHubRepo, vars: GitHubVariables): string[] {
  const slug = `${repo.owner}/${repo.name}`;
  return Object.entries(vars).map(([name, value]) => `gh variable set ${name} --repo ${slug} --body ${shellQuote(value)}`);
}

/**
 * When gh is missing or logged out: prints the commands that finish the step and returns its
 * "manual" result; otherwise undefined.
 */
function ghUnavailable(gh: Gh, commands: string[], print: (line: string) => void): StepResult | undefined {
  const auth = gh(["auth", "status", "--hostname", "github.com"]);
  if (auth.ok) return undefined;
  const why = auth.missing ? "gh is not installed" : "gh is not logged in (gh auth login)";
  print(`    ${why}; run these to finish:`);
  for (const command of commands) print(`      ${command}`);
  return { change: "manual", detail: why };
}

/** Name -> value of a `gh variable list --json name,value` answer. */
function listedValues(stdout: string): Map<string, string> {
  return new Map((JSON.parse(stdout || "[]") as { name: string; value: string }[]).map((v) => [v.name, v.value]));
}

/**
 * Sets each variable whose value differs from `current` (`scope`: the gh flags that say where,
 * `failure`: the error when gh fails on one); returns their names. A dry run only names them.
 */
function setChanged(
  gh: Gh,
  vars: GitHubVariables,
  current: Map<string, string>,
  target: { slug: string; scope: readonly string[]; failure: (name: string) => string; dryRun: boolean },
): string[] {
  const changed: string[] = [];
  for (const [name, value] of Object.entries(vars)) {
    if (current.get(name) === value) continue;
    changed.push(name);
    if (target.dryRun) continue;
    if (!gh(["variable", "set", name, ...target.scope, "--repo", target.slug, "--body", value]).ok) {
      throw new Error(target.failure(name));
    }
  }
  return changed;
}

/**
 * Sets repository-level variables (read by jobs outside any GitHub environment, such as the
 * pull-request plans) with `gh`, changing only those that differ, or prints the commands. Other
 * repository variables are left alone.
 */
export async function ensureRepositoryVariables(
  repo: GitHubRepo,
  vars: GitHubVariables,
  opts: { dryRun: boolean; print: (line: string) => void; gh?: Gh },
): Promise<StepResult> {
  const gh = opts.gh ?? runGh;
  const slug = `${repo.owner}/${repo.name}`;
  const manual = ghUnavailable(gh, ghRepositoryCommands(repo, vars), opts.print);
  if (manual) return manual;
  const listed = gh(["variable", "list", "--repo", slug, "--json", "name,value"]);
  if (!listed.ok) throw new Error(`gh could not list the repository variables of ${slug}`);
  const current = listedValues(listed.stdout);
  const changes = setChanged(gh, vars, current, {
    slug, scope: [], failure: (name) => `gh could not set repository variable ${name} of ${slug}`, dryRun: opts.dryRun,
  });
  if (changes.length === 0) return { change: "unchanged", detail: `${Object.keys(vars).length} variables` };
  return { change: Object.keys(vars).some((n) => current.has(n)) ? "updated" : "created", detail: changes.join(", ") };
}

/**
 * Sets the GitHub environment's variables with `gh` when it is installed and logged in, changing
 * only those that differ; otherwise prints the commands for the user to run.
 */
export async function ensureGitHubVariables(
  repo: GitHubRepo,
  env: Environment,
  vars: GitHubVariables,
  opts: { dryRun: boolean; print: (line: string) => void; gh?: Gh },
): Promise<StepResult> {
  const gh = opts.gh ?? runGh;
  const slug = `${repo.owner}/${repo.name}`;
  const manual = ghUnavailable(gh, ghCommands(repo, env, vars), opts.print);
  if (manual) return manual;
  const changes: string[] = [];
  // Only a missing environment is created: a PUT on an existing one could reset its protection rules.
  const environmentExists = gh(["api", `repos/${slug}/environments/${env}`]).ok;
  if (!environmentExists) {
    changes.push(`environment ${env}`);
    if (!opts.dryRun && !gh(["api", "--method", "PUT", `repos/${slug}/environments/${env}`]).ok) {
      throw new Error(`gh could not create the GitHub environment "${env}" in ${slug}`);
    }
  }
  const listed = environmentExists ? gh(["variable", "list", "--env", env, "--repo", slug, "--json", "name,value"]) : undefined;
  const current = listedValues(listed?.ok ? listed.stdout : "");
  changes.push(...setChanged(gh, vars, current, {
    slug,
    scope: ["--env", env],
    failure: (name) => `gh could not set variable ${name} in environment "${env}" of ${slug}`,
    dryRun: opts.dryRun,
  }));
  if (changes.length === 0) return { change: "unchanged", detail: `${Object.keys(vars).length} variables` };
  return { change: current.size === 0 ? "created" : "updated", detail: changes.join(", ") };
}
