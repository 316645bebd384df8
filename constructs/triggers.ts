import { Construct } from "constructs";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { DbtRunner } from "./dbt-runner";
import { SecureBucket } from "./secure-bucket";

export interface TriggersProps {
  readonly runner: DbtRunner;
  /** Name stem of the rules, e.g. `dev-dbt-runner`. */
  readonly namePrefix: string;
  /** EventBridge schedule (`cron(...)`/`rate(...)`) for the default dbt command. Default: none. */
  readonly scheduleExpression?: string;
  /** Run on every object created under `rawPrefix` in this bucket. Its notification must send to EventBridge. */
  readonly rawBucket?: SecureBucket;
  /** Default `raw/`. */
  readonly rawPrefix?: string;
}

/**
 * What starts the runner: an optional schedule and S3 "Object Created" events
 * from the raw zone, each an EventBridge rule whose invoke permission is scoped
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
      this.target("schedule", this.scheduleRule, props.runner);
    }
    if (props.rawBucket) {
      if (!props.rawBucket.notification) {
        throw new Error(`Triggers ${id}: the raw bucket must send its events to EventBridge (eventBridge: true)`);
      }
      this.objectCreatedRule = new CloudwatchEventRule(this, "raw-object-created", {
        name: `${props.namePrefix}-raw-object-created`,
        description: "Builds what depends on a raw table when a file lands in the raw zone",
        eventPattern: JSON.stringify({
          source: ["aws.s3"],
          "detail-type": ["Object Created"],
          detail: {
            bucket: { name: [props.rawBucket.bucketName] },
            object: { key: [{ prefix: props.rawPrefix ?? "raw/" }] },
          },
        }),
        dependsOn: [props.rawBucket.notification],
      });
      this.target("raw-object-created", this.objectCreatedRule, props.runner);
    }
  }

  private target(id: string, rule: CloudwatchEventRule, runner: DbtRunner): void {
    new CloudwatchEventTarget(this, `${id}-target`, {
      rule: rule.name,
      arn: runner.invokeArn,
    });
    new LambdaPermission(this, `${id}-permission`, {
      statementId: `AllowEventBridge-${id}`,
      action: "lambda:InvokeFunction",
      functionName: runner.functionName,
      qualifier: runner.invokeQualifier,
      principal: "events.amazonaws.com",
      sourceArn: rule.arn,
    });
  }
}
