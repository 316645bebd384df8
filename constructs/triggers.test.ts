import { describe, expect, it } from "vitest";
import { DbtRunner } from "./dbt-runner";
import { SecureBucket } from "./secure-bucket";
import { RawTrigger, Triggers } from "./triggers";
import { byPath, ofType, ref, synthConstructs, TfJson } from "./__fixtures__/synth";

function build(opts: { schedule?: string; s3?: boolean; eventBridge?: boolean; snapStart?: boolean; rawTrigger?: RawTrigger }): TfJson {
  return synthConstructs((stack) => {
    const raw = new SecureBucket(stack, "raw", { bucketName: "acme-raw-0a1b2c3d", eventBridge: opts.eventBridge ?? true });
    const runner = new DbtRunner(stack, "runner", {
      functionName: "dev-dbt-runner",
      accountId: "1",
      partition: "aws",
      region: "ap-southeast-2",
      environment: {},
      snapStart: opts.snapStart,
    });
    new Triggers(stack, "triggers", {
      runner,
      namePrefix: "dev-dbt-runner",
      scheduleExpression: opts.schedule,
      rawBucket: opts.s3 ? raw : undefined,
      rawTrigger: opts.rawTrigger,
    });
  });
}

const both = build({ schedule: "cron(0 2 * * ? *)", s3: true });

describe("Triggers", () => {
  it("schedules the runner with an EventBridge rule", () => {
    const rule = byPath(both, "aws_cloudwatch_event_rule", "triggers/schedule");
    expect(rule).toMatchObject({ name: "dev-dbt-runner-schedule", schedule_expression: "cron(0 2 * * ? *)" });
    const target = byPath(both, "aws_cloudwatch_event_target", "triggers/schedule-target");
    expect(target.rule).toBe(ref(both, "aws_cloudwatch_event_rule", "triggers/schedule", "name"));
    expect(target.arn).toBe(ref(both, "aws_lambda_function", "runner/function", "arn"));
  });

  it("by default matches only the ingest manifests' Object Created events in the raw bucket", () => {
    const rule = byPath(both, "aws_cloudwatch_event_rule", "triggers/raw-object-created");
    expect(JSON.parse(rule.event_pattern)).toEqual({
      source: ["aws.s3"],
      "detail-type": ["Object Created"],
      detail: {
        bucket: { name: [ref(both, "aws_s3_bucket", "raw/bucket", "bucket")] },
        object: { key: [{ prefix: "manifests/" }] },
      },
    });
    expect(rule.depends_on).toEqual([expect.stringMatching(/^aws_s3_bucket_notification\./)]);
    expect(byPath(both, "aws_s3_bucket_notification", "raw/notification").eventbridge).toBe(true);
    expect(Object.keys(ofType(both, "aws_s3_bucket_notification"))).toHaveLength(1);
  });

  it("matches every object under raw/ when the trigger is per object", () => {
    const perObject = build({ s3: true, rawTrigger: "per-object" });
    const rule = byPath(perObject, "aws_cloudwatch_event_rule", "triggers/raw-object-created");
    expect(JSON.parse(rule.event_pattern).detail.object).toEqual({ key: [{ prefix: "raw/" }] });
    expect(rule.description).toMatch(/one build per object/);
  });

  it("lets EventBridge invoke the runner only from each rule's own ARN", () => {
    const permissions = Object.values(ofType(both, "aws_lambda_permission"));
    expect(permissions).toHaveLength(2);
    const fn = ref(both, "aws_lambda_function", "runner/function", "function_name");
    const sources = permissions.map((p) => {
      expect(p).toMatchObject({ action: "lambda:InvokeFunction", principal: "events.amazonaws.com", function_name: fn });
      return p.source_arn;
    });
    expect(sources.sort()).toEqual(
      [
        ref(both, "aws_cloudwatch_event_rule", "triggers/schedule", "arn"),
        ref(both, "aws_cloudwatch_event_rule", "triggers/raw-object-created", "arn"),
      ].sort(),
    );
  });

  it("creates nothing when both triggers are off, and only what is switched on otherwise", () => {
    const none = build({});
    expect(ofType(none, "aws_cloudwatch_event_rule")).toEqual({});
    expect(ofType(none, "aws_lambda_permission")).toEqual({});
    const s3Only = Object.values(ofType(build({ s3: true }), "aws_cloudwatch_event_rule"));
    expect(s3Only.map((r) => r.name)).toEqual(["dev-dbt-runner-raw-object-created"]);
  });

  it("invokes the live alias, and lets EventBridge invoke only that alias, when the runner uses SnapStart", () => {
    const snap = build({ schedule: "cron(0 2 * * ? *)", s3: true, snapStart: true });
    const alias = ref(snap, "aws_lambda_alias", "runner/live", "arn");
    const targets = Object.values(ofType(snap, "aws_cloudwatch_event_target"));
    expect(targets.map((t) => t.arn)).toEqual([alias, alias]);
    const permissions = Object.values(ofType(snap, "aws_lambda_permission"));
    expect(permissions).toHaveLength(2);
    for (const permission of permissions) {
      expect(permission).toMatchObject({
        function_name: ref(snap, "aws_lambda_function", "runner/function", "function_name"),
        qualifier: ref(snap, "aws_lambda_alias", "runner/live", "name"),
      });
    }
    // Without SnapStart: the unqualified function, no qualifier.
    expect(Object.values(ofType(both, "aws_lambda_permission")).map((p) => p.qualifier)).toEqual([undefined, undefined]);
  });

  it("refuses an S3 trigger on a bucket that does not notify EventBridge", () => {
    expect(() => build({ s3: true, eventBridge: false })).toThrow(/must send its events to EventBridge/);
  });
});
