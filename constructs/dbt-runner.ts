import { Construct } from "constructs";
import { Fn } from "cdktf";
import { LambdaAlias } from "@cdktf/provider-aws/lib/lambda-alias";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { LambdaLayerVersion } from "@cdktf/provider-aws/lib/lambda-layer-version";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { FUNCTION_ZIP, LAYER_ZIP } from "./deployment-packages";
import { ARCHITECTURE, FunctionBasics, RUNTIME } from "./function-basics";
import { GrantStatement, IGrantable } from "./grants";

export { ARCHITECTURE, RUNTIME } from "./function-basics";

export interface DbtRunnerProps {
  /** `<env>-dbt-runner`; also names the log group, role, layer and queue. */
  readonly functionName: string;
  readonly accountId: string;
  readonly partition: string;
  readonly region: string;
  /** Default 3008 MB. */
  readonly memorySize?: number;
  /** Default 900 s (Lambda's maximum; a dbt build is long). */
  readonly timeout?: number;
  /** Default 1: two builds never race on the same tables. "none": no reservation (builds may overlap). */
  readonly reservedConcurrency?: number | "none";
  /** Default 14 days. */
  readonly logRetentionDays?: number;
  /** Environment of the function (the handler's settings). */
  readonly environment: Readonly<Record<string, string>>;
  /** KMS key for the log group and the environment variables. Default: AWS-managed keys. */
  readonly kmsKeyArn?: string;
  /** Function zip (built by `make package`). Default `../../../build/function.zip`. */
  readonly functionZip?: string;
  /** Layer zip (built by `make layer`). Default `../../../build/dbt-layer.zip`. */
  readonly layerZip?: string;
  /**
   * Retries of a failed asynchronous run (schedule, S3 events). Default 1: enough for a
   * transient Athena or S3 error, while a model error is not rebuilt three times.
   */
  readonly asyncRetryAttempts?: number;
  /**
   * How long an asynchronous event may wait (behind reserved concurrency) before it goes to
   * the dead-letter queue instead. Default 6 hours.
   */
  readonly maxEventAgeSeconds?: number;
  /** ARN of the managed policy set as the execution role's permissions boundary. Default: none. */
  readonly permissionsBoundary?: string;
  /**
   * Lambda SnapStart. When true the function publishes a version on every change, the alias
   * `live` follows the newest one, snapshots are taken of published versions, and the handler
   * parses the dbt project during init (`DBT_PARSE_AT_INIT`), so the snapshot holds the parsed
   * manifest. Triggers and permissions must then target `invokeArn`/`invokeQualifier`.
   * Default false: SnapStart for Python is billed (snapshot cache and every restore).
   */
  readonly snapStart?: boolean;
}

/** The alias a SnapStart runner is invoked through. */
export const LIVE_ALIAS = "live";

/**
 * The dbt_runner Lambda: function, dbt layer, execution role, log group and the
 * dead-letter queue that receives events whose asynchronous runs failed after
 * Lambda's retries. Permissions arrive through `grant()` from the resources.
 */
export class DbtRunner extends Construct implements IGrantable {
  readonly function: LambdaFunction;
  readonly functionName: string;
  readonly functionArn: string;
  /** What triggers invoke: the `live` alias's ARN with SnapStart, else the function's ARN. */
  readonly invokeArn: string;
  /** The alias name with SnapStart (for `qualifier` of permissions), else undefined. */
  readonly invokeQualifier?: string;
  /**
   * `invokeArn` spelled from names rather than referenced, for IAM policies: a policy document
   * that references the function is re-read only at apply whenever the function changes (every
   * code deploy), and its role policy then shows as changed in every such plan.
   */
  readonly invokePolicyArn: string;
  /** The `live` alias, with SnapStart only. */
  readonly alias?: LambdaAlias;
  readonly role: IamRole;
  readonly logGroup: CloudwatchLogGroup;
  readonly layer: LambdaLayerVersion;
  readonly deadLetterQueue: SqsQueue;
  private readonly basics: FunctionBasics;

  constructor(scope: Construct, id: string, props: DbtRunnerProps) {
    super(scope, id);
    const name = props.functionName;
    const functionZip = props.functionZip ?? FUNCTION_ZIP;
    const layerZip = props.layerZip ?? LAYER_ZIP;
    const snapStart = props.snapStart ?? false;

    this.basics = new FunctionBasics(this, props);
    this.logGroup = this.basics.logGroup;
    this.role = this.basics.role;
    this.deadLetterQueue = this.basics.deadLetterQueue;

    this.layer = new LambdaLayerVersion(this, "layer", {
      layerName: `${name}-dbt`,
      description: "dbt-core and dbt-athena for python3.12 arm64 (build/dbt-layer.zip from `make layer`)",
      filename: layerZip,
      sourceCodeHash: Fn.filebase64sha256(layerZip),
      compatibleRuntimes: [RUNTIME],
      compatibleArchitectures: [ARCHITECTURE],
    });

    this.function = new LambdaFunction(this, "function", {
      ...this.basics.functionSettings(),
      functionName: name,
      description: "Runs dbt (dbt-core + dbt-athena) against Athena",
      handler: "dbt_runner.handler.handler",
      filename: functionZip,
      sourceCodeHash: Fn.filebase64sha256(functionZip),
      layers: [this.layer.arn],
      memorySize: props.memorySize ?? 3008,
      timeout: props.timeout ?? 900,
      reservedConcurrentExecutions: props.reservedConcurrency === "none" ? undefined : (props.reservedConcurrency ?? 1),
      environment: { variables: { ...props.environment, ...(snapStart ? { DBT_PARSE_AT_INIT: "true" } : {}) } },
      // SnapStart applies to published versions only: every code or config change publishes one.
      ...(snapStart ? { publish: true, snapStart: { applyOn: "PublishedVersions" } } : {}),
    });
    this.functionName = this.function.functionName;
    this.invokePolicyArn =
      `arn:${props.partition}:lambda:${props.region}:${props.accountId}:function:${name}` + (snapStart ? `:${LIVE_ALIAS}` : "");
    this.functionArn = this.function.arn;
    if (snapStart) {
      this.alias = new LambdaAlias(this, "live", {
        name: LIVE_ALIAS,
        description: "The newest published version (SnapStart restores its snapshot)",
        functionName: this.function.functionName,
        functionVersion: this.function.version,
      });
      this.invokeArn = this.alias.arn;
      this.invokeQualifier = this.alias.name;
    } else {
      this.invokeArn = this.functionArn;
    }

    // Asynchronous runs arrive through invokeArn, so their retries and expiry are set there.
    this.basics.asyncInvoke(this.function.functionName, {
      qualifier: this.invokeQualifier,
      retryAttempts: props.asyncRetryAttempts,
      maxEventAgeSeconds: props.maxEventAgeSeconds,
    });
  }

  /** Adds a statement to the execution role's policy. */
  grant(statement: GrantStatement): void {
    this.basics.grant(statement);
  }
}
