import { Construct } from "constructs";
import { Token } from "cdktf";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import {
  S3BucketLifecycleConfiguration,
  S3BucketLifecycleConfigurationRule,
} from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import { S3BucketNotification } from "@cdktf/provider-aws/lib/s3-bucket-notification";
import { S3BucketLoggingA } from "@cdktf/provider-aws/lib/s3-bucket-logging";
import {
  DataAwsIamPolicyDocument,
  DataAwsIamPolicyDocumentStatement,
} from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { IGrantable, pascal } from "./grants";

export type StorageClass = "INTELLIGENT_TIERING" | "STANDARD_IA" | "ONEZONE_IA" | "GLACIER_IR" | "GLACIER" | "DEEP_ARCHIVE";

/** A lifecycle rule in plain terms; every rule applies to the whole bucket unless `prefix` is set. */
export interface LifecycleRule {
  readonly id: string;
  readonly prefix?: string;
  /** Move current objects to a storage class after N days. */
  readonly transitions?: readonly { readonly days: number; readonly storageClass: StorageClass }[];
  /** Delete current objects after N days. */
  readonly expirationDays?: number;
  /** Delete superseded versions N days after they became noncurrent. */
  readonly noncurrentVersionExpirationDays?: number;
}

export interface SecureBucketProps {
  /** Globally unique bucket name (<= 63 chars). */
  readonly bucketName: string;
  /** KMS key for SSE-KMS (with an S3 bucket key). Default: SSE-S3 (AES256), which needs no key grants. */
  readonly kmsKeyArn?: string;
  /** Lifecycle rules beside the always-present abort-incomplete-multipart-upload rule. */
  readonly lifecycleRules?: readonly LifecycleRule[];
  /** Days before an unfinished multipart upload is aborted. Default 7. */
  readonly abortIncompleteMultipartUploadDays?: number;
  /** Send this bucket's events to EventBridge (the bucket's single notification resource). Default true. */
  readonly eventBridge?: boolean;
  /** Write S3 server access logs to this bucket under `accessLogPrefix`. Default: none. */
  readonly accessLogBucket?: SecureBucket;
  /** Key prefix of the access logs. Default `<bucketName>/`. */
  readonly accessLogPrefix?: string;
  /** `lifecycle { prevent_destroy = true }`: Terraform refuses to destroy the bucket. Default false. */
  readonly preventDestroy?: boolean;
  /**
   * `force_destroy = true`: `terraform destroy` deletes every object version and delete marker
   * first, so a used bucket can go. Only for disposable data. Default false; exclusive with
   * `preventDestroy`.
   */
  readonly forceDestroy?: boolean;
  /** Extra statements for the bucket policy (the TLS-only deny is always present). */
  readonly extraPolicyStatements?: readonly DataAwsIamPolicyDocumentStatement[];
}

/**
 * An S3 bucket with the settings every bucket here needs: versioning, default
 * encryption, all four public-access-block flags, ACLs disabled
 * (BucketOwnerEnforced), a TLS-only deny policy and lifecycle rules.
 */
export class SecureBucket extends Construct {
  readonly bucket: S3Bucket;
  readonly bucketName: string;
  readonly bucketArn: string;
  readonly lifecycle: S3BucketLifecycleConfiguration;
  readonly policy: S3BucketPolicy;
  readonly notification?: S3BucketNotification;
  readonly logging?: S3BucketLoggingA;

