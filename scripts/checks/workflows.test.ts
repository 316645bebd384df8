/**
 * The GitHub workflows against the roles bootstrap makes: which job may assume which role, that
 * prod applies the very plan its reviewers saw, and that every action is pinned. The shell steps
 * of plan-prod and apply-prod run here as written, with real Terraform on a stand-in stack, to
 * show that a stale plan or a changed artifact stops the apply with a clear message.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { PLANS_ON_MAIN } from "../bootstrap/github-oidc";

const ROOT = resolve(__dirname, "../..");
type Step = { name?: string; id?: string; if?: string; uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> };
type Job = { environment?: unknown; needs?: string | string[]; if?: string; steps: Step[]; outputs?: Record<string, string> };
type Workflow = { env?: Record<string, string>; jobs: Record<string, Job> };

const workflow = (name: string) => parse(readFileSync(join(ROOT, ".github/workflows", name), "utf8")) as Workflow;
const deploy = workflow("deploy.yml");
const plan = workflow("plan.yml");
const destroy = workflow("destroy.yml");
const text = (job: Job) => JSON.stringify(job);

describe("who assumes which role", () => {
  it("pull-request plans run in no GitHub environment, with the plan roles, never for forks", () => {
    const job = plan.jobs.plan;
    expect(job.environment).toBeUndefined();
    expect(job.if).toBe("github.event.pull_request.head.repo.full_name == github.repository");
    expect(text(job)).toContain("_PLAN_ROLE_ARN");
    expect(text(job)).not.toContain("vars.AWS_ROLE_ARN");
    expect(job.steps.find((s) => s.uses === "./.github/actions/terraform-plan")?.with?.lock).toBe("false");
  });

  it("prod is planned outside its environment and applied inside it, from the saved plan", () => {
    const planProd = deploy.jobs["plan-prod"];
    const applyProd = deploy.jobs["apply-prod"];
    expect(planProd.environment).toBeUndefined();
    expect(text(planProd)).toContain("vars.PROD_PLAN_ROLE_ARN");
    expect(text(planProd)).not.toContain("vars.AWS_ROLE_ARN");
    expect(applyProd.environment).toBe("prod");
    expect(applyProd.needs).toBe("plan-prod");
    expect(text(applyProd)).toContain("vars.AWS_ROLE_ARN");
    // apply-prod never plans: it applies the file plan-prod uploaded.
    expect(applyProd.steps.some((s) => s.uses?.includes("terraform-plan") || s.uses?.includes("setup-stack"))).toBe(false);
    expect(applyProd.steps.some((s) => /terraform\b[^|]*\bplan\b/.test(s.run ?? ""))).toBe(false);
    const upload = planProd.steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"));
    const download = applyProd.steps.find((s) => s.uses?.startsWith("actions/download-artifact@"));
    expect(download?.with?.name).toBe(upload?.with?.name);
    expect(String(upload?.with?.path)).toContain(".terraform.lock.hcl");
    expect(upload?.with?.["include-hidden-files"]).toBe(true);
    // dev keeps plan-and-apply in one job, in its environment.
    expect(deploy.jobs.dev.environment).toBe("dev");
    expect(deploy.jobs.dev.steps.some((s) => s.uses === "./.github/actions/terraform-plan")).toBe(true);
  });

  it("plan roles trust the main branch exactly where deploy.yml plans on main outside an environment", () => {
    for (const env of ["dev", "prod"] as const) {
      const plansOnMain = Object.values(deploy.jobs).some(
        (job) => job.environment === undefined && text(job).includes(`vars.${env.toUpperCase()}_PLAN_ROLE_ARN`),
      );
      expect(PLANS_ON_MAIN[env], env).toBe(plansOnMain);
    }
  });

  it("pins every action by commit SHA", () => {
    const files = [
      ...readdirSync(join(ROOT, ".github/workflows")).map((f) => join(".github/workflows", f)),
      ...readdirSync(join(ROOT, ".github/actions")).map((d) => join(".github/actions", d, "action.yml")),
    ];
    const unpinned: string[] = [];
    for (const file of files) {
      for (const match of readFileSync(join(ROOT, file), "utf8").matchAll(/^\s*(?:-\s*)?uses:\s*(\S+)/gm)) {
        if (!match[1].startsWith("./") && !/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(match[1])) unpinned.push(`${file}: ${match[1]}`);
      }
    }
    expect(unpinned).toEqual([]);
    expect(files.length).toBeGreaterThanOrEqual(5);
  });

  it("destroy says what happens to each environment's data", () => {
    const source = readFileSync(join(ROOT, ".github/workflows/destroy.yml"), "utf8");
    expect(source).not.toMatch(/empty them first/i);
    expect(source).toContain("force_destroy");
    expect(source).toContain("prevent_destroy");
    expect(destroy.jobs.destroy.environment).toBe("${{ inputs.environment }}");
  });
});

function terraformBinary(): string {
  const candidates = [...(process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, "terraform")), "/usr/local/bin/terraform"];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error("terraform not found on PATH or at /usr/local/bin/terraform: install Terraform 1.11 to run this test");
  return found;
}

describe("plan-prod and apply-prod steps with real Terraform", () => {
  const terraform = terraformBinary();
  const base = mkdtempSync(join(tmpdir(), "deploy-workflow-"));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  const stackDir = deploy.env?.PROD_STACK_DIR ?? "";
  const step = (job: string, name: string) => {
    const run = deploy.jobs[job].steps.find((s) => s.name === name)?.run;
    if (!run) throw new Error(`no step "${name}" in ${job}`);
    return run;
  };

  /** Runs a step's script as GitHub does (bash -e -o pipefail), in `workspace`. */
  function runStep(workspace: string, script: string) {
    const summary = join(workspace, "..", `summary-${Date.now()}.md`);
    writeFileSync(summary, "");
    const result = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", script], {
      cwd: workspace,
      encoding: "utf8",
      env: {
        PATH: `${join(terraform, "..")}${delimiter}/usr/bin${delimiter}/bin`,
        HOME: base,
        CHECKPOINT_DISABLE: "1",
        TF_IN_AUTOMATION: "1",
        PROD_STACK_DIR: stackDir,
        STACK_DIR: stackDir,
        RUNNER_TEMP: mkdtempSync(join(base, "runner-temp-")),
        GITHUB_STEP_SUMMARY: summary,
      },
    });
    return { code: result.status, out: `${result.stdout}${result.stderr}`, summary: readFileSync(summary, "utf8") };
  }

  function tf(workspace: string, ...args: string[]) {
    const result = spawnSync(terraform, [`-chdir=${stackDir}`, ...args, "-input=false", "-no-color"], {
      cwd: workspace,
      encoding: "utf8",
      env: { PATH: "/usr/bin:/bin", HOME: base, CHECKPOINT_DISABLE: "1" },
    });
    expect(result.status, `terraform ${args.join(" ")}: ${result.stderr}`).toBe(0);
  }

  /** A workspace laid out as plan-prod leaves it: a stand-in stack with a saved plan and its artifacts. */
  function planned(name: string): string {
    const workspace = join(base, name);
    mkdirSync(join(workspace, stackDir), { recursive: true });
    mkdirSync(join(workspace, "build"));
    writeFileSync(join(workspace, "build/function.zip"), "function");
    writeFileSync(join(workspace, "build/dbt-layer.zip"), "layer");
    writeFileSync(
      join(workspace, stackDir, "cdk.tf.json"),
      JSON.stringify({ variable: { v: { default: "1" } }, resource: { terraform_data: { x: { input: "${var.v}" } } } }),
    );
    writeFileSync(join(workspace, stackDir, ".terraform.lock.hcl"), "# no providers\n");
    tf(workspace, "init");
    tf(workspace, "apply", "-auto-approve");
    tf(workspace, "plan", "-lock=false", "-out=tfplan", "-var=v=2");
    const record = runStep(workspace, step("plan-prod", "Record what the plan depends on"));
    expect(record.code, record.out).toBe(0);
    return workspace;
  }

  it("applies the reviewed plan when nothing changed since", () => {
    const workspace = planned("fresh");
    expect(readFileSync(join(workspace, stackDir, "tfplan.txt"), "utf8")).toContain("terraform_data.x");
    const check = runStep(workspace, step("apply-prod", "Check the plan, its artifacts and the working directory"));
    expect(check.code, check.out).toBe(0);
    const apply = runStep(workspace, step("apply-prod", "terraform apply (the reviewed plan)"));
    expect(apply.code, apply.out).toBe(0);
    expect(apply.out).toContain("Apply complete! Resources: 0 added, 1 changed, 0 destroyed.");
    expect(apply.out).not.toContain("::error");
  });

  it("stops with a clear message, and re-plans nothing, when the state changed after the plan", () => {
    const workspace = planned("stale");
    tf(workspace, "apply", "-auto-approve", "-var=v=3");
    const apply = runStep(workspace, step("apply-prod", "terraform apply (the reviewed plan)"));
    expect(apply.code).toBe(1);
    expect(apply.out).toContain("Error: Saved plan is stale");
    expect(apply.out).toContain("::error title=Reviewed plan is stale::the prod state changed after plan-prod ran");
    expect(apply.summary).toContain("### Not applied: the reviewed plan is stale");
    expect(apply.out).not.toContain("Apply complete");
  });

  it("refuses an artifact that differs from the planned one, or another working directory", () => {
    const workspace = planned("tampered");
    writeFileSync(join(workspace, "build/function.zip"), "other code");
    const check = runStep(workspace, step("apply-prod", "Check the plan, its artifacts and the working directory"));
    expect(check.code).toBe(1);
    expect(check.out).toContain("::error title=Plan artifacts differ::");

    const moved = join(base, "moved");
    cpSync(planned("original"), moved, { recursive: true });
    const elsewhere = runStep(moved, step("apply-prod", "Check the plan, its artifacts and the working directory"));
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.out).toContain("::error title=Different working directory::the plan was made in");
  });
});

