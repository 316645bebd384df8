import { describe, expect, it } from "vitest";
import { DbtRunner } from "./dbt-runner";
import { ofType, only, ref, synthConstructs } from "./__fixtures__/synth";

const ENVIRONMENT = {
  RAW_BUCKET_NAME: "raw-b",
  PROCESSED_BUCKET_NAME: "processed-b",
  GLUE_DATABASE_NAME: "acme_dev",
  ATHENA_RESULTS_BUCKET: "results-b",
  ATHENA_WORKGROUP: "dev-dbt",
  ENVIRONMENT: "dev",
};

let runner!: DbtRunner;
const json = synthConstructs((stack) => {
  runner = new DbtRunner(stack, "runner", {
    functionName: "dev-dbt-runner",
    accountId: "111122223333",
    partition: "aws",
    region: "ap-southeast-2",
    environment: ENVIRONMENT,
    kmsKeyArn: "arn:aws:kms:ap-southeast-2:111122223333:key/k",
  });
  runner.grant({ sid: "Extra", actions: ["s3:GetObject"], resources: ["arn:aws:s3:::raw-b/*"] });
});
const fn = only(json, "aws_lambda_function");

describe("DbtRunner function", () => {
  it("runs python3.12 on arm64 with the design's size, timeout and concurrency by default", () => {
    expect(fn).toMatchObject({
      function_name: "dev-dbt-runner",
      runtime: "python3.12",
      architectures: ["arm64"],
      handler: "dbt_runner.handler.handler",
      memory_size: 3008,
      timeout: 900,
      reserved_concurrent_executions: 1,
      tracing_config: { mode: "Active" },
      kms_key_arn: "arn:aws:kms:ap-southeast-2:111122223333:key/k",
    });
  });

  it("carries exactly the handler's environment", () => {
    expect(fn.environment.variables).toEqual(ENVIRONMENT);
  });

  it("deploys build/function.zip with its layer from build/dbt-layer.zip, hashed by Terraform at plan time", () => {
    expect(fn.filename).toBe("../../../build/function.zip");
    expect(fn.source_code_hash).toBe('${filebase64sha256("../../../build/function.zip")}');
    const layer = only(json, "aws_lambda_layer_version");
    expect(layer).toMatchObject({
      layer_name: "dev-dbt-runner-dbt",
      filename: "../../../build/dbt-layer.zip",
      source_code_hash: '${filebase64sha256("../../../build/dbt-layer.zip")}',
      compatible_runtimes: ["python3.12"],
      compatible_architectures: ["arm64"],
    });
    expect(fn.layers).toEqual([ref(json, "aws_lambda_layer_version", "runner/layer", "arn")]);
  });

  it("logs to /aws/lambda/<name> with the retention and key given", () => {
    const logs = only(json, "aws_cloudwatch_log_group");
    expect(logs).toMatchObject({ name: "/aws/lambda/dev-dbt-runner", retention_in_days: 14, kms_key_id: "arn:aws:kms:ap-southeast-2:111122223333:key/k" });
    expect(fn.logging_config.log_group).toBe(ref(json, "aws_cloudwatch_log_group", "runner/logs", "name"));
    expect(fn.depends_on).toEqual(
      expect.arrayContaining([expect.stringMatching(/^aws_cloudwatch_log_group\./), expect.stringMatching(/^aws_iam_role_policy\./)]),
    );
  });

  it("sends failed asynchronous events to an encrypted dead-letter queue", () => {
    const dlq = only(json, "aws_sqs_queue");
    expect(dlq).toMatchObject({ name: "dev-dbt-runner-dlq", sqs_managed_sse_enabled: true, message_retention_seconds: 1209600 });
    expect(fn.dead_letter_config.target_arn).toBe(ref(json, "aws_sqs_queue", "runner/dlq", "arn"));
  });

  it("retries a failed asynchronous run once and drops stale events to the queue after 6 hours", () => {
    expect(only(json, "aws_lambda_function_event_invoke_config")).toMatchObject({
      function_name: ref(json, "aws_lambda_function", "runner/function", "function_name"),
      maximum_retry_attempts: 1,
      maximum_event_age_in_seconds: 21600,
    });
  });

  it("honours overrides of size, timeout, concurrency, retention and zips", () => {
    const custom = synthConstructs((stack) => {
      new DbtRunner(stack, "r", {
        functionName: "prod-dbt-runner",
        accountId: "1",
        partition: "aws",
        region: "ap-southeast-2",
        environment: {},
        memorySize: 1024,
        timeout: 60,
        reservedConcurrency: 2,
        logRetentionDays: 30,
        functionZip: "f.zip",
        layerZip: "l.zip",
      });
    });
    expect(only(custom, "aws_lambda_function")).toMatchObject({ memory_size: 1024, timeout: 60, reserved_concurrent_executions: 2, filename: "f.zip" });
    expect(only(custom, "aws_lambda_layer_version").filename).toBe("l.zip");
    expect(only(custom, "aws_cloudwatch_log_group").retention_in_days).toBe(30);
  });

  it("leaves concurrency unreserved when told none", () => {
    const unreserved = synthConstructs((stack) => {
      new DbtRunner(stack, "r", {
        functionName: "dev-dbt-runner",
        accountId: "1",
        partition: "aws",
        region: "ap-southeast-2",
        environment: {},
        reservedConcurrency: "none",
      });
    });
    expect(only(unreserved, "aws_lambda_function")).not.toHaveProperty("reserved_concurrent_executions");
  });
});

