import {
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketOwnershipControlsCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
  type LifecycleRule,
  type S3Client,
} from "@aws-sdk/client-s3";
import { errorName } from "./clients";
import { parsePolicy, sameStatement, type PolicyStatement } from "./policy-document";
import type { StepResult } from "./progress";

export interface BucketContext {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly accountId: string;
  readonly partition: string;
  /** False in a dry run whose bucket does not exist yet: every setting would be created. */
  readonly exists: boolean;
  readonly dryRun: boolean;
}

export interface BucketSetting {
  readonly title: string;
  readonly ensure: (ctx: BucketContext) => Promise<StepResult>;
}

/** Old state versions are kept this long after being superseded: enough to roll back a bad apply. */
export const NONCURRENT_DAYS = 90;
/** Unfinished multipart uploads (a large state upload that died) are cleaned up after this. */
export const ABORT_MULTIPART_DAYS = 7;
export const LIFECYCLE_RULE_ID = "expire-noncurrent-state-versions";
export const TLS_STATEMENT_SID = "DenyInsecureTransport";

/** Reads a setting, treating the "not configured" error as `undefined`. */
async function read<T>(run: () => Promise<T>, notConfigured: string): Promise<T | undefined> {
  try {
    return await run();
  } catch (error) {
    if (errorName(error) === notConfigured) return undefined;
    throw error;
  }
}

/** Writes unless this is a dry run, and reports created (nothing was there) or updated. */
async function write(ctx: BucketContext, had: boolean, put: () => Promise<unknown>, detail?: string): Promise<StepResult> {
  if (!ctx.dryRun) await put();
  return { change: had ? "updated" : "created", detail };
}

const versioning: BucketSetting = {
  title: "versioning",
  ensure: async (ctx) => {
    const current = ctx.exists
      ? (await ctx.s3.send(new GetBucketVersioningCommand({ Bucket: ctx.bucket, ExpectedBucketOwner: ctx.accountId }))).Status
      : undefined;
    if (current === "Enabled") return { change: "unchanged", detail: "Enabled" };
    return write(ctx, current !== undefined, () =>
      ctx.s3.send(
        new PutBucketVersioningCommand({
          Bucket: ctx.bucket,
          ExpectedBucketOwner: ctx.accountId,
          VersioningConfiguration: { Status: "Enabled" },
        }),
      ),
      "Enabled",
    );
  },
};

// SSE-S3 matches what Terraform's backend asks for per object (encrypt = true); a stronger
// KMS default somebody set on purpose is kept.
const ACCEPTED_ALGORITHMS = ["AES256", "aws:kms", "aws:kms:dsse"];

const encryption: BucketSetting = {
  title: "default encryption",
  ensure: async (ctx) => {
    const current = ctx.exists
      ? await read(
          () => ctx.s3.send(new GetBucketEncryptionCommand({ Bucket: ctx.bucket, ExpectedBucketOwner: ctx.accountId })),
          "ServerSideEncryptionConfigurationNotFoundError",
        )
      : undefined;
    const algorithm = current?.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm;
    if (algorithm && ACCEPTED_ALGORITHMS.includes(algorithm)) return { change: "unchanged", detail: algorithm };
    return write(ctx, current !== undefined, () =>
      ctx.s3.send(
        new PutBucketEncryptionCommand({
          Bucket: ctx.bucket,
          ExpectedBucketOwner: ctx.accountId,
          ServerSideEncryptionConfiguration: {
            Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
          },
        }),
      ),
      "AES256",
    );
  },
};

const BLOCK_ALL = {
  BlockPublicAcls: true,
  IgnorePublicAcls: true,
  BlockPublicPolicy: true,
  RestrictPublicBuckets: true,
} as const;

const publicAccessBlock: BucketSetting = {
  title: "public access block (all four flags)",
  ensure: async (ctx) => {
    const current = ctx.exists
      ? await read(
          () => ctx.s3.send(new GetPublicAccessBlockCommand({ Bucket: ctx.bucket, ExpectedBucketOwner: ctx.accountId })),
          "NoSuchPublicAccessBlockConfiguration",
        )
      : undefined;
    const flags = current?.PublicAccessBlockConfiguration;
    if (flags && Object.keys(BLOCK_ALL).every((k) => flags[k as keyof typeof BLOCK_ALL] === true)) {
      return { change: "unchanged" };
    }
    return write(ctx, current !== undefined, () =>
      ctx.s3.send(
        new PutPublicAccessBlockCommand({
          Bucket: ctx.bucket,
          ExpectedBucketOwner: ctx.accountId,
          PublicAccessBlockConfiguration: BLOCK_ALL,
        }),
      ),
    );
  },
};

