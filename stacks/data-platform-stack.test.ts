import { describe, expect, it } from "vitest";
import { Testing, TerraformStack } from "cdktf";
import { byPath, FIXTURE_SOURCES, ofType, only, ref, refOnly, synthStack } from "../constructs/__fixtures__/synth";
import { loadRawSources } from "../constructs/dbt-sources";
import { resolveEnvironment } from "../envs";
import { dev as devInput } from "../envs/dev";
import { DataPlatformStack, stateKey } from "./data-platform-stack";
import { synthBothStacks } from "./__fixtures__/stacks";
import { PartialS3Backend } from "./partial-s3-backend";

const stacks = synthBothStacks();
const envs = ["dev", "prod"] as const;

describe("DataPlatformStack backend", () => {
  it.each(envs)("%s has exactly one backend: a partial S3 backend (key, encrypt, use_lockfile)", (env) => {
    const backend = stacks[env].terraform.backend;
    expect(Object.keys(backend)).toEqual(["s3"]);
    expect(backend.s3).toEqual({ key: `dbt-lambda-platform/${env}/terraform.tfstate`, encrypt: true, use_lockfile: true });
    expect(backend.s3.bucket).toBeUndefined();
    expect(backend.s3.region).toBeUndefined();
  });

  it("gives each environment its own state key", () => {
    expect(stateKey("dev")).not.toBe(stateKey("prod"));
  });

  it("would otherwise get cdktf's local backend (the case the partial backend prevents)", () => {
    // cdktf calls ensureBackendExists() at synth and adds a LocalBackend when a stack has none.
    const bare = new TerraformStack(Testing.app(), "bare");
    bare.ensureBackendExists();
    expect(Object.keys(synthStack(bare).terraform.backend)).toEqual(["local"]);
    const config = resolveEnvironment(devInput);
    const stack = new DataPlatformStack(Testing.app(), "dev", { config, rawTables: loadRawSources(FIXTURE_SOURCES) });
    expect(stack.ensureBackendExists()).toBeInstanceOf(PartialS3Backend);
    expect(Object.keys(synthStack(stack).terraform.backend)).toEqual(["s3"]);
  });
});

describe("DataPlatformStack providers", () => {
  it.each(envs)("%s configures aws with region and default tags, and random; no unused archive provider", (env) => {
    const json = stacks[env];
    expect(Object.keys(json.provider).sort()).toEqual(["aws", "random"]);
    const [aws] = json.provider.aws;
    expect(aws.region).toBe("ap-southeast-2");
    expect(aws.default_tags[0].tags).toMatchObject({ Project: "dbt-lambda-platform", ManagedBy: "cdktf", Environment: env });
    expect(Object.keys(json.terraform.required_providers).sort()).toEqual(["aws", "random"]);
    expect(json.terraform.required_providers.aws.version).toMatch(/^6\./);
  });
});

