import { Construct } from "constructs";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { SfnStateMachine } from "@cdktf/provider-aws/lib/sfn-state-machine";
import { buildDefinition, StateMachineDefinition } from "./build-definition";
import { IGrantable } from "./grants";
import { LOG_DELIVERY_ACTIONS } from "./log-delivery";

/** The function the steps invoke (DbtRunner). */
export interface StepRunner {
  /** What the definition invokes: the `live` alias's ARN with SnapStart, else the function's. */
  readonly invokeArn: string;
  /** The same ARN spelled from names, for the role's policy (see DbtRunner.invokePolicyArn). */
  readonly invokePolicyArn: string;
}

export interface BuildStateMachineProps {
  /** `<env>-dbt-build`; also names its role (`<name>-role`) and log group. */
  readonly stateMachineName: string;
  readonly accountId: string;
  readonly partition: string;
  readonly region: string;
  /** The runner the steps invoke (its `live` alias with SnapStart): the only function the role may invoke. */
  readonly runner: StepRunner;
  /** KMS key of the log group. Default: CloudWatch Logs' own encryption. */
  readonly kmsKeyArn?: string;
  /** ARN of the managed policy set as the role's permissions boundary. Default: none. */
  readonly permissionsBoundary?: string;
  /** Default 14 days. */
  readonly logRetentionDays?: number;
  /**
   * `ALL` (every state transition) or `ERROR` (failures only). Execution data (inputs, outputs,
   * the runner's answers) is never logged either way: the execution history holds it, the logs
   * do not. Default `ALL`.
   */
  readonly logLevel?: "ALL" | "ERROR";
  /** Seconds between two looks at the queue while an older build runs. Default 60. */
  readonly queuePollSeconds?: number;
  /** Seconds before an execution's first look at the queue. Default 10. */
  readonly queueSettleSeconds?: number;
  /**
   * The execution's limit, queue time included (States.Timeout after it). Default 43200 (12 h).
   * With the poll interval it must keep a queued execution's history within Step Functions' limit.
   */
  readonly timeoutSeconds?: number;
  /** X-Ray tracing of executions, as the functions have it. Default true. */
  readonly tracing?: boolean;
}

/**
 * The Standard state machine `<env>-dbt-build`: one dbt build in Lambda-sized steps
 * (`buildDefinition`), with its own role, KMS-encrypted log group and X-Ray tracing.
 *
 * Concurrency: FIFO, one build at a time per env. Each execution lists the RUNNING executions of
 * this state machine (`states:ListExecutions`, on its own ARN only) and starts its build only
 * when it is the oldest; later ones wait in a poll loop, in the order they started. Nothing is
 * dropped or merged: every trigger's event is built, in turn.
 *
 * The role may invoke only the runner's invoke ARN, list this state machine's executions, write
 * traces and manage the log delivery of its logs (CloudWatch Logs' vended-log actions accept only
 * `"*"`). Triggers start executions through `grantStartExecution(role)`.
 */
export class BuildStateMachine extends Construct {
  readonly stateMachine: SfnStateMachine;
  readonly stateMachineName: string;
  readonly stateMachineArn: string;
  readonly role: IamRole;
  readonly logGroup: CloudwatchLogGroup;
  /** `stateMachineArn` spelled from names, for IAM policies (see DbtRunner.invokePolicyArn). */
  readonly policyArn: string;
  /** The definition as deployed (the synthesized `definition` is its JSON). */
  readonly definition: StateMachineDefinition;

  /** The log group of a state machine named `name` (the key policy names it before it exists). */
  static logGroupName(name: string): string {
    // /aws/vendedlogs/ keeps CloudWatch Logs' resource policy small (AWS's advice for Step Functions).
    return `/aws/vendedlogs/states/${name}`;
  }

  constructor(scope: Construct, id: string, props: BuildStateMachineProps) {
    super(scope, id);
    const name = props.stateMachineName;
    // Known before the state machine exists, so the role's policy (which must exist before the
    // state machine: AWS checks the log delivery permissions at creation) can name it.
    // Also keeps the policies that name it from being re-read at apply whenever the state machine changes.
    const ownArn = `arn:${props.partition}:states:${props.region}:${props.accountId}:stateMachine:${name}`;
    this.policyArn = ownArn;

    this.logGroup = new CloudwatchLogGroup(this, "logs", {
      name: BuildStateMachine.logGroupName(name),
      retentionInDays: props.logRetentionDays ?? 14,
      kmsKeyId: props.kmsKeyArn,
    });

    const trust = new DataAwsIamPolicyDocument(this, "trust", {
      statement: [
        {
          sid: "StepFunctionsInThisAccount",
          effect: "Allow",
          actions: ["sts:AssumeRole"],
          principals: [{ type: "Service", identifiers: ["states.amazonaws.com"] }],
          condition: [{ test: "StringEquals", variable: "aws:SourceAccount", values: [props.accountId] }],
        },
      ],
    });
    this.role = new IamRole(this, "role", {
      name: `${name}-role`,
      description: `Execution role of the ${name} state machine`,
      assumeRolePolicy: trust.json,
      permissionsBoundary: props.permissionsBoundary,
    });

    const policy = new DataAwsIamPolicyDocument(this, "policy", {
      statement: [
        { sid: "InvokeRunner", effect: "Allow", actions: ["lambda:InvokeFunction"], resources: [props.runner.invokePolicyArn] },
        // The queue: this state machine's own executions, nothing else.
        { sid: "ListOwnExecutions", effect: "Allow", actions: ["states:ListExecutions"], resources: [ownArn] },
        {
          // CloudWatch Logs' vended-log delivery: AWS requires "*" for these actions (they have no
          // resource-level permissions); the log group itself is named in the logging configuration.
          sid: "DeliverLogs",
          effect: "Allow",
          actions: [...LOG_DELIVERY_ACTIONS, "logs:DescribeLogGroups"],
          resources: ["*"],
        },
        // X-Ray has no resource-level permissions: AWS accepts only "*" for these actions.
        {
          sid: "XRayTracing",
          effect: "Allow",
          actions: ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"],
          resources: ["*"],
        },
      ],
    });
    const rolePolicy = new IamRolePolicy(this, "role-policy", { name: `${name}-permissions`, role: this.role.id, policy: policy.json });

    this.definition = buildDefinition({
      runnerInvokeArn: props.runner.invokeArn,
      queuePollSeconds: props.queuePollSeconds,
      queueSettleSeconds: props.queueSettleSeconds,
      timeoutSeconds: props.timeoutSeconds,
    });
    this.stateMachine = new SfnStateMachine(this, "state-machine", {
      name,
      type: "STANDARD",
      roleArn: this.role.arn,
      definition: JSON.stringify(this.definition),
      loggingConfiguration: {
        level: props.logLevel ?? "ALL",
        // Off: events, node names and errors would otherwise be copied into the logs.
        includeExecutionData: false,
        logDestination: `${this.logGroup.arn}:*`,
      },
      tracingConfiguration: { enabled: props.tracing ?? true },
      dependsOn: [rolePolicy, this.logGroup],
    });
    this.stateMachineName = this.stateMachine.name;
    this.stateMachineArn = this.stateMachine.arn;
  }

  /** Start executions of this state machine (an EventBridge target's role). */
  grantStartExecution(grantee: IGrantable): void {
    grantee.grant({ sid: "StartBuild", actions: ["states:StartExecution"], resources: [this.policyArn] });
  }
}
