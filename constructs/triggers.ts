import { Construct } from "constructs";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { GrantStatement, IGrantable, toPolicyStatement } from "./grants";
import { INGEST_MANIFEST_PREFIX, RAW_PREFIX } from "./raw-zone-contract";
import { SecureBucket } from "./secure-bucket";

/** A function (or its alias) that an EventBridge rule can invoke. */
export interface Invocable {
  readonly functionName: string;
  /** The function's ARN, or its alias's. */
  readonly invokeArn: string;
  /** The alias name when `invokeArn` is an alias. */
  readonly invokeQualifier?: string;
}

/**
 * What starts a build when raw data lands:
 * - `per-ingest` (default): the one manifest an ingest writes last, under `manifests/`, so one
 *   ingest of any number of tables is one build;
 * - `per-object`: every object under `raw/`, one build per object (for loaders that write no
 *   manifest; several objects in a row queue several builds, one after the other).
 */
export type RawTrigger = "per-ingest" | "per-object";

/** The key prefix each raw trigger matches. */
export const RAW_TRIGGER_PREFIX: Readonly<Record<RawTrigger, string>> = { "per-ingest": INGEST_MANIFEST_PREFIX, "per-object": RAW_PREFIX };

/** A state machine that EventBridge can start (BuildStateMachine). */
export interface Startable {
  readonly stateMachineArn: string;
  /** Lets `grantee` start executions of this state machine only. */
  grantStartExecution(grantee: IGrantable): void;
}

export interface TriggersProps {
  /** What the rules start: the build state machine, with each event as its execution input. */
  readonly build: Startable;
  /** Name stem of the rules and of their role, e.g. `dev-dbt-build`. */
  readonly namePrefix: string;
  readonly accountId: string;
  /** ARN of the managed policy set as the rules' role's permissions boundary. Default: none. */
  readonly permissionsBoundary?: string;
  /** EventBridge schedule (`cron(...)`/`rate(...)`) for the default dbt command. Default: none. */
  readonly scheduleExpression?: string;
  /** Build when data lands in this bucket. Its notification must send to EventBridge. */
  readonly rawBucket?: SecureBucket;
  /** Default `per-ingest`. */
  readonly rawTrigger?: RawTrigger;
}

/**
 * What starts a build: an optional schedule and S3 "Object Created" events from the raw bucket,
 * each an EventBridge rule whose target starts the build state machine with the event, unchanged,
 * as the execution's input. The rules share one role (created only when a rule exists) that may
 * start that state machine and nothing else, and that only EventBridge in this account may assume.
 */
export class Triggers extends Construct {
  readonly scheduleRule?: CloudwatchEventRule;
  readonly objectCreatedRule?: CloudwatchEventRule;
  /** The role the rules' targets use, when any rule exists. */
  readonly role?: TargetRole;

  constructor(scope: Construct, id: string, props: TriggersProps) {
    super(scope, id);
    if (props.scheduleExpression || props.rawBucket) {
      this.role = new TargetRole(this, "target", {
        roleName: `${props.namePrefix}-trigger-role`,
        accountId: props.accountId,
        permissionsBoundary: props.permissionsBoundary,
      });
      props.build.grantStartExecution(this.role);
    }
    if (props.scheduleExpression) {
      this.scheduleRule = new CloudwatchEventRule(this, "schedule", {
        name: `${props.namePrefix}-schedule`,
        description: "Runs the default dbt command on a schedule",
        scheduleExpression: props.scheduleExpression,
      });
      startOnRule(this, "schedule", this.scheduleRule, props.build, this.role!);
    }
    if (props.rawBucket) {
      if (!props.rawBucket.notification) {
        throw new Error(`Triggers ${id}: the raw bucket must send its events to EventBridge (eventBridge: true)`);
      }
      const mode = props.rawTrigger ?? "per-ingest";
      this.objectCreatedRule = new CloudwatchEventRule(this, "raw-object-created", {
        name: `${props.namePrefix}-raw-object-created`,
        description:
          mode === "per-ingest"
            ? "Builds what depends on an ingest's tables when its manifest lands (one build per ingest)"
            : "Builds what depends on a raw table when a file lands in the raw zone (one build per object)",
        eventPattern: JSON.stringify({
          source: ["aws.s3"],
          "detail-type": ["Object Created"],
          detail: {
            bucket: { name: [props.rawBucket.bucketName] },
            object: { key: [{ prefix: RAW_TRIGGER_PREFIX[mode] }] },
          },
        }),
        dependsOn: [props.rawBucket.notification],
      });
      startOnRule(this, "raw-object-created", this.objectCreatedRule, props.build, this.role!);
    }
  }
}

/** Targets `rule` at `fn`, with an invoke permission scoped to that rule's ARN. */
export function invokeOnRule(scope: Construct, id: string, rule: CloudwatchEventRule, fn: Invocable): void {
  new CloudwatchEventTarget(scope, `${id}-target`, {
    rule: rule.name,
    arn: fn.invokeArn,
  });
  new LambdaPermission(scope, `${id}-permission`, {
    statementId: `AllowEventBridge-${id}`,
    action: "lambda:InvokeFunction",
    functionName: fn.functionName,
    qualifier: fn.invokeQualifier,
    principal: "events.amazonaws.com",
    sourceArn: rule.arn,
  });
}

/** Targets `rule` at the state machine, through `role` (allowed states:StartExecution on it only). */
export function startOnRule(scope: Construct, id: string, rule: CloudwatchEventRule, target: Startable, role: TargetRole): void {
  new CloudwatchEventTarget(scope, `${id}-target`, {
    rule: rule.name,
    arn: target.stateMachineArn,
    roleArn: role.role.arn,
    // The policy must exist before EventBridge first uses the role.
    dependsOn: [role.rolePolicy],
  });
}

export interface TargetRoleProps {
  readonly roleName: string;
  readonly accountId: string;
  /** ARN of the managed policy set as the role's permissions boundary. Default: none. */
  readonly permissionsBoundary?: string;
}

/** The role EventBridge rules' targets assume; permissions arrive through `grant()`. */
export class TargetRole extends Construct implements IGrantable {
  readonly role: IamRole;
  readonly rolePolicy: IamRolePolicy;
  private readonly statements: GrantStatement[] = [];
  private readonly document: DataAwsIamPolicyDocument;

  constructor(scope: Construct, id: string, props: TargetRoleProps) {
    super(scope, id);
    const trust = new DataAwsIamPolicyDocument(this, "trust", {
      statement: [
        {
          sid: "EventBridgeInThisAccount",
          effect: "Allow",
          actions: ["sts:AssumeRole"],
          principals: [{ type: "Service", identifiers: ["events.amazonaws.com"] }],
          condition: [{ test: "StringEquals", variable: "aws:SourceAccount", values: [props.accountId] }],
        },
      ],
    });
    this.role = new IamRole(this, "role", {
      name: props.roleName,
      description: "Starts the dbt build from EventBridge rules",
      assumeRolePolicy: trust.json,
      permissionsBoundary: props.permissionsBoundary,
    });
    this.document = new DataAwsIamPolicyDocument(this, "policy", { statement: [] });
    this.rolePolicy = new IamRolePolicy(this, "role-policy", { name: `${props.roleName}-permissions`, role: this.role.id, policy: this.document.json });
  }

  grant(statement: GrantStatement): void {
    if (this.statements.some((s) => s.sid === statement.sid)) throw new Error(`${this.node.id}: sid "${statement.sid}" already granted`);
    this.statements.push(statement);
    this.document.putStatement(this.statements.map(toPolicyStatement));
  }
}