describe("the bootstrap check every AWS job runs first (scripts/checks/bootstrap-check)", () => {
  const CHECK = join(ROOT, "scripts/checks/bootstrap-check");
  const VARS = ["ROLE_ARN", "AWS_REGION_VAR", "TFSTATE_BUCKET", "TFSTATE_REGION", "TFSTATE_KEY"];
  const run = (vars: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), "bootstrap-check-"));
    const files = { GITHUB_OUTPUT: join(dir, "output"), GITHUB_STEP_SUMMARY: join(dir, "summary") };
    for (const file of Object.values(files)) writeFileSync(file, "");
    const done = spawnSync(CHECK, [], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...files, ...vars } });
    const read = (file: string) => readFileSync(file, "utf8");
    const result = { code: done.status, stdout: done.stdout, output: read(files.GITHUB_OUTPUT), summary: read(files.GITHUB_STEP_SUMMARY) };
    rmSync(dir, { recursive: true, force: true });
    return result;
  };
  // As GitHub passes ${{ vars.X }} of a variable that does not exist: an empty string.
  const empty = Object.fromEntries(VARS.map((v) => [v, ""]));
  const bootstrapped = { ROLE_ARN: "arn:aws:iam::123456789012:role/r", AWS_REGION_VAR: "ap-southeast-2", TFSTATE_BUCKET: "b", TFSTATE_REGION: "ap-southeast-2", TFSTATE_KEY: "k" };

  it("fails an environment that was never bootstrapped, naming the bootstrap command", () => {
    const dev = run({ TARGET: "dev", ...empty });
    expect(dev.code).toBe(1);
    expect(dev.stdout).toContain('::error title=dev not bootstrapped::dev is not bootstrapped');
    expect(dev.stdout).toContain('make bootstrap ARGS="--region <aws-region> --env dev --github-repo <owner>/<repo>"');
    expect(dev.output).toBe("ready=false\n");
  });

  it("skips prod before its bootstrap with a notice in the job summary, and passes a bootstrapped env", () => {
    const prod = run({ TARGET: "prod", SKIP_UNBOOTSTRAPPED: "true", ...empty });
    expect(prod.code).toBe(0);
    expect(prod.output).toBe("ready=false\n");
    expect(prod.stdout).toContain("::notice title=prod skipped: not bootstrapped::");
    expect(prod.summary).toContain("### prod skipped: not bootstrapped");
    expect(prod.summary).toContain('make bootstrap ARGS="--region <aws-region> --env prod --github-repo <owner>/<repo>"');
    const ready = run({ TARGET: "prod", SKIP_UNBOOTSTRAPPED: "true", ...bootstrapped });
    expect(ready.code).toBe(0);
    expect(ready.output).toBe("ready=true\n");
  });

  it("fails a half-finished bootstrap even where skipping is allowed, naming what is missing", () => {
    const half = run({ TARGET: "prod", SKIP_UNBOOTSTRAPPED: "true", ...bootstrapped, TFSTATE_BUCKET: "", TFSTATE_KEY: "" });
    expect(half.code).toBe(1);
    expect(half.stdout).toContain("prod's bootstrap is incomplete: TFSTATE_BUCKET TFSTATE_KEY not set");
  });

  it("runs before anything reaches AWS in every job that does, and prod's skip gates its plan", () => {
    const jobs = [deploy.jobs.dev, deploy.jobs["plan-prod"], deploy.jobs["ship-prod"], plan.jobs.plan, destroy.jobs.destroy];
    for (const job of jobs) {
      const check = job.steps.findIndex((s) => s.run === "scripts/checks/bootstrap-check");
      const setup = job.steps.findIndex((s) => s.uses === "./.github/actions/setup-stack");
      expect(check).toBeGreaterThan(-1);
      expect(check).toBeLessThan(setup);
    }
    for (const job of [deploy.jobs["plan-prod"], plan.jobs.plan]) {
      for (const step of job.steps.filter((s) => s.uses?.startsWith("./.github/actions/"))) {
        expect((step as { if?: string }).if).toBe("steps.bootstrap.outputs.ready == 'true'");
      }
    }
    expect(deploy.jobs.dev.steps.find((s) => s.run === "scripts/checks/bootstrap-check")?.env?.SKIP_UNBOOTSTRAPPED).toBeUndefined();
    expect(deploy.jobs["apply-prod"].if).toBe("needs.plan-prod.outputs.changes == 'true'");
  });
});