const ownership: BucketSetting = {
  title: "object ownership",
  ensure: async (ctx) => {
    const current = ctx.exists
      ? await read(
          () => ctx.s3.send(new GetBucketOwnershipControlsCommand({ Bucket: ctx.bucket, ExpectedBucketOwner: ctx.accountId })),
          "OwnershipControlsNotFoundError",
        )
      : undefined;
    const rules = current?.OwnershipControls?.Rules ?? [];
    if (rules.length === 1 && rules[0].ObjectOwnership === "BucketOwnerEnforced") {
      return { change: "unchanged", detail: "BucketOwnerEnforced" };
    }
    return write(ctx, current !== undefined, () =>
      ctx.s3.send(
        new PutBucketOwnershipControlsCommand({
          Bucket: ctx.bucket,
          ExpectedBucketOwner: ctx.accountId,
          OwnershipControls: { Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }] },
        }),
      ),
      "BucketOwnerEnforced",
    );
  },
};

export function tlsOnlyStatement(partition: string, bucket: string): PolicyStatement {
  const arn = `arn:${partition}:s3:::${bucket}`;
  return {
    Sid: TLS_STATEMENT_SID,
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [arn, `${arn}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  };
}

const tlsPolicy: BucketSetting = {
  title: "bucket policy (deny non-TLS requests)",
  ensure: async (ctx) => {
    const current = ctx.exists
      ? await read(
          () => ctx.s3.send(new GetBucketPolicyCommand({ Bucket: ctx.bucket, ExpectedBucketOwner: ctx.accountId })),
          "NoSuchBucketPolicy",
        )
      : undefined;
    const want = tlsOnlyStatement(ctx.partition, ctx.bucket);
    const doc = parsePolicy(current?.Policy);
    const others = (doc?.Statement ?? []).filter((s) => (s as { Sid?: string }).Sid !== TLS_STATEMENT_SID);
    if (doc?.Statement.some((s) => sameStatement(s, want))) return { change: "unchanged" };
    // Statements somebody else added stay; only ours is replaced.
    const policy = JSON.stringify({ Version: "2012-10-17", Statement: [...others, want] });
    return write(ctx, current !== undefined, () =>
      ctx.s3.send(new PutBucketPolicyCommand({ Bucket: ctx.bucket, ExpectedBucketOwner: ctx.accountId, Policy: policy })),
    );
  },
};

const WANTED_RULE: LifecycleRule = {
  ID: LIFECYCLE_RULE_ID,
  Status: "Enabled",
  Filter: { Prefix: "" },
  NoncurrentVersionExpiration: { NoncurrentDays: NONCURRENT_DAYS },
  AbortIncompleteMultipartUpload: { DaysAfterInitiation: ABORT_MULTIPART_DAYS },
};

function sameRule(rule: LifecycleRule): boolean {
  return (
    rule.Status === "Enabled" &&
    (rule.Filter?.Prefix ?? rule.Prefix ?? "") === "" &&
    rule.Filter?.Tag === undefined &&
    rule.Filter?.And === undefined &&
    rule.NoncurrentVersionExpiration?.NoncurrentDays === NONCURRENT_DAYS &&
    rule.NoncurrentVersionExpiration?.NewerNoncurrentVersions === undefined &&
    rule.AbortIncompleteMultipartUpload?.DaysAfterInitiation === ABORT_MULTIPART_DAYS &&
    rule.Expiration === undefined
  );
}

const lifecycle: BucketSetting = {
  title: `lifecycle (noncurrent state versions expire after ${NONCURRENT_DAYS} days)`,
  ensure: async (ctx) => {
    const current = ctx.exists
      ? await read(
          () =>
            ctx.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: ctx.bucket, ExpectedBucketOwner: ctx.accountId })),
          "NoSuchLifecycleConfiguration",
        )
      : undefined;
    const rules = current?.Rules ?? [];
    const ours = rules.find((r) => r.ID === LIFECYCLE_RULE_ID);
    if (ours && sameRule(ours)) return { change: "unchanged" };
    // PutBucketLifecycleConfiguration replaces every rule: keep the ones that are not ours.
    const others = rules.filter((r) => r.ID !== LIFECYCLE_RULE_ID);
    return write(ctx, ours !== undefined, () =>
      ctx.s3.send(
        new PutBucketLifecycleConfigurationCommand({
          Bucket: ctx.bucket,
          ExpectedBucketOwner: ctx.accountId,
          LifecycleConfiguration: { Rules: [...others, WANTED_RULE] },
        }),
      ),
    );
  },
};

/** In the order they are applied: versioning before the lifecycle rule that relies on it. */
export const BUCKET_SETTINGS: readonly BucketSetting[] = [
  versioning,
  encryption,
  publicAccessBlock,
  ownership,
  tlsPolicy,
  lifecycle,
];