describe("DataPlatformStack composition", () => {
  it.each(envs)("%s wires the runner to its own buckets, database and workgroup", (env) => {
    const json = stacks[env];
    const fn = byPath(json, "aws_lambda_function", "dbt-runner/function");
    expect(fn.function_name).toBe(`${env}-dbt-runner`);
    expect(fn.environment.variables).toEqual({
      RAW_BUCKET_NAME: ref(json, "aws_s3_bucket", "raw/bucket", "bucket"),
      PROCESSED_BUCKET_NAME: ref(json, "aws_s3_bucket", "processed/bucket", "bucket"),
      GLUE_DATABASE_NAME: ref(json, "aws_glue_catalog_database", "data-lake/database", "name"),
      ATHENA_RESULTS_BUCKET: ref(json, "aws_s3_bucket", "athena-results/bucket", "bucket"),
      ATHENA_WORKGROUP: ref(json, "aws_athena_workgroup", "data-lake/workgroup", "name"),
      ENVIRONMENT: env,
      ARTIFACTS_BUCKET_NAME: ref(json, "aws_s3_bucket", "run-artifacts/bucket", "bucket"),
      ALERT_TOPIC_ARN: ref(json, "aws_sns_topic", "alerts/topic", "arn"),
      DBT_STEP_MARGIN_SECONDS: "60",
      // The role PR builds run as (ciBuilds: dev only); prod's runner refuses CI builds.
      ...(env === "dev"
        ? { CI_BUILD_ROLE_ARN: expect.stringMatching(/^arn:\$\{data\.aws_partition\..*:iam::\$\{data\.aws_caller_identity\..*:role\/dev-dbt-ci-build$/) }
        : {}),
    });
    expect(fn.kms_key_arn).toBe(refOnly(json, "aws_kms_key", "arn"));
    expect(byPath(json, "aws_cloudwatch_log_group", "dbt-runner/logs")).toMatchObject({ name: `/aws/lambda/${env}-dbt-runner`, retention_in_days: 14 });
    expect(only(json, "aws_athena_workgroup").name).toBe(`${env}-dbt`);
    expect(only(json, "aws_glue_catalog_database").name).toBe(`dbt_lambda_${env}`);
  });

  it.each(envs)("%s deploys the ingest function: no layer, the raw bucket's source key in, raw/ and manifests/ out", (env) => {
    const json = stacks[env];
    const fn = byPath(json, "aws_lambda_function", "ingest/function");
    const raw = ref(json, "aws_s3_bucket", "raw/bucket", "bucket");
    const rawArn = ref(json, "aws_s3_bucket", "raw/bucket", "arn");
    expect(fn).toMatchObject({
      function_name: `${env}-ingest`,
      handler: "ingest.handler.handler",
      runtime: "python3.12",
      reserved_concurrent_executions: 1,
      architectures: ["arm64"],
      environment: { variables: { RAW_BUCKET_NAME: raw, INGEST_SOURCE_KEY: "db/chinook.db" } },
      kms_key_arn: refOnly(json, "aws_kms_key", "arn"),
      dead_letter_config: { target_arn: ref(json, "aws_sqs_queue", "ingest/dlq", "arn") },
    });
    expect(fn.layers).toBeUndefined();
    expect(byPath(json, "aws_cloudwatch_log_group", "ingest/logs")).toMatchObject({ name: `/aws/lambda/${env}-ingest`, retention_in_days: 14 });
    expect(byPath(json, "aws_iam_role", "ingest/role").permissions_boundary).toBe(byPath(json, "aws_iam_role", "dbt-runner/role").permissions_boundary);
    expect(byPath(json, "aws_lambda_function_event_invoke_config", "ingest/async-invoke")).toMatchObject({ maximum_retry_attempts: 1 });
    const doc = byPath(json, "aws_iam_policy_document", "ingest/policy", "data");
    const s3 = doc.statement.filter((s: { actions: string[] }) => s.actions.some((a) => a.startsWith("s3:")));
    expect(s3).toEqual([
      { sid: "ReadSourceDatabase", effect: "Allow", actions: ["s3:GetObject"], resources: [`${rawArn}/db/chinook.db`] },
      { sid: "WriteRawZoneAndManifests", effect: "Allow", actions: ["s3:PutObject"], resources: [`${rawArn}/raw/*`, `${rawArn}/manifests/*`] },
      {
        sid: "ListRawZone",
        effect: "Allow",
        actions: ["s3:ListBucket"],
        resources: [rawArn],
        condition: [{ test: "StringLike", variable: "s3:prefix", values: ["raw/", "raw/*"] }],
      },
      { sid: "ReplaceRawSnapshots", effect: "Allow", actions: ["s3:DeleteObject"], resources: [`${rawArn}/raw/*`] },
    ]);
    expect(json.output.ingest_function_name.value).toBe(ref(json, "aws_lambda_function", "ingest/function", "function_name"));
  });

  it("ingests on a schedule, reads another source key, or leaves the function out, as the config says", () => {
    const scheduled = synthStack(new DataPlatformStack(Testing.app(), "scheduled", {
      config: resolveEnvironment({ ...devInput, ingestSchedule: "cron(0 1 * * ? *)", ingestSourceKey: "exports/shop.sqlite" }),
      rawTables: loadRawSources(FIXTURE_SOURCES),
    }));
    expect(byPath(scheduled, "aws_cloudwatch_event_rule", "ingest/schedule")).toMatchObject({ name: "dev-ingest-schedule", schedule_expression: "cron(0 1 * * ? *)" });
    expect(byPath(scheduled, "aws_cloudwatch_event_target", "ingest/schedule-target").arn).toBe(ref(scheduled, "aws_lambda_function", "ingest/function", "arn"));
    expect(byPath(scheduled, "aws_lambda_permission", "ingest/schedule-permission").source_arn).toBe(ref(scheduled, "aws_cloudwatch_event_rule", "ingest/schedule", "arn"));
    expect(byPath(scheduled, "aws_lambda_function", "ingest/function").environment.variables.INGEST_SOURCE_KEY).toBe("exports/shop.sqlite");
    const without = synthStack(new DataPlatformStack(Testing.app(), "without", {
      config: resolveEnvironment({ ...devInput, ingestFunction: false }),
      rawTables: loadRawSources(FIXTURE_SOURCES),
    }));
    expect(Object.values(ofType(without, "aws_lambda_function")).map((f) => f.function_name)).toEqual(["dev-dbt-runner"]);
    expect(without.output.ingest_function_name).toBeUndefined();
    const unreserved = synthStack(new DataPlatformStack(Testing.app(), "unreserved", {
      config: resolveEnvironment({ ...devInput, reservedConcurrency: "none" }),
      rawTables: loadRawSources(FIXTURE_SOURCES),
    }));
    for (const fn of Object.values(ofType(unreserved, "aws_lambda_function"))) expect(fn).not.toHaveProperty("reserved_concurrent_executions");
  });

  it.each(envs)("%s creates the raw tables of sources.yml in the stack's database and raw bucket", (env) => {
    const json = stacks[env];
    const tables = Object.values(ofType(json, "aws_glue_catalog_table"));
    expect(tables.map((t) => t.name).sort()).toEqual(loadRawSources(FIXTURE_SOURCES).map((t) => t.name).sort());
    const raw = ref(json, "aws_s3_bucket", "raw/bucket", "bucket");
    for (const t of tables) {
      expect(t.database_name).toBe(ref(json, "aws_glue_catalog_database", "data-lake/database", "name"));
      expect(t.storage_descriptor.location).toBe(`s3://${raw}/raw/${t.name}/`);
    }
  });

  it.each(envs)("%s starts the build state machine on its schedule and on raw uploads", (env) => {
    const json = stacks[env];
    const rules = Object.values(ofType(json, "aws_cloudwatch_event_rule"));
    expect(rules.map((r) => r.name).sort()).toEqual([`${env}-dbt-build-raw-object-created`, `${env}-dbt-build-schedule`]);
    const machine = ref(json, "aws_sfn_state_machine", "build/state-machine", "arn");
    expect(Object.values(ofType(json, "aws_cloudwatch_event_target")).map((t) => t.arn)).toEqual([machine, machine]);
    // The rules no longer invoke the runner; nothing else needed those permissions.
    expect(ofType(json, "aws_lambda_permission")).toEqual({});
    // Exactly one notification resource per bucket.
    const notified = Object.values(ofType(json, "aws_s3_bucket_notification")).map((n) => n.bucket);
    expect(new Set(notified).size).toBe(notified.length);
    expect(notified).toHaveLength(Object.keys(ofType(json, "aws_s3_bucket")).length);
  });

  it.each(envs)("%s runs builds in <env>-dbt-build: steps of the runner, logs under the stack's key", (env) => {
    const json = stacks[env];
    const machine = byPath(json, "aws_sfn_state_machine", "build/state-machine");
    expect(machine).toMatchObject({ name: `${env}-dbt-build`, type: "STANDARD", tracing_configuration: { enabled: true } });
    expect(machine.logging_configuration).toMatchObject({ level: "ALL", include_execution_data: false });
    const definition = JSON.parse(machine.definition);
    expect(definition.States.Step.Parameters.FunctionName).toBe(ref(json, "aws_lambda_function", "dbt-runner/function", "arn"));
    const logs = byPath(json, "aws_cloudwatch_log_group", "build/logs");
    expect(logs).toMatchObject({ name: `/aws/vendedlogs/states/${env}-dbt-build`, kms_key_id: refOnly(json, "aws_kms_key", "arn") });
    // The key lets CloudWatch Logs encrypt that log group.
    const keyPolicy = JSON.parse(only(json, "aws_kms_key").policy);
    const logsStatement = keyPolicy.Statement.find((st: { Sid: string }) => st.Sid === "CloudWatchLogsEncryptsOwnLogGroups");
    expect(logsStatement.Condition.ArnEquals["kms:EncryptionContext:aws:logs:arn"]).toContain(
      `arn:\${data.aws_partition.partition.partition}:logs:ap-southeast-2:\${data.aws_caller_identity.account.account_id}:log-group:/aws/vendedlogs/states/${env}-dbt-build`,
    );
    for (const role of Object.values(ofType(json, "aws_iam_role"))) {
      expect(role.permissions_boundary).toBe(byPath(json, "aws_iam_role", "dbt-runner/role").permissions_boundary);
    }
    expect(json.output.state_machine_arn.value).toBe(ref(json, "aws_sfn_state_machine", "build/state-machine", "arn"));
  });

  it("protects prod's buckets from destroy and lets every dev bucket go with its data", () => {
    for (const b of Object.values(ofType(stacks.prod, "aws_s3_bucket"))) {
      expect(b.lifecycle).toEqual({ prevent_destroy: true });
      expect(b.force_destroy).toBe(false);
    }
    for (const b of Object.values(ofType(stacks.dev, "aws_s3_bucket"))) {
      expect(b.lifecycle).toBeUndefined();
      expect([b.bucket, b.force_destroy]).toEqual([b.bucket, true]);
    }
  });

  it("uses prod's larger Athena scan cutoff", () => {
    const cutoff = (env: "dev" | "prod") => only(stacks[env], "aws_athena_workgroup").configuration.bytes_scanned_cutoff_per_query;
    expect(cutoff("dev")).toBe(10 * 1024 ** 3);
    expect(cutoff("prod")).toBe(100 * 1024 ** 3);
  });

  it("leaves out the schedule and the S3 rule when the config switches them off", () => {
    const config = resolveEnvironment({ ...devInput, scheduleExpression: undefined, s3EventTrigger: false });
    const json = synthStack(
      new DataPlatformStack(Testing.app(), "quiet", { config, rawTables: loadRawSources(FIXTURE_SOURCES) }),
    );
    expect(ofType(json, "aws_cloudwatch_event_rule")).toEqual({});
    expect(ofType(json, "aws_lambda_permission")).toEqual({});
  });

  it("runs the runner with SnapStart through its live alias when the config switches it on", () => {
    expect(ofType(stacks.dev, "aws_lambda_alias")).toEqual({});
    const config = resolveEnvironment({ ...devInput, snapStart: true });
    const json = synthStack(new DataPlatformStack(Testing.app(), "snap", { config, rawTables: loadRawSources(FIXTURE_SOURCES) }));
    expect(byPath(json, "aws_lambda_function", "dbt-runner/function")).toMatchObject({ publish: true, snap_start: { apply_on: "PublishedVersions" } });
    const alias = ref(json, "aws_lambda_alias", "dbt-runner/live", "arn");
    const definition = JSON.parse(byPath(json, "aws_sfn_state_machine", "build/state-machine").definition);
    expect([definition.States.Step.Parameters.FunctionName, definition.States.RecordFailure.Parameters.FunctionName]).toEqual([alias, alias]);
  });
});

describe("DataPlatformStack outputs", () => {
  it.each(envs)("%s outputs the buckets, function, database, workgroup and log group", (env) => {
    const json = stacks[env];
    expect(Object.keys(json.output).sort()).toEqual(
      ["athena_workgroup", "data_buckets", "dead_letter_queue", "function_arn", "function_name", "glue_database", "log_group",
        "artifacts_bucket", "alert_topic_arn", "ingest_function_name", "state_machine_arn", ...(env === "dev" ? ["ci_build_role_arn"] : [])].sort(),
    );
    expect(json.output.data_buckets.value).toEqual({
      raw: ref(json, "aws_s3_bucket", "raw/bucket", "bucket"),
      processed: ref(json, "aws_s3_bucket", "processed/bucket", "bucket"),
      athena_results: ref(json, "aws_s3_bucket", "athena-results/bucket", "bucket"),
    });
    expect(json.output.artifacts_bucket.value).toBe(ref(json, "aws_s3_bucket", "run-artifacts/bucket", "bucket"));
    expect(json.output.alert_topic_arn.value).toBe(ref(json, "aws_sns_topic", "alerts/topic", "arn"));
    expect(json.output.function_arn.value).toBe(ref(json, "aws_lambda_function", "dbt-runner/function", "arn"));
    expect(json.output.log_group.value).toBe(ref(json, "aws_cloudwatch_log_group", "dbt-runner/logs", "name"));
    expect(byPath(json, "aws_s3_bucket", "raw/bucket").bucket).toMatch(new RegExp(`^dbt-lambda-${env}-raw-\\$\\{random_id\\.`));
  });
});

describe("DataPlatformStack operations: artifacts bucket, alert topic, alarms", () => {
  it.each(envs)("%s keeps run artifacts in a private, logged bucket whose runs/ expire", (env) => {
    const json = stacks[env];
    const bucket = byPath(json, "aws_s3_bucket", "run-artifacts/bucket");
    expect(bucket.bucket).toMatch(new RegExp(`^dbt-lambda-${env}-artifacts-\\$\\{random_id\\.`));
    expect(bucket.lifecycle).toEqual(env === "prod" ? { prevent_destroy: true } : undefined);
    const id = ref(json, "aws_s3_bucket", "run-artifacts/bucket", "id");
    const forBucket = (type: string) => Object.values(ofType(json, type)).filter((r) => r.bucket === id);
    expect(forBucket("aws_s3_bucket_public_access_block")).toEqual([
      expect.objectContaining({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true }),
    ]);
    expect(forBucket("aws_s3_bucket_versioning")).toHaveLength(1);
    expect(forBucket("aws_s3_bucket_server_side_encryption_configuration")).toHaveLength(1);
    expect(forBucket("aws_s3_bucket_logging")).toEqual([
      expect.objectContaining({ target_bucket: ref(json, "aws_s3_bucket", "access-logs/bucket", "id") }),
    ]);
    const rules = forBucket("aws_s3_bucket_lifecycle_configuration")[0].rule;
    expect(rules.find((r: { id: string }) => r.id === "expire-runs")).toMatchObject({
      filter: [{ prefix: "runs/" }],
      expiration: [{ days: 90 }],
    });
    // Nothing public: no website, no public policy (the bucket policy only denies plain HTTP).
    expect(ofType(json, "aws_s3_bucket_website_configuration")).toEqual({});
    // S3 may deliver its access logs into the lake's log bucket.
    const logPolicy = Object.entries(ofType(json, "aws_iam_policy_document", "data")).find(([k]) => k.includes("access-logs"))![1];
    const delivery = logPolicy.statement.find((s: { sid: string }) => s.sid === "S3ServerAccessLogsDelivery");
    const sourceArns = delivery.condition.find((c: { variable: string }) => c.variable === "aws:SourceArn").values;
    expect(sourceArns).toContain(`arn:\${data.aws_partition.partition.partition}:s3:::${bucket.bucket}`);
  });

  it.each(envs)("%s alarms on the runner's errors, throttles, long runs and its dead-letter queue, into an encrypted topic", (env) => {
    const json = stacks[env];
    const topic = only(json, "aws_sns_topic");
    expect(topic).toMatchObject({ name: `${env}-dbt-alerts`, kms_master_key_id: refOnly(json, "aws_kms_key", "arn") });
    const topicArn = refOnly(json, "aws_sns_topic", "arn");
    const alarms = Object.values(ofType(json, "aws_cloudwatch_metric_alarm"));
    const byName = Object.fromEntries(alarms.map((a) => [a.alarm_name, a]));
    expect(Object.keys(byName).sort()).toEqual(
      [
        ...[`${env}-dbt-runner`, `${env}-ingest`].flatMap((fn) => [`${fn}-duration`, `${fn}-errors`, `${fn}-throttles`, `${fn}-dlq-not-empty`]),
        ...["failed", "timed-out", "aborted"].map((what) => `${env}-dbt-build-${what}`),
      ].sort(),
    );
    const machine = ref(json, "aws_sfn_state_machine", "build/state-machine", "arn");
    for (const [what, metric] of [["failed", "ExecutionsFailed"], ["timed-out", "ExecutionsTimedOut"], ["aborted", "ExecutionsAborted"]]) {
      expect(byName[`${env}-dbt-build-${what}`]).toMatchObject({
        namespace: "AWS/States", metric_name: metric, statistic: "Sum", threshold: 1, dimensions: { StateMachineArn: machine },
      });
    }
    for (const alarm of alarms) {
      expect(alarm.alarm_actions).toEqual([topicArn]);
      expect(alarm.treat_missing_data).toBe("notBreaching");
    }
    expect(byName[`${env}-dbt-runner-errors`]).toMatchObject({ namespace: "AWS/Lambda", metric_name: "Errors", threshold: 1, dimensions: { FunctionName: `${env}-dbt-runner` } });
    expect(byName[`${env}-dbt-runner-duration`]).toMatchObject({ metric_name: "Duration", statistic: "Maximum", threshold: 720000, comparison_operator: "GreaterThanThreshold" });
    expect(byName[`${env}-dbt-runner-dlq-not-empty`]).toMatchObject({ namespace: "AWS/SQS", dimensions: { QueueName: `${env}-dbt-runner-dlq` } });
    // The runner's own queue is the one alarmed.
    expect(Object.values(ofType(json, "aws_sqs_queue")).map((q) => q.name).sort()).toEqual([`${env}-dbt-runner-dlq`, `${env}-ingest-dlq`]);
    // CloudWatch may use the key for the encrypted topic; only this env's alarms may publish.
    const keyPolicy = JSON.parse(only(json, "aws_kms_key").policy);
    expect(keyPolicy.Statement.map((s: { Sid: string }) => s.Sid)).toContain("CloudWatchAlarmsPublishToEncryptedTopics");
    const topicPolicy = Object.entries(ofType(json, "aws_iam_policy_document", "data")).find(([k]) => k.startsWith("alerts_topic-policy"))![1];
    expect(topicPolicy.statement[0].condition).toContainEqual({
      test: "ArnLike",
      variable: "aws:SourceArn",
      values: [`arn:\${data.aws_partition.partition.partition}:cloudwatch:ap-southeast-2:\${data.aws_caller_identity.account.account_id}:alarm:${env}-*`],
    });
    expect(ofType(json, "aws_sns_topic_subscription")).toEqual({});
  });

  it("subscribes every configured email address and expires runs after the configured days", () => {
    const config = resolveEnvironment({ ...devInput, alertEmails: ["data@example.com", "oncall@example.com"], artifactRetentionDays: 30 });
    const json = synthStack(new DataPlatformStack(Testing.app(), "mail", { config, rawTables: loadRawSources(FIXTURE_SOURCES) }));
    const subscriptions = Object.values(ofType(json, "aws_sns_topic_subscription"));
    expect(subscriptions.map((s) => [s.protocol, s.endpoint, s.topic_arn])).toEqual([
      ["email", "data@example.com", refOnly(json, "aws_sns_topic", "arn")],
      ["email", "oncall@example.com", refOnly(json, "aws_sns_topic", "arn")],
    ]);
    const id = ref(json, "aws_s3_bucket", "run-artifacts/bucket", "id");
    const lifecycle = Object.values(ofType(json, "aws_s3_bucket_lifecycle_configuration")).find((l) => l.bucket === id)!;
    expect(lifecycle.rule.find((r: { id: string }) => r.id === "expire-runs").expiration).toEqual([{ days: 30 }]);
  });
});