  constructor(scope: Construct, id: string, props: SecureBucketProps) {
    super(scope, id);
    // A name with a token (e.g. a random suffix) is checked by whoever knows the token's length.
    if (!Token.isUnresolved(props.bucketName) && props.bucketName.length > 63) {
      throw new Error(`SecureBucket ${id}: bucketName "${props.bucketName}" is ${props.bucketName.length} chars; S3 allows at most 63`);
    }

    if (props.forceDestroy && props.preventDestroy) {
      throw new Error(`SecureBucket ${id}: forceDestroy and preventDestroy exclude each other`);
    }

    this.bucket = new S3Bucket(this, "bucket", {
      bucket: props.bucketName,
      forceDestroy: props.forceDestroy ?? false,
      lifecycle: props.preventDestroy ? { preventDestroy: true } : undefined,
    });
    this.bucketName = this.bucket.bucket;
    this.bucketArn = this.bucket.arn;
    const bucket = this.bucket.id;

    const versioning = new S3BucketVersioningA(this, "versioning", {
      bucket,
      versioningConfiguration: { status: "Enabled" },
    });

    new S3BucketServerSideEncryptionConfigurationA(this, "encryption", {
      bucket,
      rule: [
        props.kmsKeyArn
          ? {
              applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: props.kmsKeyArn },
              bucketKeyEnabled: true,
            }
          : { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } },
      ],
    });

    const publicAccessBlock = new S3BucketPublicAccessBlock(this, "public-access-block", {
      bucket,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });

    new S3BucketOwnershipControls(this, "ownership", {
      bucket,
      rule: { objectOwnership: "BucketOwnerEnforced" },
    });

    const policyDocument = new DataAwsIamPolicyDocument(this, "policy-document", {
      statement: [
        {
          sid: "DenyInsecureTransport",
          effect: "Deny",
          principals: [{ type: "*", identifiers: ["*"] }],
          actions: ["s3:*"],
          resources: [this.bucket.arn, `${this.bucket.arn}/*`],
          condition: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
        },
        ...(props.extraPolicyStatements ?? []),
      ],
    });
    // After the public access block: S3 rejects a policy while the block is being applied.
    this.policy = new S3BucketPolicy(this, "policy", {
      bucket,
      policy: policyDocument.json,
      dependsOn: [publicAccessBlock],
    });

    // After versioning: S3 rejects noncurrent-version rules on a bucket whose versioning is
    // still being enabled, and the provider would create both at once.
    this.lifecycle = new S3BucketLifecycleConfiguration(this, "lifecycle", {
      bucket,
      dependsOn: [versioning],
      rule: [
        {
          id: "abort-incomplete-multipart-uploads",
          status: "Enabled",
          filter: [{ prefix: "" }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: props.abortIncompleteMultipartUploadDays ?? 7 }],
        },
        {
          // Every delete in a versioned bucket (dbt-athena deletes a table's files on each
          // rebuild) leaves a marker; once its noncurrent versions have expired it is alone and
          // would stay for ever. S3 rejects this flag beside `days` in one rule, hence its own.
          id: "remove-expired-delete-markers",
          status: "Enabled",
          filter: [{ prefix: "" }],
          expiration: [{ expiredObjectDeleteMarker: true }],
        },
        ...(props.lifecycleRules ?? []).map(toRule),
      ],
    });

    if (props.eventBridge ?? true) {
      // One notification resource per bucket: S3 keeps a single notification configuration,
      // so a second resource would silently overwrite the first.
      this.notification = new S3BucketNotification(this, "notification", { bucket, eventbridge: true });
    }

    if (props.accessLogBucket) {
      this.logging = new S3BucketLoggingA(this, "access-logs", {
        bucket,
        targetBucket: props.accessLogBucket.bucket.id,
        targetPrefix: props.accessLogPrefix ?? `${props.bucketName}/`,
        // S3 checks at PutBucketLogging that the target's policy lets the logging service write
        // (InvalidTargetBucketForLogging otherwise), so the policy must exist first.
        dependsOn: [props.accessLogBucket.policy],
      });
    }
  }

  /** Read objects and list the bucket. */
  grantRead(grantee: IGrantable): void {
    grantee.grant({
      sid: `Read${pascal(this.node.id)}`,
      actions: ["s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject", "s3:GetObjectVersion"],
      resources: [this.bucketArn, `${this.bucketArn}/*`],
    });
  }

  /** Read, write and delete objects (multipart uploads included) and list the bucket. */
  grantReadWrite(grantee: IGrantable): void {
    grantee.grant({
      sid: `ReadWrite${pascal(this.node.id)}`,
      actions: [
        "s3:GetBucketLocation",
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
      ],
      resources: [this.bucketArn, `${this.bucketArn}/*`],
    });
  }
}

function toRule(rule: LifecycleRule): S3BucketLifecycleConfigurationRule {
  return {
    id: rule.id,
    status: "Enabled",
    filter: [{ prefix: rule.prefix ?? "" }],
    transition: rule.transitions?.map((t) => ({ days: t.days, storageClass: t.storageClass })),
    expiration: rule.expirationDays !== undefined ? [{ days: rule.expirationDays }] : undefined,
    noncurrentVersionExpiration:
      rule.noncurrentVersionExpirationDays !== undefined
        ? [{ noncurrentDays: rule.noncurrentVersionExpirationDays }]
        : undefined,
  };
}
