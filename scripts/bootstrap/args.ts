import { parseArgs } from "node:util";

export const ENVIRONMENTS = ["dev", "prod"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export interface GitHubRepo {
  readonly owner: string;
  readonly name: string;
}

export interface BootstrapArgs {
  readonly region: string;
  readonly env: Environment;
  readonly githubRepo?: GitHubRepo;
  readonly dryRun: boolean;
}

export type ParsedArgs = { readonly help: true } | ({ readonly help: false } & BootstrapArgs);

/** Bad command-line input: the entry point prints it with the usage and exits 2 before any AWS call. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export const USAGE = `Usage: npx tsx scripts/bootstrap/bootstrap.ts --region <aws-region> --env <dev|prod> [--github-repo <owner/name>] [--dry-run]
       make bootstrap ARGS="--region <aws-region> --env <dev|prod> [--github-repo <owner/name>] [--dry-run]"

Checks the account's Lambda concurrency quota in the stack's region, creates (or checks) the
hardened S3 bucket that holds the Terraform state and the managed policy <env>-platform-boundary
that caps every role the stack creates, and with --github-repo the GitHub OIDC provider, the
environment's deploy role, its read-only plan role and the GitHub variables the workflows read.
Records the backend and what the policies were built for in .bootstrap/<env>.json (git-ignored),
so that npx cdktf deploy <env> / destroy <env> need no other step.
Safe to re-run: only differences are changed. Exits 1 when a prerequisite it cannot create
(such as the Lambda quota) is missing, after doing everything else and saying what to do.

Options:
  --region <r>            AWS region of the state bucket and of the GitHub variables (e.g. ap-southeast-2)
  --env <dev|prod>        environment whose boundary, deploy and plan roles, state key and GitHub variables are set up
  --github-repo <o/n>     GitHub repository (case as on GitHub: the OIDC subject is case-sensitive)
  --dry-run               read the account and print what would change; change nothing
  -h, --help              show this help

State bucket name: <repo>-terraform-state-<account_id>, where <repo> is the name part of
--github-repo, else the repository name of the git remote "origin", else the name of the
repository's top-level directory; lowercased and reduced to S3's rules.

AWS credentials and endpoint come from the usual SDK sources (AWS_PROFILE, AWS_ACCESS_KEY_ID,
SSO, AWS_ENDPOINT_URL, ...).`;

// Commercial, GovCloud, China and ISO partitions: two letters, optional partition tag, area, digit.
const REGION_PATTERN = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/;
// GitHub: owners are alphanumerics and single hyphens (<= 39 chars); repositories [A-Za-z0-9._-] (<= 100).
const OWNER_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;
const REPO_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

export function parseBootstrapArgs(argv: readonly string[]): ParsedArgs {
  let values: { region?: string; env?: string; "github-repo"?: string; "dry-run"?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        region: { type: "string" },
        env: { type: "string" },
        "github-repo": { type: "string" },
        "dry-run": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return { help: true };

  const region = values.region;
  if (region === undefined) throw new UsageError("--region is required (e.g. --region ap-southeast-2)");
  if (!REGION_PATTERN.test(region)) {
    throw new UsageError(`--region "${region}" is not an AWS region name (expected something like ap-southeast-2)`);
  }

  const env = values.env;
  if (env === undefined) throw new UsageError(`--env is required: one of ${ENVIRONMENTS.join(", ")}`);
  if (!(ENVIRONMENTS as readonly string[]).includes(env)) {
    throw new UsageError(`--env "${env}" must be one of ${ENVIRONMENTS.join(", ")}`);
  }

  return {
    help: false,
    region,
    env: env as Environment,
    githubRepo: values["github-repo"] === undefined ? undefined : parseGitHubRepo(values["github-repo"]),
    dryRun: values["dry-run"] ?? false,
  };
}

function parseGitHubRepo(value: string): GitHubRepo {
  const parts = value.split("/");
  const [owner, name] = parts;
  if (parts.length !== 2 || !OWNER_PATTERN.test(owner) || !REPO_PATTERN.test(name) || name === "." || name === "..") {
    throw new UsageError(
      `--github-repo "${value}" must be <owner>/<name>: owner of letters, digits and single hyphens (max 39), ` +
        "name of letters, digits, '.', '_' or '-' (max 100)",
    );
  }
  return { owner, name };
}
