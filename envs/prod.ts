import { EnvironmentInput } from "./config";
import { sharedTags } from "./shared";

/** Production: same shape as dev; data buckets are protected from destroy. */
export const prod: EnvironmentInput = {
  environment: "prod",
  region: "ap-southeast-2",
  bucketPrefix: "dbt-lambda-prod",
  defaultTags: sharedTags,
  extraTags: { CostCentre: "data-prod", Criticality: "high" },
  lambdaMemoryMb: 3008,
  lambdaTimeoutSeconds: 900,
  logRetentionDays: 14,
  reservedConcurrency: 1,
  scheduleExpression: "cron(0 1 * * ? *)",
  s3EventTrigger: true,
  // Off until its cold start and cost are measured in a real account (README: SnapStart).
  snapStart: false,
  athenaBytesScannedCutoff: 100 * 1024 ** 3,
  protectDataBuckets: true,
};
