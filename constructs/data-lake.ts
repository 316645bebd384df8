import { Construct } from "constructs";
import { Id as RandomId } from "@cdktf/provider-random/lib/id";
import { GlueCatalogDatabase } from "@cdktf/provider-aws/lib/glue-catalog-database";
import { AthenaWorkgroup } from "@cdktf/provider-aws/lib/athena-workgroup";
import { SecureBucket } from "./secure-bucket";
import { ATHENA_QUERY_ACTIONS, GLUE_READ_ACTIONS, GLUE_WRITE_ACTIONS } from "./dbt-actions";
import { IGrantable } from "./grants";

export type DataBucketKind = "raw" | "processed" | "athena-results";
export const BUCKET_KINDS: readonly DataBucketKind[] = ["raw", "processed", "athena-results"];
const ACCESS_LOGS = "access-logs";
/** Bytes of the random suffix: 8 hex characters. */
export const SUFFIX_BYTES = 4;

/** `<prefix>-<kind>-<hex>`; the longest kind plus the suffix leaves 63 - 24 = 39 chars for the prefix. */
export function bucketName(prefix: string, kind: string, hex: string): string {
  return `${prefix}-${kind}-${hex}`;
}

/** Athena rejects unquoted hyphens, so the Glue database uses underscores. */
export function glueDatabaseName(prefix: string): string {
  return prefix.replace(/-/g, "_");
}

export interface DataLakeProps {
  /** Start of every bucket name (validated in envs/: 4-36 chars). */
  readonly bucketPrefix: string;
  readonly athenaWorkgroupName: string;
  /** Athena cancels a query that scans more than this. */
  readonly bytesScannedCutoffPerQuery: number;
  /**
   * true (prod): prevent_destroy on every bucket. false (dev): the data is disposable, so
   * `terraform destroy` empties the buckets (force_destroy) and the workgroup's query history.
   */
  readonly protectBuckets: boolean;
  readonly accountId: string;
  readonly partition: string;
  readonly region: string;
  /**
   * Kinds of further buckets that log into this lake's access-log bucket (e.g. `artifacts`):
   * their names come from `bucketNameFor(kind)`. Default none.
   */
  readonly extraLoggedBucketKinds?: readonly string[];
}

/**
 * The S3 zones (raw, processed, athena-results) with their access-log bucket,
 * the Glue database that catalogs them and the Athena workgroup dbt queries through.
 */
export class DataLake extends Construct {
  readonly raw: SecureBucket;
  readonly processed: SecureBucket;
  readonly athenaResults: SecureBucket;
  readonly accessLogs: SecureBucket;
  readonly database: GlueCatalogDatabase;
  readonly databaseName: string;
  readonly workgroup: AthenaWorkgroup;
  readonly workgroupName: string;
  private readonly props: DataLakeProps;
  private readonly suffix: string;

