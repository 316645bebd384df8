import { describe, expect, it } from "vitest";
import { SecureBucket } from "./secure-bucket";
import { GrantStatement, IGrantable } from "./grants";
import { byPath, ofType, only, ref, synthConstructs } from "./__fixtures__/synth";

class Recorder implements IGrantable {
  readonly statements: GrantStatement[] = [];
  grant(statement: GrantStatement): void {
    this.statements.push(statement);
  }
}

const recorder = new Recorder();
let data!: SecureBucket;
const json = synthConstructs((stack) => {
  const logs = new SecureBucket(stack, "logs", { bucketName: "acme-access-logs-0a1b2c3d" });
  data = new SecureBucket(stack, "data", {
    bucketName: "acme-data-0a1b2c3d",
    accessLogBucket: logs,
    preventDestroy: true,
    kmsKeyArn: "arn:aws:kms:ap-southeast-2:111122223333:key/abc",
    lifecycleRules: [
      {
        id: "archive",
        prefix: "raw/",
        transitions: [{ days: 30, storageClass: "GLACIER" }],
        expirationDays: 400,
        noncurrentVersionExpirationDays: 7,
      },
    ],
  });
  new SecureBucket(stack, "quiet", {
    bucketName: "acme-quiet-0a1b2c3d",
    eventBridge: false,
    abortIncompleteMultipartUploadDays: 2,
    forceDestroy: true,
  });
  data.grantRead(recorder);
  data.grantReadWrite(recorder);
});

