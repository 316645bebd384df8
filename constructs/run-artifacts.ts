import { Construct } from "constructs";
import { SecureBucket } from "./secure-bucket";
import { IGrantable } from "./grants";

export interface RunArtifactsProps {
  /** Globally unique bucket name (`<bucketPrefix>-artifacts-<hex>`). */
  readonly bucketName: string;
  /** Days each `runs/<date>/<invocation_id>/` folder is kept. Default 90. */
  readonly runRetentionDays?: number;
  /** Server access logs go here (the lake's access-log bucket). */
  readonly accessLogBucket?: SecureBucket;
  /** prevent_destroy (prod, like the data buckets). Default false. */
  readonly preventDestroy?: boolean;
  /** `force_destroy`: a destroy empties the bucket first (disposable environments). Default false. */
  readonly forceDestroy?: boolean;
}

/**
 * The runner's artifacts bucket: `runs/<date>/<invocation_id>/` for every run (expiring),
 * `latest/` for the last good build (the state of state-aware builds) and `docs/` for the
 * one-page docs. Private like every SecureBucket: no website hosting, no public policy;
 * the docs are read with credentials or a pre-signed URL.
 */
export class RunArtifacts extends Construct {
  readonly bucket: SecureBucket;
  readonly bucketName: string;
  readonly bucketArn: string;

  constructor(scope: Construct, id: string, props: RunArtifactsProps) {
    super(scope, id);
    const days = props.runRetentionDays ?? 90;
    if (!Number.isInteger(days) || days < 1) {
      throw new Error(`RunArtifacts ${id}: runRetentionDays must be a positive integer, got ${days}`);
    }
    this.bucket = new SecureBucket(this, "bucket", {
      bucketName: props.bucketName,
      accessLogBucket: props.accessLogBucket,
      preventDestroy: props.preventDestroy,
      forceDestroy: props.forceDestroy,
      lifecycleRules: [
        { id: "expire-runs", prefix: "runs/", expirationDays: days, noncurrentVersionExpirationDays: 1 },
        // latest/ and docs/ are overwritten by each good build: old versions are a short safety net.
        { id: "expire-replaced-latest", prefix: "latest/", noncurrentVersionExpirationDays: 30 },
        { id: "expire-replaced-docs", prefix: "docs/", noncurrentVersionExpirationDays: 30 },
      ],
    });
    this.bucketName = this.bucket.bucketName;
    this.bucketArn = this.bucket.bucketArn;
  }

  /**
   * What the runner does: write its own prefixes (runs/, latest/, docs/, in_progress/) and read
   * latest/ back (the state of a state-aware build, through latest/pointer.json); keep
   * in_progress/ records (a run under way) and turn stale ones into timed-out runs under
   * runs/<date>/timed-out-<id>/ (read back so each gets one alert); read its own runs back (a
   * stepped build merges its steps' results from runs/<date>/<run id>/steps/); read project bundles
   * (projects/, ci/) and write a pull request's run records (ci/). ListBucket is limited to those
   * prefixes so that a missing object is a 404 ("no baseline yet"), not a 403.
   */
  grantRunner(grantee: IGrantable): void {
    grantee.grant({
      sid: "WriteRunArtifacts",
      actions: ["s3:PutObject"],
      resources: ["runs/*", "latest/*", "docs/*", "in_progress/*"].map((prefix) => `${this.bucketArn}/${prefix}`),
    });
    grantee.grant({
      sid: "ReadRunArtifacts",
      actions: ["s3:GetObject"],
      resources: ["latest/*", "in_progress/*", "runs/*"].map((prefix) => `${this.bucketArn}/${prefix}`),
    });
    // latest/: a build's folder replaced two builds later; in_progress/: a run's record once it is stored.
    grantee.grant({
      sid: "DeleteReplacedArtifacts",
      actions: ["s3:DeleteObject"],
      resources: ["latest/*", "in_progress/*"].map((prefix) => `${this.bucketArn}/${prefix}`),
    });
    grantee.grant({
      sid: "ListLatestArtifacts",
      actions: ["s3:ListBucket"],
      resources: [this.bucketArn],
      conditions: [{ test: "StringLike", variable: "s3:prefix", values: ["latest/*", "in_progress/*", "runs/*/timed-out-*"] }],
    });
    // Project bundles (make ship-project): the env's pointer and bundles under projects/, a pull
    // request's bundle under ci/pr_<n>/bundles/. A CI build's run records go under ci/pr_<n>/.
    grantee.grant({
      sid: "ReadProjectBundles",
      actions: ["s3:GetObject"],
      resources: ["projects/*", "ci/*"].map((prefix) => `${this.bucketArn}/${prefix}`),
    });
    grantee.grant({ sid: "WriteCiRunRecords", actions: ["s3:PutObject"], resources: [`${this.bucketArn}/ci/*`] });
  }
}
