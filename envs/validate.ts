import rawZone from "../handler/raw_zone/contract.json";
import {
  BUCKET_PREFIX_MAX,
  BUCKET_PREFIX_MIN,
  DEFAULTS,
  EnvironmentConfig,
  STEP_MARGIN_SECONDS,
  EnvironmentInput,
} from "./config";

/** Every rule a config broke, so one run shows them all. */
export class ConfigError extends Error {
  constructor(
    readonly environment: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid environment config "${environment}":\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

/** Values CloudWatch Logs accepts for retention_in_days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const ENVIRONMENTS = ["dev", "prod"];
const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
// Lowercase letters and digits in hyphen-separated groups: S3-legal, no dots (they break TLS
// on virtual-hosted URLs), no "--" (reserved suffixes such as --x-s3 and --ol-s3 use it).
const BUCKET_PREFIX = /^[a-z0-9]+(-[a-z0-9]+)*$/;
// The characters AWS accepts in tag keys and values.
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
// EventBridge: cron() with six fields, or rate(<n> <unit>).
const CRON = /^cron\(\S+( \S+){5}\)$/;
const RATE = /^rate\(([1-9]\d*) (minute|minutes|hour|hours|day|days)\)$/;
const MIN_CUTOFF = 10 * 1024 ** 2;
// An object key: printable characters, not starting with "/".
const S3_KEY = /^[^/\s][\x21-\x7e]{0,1023}$/;
// IAM: arn:<partition>:iam::<account>:policy/<optional path/><name>, or a bare policy name.
const POLICY_ARN = /^arn:aws(-[a-z]+)*:iam::\d{12}:policy\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,128}$/;
const POLICY_NAME = /^[\w+=,.@-]{1,128}$/;
// An address SNS's email protocol accepts: local@domain.tld, no spaces or display names.
const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function checkInt(problems: string[], field: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    problems.push(`${field} = ${show(value)}: must be an integer from ${min} to ${max}`);
  }
}

function checkTags(problems: string[], field: string, tags: Readonly<Record<string, string>>): void {
  for (const [key, value] of Object.entries(tags)) {
    if (key.length < 1 || key.length > 128 || !TAG_CHARS.test(key)) {
      problems.push(`${field} key ${show(key)}: must be 1-128 characters of letters, digits, spaces and _.:/=+-@`);
    } else if (key.toLowerCase().startsWith("aws:")) {
      problems.push(`${field} key ${show(key)}: the "aws:" prefix is reserved by AWS`);
    }
    if (typeof value !== "string" || value.length > 256 || !TAG_CHARS.test(value)) {
      problems.push(`${field}.${key} = ${show(value)}: must be a string of at most 256 letters, digits, spaces and _.:/=+-@`);
    }
  }
}

/** Fills the defaults and checks every field; throws ConfigError naming field, value and rule. */
export function resolveEnvironment(input: EnvironmentInput): EnvironmentConfig {
  const problems: string[] = [];
  const name = String(input.environment);
  if (!ENVIRONMENTS.includes(name)) {
    problems.push(`environment = ${show(input.environment)}: must be one of ${ENVIRONMENTS.join(", ")}`);
  }

  const region = input.region ?? DEFAULTS.region;
  if (!REGION.test(region)) {
    problems.push(`region = ${show(region)}: must be an AWS region code such as ap-southeast-2`);
  }

  const prefix = input.bucketPrefix;
  if (typeof prefix !== "string" || prefix.length < BUCKET_PREFIX_MIN || prefix.length > BUCKET_PREFIX_MAX) {
    problems.push(`bucketPrefix = ${show(prefix)}: must be ${BUCKET_PREFIX_MIN}-${BUCKET_PREFIX_MAX} characters long`);
  } else if (!BUCKET_PREFIX.test(prefix)) {
    problems.push(
      `bucketPrefix = ${show(prefix)}: must be lowercase letters and digits in groups separated by single hyphens (S3 naming, no dots)`,
    );
  } else if (prefix.startsWith("xn--") || prefix.startsWith("sthree-") || prefix.startsWith("amzn-s3-demo-")) {
    problems.push(`bucketPrefix = ${show(prefix)}: must not start with a prefix S3 reserves (xn--, sthree-, amzn-s3-demo-)`);
  }

  const defaultTags = input.defaultTags ?? {};
  const extraTags = input.extraTags ?? {};
  checkTags(problems, "defaultTags", defaultTags);
  checkTags(problems, "extraTags", extraTags);
  const tags = { ...defaultTags, ...extraTags, Environment: name };
  if (Object.keys(tags).length > 50) {
    problems.push(`defaultTags + extraTags: ${Object.keys(tags).length} tags, AWS allows at most 50 per resource`);
  }

  const lambdaMemoryMb = input.lambdaMemoryMb ?? DEFAULTS.lambdaMemoryMb;
  checkInt(problems, "lambdaMemoryMb", lambdaMemoryMb, 128, 10240);
  const lambdaTimeoutSeconds = input.lambdaTimeoutSeconds ?? DEFAULTS.lambdaTimeoutSeconds;
  checkInt(problems, "lambdaTimeoutSeconds", lambdaTimeoutSeconds, 1, 900);
  const warnings: string[] = [];
  const reservedConcurrency = input.reservedConcurrency ?? DEFAULTS.reservedConcurrency;
  if (reservedConcurrency === "none") {
    warnings.push(
      `${name}: reservedConcurrency = "none": the dbt runner has no reserved concurrency, so two builds ` +
        "(a schedule and an ingest, say) may run at once and race on the same tables",
    );
  } else {
    // 0 would throttle every invocation, i.e. switch the runner off.
    checkInt(problems, 'reservedConcurrency (or "none")', reservedConcurrency, 1, 1000);
  }

  const logRetentionDays = input.logRetentionDays ?? DEFAULTS.logRetentionDays;
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(logRetentionDays)) {
    problems.push(`logRetentionDays = ${show(logRetentionDays)}: must be one of ${LOG_RETENTION_DAYS.join(", ")}`);
  }

  const scheduleExpression = input.scheduleExpression;
  if (scheduleExpression !== undefined && !CRON.test(scheduleExpression) && !RATE.test(scheduleExpression)) {
    problems.push(
      `scheduleExpression = ${show(scheduleExpression)}: must be cron(<6 fields>) or rate(<n> <minute(s)|hour(s)|day(s)>)`,
    );
  }

  const s3EventTrigger = input.s3EventTrigger ?? DEFAULTS.s3EventTrigger;
  if (typeof s3EventTrigger !== "boolean") {
    problems.push(`s3EventTrigger = ${show(s3EventTrigger)}: must be true or false`);
  }
  const rawTrigger = input.rawTrigger ?? DEFAULTS.rawTrigger;
  if (rawTrigger !== "per-ingest" && rawTrigger !== "per-object") {
    problems.push(`rawTrigger = ${show(rawTrigger)}: must be "per-ingest" or "per-object"`);
  }

  const ingestFunction = input.ingestFunction ?? DEFAULTS.ingestFunction;
  if (typeof ingestFunction !== "boolean") {
    problems.push(`ingestFunction = ${show(ingestFunction)}: must be true or false`);
  }
  const ingestSourceKey = input.ingestSourceKey ?? DEFAULTS.ingestSourceKey;
  if (typeof ingestSourceKey !== "string" || !S3_KEY.test(ingestSourceKey) || ingestSourceKey.includes("//")) {
    problems.push(`ingestSourceKey = ${show(ingestSourceKey)}: must be an S3 key such as db/chinook.db (1-1024 characters, no leading "/")`);
  } else if (ingestSourceKey.startsWith(rawZone.rawPrefix) || ingestSourceKey.startsWith(rawZone.ingestManifestPrefix)) {
    problems.push(`ingestSourceKey = ${show(ingestSourceKey)}: must not be under ${rawZone.rawPrefix} or ${rawZone.ingestManifestPrefix}, which the ingest writes`);
  }
  const ingestSchedule = input.ingestSchedule;
  if (ingestSchedule !== undefined && !CRON.test(ingestSchedule) && !RATE.test(ingestSchedule)) {
    problems.push(`ingestSchedule = ${show(ingestSchedule)}: must be cron(<6 fields>) or rate(<n> <minute(s)|hour(s)|day(s)>)`);
  }
  if (ingestSchedule !== undefined && !ingestFunction) {
    problems.push("ingestSchedule: needs ingestFunction = true");
  }

  const athenaBytesScannedCutoff = input.athenaBytesScannedCutoff ?? DEFAULTS.athenaBytesScannedCutoff;
  checkInt(problems, "athenaBytesScannedCutoff", athenaBytesScannedCutoff, MIN_CUTOFF, Number.MAX_SAFE_INTEGER);

  const protectDataBuckets = input.protectDataBuckets ?? name === "prod";
  if (typeof protectDataBuckets !== "boolean") {
    problems.push(`protectDataBuckets = ${show(protectDataBuckets)}: must be true or false`);
  }

  const permissionsBoundary = input.permissionsBoundary ?? `${name}-platform-boundary`;
  if (
    typeof permissionsBoundary !== "string" ||
    !(permissionsBoundary.startsWith("arn:") ? POLICY_ARN : POLICY_NAME).test(permissionsBoundary)
  ) {
    problems.push(
      `permissionsBoundary = ${show(permissionsBoundary)}: must be an IAM policy ARN (arn:aws:iam::<12-digit account>:policy/<name>) ` +
        "or a policy name of 1-128 characters of letters, digits and _+=,.@-",
    );
  }

  const artifactRetentionDays = input.artifactRetentionDays ?? DEFAULTS.artifactRetentionDays;
  checkInt(problems, "artifactRetentionDays", artifactRetentionDays, 1, 3650);

  const alertEmails = input.alertEmails ?? [];
  if (!Array.isArray(alertEmails)) {
    problems.push(`alertEmails = ${show(alertEmails)}: must be a list of email addresses`);
  } else {
    alertEmails.forEach((email, index) => {
      if (typeof email !== "string" || email.length > 254 || !EMAIL.test(email)) {
        problems.push(`alertEmails[${index}] = ${show(email)}: must be an email address such as data-team@example.com`);
      }
    });
    const repeated = alertEmails.filter((email, index) => alertEmails.indexOf(email) !== index);
    if (repeated.length > 0) problems.push(`alertEmails: ${show(repeated[0])} is listed twice`);
  }
  const optOut = input.alertEmailsOptOut ?? false;
  if (typeof optOut !== "boolean") {
    problems.push(`alertEmailsOptOut = ${show(optOut)}: must be true or false`);
  } else if (optOut && Array.isArray(alertEmails) && alertEmails.length > 0) {
    problems.push("alertEmailsOptOut = true: alertEmails lists addresses; remove one or the other");
  } else if (!optOut && Array.isArray(alertEmails) && alertEmails.length === 0) {
    warnings.push(
      `${name}: alertEmails is empty: failed builds and alarms reach the ${name}-dbt-alerts topic and nobody ` +
        `is subscribed; list addresses in envs/${name}.ts, or set alertEmailsOptOut: true if that is intended`,
    );
  }

  const snapStart = input.snapStart ?? DEFAULTS.snapStart;
  if (typeof snapStart !== "boolean") {
    problems.push(`snapStart = ${show(snapStart)}: must be true or false`);
  }

  const stepMarginSeconds = input.stepMarginSeconds ?? DEFAULTS.stepMarginSeconds;
  checkInt(problems, "stepMarginSeconds", stepMarginSeconds, STEP_MARGIN_SECONDS.min, STEP_MARGIN_SECONDS.max);
  // A step must keep at least as much time to build as it keeps in reserve, or it makes no progress.
  if (Number.isInteger(stepMarginSeconds) && Number.isInteger(lambdaTimeoutSeconds) && stepMarginSeconds * 2 > lambdaTimeoutSeconds) {
    problems.push(
      `stepMarginSeconds = ${show(stepMarginSeconds)}: must be at most half of lambdaTimeoutSeconds (${show(lambdaTimeoutSeconds)}), ` +
        "so each build step has time left to build",
    );
  }

  const ciBuilds = input.ciBuilds ?? name === "dev";
  if (typeof ciBuilds !== "boolean") {
    problems.push(`ciBuilds = ${show(ciBuilds)}: must be true or false`);
  }

  if (problems.length > 0) throw new ConfigError(name, problems);
  return {
    environment: input.environment,
    region,
    bucketPrefix: prefix,
    tags,
    lambdaMemoryMb,
    lambdaTimeoutSeconds,
    logRetentionDays,
    reservedConcurrency,
    scheduleExpression,
    s3EventTrigger,
    rawTrigger,
    ingestFunction,
    ingestSourceKey,
    ingestSchedule,
    athenaBytesScannedCutoff,
    protectDataBuckets,
    reservations:
      reservedConcurrency === "none"
        ? {}
        : { [`${name}-dbt-runner`]: reservedConcurrency, ...(ingestFunction ? { [`${name}-ingest`]: 1 } : {}) },
    warnings,
    permissionsBoundary,
    artifactRetentionDays,
    alertEmails: [...alertEmails],
    snapStart,
    stepMarginSeconds,
    ciBuilds,
  };
}