describe("SecureBucket", () => {
  it("keeps the name and protects the bucket when asked", () => {
    const bucket = byPath(json, "aws_s3_bucket", "data/bucket");
    expect(bucket.bucket).toBe("acme-data-0a1b2c3d");
    expect(bucket.force_destroy).toBe(false);
    expect(bucket.lifecycle).toEqual({ prevent_destroy: true });
    expect(byPath(json, "aws_s3_bucket", "logs/bucket").lifecycle).toBeUndefined();
  });

  it("empties a disposable bucket on destroy, and never a protected one", () => {
    expect(byPath(json, "aws_s3_bucket", "quiet/bucket").force_destroy).toBe(true);
    expect(byPath(json, "aws_s3_bucket", "logs/bucket").force_destroy).toBe(false);
    expect(() =>
      synthConstructs((stack) => new SecureBucket(stack, "both", { bucketName: "acme-both-0a1b2c3d", forceDestroy: true, preventDestroy: true })),
    ).toThrow(/forceDestroy and preventDestroy exclude each other/);
  });

  it("enables versioning and blocks every kind of public access", () => {
    for (const name of ["data", "logs", "quiet"]) {
      expect(byPath(json, "aws_s3_bucket_versioning", `${name}/versioning`).versioning_configuration).toEqual({ status: "Enabled" });
      const block = byPath(json, "aws_s3_bucket_public_access_block", `${name}/public-access-block`);
      expect(block).toMatchObject({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
      expect(byPath(json, "aws_s3_bucket_ownership_controls", `${name}/ownership`).rule).toEqual({ object_ownership: "BucketOwnerEnforced" });
    }
  });

  it("encrypts with AES256 by default and with KMS plus a bucket key when given a key", () => {
    expect(byPath(json, "aws_s3_bucket_server_side_encryption_configuration", "logs/encryption").rule).toEqual([
      { apply_server_side_encryption_by_default: { sse_algorithm: "AES256" } },
    ]);
    expect(byPath(json, "aws_s3_bucket_server_side_encryption_configuration", "data/encryption").rule).toEqual([
      {
        apply_server_side_encryption_by_default: { sse_algorithm: "aws:kms", kms_master_key_id: "arn:aws:kms:ap-southeast-2:111122223333:key/abc" },
        bucket_key_enabled: true,
      },
    ]);
  });

  it("denies every request that is not over TLS, on the bucket and its objects", () => {
    const doc = byPath(json, "aws_iam_policy_document", "data/policy-document", "data");
    const arn = ref(json, "aws_s3_bucket", "data/bucket", "arn");
    expect(doc.statement).toEqual([
      {
        sid: "DenyInsecureTransport",
        effect: "Deny",
        principals: [{ type: "*", identifiers: ["*"] }],
        actions: ["s3:*"],
        resources: [arn, `${arn}/*`],
        condition: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
      },
    ]);
    const policy = byPath(json, "aws_s3_bucket_policy", "data/policy");
    expect(policy.depends_on).toEqual([expect.stringMatching(/^aws_s3_bucket_public_access_block\./)]);
  });

  it("always aborts incomplete multipart uploads, removes lone delete markers and adds the typed rules", () => {
    const rules = byPath(json, "aws_s3_bucket_lifecycle_configuration", "data/lifecycle").rule;
    expect(rules).toEqual([
      { id: "abort-incomplete-multipart-uploads", status: "Enabled", filter: [{ prefix: "" }], abort_incomplete_multipart_upload: [{ days_after_initiation: 7 }] },
      // Its own rule: S3 rejects expired_object_delete_marker beside days in one expiration.
      { id: "remove-expired-delete-markers", status: "Enabled", filter: [{ prefix: "" }], expiration: [{ expired_object_delete_marker: true }] },
      {
        id: "archive",
        status: "Enabled",
        filter: [{ prefix: "raw/" }],
        transition: [{ days: 30, storage_class: "GLACIER" }],
        expiration: [{ days: 400 }],
        noncurrent_version_expiration: [{ noncurrent_days: 7 }],
      },
    ]);
    const quiet = byPath(json, "aws_s3_bucket_lifecycle_configuration", "quiet/lifecycle").rule;
    expect(quiet).toHaveLength(2);
    expect(byPath(json, "aws_s3_bucket_lifecycle_configuration", "data/lifecycle").depends_on).toEqual([
      expect.stringMatching(/^aws_s3_bucket_versioning\./),
    ]);
    expect(quiet[0].abort_incomplete_multipart_upload).toEqual([{ days_after_initiation: 2 }]);
  });

  it("sends events to EventBridge through one notification per bucket, unless turned off", () => {
    const notifications = Object.values(ofType(json, "aws_s3_bucket_notification"));
    expect(notifications).toHaveLength(2);
    const buckets = notifications.map((n) => n.bucket);
    expect(new Set(buckets).size).toBe(buckets.length);
    for (const n of notifications) expect(n.eventbridge).toBe(true);
    expect(buckets).not.toContain(ref(json, "aws_s3_bucket", "quiet/bucket", "id"));
  });

  it("writes access logs to the log bucket under the bucket's own prefix", () => {
    const logging = only(json, "aws_s3_bucket_logging");
    expect(logging).toMatchObject({
      bucket: ref(json, "aws_s3_bucket", "data/bucket", "id"),
      target_bucket: ref(json, "aws_s3_bucket", "logs/bucket", "id"),
      target_prefix: "acme-data-0a1b2c3d/",
    });
    // S3 validates the target's policy at PutBucketLogging: the policy must exist first.
    expect(logging.depends_on).toEqual([expect.stringMatching(/^aws_s3_bucket_policy\.logs_policy_/)]);
  });

  it("grants read and read-write on the bucket and its objects only", () => {
    const [read, write] = recorder.statements;
    expect(read.sid).toBe("ReadData");
    expect(read.actions).toEqual(["s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject", "s3:GetObjectVersion"]);
    expect(read.resources).toEqual([data.bucketArn, `${data.bucketArn}/*`]);
    expect(write.sid).toBe("ReadWriteData");
    expect(write.actions).toEqual(expect.arrayContaining(["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]));
    expect(write.actions.some((a) => a.includes("*"))).toBe(false);
    expect(write.resources).toEqual(read.resources);
  });

  it("refuses a name longer than S3 allows", () => {
    expect(() => synthConstructs((stack) => new SecureBucket(stack, "long", { bucketName: "a".repeat(64) }))).toThrow(
      /is 64 chars; S3 allows at most 63/,
    );
  });
});
