import { Construct } from "constructs";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { IGrantable } from "./grants";

/** A Lambda function to watch. `name` is the literal function name (it names the alarms). */
export interface AlarmedFunction {
  readonly name: string;
  /** The function's timeout: the duration alarm fires above `durationAlarmRatio` of it. */
  readonly timeoutSeconds: number;
}

/** A Step Functions state machine to watch. `name` names the alarms. */
export interface AlarmedStateMachine {
  readonly name: string;
  readonly arn: string;
}

/** A dead-letter queue to watch: any message in it is an event that was given up on. */
export interface AlarmedQueue {
  readonly name: string;
}

export interface AlertsProps {
  /** `<env>-dbt-alerts`. */
  readonly topicName: string;
  /** KMS key that encrypts the topic (its key policy must let CloudWatch use it: PlatformKey does). */
  readonly kmsKeyArn: string;
  readonly accountId: string;
  readonly partition: string;
  readonly region: string;
  /** Email subscriptions (each address confirms once by email). Default none. */
  readonly emails?: readonly string[];
  /** Functions alarmed on errors, throttles and duration: adding one is one entry. */
  readonly functions?: readonly AlarmedFunction[];
  /** Queues alarmed when not empty (dead-letter queues). */
  readonly deadLetterQueues?: readonly AlarmedQueue[];
  /** Fraction of the timeout above which the duration alarm fires. Default 0.8. */
  readonly durationAlarmRatio?: number;
  /** Alarms whose names start with this (`<env>-`) are the only ones allowed to publish to the topic. */
  readonly alarmPrefix: string;
}

/**
 * An env's alert topic (SNS, encrypted with the platform key), its email subscriptions and the
 * CloudWatch alarms that publish into it. The runner publishes its own readable message on a
 * failed or warning dbt run (`grantPublish`).
 */
export class Alerts extends Construct {
  readonly topic: SnsTopic;
  readonly topicArn: string;
  readonly alarms: CloudwatchMetricAlarm[] = [];
  private readonly alarmPrefix: string;
  private readonly durationAlarmRatio: number;

  constructor(scope: Construct, id: string, props: AlertsProps) {
    super(scope, id);
    const ratio = props.durationAlarmRatio ?? 0.8;
    if (!(ratio > 0 && ratio <= 1)) throw new Error(`Alerts ${id}: durationAlarmRatio must be in (0, 1], got ${ratio}`);

    this.topic = new SnsTopic(this, "topic", {
      name: props.topicName,
      displayName: `dbt alerts (${props.topicName})`,
      kmsMasterKeyId: props.kmsKeyArn,
    });
    this.topicArn = this.topic.arn;

    const alarmArns = `arn:${props.partition}:cloudwatch:${props.region}:${props.accountId}:alarm:${props.alarmPrefix}*`;
    const policy = new DataAwsIamPolicyDocument(this, "topic-policy-document", {
      statement: [
        {
          sid: "CloudWatchAlarmsOfThisEnv",
          effect: "Allow",
          principals: [{ type: "Service", identifiers: ["cloudwatch.amazonaws.com"] }],
          actions: ["sns:Publish"],
          resources: [this.topic.arn],
          condition: [
            { test: "StringEquals", variable: "aws:SourceAccount", values: [props.accountId] },
            { test: "ArnLike", variable: "aws:SourceArn", values: [alarmArns] },
          ],
        },
        {
          sid: "DenyInsecureTransport",
          effect: "Deny",
          principals: [{ type: "*", identifiers: ["*"] }],
          actions: ["sns:Publish"],
          resources: [this.topic.arn],
          condition: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
        },
      ],
    });
    new SnsTopicPolicy(this, "topic-policy", { arn: this.topic.arn, policy: policy.json });

    (props.emails ?? []).forEach((email, index) => {
      new SnsTopicSubscription(this, `email-${index}`, { topicArn: this.topic.arn, protocol: "email", endpoint: email });
    });

    this.alarmPrefix = props.alarmPrefix;
    this.durationAlarmRatio = ratio;
    this.alarmFunctions(props.functions ?? []);
    this.alarmDeadLetterQueues(props.deadLetterQueues ?? []);
  }

