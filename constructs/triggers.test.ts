import { describe, expect, it } from "vitest";
import { BuildStateMachine } from "./build-state-machine";
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
    const build = new BuildStateMachine(stack, "build", { stateMachineName: "dev-dbt-build", accountId: "1", partition: "aws", region: "ap-southeast-2", runner });
    new Triggers(stack, "triggers", {
      build,
      namePrefix: "dev-dbt-build",
      accountId: "1",
      permissionsBoundary: "arn:aws:iam::1:policy/dev-platform-boundary",
      scheduleExpression: opts.schedule,
      rawBucket: opts.s3 ? raw : undefined,
      rawTrigger: opts.rawTrigger,
    });
  });
}

const both = build({ schedule: "cron(0 2 * * ? *)", s3: true });

describe("Triggers", () => {
  it("schedules a build: the rule starts the state machine, with the event as its input", () => {
    const rule = byPath(both, "aws_cloudwatch_event_rule", "triggers/schedule");
    expect(rule).toMatchObject({ name: "dev-dbt-build-schedule", schedule_expression: "cron(0 2 * * ? *)" });
    const target = byPath(both, "aws_cloudwatch_event_target", "triggers/schedule-target");
    expect(target.rule).toBe(ref(both, "aws_cloudwatch_event_rule", "triggers/schedule", "name"));
    expect(target.arn).toBe(ref(both, "aws_sfn_state_machine", "build/state-machine", "arn"));
    expect(target.role_arn).toBe(ref(both, "aws_iam_role", "triggers/target/role", "arn"));
    // No input, input_path or transformer: the event as EventBridge delivers it (the step contract).
    for (const key of ["input", "input_path", "input_transformer"]) expect(target).not.toHaveProperty(key);
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

  it("starts builds through one role that may start only this state machine, and no longer invokes the runner", () => {
    const targets = Object.values(ofType(both, "aws_cloudwatch_event_target"));
    const machine = ref(both, "aws_sfn_state_machine", "build/state-machine", "arn");
    const role = ref(both, "aws_iam_role", "triggers/target/role", "arn");
    expect(targets.map((t) => [t.arn, t.role_arn])).toEqual([[machine, role], [machine, role]]);
    for (const t of targets) expect(t.depends_on).toEqual([expect.stringMatching(/^aws_iam_role_policy\.triggers_target_role-policy/)]);
    expect(byPath(both, "aws_iam_role", "triggers/target/role")).toMatchObject({
      name: "dev-dbt-build-trigger-role",
      permissions_boundary: "arn:aws:iam::1:policy/dev-platform-boundary",
    });
    const trust = byPath(both, "aws_iam_policy_document", "triggers/target/trust", "data").statement[0];
    expect(trust).toMatchObject({
      principals: [{ type: "Service", identifiers: ["events.amazonaws.com"] }],
      condition: [{ test: "StringEquals", variable: "aws:SourceAccount", values: ["1"] }],
    });
    expect(byPath(both, "aws_iam_policy_document", "triggers/target/policy", "data").statement).toEqual([
      { sid: "StartBuild", effect: "Allow", actions: ["states:StartExecution"], resources: ["arn:aws:states:ap-southeast-2:1:stateMachine:dev-dbt-build"] },
    ]);
    // The rules reach the runner only through the state machine: no invoke permission is left.
    expect(ofType(both, "aws_lambda_permission")).toEqual({});
  });

  it("creates nothing when both triggers are off, and only what is switched on otherwise", () => {
    const none = build({});
    expect(ofType(none, "aws_cloudwatch_event_rule")).toEqual({});
    expect(ofType(none, "aws_cloudwatch_event_target")).toEqual({});
    expect(Object.values(ofType(none, "aws_iam_role")).map((r) => r.name).sort()).toEqual(["dev-dbt-build-role", "dev-dbt-runner-role"]);
    const s3Only = Object.values(ofType(build({ s3: true }), "aws_cloudwatch_event_rule"));
    expect(s3Only.map((r) => r.name)).toEqual(["dev-dbt-build-raw-object-created"]);
  });

  it("still starts the state machine when the runner uses SnapStart (which then invokes the live alias)", () => {
    const snap = build({ schedule: "cron(0 2 * * ? *)", s3: true, snapStart: true });
    const machine = ref(snap, "aws_sfn_state_machine", "build/state-machine", "arn");
    expect(Object.values(ofType(snap, "aws_cloudwatch_event_target")).map((t) => t.arn)).toEqual([machine, machine]);
    expect(ofType(snap, "aws_lambda_permission")).toEqual({});
  });

  it("refuses an S3 trigger on a bucket that does not notify EventBridge", () => {
    expect(() => build({ s3: true, eventBridge: false })).toThrow(/must send its events to EventBridge/);
  });
});