describe("setup-stack stops on a config changed since bootstrap", () => {
  type Action = { runs: { steps: Step[] } };
  const action = parse(readFileSync(join(ROOT, ".github/actions/setup-stack/action.yml"), "utf8")) as Action;
  const synthStep = action.runs.steps.find((s) => s.id === "synth") as Step;
  /** The step's script as written, in a scratch folder whose `make` is a no-op and whose synth output is given. */
  const runSynthStep = (stack: object, vars: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), "setup-stack-"));
    mkdirSync(join(dir, "bin"));
    writeFileSync(join(dir, "bin", "make"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    mkdirSync(join(dir, "cdktf.out/stacks/dev"), { recursive: true });
    writeFileSync(join(dir, "cdktf.out/stacks/dev/cdk.tf.json"), JSON.stringify(stack));
    writeFileSync(join(dir, "output"), "");
    const done = spawnSync("bash", ["-e", "-c", synthStep.run ?? ""], {
      cwd: dir,
      encoding: "utf8",
      env: { PATH: `${join(dir, "bin")}${delimiter}${process.env.PATH}`, GITHUB_OUTPUT: join(dir, "output"), STACK: "dev", ...vars },
    });
    const output = readFileSync(join(dir, "output"), "utf8");
    rmSync(dir, { recursive: true, force: true });
    return { code: done.status, stdout: done.stdout, output };
  };
  const stack = {
    terraform: { backend: { s3: { key: "dbt-lambda-platform/dev/terraform.tfstate" } } },
    provider: { aws: [{ region: "ap-southeast-2" }] },
    resource: { aws_s3_bucket: { raw: { bucket: "acme-dev-raw-${random_id.suffix.hex}" }, logs: { bucket: "acme-dev-access-logs-x" } } },
  };
  const bootstrapped = { EXPECTED_KEY: "dbt-lambda-platform/dev/terraform.tfstate", BOOTSTRAPPED_REGION: "ap-southeast-2", BOOTSTRAPPED_PREFIX: "acme-dev" };

  it("passes the stack bootstrap set up, and skips the prefix check for a bootstrap that predates it", () => {
    expect(runSynthStep(stack, bootstrapped)).toMatchObject({ code: 0, output: "stack-dir=cdktf.out/stacks/dev\n" });
    expect(runSynthStep(stack, { ...bootstrapped, BOOTSTRAPPED_PREFIX: "" }).code).toBe(0);
  });

  it("fails a changed region or bucketPrefix before init, naming bootstrap", () => {
    const region = runSynthStep({ ...stack, provider: { aws: [{ region: "us-east-1" }] } }, bootstrapped);
    expect(region.code).toBe(1);
    expect(region.stdout).toContain("::error title=Config changed since bootstrap::envs/dev.ts deploys to 'us-east-1', bootstrap set up 'ap-southeast-2'");
    const prefix = runSynthStep(stack, { ...bootstrapped, BOOTSTRAPPED_PREFIX: "acme-old" });
    expect(prefix.code).toBe(1);
    expect(prefix.stdout).toContain("bootstrap set up 'acme-old-*'; re-run make bootstrap ARGS=");
    expect(prefix.output).toBe("");
  });
});

