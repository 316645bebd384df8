import { execFileSync, spawnSync } from "node:child_process";
import { accessSync, constants, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { glueTableName, loadRawSources } from "./constructs/dbt-sources";
import { SOURCES_FILE } from "./main";

const ROOT = __dirname;
let outdir: string;
const stackJson = (env: string) => JSON.parse(readFileSync(path.join(outdir, "stacks", env, "cdk.tf.json"), "utf8"));

beforeAll(() => {
  outdir = mkdtempSync(path.join(tmpdir(), "cdktf-out-"));
  // The real app, exactly as cdktf synth runs it (cdktf.json: "npx tsx main.ts").
  execFileSync("npx", ["tsx", "main.ts"], {
    cwd: ROOT,
    // No bootstrap record: the CI path, whose backend stays partial (a clone's .bootstrap/ must not leak in).
    env: { ...process.env, CDKTF_OUTDIR: outdir, CHECKPOINT_DISABLE: "1", BOOTSTRAP_RECORD_DIR: path.join(outdir, "no-records") },
    stdio: "pipe",
  });
});

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe("the app (npx tsx main.ts)", () => {
  it("writes cdktf.out/stacks/dev and prod with a manifest", () => {
    const manifest = JSON.parse(readFileSync(path.join(outdir, "manifest.json"), "utf8"));
    expect(Object.keys(manifest.stacks).sort()).toEqual(["dev", "prod"]);
    for (const env of ["dev", "prod"]) expect(existsSync(path.join(outdir, "stacks", env, "cdk.tf.json"))).toBe(true);
  });

  it.each(["dev", "prod"])("%s: one partial S3 backend, the runner, and a Glue table per raw table of dbt/models/sources.yml", (env) => {
    const json = stackJson(env);
    expect(json.terraform.backend).toEqual({ s3: { key: `dbt-lambda-platform/${env}/terraform.tfstate`, encrypt: true, use_lockfile: true } });
    expect(json.terraform.required_version).toBe(">= 1.10"); // use_lockfile needs 1.10
    const [fn] = Object.values(json.resource.aws_lambda_function) as Record<string, unknown>[];
    expect(fn.function_name).toBe(`${env}-dbt-runner`);
    expect(fn.filename).toBe("../../../build/function.zip");
    const tables = Object.values(json.resource.aws_glue_catalog_table).map((t) => (t as { name: string }).name);
    expect(tables.sort()).toEqual(loadRawSources(SOURCES_FILE).map(glueTableName).sort());
    expect(tables).toEqual(expect.arrayContaining(["artist", "album", "track", "invoiceline", "playlisttrack"]));
  });

  it("needs neither build/function.zip nor build/dbt-layer.zip: Terraform hashes them at plan time", () => {
    const text = readFileSync(path.join(outdir, "stacks", "dev", "cdk.tf.json"), "utf8");
    expect(text).toContain('${filebase64sha256(\\"../../../build/function.zip\\")}');
    expect(text).toContain('${filebase64sha256(\\"../../../build/dbt-layer.zip\\")}');
  });

  it("the README's alarm table lists exactly the alarms each stack creates", () => {
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    const table = readme.slice(readme.indexOf("| alarm | fires when |"));
    const listed = [...table.slice(0, table.indexOf("\n\n")).matchAll(/^\| `<env>-([\w-]+)` \|/gm)].map((m) => m[1]);
    for (const env of ["dev", "prod"]) {
      const alarms = Object.values(stackJson(env).resource.aws_cloudwatch_metric_alarm).map((a) => (a as { alarm_name: string }).alarm_name);
      expect(listed.map((name) => `${env}-${name}`).sort()).toEqual(alarms.sort());
    }
    expect(listed).toHaveLength(11);
  });

  it("stops with the config error when an environment is invalid", () => {
    const run = spawnSync("npx", ["tsx", "-e", 'require("./envs").resolveEnvironment({ environment: "dev", bucketPrefix: "X" })'], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('bucketPrefix = "X": must be 4-36 characters long');
  });
});

/** Terraform 1.11 is part of the toolchain on these machines; a missing binary is a failure, not a skip. */
function terraformBinary(): string {
  const candidates = [
    ...(process.env.PATH ?? "").split(path.delimiter).map((dir) => path.join(dir, "terraform")),
    "/usr/local/bin/terraform",
  ];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error("terraform not found on PATH or at /usr/local/bin/terraform: install Terraform 1.11 to run this test");
}

/** `terraform providers` on a copy of the dev stack, optionally edited first. */
function providers(edit?: (json: Record<string, any>) => void): { status: number | null; output: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "tf-providers-"));
  try {
    cpSync(path.join(outdir, "stacks", "dev"), dir, { recursive: true });
    if (edit) {
      const json = stackJson("dev");
      edit(json);
      writeFileSync(path.join(dir, "cdk.tf.json"), JSON.stringify(json));
    }
    const run = spawnSync(terraformBinary(), ["providers", "-no-color"], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1" },
    });
    return { status: run.status, output: `${run.stdout}${run.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("terraform providers on the synthesized dev stack", () => {
  it("loads the configuration and stops only at the S3 backend, which needs `terraform init`", () => {
    // Offline and without init, Terraform parses the whole configuration and then asks for
    // backend initialization: proof that it found exactly one backend, the S3 one.
    const { status, output } = providers();
    expect(status).toBe(1);
    expect(output).toContain('Initial configuration of the requested backend "s3"');
    expect(output).not.toMatch(/Duplicate backend|only one backend/i);
  });

  it("lists the pinned providers once the backend is set aside", () => {
    const { status, output } = providers((json) => delete json.terraform.backend);
    expect(status, output).toBe(0);
    expect(output).toMatch(/provider\[registry\.terraform\.io\/hashicorp\/aws\] 6\.\d+\.\d+/);
    expect(output).toMatch(/provider\[registry\.terraform\.io\/hashicorp\/random\] 3\.\d+\.\d+/);
    expect(output).not.toContain("hashicorp/archive");
  });

  it("would reject a second backend (the structural error a local backend would cause)", () => {
    const { status, output } = providers((json) => (json.terraform.backend.local = { path: "terraform.tfstate" }));
    expect(status).toBe(1);
    expect(output).toMatch(/Duplicate backend configuration|only one backend/i);
  });
});
