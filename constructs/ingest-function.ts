import { Construct } from "constructs";
import { Fn } from "cdktf";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { FUNCTION_ZIP } from "./deployment-packages";
import { FunctionBasics } from "./function-basics";
import { GrantStatement, IGrantable } from "./grants";
import { DEFAULT_SOURCE_KEY, INGEST_MANIFEST_PREFIX, RAW_PREFIX } from "./raw-zone-contract";
import { SecureBucket } from "./secure-bucket";
import { invokeOnRule } from "./triggers";

export interface IngestFunctionProps {
  /** `<env>-ingest`; also names its log group, role and queue. */
  readonly functionName: string;
  readonly accountId: string;
  /** The raw bucket: the source database is read from it and the raw zone written into it. */
  readonly rawBucket: SecureBucket;
  /** Key of the SQLite database in the raw bucket. Default `db/chinook.db`. */
  readonly sourceKey?: string;
  /** EventBridge schedule (`cron(...)`/`rate(...)`) of an ingest of the source. Default: none. */
  readonly scheduleExpression?: string;
  /** Default 1024 MB: rows stream through temporary files, so memory stays flat. */
  readonly memorySize?: number;
  /** Default 900 s. */
  readonly timeout?: number;
  /** Reserved concurrency; 1 keeps two ingests of one day from racing. Default: none. */
  readonly reservedConcurrency?: number;
  /** Default 14 days. */
  readonly logRetentionDays?: number;
  /** KMS key of the log group and the environment variables. */
  readonly kmsKeyArn?: string;
  readonly permissionsBoundary?: string;
  /** Function zip (built by `make package`; the same package as the runner). */
  readonly functionZip?: string;
}

/**
 * The seed pipeline's ingestion Lambda: copies the tables of a SQLite database in the raw bucket
 * into the raw zone and writes one manifest last, whose Object Created event starts one build.
 * No dbt layer: the handler needs only the standard library and the runtime's boto3. Its role
 * reads the one source object and writes only under `raw/` and `manifests/`.
 */
export class IngestFunction extends Construct implements IGrantable {
  readonly function: LambdaFunction;
  readonly functionName: string;
  readonly functionArn: string;
  readonly invokeArn: string;
  readonly invokeQualifier?: string;
  readonly role: IamRole;
  readonly logGroup: CloudwatchLogGroup;
  readonly deadLetterQueue: SqsQueue;
  readonly sourceKey: string;
  readonly timeoutSeconds: number;
  readonly scheduleRule?: CloudwatchEventRule;
  private readonly basics: FunctionBasics;

  constructor(scope: Construct, id: string, props: IngestFunctionProps) {
    super(scope, id);
    const name = props.functionName;
    const functionZip = props.functionZip ?? FUNCTION_ZIP;
    this.sourceKey = props.sourceKey ?? DEFAULT_SOURCE_KEY;
    this.timeoutSeconds = props.timeout ?? 900;
    if (this.sourceKey.startsWith(RAW_PREFIX) || this.sourceKey.startsWith(INGEST_MANIFEST_PREFIX)) {
      throw new Error(`IngestFunction ${id}: sourceKey "${this.sourceKey}" must not be under ${RAW_PREFIX} or ${INGEST_MANIFEST_PREFIX}`);
    }

    this.basics = new FunctionBasics(this, props);
    this.logGroup = this.basics.logGroup;
    this.role = this.basics.role;
    this.deadLetterQueue = this.basics.deadLetterQueue;

    const bucket = props.rawBucket.bucketArn;
    this.grant({ sid: "ReadSourceDatabase", actions: ["s3:GetObject"], resources: [`${bucket}/${this.sourceKey}`] });
    this.grant({
      sid: "WriteRawZoneAndManifests",
      actions: ["s3:PutObject"],
      resources: [`${bucket}/${RAW_PREFIX}*`, `${bucket}/${INGEST_MANIFEST_PREFIX}*`],
    });
    // A same-day re-ingest replaces that day's snapshot: list it, then delete what it no longer has.
    this.grant({
      sid: "ListRawZone",
      actions: ["s3:ListBucket"],
      resources: [bucket],
      conditions: [{ test: "StringLike", variable: "s3:prefix", values: [RAW_PREFIX, `${RAW_PREFIX}*`] }],
    });
    this.grant({ sid: "ReplaceRawSnapshots", actions: ["s3:DeleteObject"], resources: [`${bucket}/${RAW_PREFIX}*`] });

    this.function = new LambdaFunction(this, "function", {
      ...this.basics.functionSettings(),
      functionName: name,
      description: "Copies the tables of a SQLite database in the raw bucket into the raw zone, then writes the ingest manifest",
      handler: "ingest.handler.handler",
      filename: functionZip,
      sourceCodeHash: Fn.filebase64sha256(functionZip),
      memorySize: props.memorySize ?? 1024,
      timeout: this.timeoutSeconds,
      reservedConcurrentExecutions: props.reservedConcurrency,
      // A database is downloaded to /tmp and each table spooled there before it is published.
      ephemeralStorage: { size: 2048 },
      environment: { variables: { RAW_BUCKET_NAME: props.rawBucket.bucketName, INGEST_SOURCE_KEY: this.sourceKey } },
    });
    this.functionName = this.function.functionName;
    this.functionArn = this.function.arn;
    this.invokeArn = this.functionArn;
    this.basics.asyncInvoke(this.function.functionName, {});

    if (props.scheduleExpression) {
      this.scheduleRule = new CloudwatchEventRule(this, "schedule", {
        name: `${name}-schedule`,
        description: `Ingests s3://<raw>/${this.sourceKey} on a schedule`,
        scheduleExpression: props.scheduleExpression,
      });
      invokeOnRule(this, "schedule", this.scheduleRule, this);
    }
  }

  grant(statement: GrantStatement): void {
    this.basics.grant(statement);
  }
}