  constructor(scope: Construct, id: string, props: DataLakeProps) {
    super(scope, id);
    this.props = props;
    // One random suffix for every bucket: names are globally unique and stable across applies.
    const loggedKinds = [...BUCKET_KINDS, ...(props.extraLoggedBucketKinds ?? [])];
    for (const kind of [...loggedKinds, ACCESS_LOGS]) {
      const longest = bucketName(props.bucketPrefix, kind, "f".repeat(SUFFIX_BYTES * 2));
      if (longest.length > 63) {
        throw new Error(`DataLake ${id}: bucketPrefix "${props.bucketPrefix}" makes "${longest}" ${longest.length} chars; S3 allows 63`);
      }
    }
    const suffix = new RandomId(this, "bucket-suffix", { byteLength: SUFFIX_BYTES }).hex;
    this.suffix = suffix;
    const name = (kind: string) => bucketName(props.bucketPrefix, kind, suffix);
    const protect = props.protectBuckets;

    this.accessLogs = new SecureBucket(this, "access-logs", {
      bucketName: name(ACCESS_LOGS),
      preventDestroy: protect,
      forceDestroy: !protect,
      // S3 delivers access logs as the logging service: it may write here only for this
      // account's data buckets of this lake.
      extraPolicyStatements: [
        {
          sid: "S3ServerAccessLogsDelivery",
          effect: "Allow",
          principals: [{ type: "Service", identifiers: ["logging.s3.amazonaws.com"] }],
          actions: ["s3:PutObject"],
          resources: [`arn:${props.partition}:s3:::${name(ACCESS_LOGS)}/*`],
          condition: [
            { test: "StringEquals", variable: "aws:SourceAccount", values: [props.accountId] },
            {
              test: "ArnLike",
              variable: "aws:SourceArn",
              values: loggedKinds.map((kind) => `arn:${props.partition}:s3:::${name(kind)}`),
            },
          ],
        },
      ],
      lifecycleRules: [{ id: "expire-access-logs", expirationDays: 365, noncurrentVersionExpirationDays: 30 }],
    });
    const logged = { accessLogBucket: this.accessLogs, preventDestroy: protect, forceDestroy: !protect };

    this.raw = new SecureBucket(this, "raw", {
      ...logged,
      bucketName: name("raw"),
      lifecycleRules: [
        {
          id: "tier-then-archive",
          transitions: [
            { days: 0, storageClass: "INTELLIGENT_TIERING" },
            { days: 1095, storageClass: "GLACIER" },
          ],
          noncurrentVersionExpirationDays: 90,
        },
      ],
    });
    this.processed = new SecureBucket(this, "processed", {
      ...logged,
      bucketName: name("processed"),
      // Kept indefinitely: dbt rebuilds tables, so old versions are only a safety net.
      lifecycleRules: [
        {
          id: "intelligent-tiering",
          transitions: [{ days: 0, storageClass: "INTELLIGENT_TIERING" }],
          noncurrentVersionExpirationDays: 30,
        },
      ],
    });
    this.athenaResults = new SecureBucket(this, "athena-results", {
      ...logged,
      bucketName: name("athena-results"),
      lifecycleRules: [{ id: "expire-query-results", expirationDays: 30, noncurrentVersionExpirationDays: 7 }],
    });

    this.databaseName = glueDatabaseName(props.bucketPrefix);
    this.database = new GlueCatalogDatabase(this, "database", {
      name: this.databaseName,
      description: "Raw-zone tables (from dbt sources) and the models dbt builds on Athena",
    });

    this.workgroup = new AthenaWorkgroup(this, "workgroup", {
      name: props.athenaWorkgroupName,
      description: "dbt queries: engine v3, results encrypted in the athena-results bucket",
      state: "ENABLED",
      // A workgroup with saved queries cannot be deleted without it; protected envs keep theirs.
      forceDestroy: !props.protectBuckets,
      configuration: {
        // Not enforced: dbt's tables must land in the processed bucket. Athena refuses a CTAS
        // with an external_location in a workgroup that enforces its results location, and
        // dbt-athena then leaves the location out, so tables would be written under the
        // athena-results bucket, whose objects expire after 30 days. The result settings below
        // are the defaults; every bucket encrypts at rest whatever a query asks.
        enforceWorkgroupConfiguration: false,
        publishCloudwatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.bytesScannedCutoffPerQuery,
        engineVersion: { selectedEngineVersion: "Athena engine version 3" },
        resultConfiguration: {
          outputLocation: `s3://${this.athenaResults.bucketName}/athena/`,
          expectedBucketOwner: props.accountId,
          encryptionConfiguration: { encryptionOption: "SSE_S3" },
        },
      },
    });
    this.workgroupName = this.workgroup.name;
  }

  /** `<bucketPrefix>-<kind>-<suffix>`: the name of a further bucket of this lake (see extraLoggedBucketKinds). */
  bucketNameFor(kind: string): string {
    return bucketName(this.props.bucketPrefix, kind, this.suffix);
  }

  /** ARNs of this lake's Glue catalog, database and tables (including dbt's `<db>_<schema>` databases). */
  glueArns(): { catalog: string; databases: string[]; tables: string[] } {
    const { partition, region, accountId } = this.props;
    const base = `arn:${partition}:glue:${region}:${accountId}`;
    const db = this.databaseName;
    return {
      catalog: `${base}:catalog`,
      databases: [`${base}:database/${db}`, `${base}:database/${db}_*`],
      tables: [`${base}:table/${db}/*`, `${base}:table/${db}_*/*`],
    };
  }

  /**
   * What dbt-athena does to the catalog: read the database, create and replace
   * tables and their partitions. Scoped to this database and dbt's custom-schema
   * databases (`<db>_<schema>`), which dbt may create.
   */
  grantGlueForDbt(grantee: IGrantable): void {
    const arns = this.glueArns();
    grantee.grant({
      sid: "GlueReadCatalog",
      actions: [...GLUE_READ_ACTIONS],
      resources: [arns.catalog, ...arns.databases, ...arns.tables],
    });
    grantee.grant({
      sid: "GlueWriteTables",
      actions: [...GLUE_WRITE_ACTIONS],
      resources: [arns.catalog, ...arns.databases, ...arns.tables],
    });
  }

  /** Run and read queries in this lake's workgroup only. */
  grantAthenaQuery(grantee: IGrantable): void {
    grantee.grant({
      sid: "AthenaQueryInWorkgroup",
      actions: [...ATHENA_QUERY_ACTIONS],
      resources: [this.workgroup.arn],
    });
  }
}
