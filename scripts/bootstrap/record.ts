/**
 * What bootstrap set up for one environment, written to `.bootstrap/<env>.json` at the
 * repository root (git-ignored: it names an account). The app (main.ts) reads it so that
 * `npx cdktf deploy <env>` gets a complete S3 backend and cdktf's own `terraform init` needs no
 * input, and so that a config changed since bootstrap is caught before an apply fails midway.
 * Bootstrap is idempotent and the record has no timestamp: a teammate's fresh clone re-running
 * the same bootstrap writes the same file. No cdktf import here: bootstrap does not load cdktf.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const RECORD_VERSION = 1;

export interface BootstrapRecord {
  readonly version: number;
  readonly environment: string;
  /** Where the environment's state lives: the complete S3 backend but for encrypt/use_lockfile. */
  readonly backend: { readonly bucket: string; readonly region: string; readonly key: string };
  /** What bootstrap baked into the deploy, plan and boundary policies; the config must still say the same. */
  readonly baked: {
    readonly accountId: string;
    readonly region: string;
    readonly bucketPrefix: string;
    readonly permissionsBoundary: string;
  };
}

/** The settings of an environment's config that bootstrap bakes into its policies. */
export interface BakedConfig {
  readonly environment: string;
  readonly region: string;
  readonly bucketPrefix: string;
  readonly permissionsBoundary: string;
}

/** The directory of the records: `<repo>/.bootstrap`, unless a harness points elsewhere. */
export function recordDir(repoRoot: string, override?: string): string {
  return override && override.length > 0 ? override : join(repoRoot, ".bootstrap");
}

export function recordPath(dir: string, env: string): string {
  return join(dir, `${env}.json`);
}

/** The bootstrap command of an environment, as error messages name it. */
export function bootstrapCommand(env: string, region = "<aws-region>"): string {
  return `make bootstrap ARGS="--region ${region} --env ${env}"`;
}

export function writeRecord(dir: string, record: BootstrapRecord): string {
  mkdirSync(dir, { recursive: true });
  const file = recordPath(dir, record.environment);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  return file;
}

/** The record of an environment, or undefined when bootstrap has not run from this clone. */
export function readRecord(dir: string, env: string): BootstrapRecord | undefined {
  const file = recordPath(dir, env);
  if (!existsSync(file)) return undefined;
  let parsed: BootstrapRecord;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8")) as BootstrapRecord;
  } catch (error) {
    throw new Error(`${file} is not JSON (${(error as Error).message}); re-run ${bootstrapCommand(env)}`);
  }
  const b = parsed.backend;
  if (parsed.version !== RECORD_VERSION || parsed.environment !== env || !b?.bucket || !b.region || !b.key || !parsed.baked) {
    throw new Error(`${file} is not a version ${RECORD_VERSION} bootstrap record of "${env}"; re-run ${bootstrapCommand(env)}`);
  }
  return parsed;
}

/**
 * Each setting bootstrap baked into the policies that the config no longer has, as
 * `region: bootstrapped us-east-1, envs/dev.ts now ap-southeast-2`. Empty when they agree.
 */
export function configDrift(record: BootstrapRecord, config: BakedConfig): string[] {
  const fields = ["region", "bucketPrefix", "permissionsBoundary"] as const;
  return fields
    .filter((f) => record.baked[f] !== config[f])
    .map((f) => `${f}: bootstrapped ${record.baked[f]}, envs/${config.environment}.ts now ${config[f]}`);
}
