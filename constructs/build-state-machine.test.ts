import { describe, expect, it } from "vitest";
import { TerraformStack } from "cdktf";
import { BuildStateMachine, BuildStateMachineProps } from "./build-state-machine";
import { DbtRunner } from "./dbt-runner";
import { TargetRole } from "./triggers";
import { byPath, only, ref, synthConstructs, TfJson } from "./__fixtures__/synth";

function build(opts: { snapStart?: boolean } & Partial<BuildStateMachineProps> = {}): TfJson {
  return synthConstructs((stack: TerraformStack) => {
    const runner = new DbtRunner(stack, "runner", {
      functionName: "dev-dbt-runner", accountId: "123456789012", partition: "aws", region: "ap-southeast-2", environment: {}, snapStart: opts.snapStart,
    });
    const machine = new BuildStateMachine(stack, "build", {
      stateMachineName: "dev-dbt-build", accountId: "123456789012", partition: "aws", region: "ap-southeast-2",
      runner, kmsKeyArn: "arn:aws:kms:ap-southeast-2:123456789012:key/k", permissionsBoundary: "arn:aws:iam::123456789012:policy/dev-platform-boundary",
      ...opts,
    });
    machine.grantStartExecution(new TargetRole(stack, "starter", { roleName: "dev-dbt-build-trigger-role", accountId: "123456789012" }));
  });
}

const json = build();
const statements = (doc: TfJson) => Object.fromEntries(doc.statement.map((s: { sid: string }) => [s.sid, s]));

describe("BuildStateMachine", () => {
  it("is a Standard state machine named for the env, running buildDefinition against the runner", () => {
    const machine = only(json, "aws_sfn_state_machine");
    expect(machine).toMatchObject({ name: "dev-dbt-build", type: "STANDARD", role_arn: ref(json, "aws_iam_role", "build/role", "arn") });
    const definition = JSON.parse(machine.definition);
    expect(definition.States.Step.Parameters.FunctionName).toBe(ref(json, "aws_lambda_function", "runner/function", "arn"));
    // AWS checks the role's log delivery permissions when the state machine is created.
    expect(machine.depends_on).toEqual(
      expect.arrayContaining([expect.stringMatching(/^aws_iam_role_policy\.build_role-policy/), expect.stringMatching(/^aws_cloudwatch_log_group\.build_logs/)]),
    );
    expect(machine.depends_on).toHaveLength(2);
  });

  it("logs to its own KMS-encrypted log group without execution data, and traces with X-Ray", () => {
    const machine = only(json, "aws_sfn_state_machine");
    expect(machine.logging_configuration).toEqual({
      level: "ALL",
      include_execution_data: false,
      log_destination: `${ref(json, "aws_cloudwatch_log_group", "build/logs", "arn")}:*`,
    });
    expect(machine.tracing_configuration).toEqual({ enabled: true });
    expect(byPath(json, "aws_cloudwatch_log_group", "build/logs")).toMatchObject({
      name: "/aws/vendedlogs/states/dev-dbt-build",
      retention_in_days: 14,
      kms_key_id: "arn:aws:kms:ap-southeast-2:123456789012:key/k",
    });
    expect(BuildStateMachine.logGroupName("dev-dbt-build")).toBe("/aws/vendedlogs/states/dev-dbt-build");
    expect(only(build({ logLevel: "ERROR" }), "aws_sfn_state_machine").logging_configuration.level).toBe("ERROR");
  });

  it("has a role only Step Functions of this account may assume, with the permissions boundary", () => {
    expect(byPath(json, "aws_iam_role", "build/role")).toMatchObject({
      name: "dev-dbt-build-role",
      permissions_boundary: "arn:aws:iam::123456789012:policy/dev-platform-boundary",
    });
    const trust = byPath(json, "aws_iam_policy_document", "build/trust", "data").statement[0];
    expect(trust).toMatchObject({
      actions: ["sts:AssumeRole"],
      principals: [{ type: "Service", identifiers: ["states.amazonaws.com"] }],
      condition: [{ test: "StringEquals", variable: "aws:SourceAccount", values: ["123456789012"] }],
    });
  });

  it("may invoke only the runner, list only its own executions, deliver its logs and trace", () => {
    const s = statements(byPath(json, "aws_iam_policy_document", "build/policy", "data"));
    expect(Object.keys(s)).toEqual(["InvokeRunner", "ListOwnExecutions", "DeliverLogs", "XRayTracing"]);
    // Spelled from names, not referenced: the document is not re-read at apply when the runner changes.
    expect(s.InvokeRunner).toMatchObject({
      actions: ["lambda:InvokeFunction"],
      resources: ["arn:aws:lambda:ap-southeast-2:123456789012:function:dev-dbt-runner"],
    });
    expect(JSON.stringify(byPath(json, "aws_iam_policy_document", "build/policy", "data"))).not.toMatch(/aws_lambda_function|aws_sfn_state_machine/);
    expect(s.ListOwnExecutions).toMatchObject({
      actions: ["states:ListExecutions"],
      resources: ["arn:aws:states:ap-southeast-2:123456789012:stateMachine:dev-dbt-build"],
    });
    // The only "*" resources: actions AWS offers no resource-level permission for.
    expect(s.DeliverLogs.resources).toEqual(["*"]);
    expect(s.DeliverLogs.actions.every((a: string) => a.startsWith("logs:"))).toBe(true);
    expect(s.XRayTracing.actions.every((a: string) => a.startsWith("xray:"))).toBe(true);
  });

  it("invokes only the live alias when the runner uses SnapStart", () => {
    const snap = build({ snapStart: true });
    const alias = ref(snap, "aws_lambda_alias", "runner/live", "arn");
    const definition = JSON.parse(only(snap, "aws_sfn_state_machine").definition);
    expect([definition.States.Step.Parameters.FunctionName, definition.States.RecordFailure.Parameters.FunctionName]).toEqual([alias, alias]);
    expect(statements(byPath(snap, "aws_iam_policy_document", "build/policy", "data")).InvokeRunner.resources).toEqual([
      "arn:aws:lambda:ap-southeast-2:123456789012:function:dev-dbt-runner:live",
    ]);
  });

  it("grants starting executions of this state machine only", () => {
    const s = statements(byPath(json, "aws_iam_policy_document", "starter/policy", "data"));
    expect(s).toEqual({
      StartBuild: {
        sid: "StartBuild",
        effect: "Allow",
        actions: ["states:StartExecution"],
        resources: ["arn:aws:states:ap-southeast-2:123456789012:stateMachine:dev-dbt-build"],
      },
    });
  });
});
