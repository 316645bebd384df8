import { Construct } from "constructs";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { DbtRunner } from "./dbt-runner";
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
 *   manifest; several objects in a row queue several builds behind reserved concurrency).
 */
export type RawTrigger = "per-ingest" | "per-object";

/** The key prefix each raw trigger matches. */
export const RAW_TRIGGER_PREFIX: Readonly<Record<RawTrigger, string>> = { "per-ingest": INGEST_MANIFEST_PREFIX, "per-object": RAW_PREFIX };

export interface TriggersProps {
  readonly runner: DbtRunner;
  /** Name stem of the rules, e.g. `dev-dbt-runner`. */
  readonly namePrefix: string;
  /** EventBridge schedule (`cron(...)`/`rate(...)`) for the default dbt command. Default: none. */
  readonly scheduleExpression?: string;
  /** Build when data lands in this bucket. Its notification must send to EventBridge. */
  readonly rawBucket?: SecureBucket;
  /** Default `per-ingest`. */
  readonly rawTrigger?: RawTrigger;
}

/**
 * What starts the runner: an optional schedule and S3 "Object Created" events
 * from the raw bucket, each an EventBridge rule whose invoke permission is scoped
 * to that rule's ARN.
 */
export class Triggers extends Construct {
  readonly scheduleRule?: CloudwatchEventRule;
  readonly objectCreatedRule?: CloudwatchEventRule;

  constructor(scope: Construct, id: string, props: TriggersProps) {
    super(scope, id);
    if (props.scheduleExpression) {
      this.scheduleRule = new CloudwatchEventRule(this, "schedule", {
        name: `${props.namePrefix}-schedule`,
        description: "Runs the default dbt command on a schedule",
        scheduleExpression: props.scheduleExpression,
      });
      invokeOnRule(this, "schedule", this.scheduleRule, props.runner);
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
      invokeOnRule(this, "raw-object-created", this.objectCreatedRule, props.runner);
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