describe("DbtRunner role", () => {
  it("is assumable by Lambda in this account only", () => {
    const trust = only(json, "aws_iam_role").assume_role_policy;
    expect(trust).toBe(ref(json, "aws_iam_policy_document", "runner/trust", "json", "data"));
    const doc = Object.entries(json.data.aws_iam_policy_document).find(([id]) => id.startsWith("runner_trust"))![1] as Record<string, unknown>;
    expect(doc.statement).toEqual([
      {
        sid: "LambdaInThisAccount",
        effect: "Allow",
        actions: ["sts:AssumeRole"],
        principals: [{ type: "Service", identifiers: ["lambda.amazonaws.com"] }],
        condition: [{ test: "StringEquals", variable: "aws:SourceAccount", values: ["111122223333"] }],
      },
    ]);
  });

  it("holds its own statements (logs, DLQ, X-Ray) plus every grant, in one inline policy", () => {
    const policy = only(json, "aws_iam_role_policy");
    expect(policy.role).toBe(ref(json, "aws_iam_role", "runner/role", "id"));
    const doc = Object.entries(json.data.aws_iam_policy_document).find(([id]) => id.startsWith("runner_policy"))![1] as {
      statement: { sid: string; resources: string[]; actions: string[] }[];
    };
    expect(doc.statement.map((s) => s.sid)).toEqual(["WriteOwnLogGroup", "SendToDeadLetterQueue", "XRayTracing", "Extra"]);
    expect(doc.statement[0].resources).toEqual([`${ref(json, "aws_cloudwatch_log_group", "runner/logs", "arn")}:*`]);
    expect(doc.statement[1]).toMatchObject({ actions: ["sqs:SendMessage"], resources: [ref(json, "aws_sqs_queue", "runner/dlq", "arn")] });
  });

  it("refuses two grants with the same sid", () => {
    expect(() => runner.grant({ sid: "Extra", actions: ["s3:PutObject"], resources: ["x"] })).toThrow(/sid "Extra" was already granted/);
  });
});

describe("DbtRunner SnapStart", () => {
  const snap = synthConstructs((stack) => {
    new DbtRunner(stack, "runner", {
      functionName: "dev-dbt-runner",
      accountId: "1",
      partition: "aws",
      region: "ap-southeast-2",
      environment: ENVIRONMENT,
      snapStart: true,
    });
  });
  const snapFn = only(snap, "aws_lambda_function");

  it("is off by default: no versions, no alias, the function itself is what triggers invoke", () => {
    expect(fn.publish).toBeUndefined();
    expect(fn.snap_start).toBeUndefined();
    expect(ofType(json, "aws_lambda_alias")).toEqual({});
    expect(runner.invokeArn).toBe(runner.functionArn);
    expect(runner.invokeQualifier).toBeUndefined();
    expect(only(json, "aws_lambda_function_event_invoke_config").qualifier).toBeUndefined();
  });

  it("publishes versions with snapshots of published versions, and parses the project during init", () => {
    expect(snapFn).toMatchObject({ publish: true, snap_start: { apply_on: "PublishedVersions" } });
    expect(snapFn.environment.variables).toEqual({ ...ENVIRONMENT, DBT_PARSE_AT_INIT: "true" });
  });

  it("points the live alias at the newest published version", () => {
    expect(only(snap, "aws_lambda_alias")).toMatchObject({
      name: "live",
      function_name: ref(snap, "aws_lambda_function", "runner/function", "function_name"),
      function_version: ref(snap, "aws_lambda_function", "runner/function", "version"),
    });
  });

  it("sets the asynchronous retries and event age on the alias, where the triggers' events arrive", () => {
    expect(only(snap, "aws_lambda_function_event_invoke_config")).toMatchObject({
      function_name: ref(snap, "aws_lambda_function", "runner/function", "function_name"),
      qualifier: ref(snap, "aws_lambda_alias", "runner/live", "name"),
      maximum_retry_attempts: 1,
      maximum_event_age_in_seconds: 21600,
    });
  });
});
