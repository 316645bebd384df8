import { EnvironmentInput } from "./config";
import { sharedTags } from "./shared";

/** Development: builds on every raw upload and nightly; buckets may be destroyed. */
export const dev: EnvironmentInput = {
  environment: "dev",
  region: "ap-southeast-2",
  bucketPrefix: "dbt-lambda-dev",
  defaultTags: sharedTags,
  extraTags: { CostCentre: "data-dev" },
  lambdaMemoryMb: 3008,
  lambdaTimeoutSeconds: 900,
  logRetentionDays: 14,
  reservedConcurrency: 1,
  scheduleExpression: "cron(0 2 * * ? *)",
  s3EventTrigger: true,
  // Off until its cold start and cost are measured in a real account (README: SnapStart).
  snapStart: false,
  athenaBytesScannedCutoff: 10 * 1024 ** 3,
};
