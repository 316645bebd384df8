import { describe, expect, it } from "vitest";
import { Testing } from "cdktf";
import { Alerts } from "./alerts";
import { GrantStatement, IGrantable } from "./grants";
import { ofType, only, synthConstructs } from "./__fixtures__/synth";

const base = { accountId: "111122223333", partition: "aws", region: "ap-southeast-2", kmsKeyArn: "arn:aws:kms:ap-southeast-2:111122223333:key/k" };

describe("Alerts", () => {
  const granted: GrantStatement[] = [];
  let topicArn = "";
  const grantee: IGrantable = { grant: (s) => granted.push(s) };
  const json = synthConstructs((stack) => {
    const alerts = new Alerts(stack, "alerts", {
      ...base,
      topicName: "dev-dbt-alerts",
      alarmPrefix: "dev-",
      emails: ["a@example.com"],
      functions: [{ name: "dev-dbt-runner", timeoutSeconds: 900 }],
      durationAlarmRatio: 0.5,
    });
    // A second function (the ingestion function) is one more entry.
    alerts.alarmFunctions([{ name: "dev-ingest", timeoutSeconds: 300 }]);
    alerts.alarmDeadLetterQueues([{ name: "dev-dbt-runner-dlq" }]);
    alerts.grantPublish(grantee);
    topicArn = alerts.topicArn;
  });

  it("encrypts the topic and subscribes the emails", () => {
    expect(only(json, "aws_sns_topic")).toMatchObject({ name: "dev-dbt-alerts", kms_master_key_id: base.kmsKeyArn });
    expect(only(json, "aws_sns_topic_subscription")).toMatchObject({ protocol: "email", endpoint: "a@example.com" });
  });

  it("alarms each function three ways and each queue once, with the duration threshold from the ratio", () => {
    const alarms = Object.values(ofType(json, "aws_cloudwatch_metric_alarm"));
    const thresholds = Object.fromEntries(alarms.map((a) => [a.alarm_name, a.threshold]));
    expect(thresholds).toEqual({
      "dev-dbt-runner-errors": 1,
      "dev-dbt-runner-throttles": 1,
      "dev-dbt-runner-duration": 450000,
      "dev-ingest-errors": 1,
      "dev-ingest-throttles": 1,
      "dev-ingest-duration": 150000,
      "dev-dbt-runner-dlq-not-empty": 1,
    });
  });

  it("grants publishing on this topic only", () => {
    expect(granted).toEqual([{ sid: "PublishAlerts", actions: ["sns:Publish"], resources: [topicArn] }]);
  });

  it("refuses a function whose alarms the topic policy would not let publish", () => {
    expect(() =>
      Testing.synthScope((scope) => {
        new Alerts(scope, "x", { ...base, topicName: "dev-dbt-alerts", alarmPrefix: "dev-", functions: [{ name: "prod-dbt-runner", timeoutSeconds: 900 }] });
      }),
    ).toThrow(/"prod-dbt-runner" does not start with alarmPrefix "dev-"/);
  });
});
