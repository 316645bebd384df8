import { describe, expect, it } from "vitest";
import { ofType, ref, refOnly, TfJson } from "../constructs/__fixtures__/synth";
import { KeyPolicy } from "../constructs/platform-key";
import { synthBothStacks } from "./__fixtures__/stacks";

const stacks = synthBothStacks();
const envs = ["dev", "prod"] as const;

interface Statement {
  sid?: string;
  effect?: string;
  actions?: string[];
  resources?: string[];
  condition?: unknown[];
}

/** Every policy document of a stack, by logical id. */
function documents(json: TfJson): [string, Statement[]][] {
  return Object.entries(ofType(json, "aws_iam_policy_document", "data")).map(([id, doc]) => [id, doc.statement ?? []]);
}

/** A resource that matches everything of a service rather than this stack's own resources. */
function isOpen(resource: string): boolean {
  return resource === "*" || /^arn:[^:]*:[^:]*:[^:]*:[^:]*:\*$/.test(resource) || /^arn:[^:]+:s3:::\*/.test(resource);
}

/** "<document>/<sid>" of each Allow statement with an open resource. */
function openGrants(json: TfJson): string[] {
  return documents(json).flatMap(([id, statements]) =>
    statements
      .filter((s) => (s.effect ?? "Allow") === "Allow" && (s.resources ?? []).some(isOpen))
      .map((s) => `${id.replace(/_[0-9A-F]{8}$/, "")}/${s.sid}`),
  );
}

/**
 * The only "*" resources AWS forces on an identity policy here: X-Ray and CloudWatch Logs'
 * vended-log delivery (the state machine's logging) have no resource-level permissions.
 * Anything new must be justified.
 */
const ALLOWED_OPEN = ["dbt-runner_policy/XRayTracing", "ingest_policy/XRayTracing", "build_policy/XRayTracing", "build_policy/DeliverLogs"];

function runnerStatements(json: TfJson): Record<string, Statement> {
  const [, statements] = documents(json).find(([id]) => id.startsWith("dbt-runner_policy_"))!;
  return Object.fromEntries(statements.map((s) => [s.sid!, s]));
}

describe("IAM: no new '*' resource", () => {
  it.each(envs)("%s grants '*' only where AWS offers nothing narrower", (env) => {
    expect(openGrants(stacks[env]).sort()).toEqual([...ALLOWED_OPEN].sort());
  });

  it.each(envs)("%s has one key policy: the account administers the key, Logs uses it for its own group", (env) => {
    const keys = Object.values(ofType(stacks[env], "aws_kms_key"));
    expect(keys).toHaveLength(1);
    const policy = JSON.parse(keys[0].policy) as KeyPolicy;
    // In a key policy "*" means "this key"; who may use it is the principal (and condition).
    expect(policy.Statement.map((st) => [st.Sid, st.Principal, st.Condition === undefined])).toEqual([
      ["AccountAdministersKeyThroughIam", { AWS: expect.stringMatching(/^arn:.*:iam::.*:root$/) }, true],
      ["CloudWatchLogsEncryptsOwnLogGroups", { Service: "logs.ap-southeast-2.amazonaws.com" }, false],
      ["CloudWatchAlarmsPublishToEncryptedTopics", { Service: "cloudwatch.amazonaws.com" }, true],
    ]);
    expect(policy.Statement[2].Action).toEqual(["kms:Decrypt", "kms:GenerateDataKey*"]);
  });

  it("the detector catches a '*' resource and an account-wide ARN", () => {
    const doctored: TfJson = {
      data: {
        aws_iam_policy_document: {
          extra_ABCDEF12: {
            statement: [
              { sid: "Any", actions: ["s3:GetObject"], resources: ["*"] },
              { sid: "AllBuckets", actions: ["s3:GetObject"], resources: ["arn:aws:s3:::*"] },
              { sid: "AllTables", actions: ["glue:GetTable"], resources: ["arn:aws:glue:ap-southeast-2:1:*"] },
              { sid: "Denied", effect: "Deny", actions: ["s3:*"], resources: ["*"] },
              { sid: "Scoped", actions: ["s3:GetObject"], resources: ["arn:aws:s3:::b/*"] },
            ],
          },
        },
      },
    };
    expect(openGrants(doctored)).toEqual(["extra/Any", "extra/AllBuckets", "extra/AllTables"]);
  });
});