describe("pull-request CI of the dbt project", () => {
  const ci = workflow("ci.yml");
  const close = workflow("ci-close.yml");
  const sweep = workflow("ci-sweep.yml");

  it("runs only for same-repository pull requests, with the dev CI role and no environment", () => {
    for (const job of [ci.jobs["dbt-ci"], close.jobs.teardown]) {
      expect(job.if).toBe("github.event.pull_request.head.repo.full_name == github.repository");
      expect(job.environment).toBeUndefined();
      expect(text(job)).toContain("vars.DEV_CI_ROLE_ARN");
      expect(text(job)).not.toMatch(/vars\.AWS_ROLE_ARN|PLAN_ROLE_ARN|secrets\./);
    }
    expect(text(sweep.jobs.sweep)).toContain("vars.DEV_CI_ROLE_ARN");
    expect(text(ci.jobs["dbt-ci"])).toContain("--ci-pr");
    expect(text(ci.jobs["dbt-ci"])).toContain("GITHUB_STEP_SUMMARY");
    expect(text(close.jobs.teardown)).toContain("pr_ci teardown");
    expect(text(sweep.jobs.sweep)).toContain("pr_ci sweep");
  });

  it("deploy.yml ships the bundle instead of applying when only dbt/ changed", () => {
    const dev = deploy.jobs.dev;
    expect(dev.needs).toBe("changes");
    expect(dev.steps.find((s) => s.uses === "./.github/actions/terraform-plan")?.if).toBe("needs.changes.outputs.only-dbt != 'true'");
    expect(dev.steps.some((s) => s.run?.includes("scripts.operations.ship_project"))).toBe(true);
    expect(deploy.jobs["plan-prod"].if).toBe("needs.changes.outputs.only-dbt != 'true'");
    expect(deploy.jobs["ship-prod"].if).toBe("needs.changes.outputs.only-dbt == 'true'");
    expect(deploy.jobs["ship-prod"].environment).toBe("prod");
  });
});