  /** Alarms on each function's errors, throttles and maximum duration above the ratio of its timeout. */
  alarmFunctions(functions: readonly AlarmedFunction[]): void {
    for (const fn of functions) {
      this.checkName(fn.name);
      const dimensions = { FunctionName: fn.name };
      this.alarm(`${fn.name}-errors`, `${fn.name} failed (an error or a failed dbt run)`, {
        namespace: "AWS/Lambda", metricName: "Errors", statistic: "Sum", threshold: 1, dimensions,
      });
      this.alarm(`${fn.name}-throttles`, `${fn.name} was throttled (runs are waiting or dropped)`, {
        namespace: "AWS/Lambda", metricName: "Throttles", statistic: "Sum", threshold: 1, dimensions,
      });
      const ratio = this.durationAlarmRatio;
      const limitMs = Math.round(fn.timeoutSeconds * 1000 * ratio);
      this.alarm(`${fn.name}-duration`, `${fn.name} ran over ${Math.round(ratio * 100)}% of its ${fn.timeoutSeconds} s timeout`, {
        namespace: "AWS/Lambda", metricName: "Duration", statistic: "Maximum", threshold: limitMs, dimensions,
        comparisonOperator: "GreaterThanThreshold",
      });
    }
  }

  /** An alarm per queue as soon as it holds a message. */
  alarmDeadLetterQueues(queues: readonly AlarmedQueue[]): void {
    for (const queue of queues) {
      this.checkName(queue.name);
      this.alarm(`${queue.name}-not-empty`, `${queue.name} holds events whose runs failed after retries`, {
        namespace: "AWS/SQS", metricName: "ApproximateNumberOfMessagesVisible", statistic: "Maximum", threshold: 1,
        dimensions: { QueueName: queue.name },
      });
    }
  }

  /**
   * Alarms on each state machine's executions that failed, timed out or were aborted: a build
   * that did not succeed, whatever stopped it.
   */
  alarmStateMachines(machines: readonly AlarmedStateMachine[]): void {
    for (const machine of machines) {
      this.checkName(machine.name);
      const dimensions = { StateMachineArn: machine.arn };
      for (const [suffix, metricName, what] of [
        ["failed", "ExecutionsFailed", "failed"],
        ["timed-out", "ExecutionsTimedOut", "timed out"],
        ["aborted", "ExecutionsAborted", "was aborted"],
      ] as const) {
        this.alarm(`${machine.name}-${suffix}`, `An execution of ${machine.name} ${what}`, {
          namespace: "AWS/States", metricName, statistic: "Sum", threshold: 1, dimensions,
        });
      }
    }
  }

  private checkName(name: string): void {
    if (!name.startsWith(this.alarmPrefix)) {
      throw new Error(`Alerts ${this.node.id}: "${name}" does not start with alarmPrefix "${this.alarmPrefix}", so its alarms could not publish`);
    }
  }

  /** Publish to the topic (and encrypt the message: grant the key separately, PlatformKey.grantEncrypt). */
  grantPublish(grantee: IGrantable): void {
    grantee.grant({ sid: "PublishAlerts", actions: ["sns:Publish"], resources: [this.topicArn] });
  }

  private alarm(
    name: string,
    description: string,
    metric: {
      namespace: string;
      metricName: string;
      statistic: string;
      threshold: number;
      dimensions: Record<string, string>;
      comparisonOperator?: string;
    },
  ): void {
    this.alarms.push(
      new CloudwatchMetricAlarm(this, name, {
        alarmName: name,
        alarmDescription: description,
        namespace: metric.namespace,
        metricName: metric.metricName,
        statistic: metric.statistic,
        dimensions: metric.dimensions,
        period: 300,
        evaluationPeriods: 1,
        threshold: metric.threshold,
        comparisonOperator: metric.comparisonOperator ?? "GreaterThanOrEqualToThreshold",
        // No data is no invocation (or an empty queue): not a problem.
        treatMissingData: "notBreaching",
        alarmActions: [this.topicArn],
        okActions: [this.topicArn],
      }),
    );
  }
}
