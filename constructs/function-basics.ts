import { Construct } from "constructs";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaFunctionEventInvokeConfig } from "@cdktf/provider-aws/lib/lambda-function-event-invoke-config";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { GrantStatement, toPolicyStatement } from "./grants";

export const RUNTIME = "python3.12";
export const ARCHITECTURE = "arm64";

export interface FunctionBasicsProps {
  /** The function's name; also names its log group, role, policy and queue. */
  readonly functionName: string;
  readonly accountId: string;
  /** Default 14 days. */
  readonly logRetentionDays?: number;
  /** KMS key of the log group and the function's environment variables. Default: AWS-managed keys. */
  readonly kmsKeyArn?: string;
  /** ARN of the managed policy set as the role's permissions boundary. Default: none. */
  readonly permissionsBoundary?: string;
}

/**
 * What every function of the platform has around its code: a log group of its own, an execution
 * role only Lambda in this account may assume, one inline policy that grows through `grant()`, and
 * an encrypted dead-letter queue for asynchronous events that failed after Lambda's retries. The
 * resources are created in the owning construct's scope, so each function keeps its own paths.
 */
export class FunctionBasics {
  readonly logGroup: CloudwatchLogGroup;
  readonly role: IamRole;
  readonly rolePolicy: IamRolePolicy;
  readonly deadLetterQueue: SqsQueue;
  private readonly statements: GrantStatement[] = [];
  private readonly policyDocument: DataAwsIamPolicyDocument;
  private readonly kmsKeyArn?: string;

  constructor(
    private readonly owner: Construct,
    props: FunctionBasicsProps,
  ) {
    const name = props.functionName;
    this.kmsKeyArn = props.kmsKeyArn;
    this.logGroup = new CloudwatchLogGroup(owner, "logs", {
      name: `/aws/lambda/${name}`,
      retentionInDays: props.logRetentionDays ?? 14,
      kmsKeyId: props.kmsKeyArn,
    });

    const trust = new DataAwsIamPolicyDocument(owner, "trust", {
      statement: [
        {
          sid: "LambdaInThisAccount",
          effect: "Allow",
          actions: ["sts:AssumeRole"],
          principals: [{ type: "Service", identifiers: ["lambda.amazonaws.com"] }],
          condition: [{ test: "StringEquals", variable: "aws:SourceAccount", values: [props.accountId] }],
        },
      ],
    });
    this.role = new IamRole(owner, "role", {
      name: `${name}-role`,
      description: `Execution role of ${name}`,
      assumeRolePolicy: trust.json,
      permissionsBoundary: props.permissionsBoundary,
    });

    this.deadLetterQueue = new SqsQueue(owner, "dlq", {
      name: `${name}-dlq`,
      sqsManagedSseEnabled: true,
      messageRetentionSeconds: 14 * 24 * 3600,
    });

    this.policyDocument = new DataAwsIamPolicyDocument(owner, "policy", { statement: [] });
    this.rolePolicy = new IamRolePolicy(owner, "role-policy", {
      name: `${name}-permissions`,
      role: this.role.id,
      policy: this.policyDocument.json,
    });

    this.grant({
      sid: "WriteOwnLogGroup",
      actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
      resources: [`${this.logGroup.arn}:*`],
    });
    this.grant({ sid: "SendToDeadLetterQueue", actions: ["sqs:SendMessage"], resources: [this.deadLetterQueue.arn] });
    // X-Ray has no resource-level permissions: AWS accepts only "*" for these two actions.
    this.grant({ sid: "XRayTracing", actions: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources: ["*"] });
  }

  /**
   * The settings of the function itself that every function of the platform shares: its role,
   * runtime and architecture, encryption, tracing, dead-letter queue and log group, and a
   * dependency on the role's permissions (they must exist before the first invocation writes logs).
   */
  functionSettings() {
    return {
      role: this.role.arn,
      runtime: RUNTIME,
      architectures: [ARCHITECTURE],
      kmsKeyArn: this.kmsKeyArn,
      tracingConfig: { mode: "Active" },
      deadLetterConfig: { targetArn: this.deadLetterQueue.arn },
      loggingConfig: { logFormat: "Text", logGroup: this.logGroup.name },
      dependsOn: [this.rolePolicy, this.logGroup],
    };
  }

  /** Adds a statement to the execution role's policy; a sid may be granted once. */
  grant(statement: GrantStatement): void {
    if (this.statements.some((s) => s.sid === statement.sid)) {
      throw new Error(`${this.owner.node.id}: a statement with sid "${statement.sid}" was already granted`);
    }
    this.statements.push(statement);
    this.policyDocument.putStatement(this.statements.map(toPolicyStatement));
  }

  /**
   * Retries and expiry of asynchronous events (schedules, S3 events). Default: one retry, enough
   * for a transient AWS error while a code error is not run three times, and 6 hours of waiting.
   */
  asyncInvoke(functionName: string, opts: { qualifier?: string; retryAttempts?: number; maxEventAgeSeconds?: number }): void {
    new LambdaFunctionEventInvokeConfig(this.owner, "async-invoke", {
      functionName,
      qualifier: opts.qualifier,
      maximumRetryAttempts: opts.retryAttempts ?? 1,
      maximumEventAgeInSeconds: opts.maxEventAgeSeconds ?? 6 * 3600,
    });
  }
}
