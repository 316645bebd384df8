/**
 * The shape of one environment's settings. `EnvironmentInput` is what `dev.ts` and
 * `prod.ts` declare (plain data); `resolveEnvironment` fills the defaults and
 * validates, so a bad value stops synth before any resource is built.
 */

import rawZone from "../handler/raw_zone/contract.json";

export type EnvironmentName = "dev" | "prod";

export interface EnvironmentInput {
  /** `dev` or `prod`: names the stack, the function and the state key. */
  readonly environment: EnvironmentName;
  /** AWS region of every resource. Default `ap-southeast-2`. */
  readonly region?: string;
  /** Start of every bucket name: 4-36 chars of lowercase letters, digits and single hyphens. */
  readonly bucketPrefix: string;
  /** Tags on every resource (the provider's `default_tags`). */
  readonly defaultTags?: Readonly<Record<string, string>>;
  /** Tags for this environment only; they win over `defaultTags` on a clash. */
  readonly extraTags?: Readonly<Record<string, string>>;
  /** dbt runner memory in MB (more memory is also more CPU). Default 3008. */
  readonly lambdaMemoryMb?: number;
  /** dbt runner timeout in seconds (Lambda's maximum is 900). Default 900. */
  readonly lambdaTimeoutSeconds?: number;
  /** Retention of the runner's log group, in days (a CloudWatch-allowed value). Default 14. */
  readonly logRetentionDays?: number;
  /**
   * Reserved concurrency of the runner; 1 keeps two builds from racing on the same tables.
   * Default 1. Lambda keeps 100 of the account's concurrency unreserved, so an account whose
   * quota is under 101 (many new accounts have 10 or 50) cannot reserve any: there, "none"
   * deploys without a reservation, and builds may then overlap (synth warns).
   */
  readonly reservedConcurrency?: number | "none";
  /** EventBridge schedule for a periodic `dbt build`, e.g. `cron(0 2 * * ? *)`. Omit for none. */
  readonly scheduleExpression?: string;
  /** Run dbt when an object lands under `raw/` in the raw bucket. Default true. */
  readonly s3EventTrigger?: boolean;
  /**
   * What the S3 trigger builds on: `per-ingest` (default), the one manifest an ingest writes
   * last under `manifests/`, so one ingest is one build; or `per-object`, every object under
   * `raw/`, for loaders that write no manifest (one build per object).
   */
  readonly rawTrigger?: "per-ingest" | "per-object";
  /** Deploy the `<env>-ingest` function (the seed pipeline's ingestion). Default true. */
  readonly ingestFunction?: boolean;
  /** Key of the SQLite database the ingest function reads from the raw bucket. Default `db/chinook.db`. */
  readonly ingestSourceKey?: string;
  /** EventBridge schedule of an ingest of that database, e.g. `cron(0 1 * * ? *)`. Omit for none. */
  readonly ingestSchedule?: string;
  /** Athena cancels a query that scans more than this many bytes (min 10 MB). Default 10 GB. */
  readonly athenaBytesScannedCutoff?: number;
  /** Protect the data buckets from `terraform destroy` (prevent_destroy). Default: true in prod. */
  readonly protectDataBuckets?: boolean;
  /**
   * Permissions boundary of every IAM role the stack creates: an IAM policy ARN, or the name of
   * a policy in the account being deployed to. Default `<environment>-platform-boundary`, the
   * policy scripts/bootstrap/bootstrap.ts creates.
   */
  readonly permissionsBoundary?: string;
  /** Days the artifacts bucket keeps each run's `runs/<date>/<invocation_id>/` folder (1-3650). Default 90. */
  readonly artifactRetentionDays?: number;
  /**
   * Email addresses subscribed to the env's alert topic (each confirms by email). Default none,
   * which synth warns about (failures would reach nobody) unless `alertEmailsOptOut` is true.
   */
  readonly alertEmails?: readonly string[];
  /**
   * True when nobody is to be emailed on purpose (something else subscribes to the topic, or a
   * throwaway env): silences synth's warning about an empty `alertEmails`. Default false.
   */
  readonly alertEmailsOptOut?: boolean;
  /**
   * Lambda SnapStart for the runner: versions, a `live` alias the triggers invoke, and the dbt
   * parse done during init and snapshotted. Billed for Python (cache and restores). Default false.
   */
  readonly snapStart?: boolean;
  /**
   * Seconds a build step keeps free before its invocation's deadline: the runner starts no dbt
   * node it cannot finish by (remaining time - margin), and stops gracefully (cancelling its
   * Athena queries) when the margin is reached. 30-300, and less than half of
   * `lambdaTimeoutSeconds`. Default 60. Passed to the runner as `DBT_STEP_MARGIN_SECONDS`.
   */
  readonly stepMarginSeconds?: number;
  /**
   * Pull-request builds (slim CI) on this env: the stack creates `<env>-dbt-ci-build`, the role
   * the runner assumes, with a session policy scoped to one PR, to run a PR's SQL. Default true in
   * dev, false elsewhere: PRs build against dev, and prod's runner then refuses CI builds.
   */
  readonly ciBuilds?: boolean;
}

export interface EnvironmentConfig {
  readonly environment: EnvironmentName;
  readonly region: string;
  readonly bucketPrefix: string;
  /** defaultTags merged with extraTags and the `Environment` tag. */
  readonly tags: Readonly<Record<string, string>>;
  readonly lambdaMemoryMb: number;
  readonly lambdaTimeoutSeconds: number;
  readonly logRetentionDays: number;
  readonly reservedConcurrency: number | "none";
  readonly scheduleExpression?: string;
  readonly s3EventTrigger: boolean;
  readonly rawTrigger: "per-ingest" | "per-object";
  readonly ingestFunction: boolean;
  readonly ingestSourceKey: string;
  readonly ingestSchedule?: string;
  readonly athenaBytesScannedCutoff: number;
  readonly protectDataBuckets: boolean;
  /**
   * Reserved concurrency of each function the stack deploys, by function name: the runner's
   * `reservedConcurrency`, and 1 for `<env>-ingest` (two ingests never race on one day's
   * snapshot). Empty with `reservedConcurrency: "none"`. Bootstrap's quota check sums it.
   */
  readonly reservations: Readonly<Record<string, number>>;
  /** Valid but risky choices, printed at synth. */
  readonly warnings: readonly string[];
  /** An IAM policy ARN, or a policy name resolved in the deploying account at apply time. */
  readonly permissionsBoundary: string;
  readonly artifactRetentionDays: number;
  readonly alertEmails: readonly string[];
  readonly snapStart: boolean;
  readonly stepMarginSeconds: number;
  readonly ciBuilds: boolean;
}

export const DEFAULTS = {
  region: "ap-southeast-2",
  lambdaMemoryMb: 3008,
  lambdaTimeoutSeconds: 900,
  logRetentionDays: 14,
  reservedConcurrency: 1,
  s3EventTrigger: true,
  rawTrigger: "per-ingest",
  ingestFunction: true,
  // The raw zone's contract with the Lambdas (handler/raw_zone/contract.json).
  ingestSourceKey: rawZone.defaultSourceKey,
  snapStart: false,
  athenaBytesScannedCutoff: 10 * 1024 ** 3,
  artifactRetentionDays: 90,
  stepMarginSeconds: 60,
} as const;

/** The range of `stepMarginSeconds`. */
export const STEP_MARGIN_SECONDS = { min: 30, max: 300 } as const;

/** The longest prefix allowed; bucket names stay <= 63 chars with it (see constructs/data-lake). */
export const BUCKET_PREFIX_MAX = 36;
export const BUCKET_PREFIX_MIN = 4;