describe("IAM: the build state machine and its triggers", () => {
  it.each(envs)("%s spells the ARNs in role policies from names, so no policy is re-read at apply when a resource changes", (env) => {
    // A document that references a managed resource is deferred to apply whenever that resource
    // has a pending change (every code deploy), and its role policy then shows as changed.
    for (const [id, statements] of documents(stacks[env])) {
      if (!/^(build|triggers_target)_policy_/.test(id)) continue;
      expect(JSON.stringify(statements), id).not.toMatch(/\$\{aws_(lambda_function|lambda_alias|sfn_state_machine)\./);
    }
  });

  const statementsOf = (json: TfJson, prefix: string) =>
    Object.fromEntries(documents(json).find(([id]) => id.startsWith(prefix))![1].map((s) => [s.sid!, s]));

  it.each(envs)("%s lets the state machine invoke only this env's runner and list only its own executions", (env) => {
    const json = stacks[env];
    const s = statementsOf(json, "build_policy_");
    expect(Object.keys(s)).toEqual(["InvokeRunner", "ListOwnExecutions", "DeliverLogs", "XRayTracing"]);
    const account = ref(json, "aws_caller_identity", "account", "account_id", "data");
    const partition = ref(json, "aws_partition", "partition", "partition", "data");
    expect(s.InvokeRunner).toMatchObject({
      actions: ["lambda:InvokeFunction"],
      resources: [`arn:${partition}:lambda:ap-southeast-2:${account}:function:${env}-dbt-runner`],
    });
    expect(s.ListOwnExecutions).toMatchObject({
      actions: ["states:ListExecutions"],
      resources: [`arn:${partition}:states:ap-southeast-2:${account}:stateMachine:${env}-dbt-build`],
    });
  });

  it.each(envs)("%s lets the rules start only the build state machine", (env) => {
    const json = stacks[env];
    const account = ref(json, "aws_caller_identity", "account", "account_id", "data");
    const partition = ref(json, "aws_partition", "partition", "partition", "data");
    expect(Object.values(statementsOf(json, "triggers_target_policy_"))).toEqual([
      {
        sid: "StartBuild",
        effect: "Allow",
        actions: ["states:StartExecution"],
        resources: [`arn:${partition}:states:ap-southeast-2:${account}:stateMachine:${env}-dbt-build`],
      },
    ]);
  });
});

describe("IAM: the runner's role policy, statement by statement", () => {
  it.each(envs)("%s has exactly the expected statements", (env) => {
    expect(Object.keys(runnerStatements(stacks[env]))).toEqual([
      "WriteOwnLogGroup",
      "SendToDeadLetterQueue",
      "XRayTracing",
      "ReadRaw",
      "ReadWriteProcessed",
      "ReadWriteAthenaResults",
      "GlueReadCatalog",
      "GlueWriteTables",
      "AthenaQueryInWorkgroup",
      "DecryptWithPlatformKey",
      "WriteRunArtifacts",
      "ReadRunArtifacts",
      "DeleteReplacedArtifacts",
      "ListLatestArtifacts",
      "ReadProjectBundles",
      "WriteCiRunRecords",
      "PublishAlerts",
      "GenerateDataKeyWithPlatformKey",
      // Pull-request builds (ciBuilds, dev only): assume the CI build role, tear PRs down.
      ...(env === "dev" ? ["AssumeCiBuildRole", "DropPrDatabases", "DeletePrObjectVersions", "ListPrObjectVersions"] : []),
      "PutBuildEvents",
    ]);
  });

  it.each(envs)("%s scopes every statement to this stack's resources", (env) => {
    const json = stacks[env];
    const s = runnerStatements(json);
    const bucket = (kind: string) => ref(json, "aws_s3_bucket", `${kind}/bucket`, "arn");
    const account = ref(json, "aws_caller_identity", "account", "account_id", "data");
    const partition = ref(json, "aws_partition", "partition", "partition", "data");
    const glue = `arn:${partition}:glue:ap-southeast-2:${account}`;
    const db = `dbt_lambda_${env}`;

    expect(s.WriteOwnLogGroup).toMatchObject({
      actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
      resources: [`${ref(json, "aws_cloudwatch_log_group", "dbt-runner/logs", "arn")}:*`],
    });
    expect(s.SendToDeadLetterQueue).toMatchObject({ actions: ["sqs:SendMessage"], resources: [ref(json, "aws_sqs_queue", "dbt-runner/dlq", "arn")] });
    expect(s.XRayTracing).toMatchObject({ actions: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources: ["*"] });
    expect(s.ReadRaw).toMatchObject({
      actions: ["s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject", "s3:GetObjectVersion"],
      resources: [bucket("raw"), `${bucket("raw")}/*`],
    });
    for (const [sid, kind] of [["ReadWriteProcessed", "processed"], ["ReadWriteAthenaResults", "athena-results"]]) {
      expect(s[sid].resources).toEqual([bucket(kind), `${bucket(kind)}/*`]);
      expect(s[sid].actions).toEqual(expect.arrayContaining(["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]));
    }
    const glueResources = [`${glue}:catalog`, `${glue}:database/${db}`, `${glue}:database/${db}_*`, `${glue}:table/${db}/*`, `${glue}:table/${db}_*/*`];
    expect(s.GlueReadCatalog.resources).toEqual(glueResources);
    expect(s.GlueWriteTables.resources).toEqual(glueResources);
    expect(s.AthenaQueryInWorkgroup.resources).toEqual([refOnly(json, "aws_athena_workgroup", "arn")]);
    expect(s.DecryptWithPlatformKey).toMatchObject({ actions: ["kms:Decrypt"], resources: [refOnly(json, "aws_kms_key", "arn")] });
    // Artifacts: write only its own prefixes; read latest/, in_progress/ and its runs (a stepped build's steps).
    const artifacts = ref(json, "aws_s3_bucket", "run-artifacts/bucket", "arn");
    expect(s.WriteRunArtifacts).toMatchObject({
      actions: ["s3:PutObject"],
      resources: [`${artifacts}/runs/*`, `${artifacts}/latest/*`, `${artifacts}/docs/*`, `${artifacts}/in_progress/*`],
    });
    expect(s.ReadRunArtifacts).toMatchObject({
      actions: ["s3:GetObject"],
      resources: [`${artifacts}/latest/*`, `${artifacts}/in_progress/*`, `${artifacts}/runs/*`],
    });
    expect(s.DeleteReplacedArtifacts).toMatchObject({ actions: ["s3:DeleteObject"], resources: [`${artifacts}/latest/*`, `${artifacts}/in_progress/*`] });
    expect(s.ListLatestArtifacts).toMatchObject({
      actions: ["s3:ListBucket"],
      resources: [artifacts],
      condition: [{ test: "StringLike", variable: "s3:prefix", values: ["latest/*", "in_progress/*", "runs/*/timed-out-*"] }],
    });
    expect(s.ReadProjectBundles).toMatchObject({ actions: ["s3:GetObject"], resources: [`${artifacts}/projects/*`, `${artifacts}/ci/*`] });
    expect(s.WriteCiRunRecords).toMatchObject({ actions: ["s3:PutObject"], resources: [`${artifacts}/ci/*`] });
    expect(s.PublishAlerts).toMatchObject({ actions: ["sns:Publish"], resources: [refOnly(json, "aws_sns_topic", "arn")] });
    expect(s.GenerateDataKeyWithPlatformKey).toMatchObject({ actions: ["kms:GenerateDataKey"], resources: [refOnly(json, "aws_kms_key", "arn")] });
    // "dbt build finished" events: the default bus only, and only under this env's own source.
    expect(s.PutBuildEvents).toEqual({
      sid: "PutBuildEvents",
      effect: "Allow",
      actions: ["events:PutEvents"],
      resources: [`arn:${partition}:events:ap-southeast-2:${account}:event-bus/default`],
      condition: [{ test: "StringEquals", variable: "events:source", values: [`dbt-lambda.${env}`] }],
    });
  });

  it.each(envs)("%s never grants a service-wide action or raw-zone writes", (env) => {
    const s = runnerStatements(stacks[env]);
    for (const statement of Object.values(s)) {
      expect(statement.effect).toBe("Allow");
      for (const action of statement.actions ?? []) expect(action).toMatch(/^[a-z0-9]+:[A-Z][A-Za-z]+$/);
    }
    expect(s.ReadRaw.actions).not.toContain("s3:PutObject");
    const all = Object.values(s).flatMap((x) => x.actions ?? []);
    for (const dangerous of ["iam:PassRole", "s3:PutBucketPolicy", "kms:Encrypt"]) expect(all).not.toContain(dangerous);
    // Dropping a database and deleting object versions: only a PR's, for teardown.
    for (const [sid, statement] of Object.entries(s)) {
      const actions = statement.actions ?? [];
      if (actions.includes("glue:DeleteDatabase") || actions.includes("s3:DeleteObjectVersion") || actions.some((a) => a.startsWith("sts:"))) {
        expect(["DropPrDatabases", "DeletePrObjectVersions", "AssumeCiBuildRole"]).toContain(sid);
      }
    }
  });

  it("dev's runner assumes the CI build role only, and tears down only PR databases and ci/ prefixes", () => {
    const json = stacks.dev;
    const s = runnerStatements(json);
    const bucket = (kind: string) => ref(json, "aws_s3_bucket", `${kind}/bucket`, "arn");
    const artifacts = ref(json, "aws_s3_bucket", "run-artifacts/bucket", "arn");
    const account = ref(json, "aws_caller_identity", "account", "account_id", "data");
    const partition = ref(json, "aws_partition", "partition", "partition", "data");
    const glue = `arn:${partition}:glue:ap-southeast-2:${account}`;
    const pr = "dbt_lambda_dev_pr_*";
    expect(s.AssumeCiBuildRole).toMatchObject({ actions: ["sts:AssumeRole"], resources: [ref(json, "aws_iam_role", "ci-build/role", "arn")] });
    expect(s.DropPrDatabases).toMatchObject({
      actions: ["glue:DeleteDatabase", "glue:DeleteTable", "glue:BatchDeleteTable"],
      resources: [`${glue}:catalog`, `${glue}:database/${pr}`, `${glue}:table/${pr}/*`, `${glue}:userDefinedFunction/${pr}/*`],
    });
    expect(s.DeletePrObjectVersions).toMatchObject({
      actions: ["s3:DeleteObject", "s3:DeleteObjectVersion"],
      resources: [`${bucket("processed")}/ci/*`, `${artifacts}/ci/*`, `${bucket("athena-results")}/dbt/dev/ci/*`],
    });
    expect(s.ListPrObjectVersions.condition).toEqual([{ test: "StringLike", variable: "s3:prefix", values: ["ci/*", "dbt/dev/ci/*"] }]);
    expect(Object.keys(runnerStatements(stacks.prod))).not.toContain("AssumeCiBuildRole");
  });
});

describe("IAM: the CI build role", () => {
  function ciStatements(json: TfJson): Record<string, Statement> {
    const [, statements] = documents(json).find(([id]) => id.startsWith("ci-build_policy_"))!;
    return Object.fromEntries(statements.map((s) => [s.sid!, s]));
  }

  it("exists in dev only, carries the boundary and trusts only the runner's role", () => {
    expect(Object.keys(ofType(stacks.prod, "aws_iam_role")).some((id) => id.startsWith("ci-build"))).toBe(false);
    const json = stacks.dev;
    const roles = ofType(json, "aws_iam_role");
    const [id, role] = Object.entries(roles).find(([key]) => key.startsWith("ci-build_role"))!;
    expect(role.name).toBe("dev-dbt-ci-build");
    expect(role.permissions_boundary).toBe(roles[Object.keys(roles).find((k) => k.startsWith("dbt-runner_role"))!].permissions_boundary);
    const [, trust] = documents(json).find(([doc]) => doc.startsWith("ci-build_trust_"))!;
    expect(trust).toEqual([
      {
        sid: "TheDbtRunnerOnly",
        effect: "Allow",
        actions: ["sts:AssumeRole"],
        principals: [{ type: "AWS", identifiers: [ref(json, "aws_iam_role", "dbt-runner/role", "arn")] }],
      },
    ]);
    expect(id).toMatch(/^ci-build_role_/);
    const fn = Object.values(ofType(json, "aws_lambda_function")).find((f) => f.function_name === "dev-dbt-runner")!;
    expect(fn.environment.variables.CI_BUILD_ROLE_ARN).toMatch(/^arn:\$\{data\.aws_partition\.[^}]+\}:iam::\$\{data\.aws_caller_identity\.[^}]+\}:role\/dev-dbt-ci-build$/);
  });

  it("writes only PR databases and ci/pr_*/ prefixes, reads what a build defers to", () => {
    const json = stacks.dev;
    const s = ciStatements(json);
    const bucket = (kind: string) => ref(json, "aws_s3_bucket", `${kind}/bucket`, "arn");
    const account = ref(json, "aws_caller_identity", "account", "account_id", "data");
    const partition = ref(json, "aws_partition", "partition", "partition", "data");
    const glue = `arn:${partition}:glue:ap-southeast-2:${account}`;
    const [db, pr] = ["dbt_lambda_dev", "dbt_lambda_dev_pr_*"];
    expect(Object.keys(s)).toEqual([
      "GlueReadForDeferral",
      "GlueWritePrDatabases",
      "WritePrData",
      "ListAthenaResults",
      "ReadRaw",
      "ReadProcessed",
      "AthenaQueryInWorkgroup",
      "DecryptWithPlatformKey",
      "GenerateDataKeyWithPlatformKey",
    ]);
    expect(s.GlueReadForDeferral.resources).toEqual([`${glue}:catalog`, `${glue}:database/${db}`, `${glue}:table/${db}/*`, `${glue}:database/${pr}`, `${glue}:table/${pr}/*`]);
    expect(s.GlueWritePrDatabases.resources).toEqual([`${glue}:catalog`, `${glue}:database/${pr}`, `${glue}:table/${pr}/*`]);
    expect(s.WritePrData.resources).toEqual([`${bucket("processed")}/ci/pr_*/*`, `${bucket("athena-results")}/dbt/dev/ci/pr_*/*`]);
    expect(s.ReadProcessed.actions).not.toContain("s3:PutObject");
    expect(s.ReadRaw.actions).not.toContain("s3:PutObject");
    expect(s.AthenaQueryInWorkgroup.resources).toEqual([refOnly(json, "aws_athena_workgroup", "arn")]);
    for (const statement of Object.values(s)) for (const resource of statement.resources ?? []) expect(isOpen(resource)).toBe(false);
  });
});
