/**
 * The CDKTF app: one DataPlatformStack per environment in envs/.
 * The only module that reads process.env (cdktf's own settings, e.g. CDKTF_OUTDIR, and
 * BOOTSTRAP_RECORD_DIR, where a test harness keeps bootstrap's records instead of .bootstrap/).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { App } from "cdktf";
import { environments, resolveEnvironment } from "./envs";
import { loadRawSources } from "./constructs/dbt-sources";
import { DataPlatformStack, stateKey } from "./stacks/data-platform-stack";
import { environmentsToInit, findCdktfRun } from "./stacks/deploy-run";
import { bootstrapCommand, BootstrapRecord, configDrift, readRecord, recordDir } from "./scripts/bootstrap/record";

/** The dbt sources file the raw Glue tables come from. */
export const SOURCES_FILE = path.join(__dirname, "dbt", "models", "sources.yml");

export interface AppOptions {
  readonly outdir?: string;
  /** Where bootstrap's records are (default: none read, every backend partial). */
  readonly recordDir?: string;
  /** Environments about to be `terraform init`-ed by the cdktf CLI (deploy, destroy, diff). */
  readonly initEnvironments?: readonly string[];
}

/**
 * With a bootstrap record an environment gets a complete S3 backend; without one it keeps the
 * partial backend CI completes with -backend-config. An environment the cdktf CLI is about to
 * init must have a record that still matches its config: otherwise init would prompt for the
 * bucket (and hang), or the apply would fail midway on policies built for other names.
 */
export function buildApp(options: AppOptions = {}): App {
  const app = new App(options.outdir ? { outdir: options.outdir } : undefined);
  const rawTables = loadRawSources(SOURCES_FILE);
  const initEnvironments = options.initEnvironments ?? [];
  for (const input of environments) {
    const config = resolveEnvironment(input);
    for (const warning of config.warnings) console.warn(`warning: ${warning}`);
    const env = config.environment;
    const deploying = initEnvironments.includes(env);
    const record: BootstrapRecord | undefined = options.recordDir ? readRecord(options.recordDir, env) : undefined;
    if (!record && deploying) {
      throw new Error(
        `the ${env} stack has no state bucket yet: run ${bootstrapCommand(env, config.region)} first ` +
          `(it creates the bucket and the permissions boundary, and records them in .bootstrap/${env}.json)`,
      );
    }
    if (record) {
      const drift = configDrift(record, config);
      if (record.backend.key !== stateKey(env)) drift.push(`state key: bootstrapped ${record.backend.key}, the stack uses ${stateKey(env)}`);
      if (drift.length > 0) {
        const message =
          `envs/${env}.ts no longer matches what bootstrap set up (${drift.join("; ")}); ` +
          `re-run ${bootstrapCommand(env, record.backend.region)} before deploying, or the apply fails midway with AccessDenied`;
        if (deploying) throw new Error(message);
        console.warn(`warning: ${message}`);
      }
    }
    new DataPlatformStack(app, env, {
      config,
      rawTables,
      stateBucket: record ? { name: record.backend.bucket, region: record.backend.region } : undefined,
    });
  }
  return app;
}

/** Argument vectors of this process's ancestors, nearest first (Linux /proc, else ps). */
function ancestorCommandLines(limit = 12): string[][] {
  const lines: string[][] = [];
  let pid = process.ppid;
  for (let i = 0; i < limit && pid > 1; i++) {
    try {
      if (existsSync(`/proc/${pid}/cmdline`)) {
        lines.push(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean));
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      } else {
        const [ppid, ...args] = execFileSync("ps", ["-o", "ppid=,args=", "-p", String(pid)], { encoding: "utf8" }).trim().split(/\s+/);
        lines.push(args);
        pid = Number(ppid);
      }
    } catch {
      break;
    }
  }
  return lines;
}

if (require.main === module) {
  try {
    const run = findCdktfRun(ancestorCommandLines());
    buildApp({
      // cdktf-cli passes the output directory in CDKTF_OUTDIR; App reads it by default too.
      outdir: process.env.CDKTF_OUTDIR,
      recordDir: recordDir(__dirname, process.env.BOOTSTRAP_RECORD_DIR),
      initEnvironments: environmentsToInit(run, environments.map((e) => e.environment)),
    }).synth();
  } catch (err) {
    console.error(`synth failed: ${(err as Error).message}`);
    process.exit(1);
  }
}
