/**
 * Keeps the deploy role honest against the real stack: every resource type the app synthesizes
 * must be covered by a statement of the deploy policy, and every named resource must fall inside
 * that statement's name scope. A new resource type fails here until the policy grants it.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Testing } from "cdktf";
import { buildApp, SOURCES_FILE } from "../../main";
import { environmentConfig } from "../../envs";
import { loadRawSources } from "../../constructs/raw-sources";
import { DataPlatformStack } from "../../stacks/data-platform-stack";
import { deployPolicy, deployScope } from "./deploy-policy";
import type { PolicyStatement } from "./policy-document";

const ACCOUNT = "123456789012";
type Resource = Record<string, unknown>;
type Stack = {
  resource: Record<string, Record<string, Resource>>;
  provider: { aws: { region: string; default_tags: { tags: Record<string, string> }[] }[] };
};

// Interpolations such as ${random_id.x.hex} stand for generated parts of a name.
const concrete = (value: unknown) => String(value).replace(/\$\{[^}]+\}/g, "0a1b2c3d");

/** How to find each resource type's statement, and the ARN the resource will have (if it has a name). */
const COVERAGE: Record<string, { sid: string; arn?: (r: Resource, region: string, stack: Stack) => string }> = {
  aws_s3_bucket: { sid: "DataBuckets", arn: (r) => `arn:aws:s3:::${concrete(r.bucket)}` },
  aws_s3_bucket_lifecycle_configuration: { sid: "DataBuckets" },
  aws_s3_bucket_logging: { sid: "DataBuckets" },
  aws_s3_bucket_notification: { sid: "DataBuckets" },
  aws_s3_bucket_ownership_controls: { sid: "DataBuckets" },
  aws_s3_bucket_policy: { sid: "DataBuckets" },
  aws_s3_bucket_public_access_block: { sid: "DataBuckets" },
  aws_s3_bucket_server_side_encryption_configuration: { sid: "DataBuckets" },
  aws_s3_bucket_versioning: { sid: "DataBuckets" },
  aws_glue_catalog_database: { sid: "GlueCatalog", arn: (r, region) => `arn:aws:glue:${region}:${ACCOUNT}:database/${r.name}` },
  aws_glue_catalog_table: { sid: "GlueCatalog" },
  aws_athena_workgroup: { sid: "AthenaWorkgroup", arn: (r, region) => `arn:aws:athena:${region}:${ACCOUNT}:workgroup/${r.name}` },
  aws_lambda_function: {
    sid: "LambdaFunctions",
    arn: (r, region) => `arn:aws:lambda:${region}:${ACCOUNT}:function:${r.function_name}`,
  },
  aws_lambda_alias: {
    sid: "LambdaFunctions",
    arn: (r, region, stack) => `arn:aws:lambda:${region}:${ACCOUNT}:function:${functionNameOf(r, stack)}:${r.name}`,
  },
  aws_lambda_permission: { sid: "LambdaFunctions" },
  aws_lambda_function_event_invoke_config: { sid: "LambdaFunctions" },
  aws_lambda_layer_version: {
    sid: "LambdaLayers",
    arn: (r, region) => `arn:aws:lambda:${region}:${ACCOUNT}:layer:${r.layer_name}:1`,
  },
  aws_iam_role: { sid: "StackRoles", arn: (r) => `arn:aws:iam::${ACCOUNT}:role/${r.name}` },
  aws_iam_role_policy: { sid: "StackRoles" },
  aws_cloudwatch_log_group: { sid: "LogGroups", arn: (r, region) => `arn:aws:logs:${region}:${ACCOUNT}:log-group:${r.name}` },
  aws_sqs_queue: { sid: "DeadLetterQueues", arn: (r, region) => `arn:aws:sqs:${region}:${ACCOUNT}:${r.name}` },
  aws_cloudwatch_event_rule: { sid: "EventRules", arn: (r, region) => `arn:aws:events:${region}:${ACCOUNT}:rule/${r.name}` },
  aws_cloudwatch_event_target: { sid: "EventRules" },
  aws_kms_key: { sid: "CreateEnvironmentKey" },
  aws_kms_alias: { sid: "EnvironmentKeyAlias", arn: (r, region) => `arn:aws:kms:${region}:${ACCOUNT}:${r.name}` },
};
/**
 * API calls the AWS provider makes for a resource type besides its statement's obvious ones,
 * including the reads it does after every apply and refresh (a missing one fails the apply after
 * the resource was created).
 */
const LIFECYCLE_CALLS: Record<string, string[]> = {
  aws_s3_bucket: ["s3:CreateBucket", "s3:ListBucket", "s3:GetBucketTagging", "s3:ListTagsForResource", "s3:DeleteBucket"],
  aws_glue_catalog_database: ["glue:CreateDatabase", "glue:GetDatabase", "glue:DeleteDatabase"],
  aws_glue_catalog_table: ["glue:CreateTable", "glue:GetTable", "glue:GetPartitionIndexes", "glue:DeleteTable"],
  aws_athena_workgroup: ["athena:CreateWorkGroup", "athena:GetWorkGroup", "athena:DeleteWorkGroup"],
  aws_lambda_function: [
    "lambda:CreateFunction",
    "lambda:GetFunction",
    "lambda:DeleteFunction",
    "lambda:PutFunctionEventInvokeConfig",
    "lambda:GetFunctionEventInvokeConfig",
    "lambda:DeleteFunctionEventInvokeConfig",
  ],
  aws_lambda_alias: ["lambda:CreateAlias", "lambda:GetAlias", "lambda:UpdateAlias", "lambda:DeleteAlias"],
  aws_iam_role: ["iam:CreateRole", "iam:GetRole", "iam:DeleteRole"],
  aws_cloudwatch_log_group: ["logs:CreateLogGroup", "logs:DeleteLogGroup"],
  aws_sqs_queue: ["sqs:CreateQueue", "sqs:GetQueueAttributes", "sqs:DeleteQueue"],
  aws_cloudwatch_event_rule: ["events:PutRule", "events:DescribeRule", "events:DeleteRule"],
};

/** Whether an Allow statement grants `action` (on `arn`, when the resource has a known ARN). */
function allows(statements: readonly PolicyStatement[], action: string, arn?: string): boolean {
  return statements.some(
    (st) =>
      st.Effect === "Allow" &&
      [st.Action].flat().some((pattern) => matches(pattern.toLowerCase(), action.toLowerCase())) &&
      (arn === undefined || [st.Resource ?? []].flat().some((pattern) => matches(pattern, arn))),
  );
}

/** The function an alias belongs to: its function_name is a reference to the function resource. */
function functionNameOf(alias: Resource, stack: Stack): string {
  const target = /^\$\{aws_lambda_function\.([^.]+)\.function_name\}$/.exec(String(alias.function_name));
  return String(target ? stack.resource.aws_lambda_function[target[1]].function_name : alias.function_name);
}

// Resources that never call AWS.
const LOCAL_ONLY = new Set(["random_id"]);

function matches(pattern: string, arn: string): boolean {
  const regex = new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  return regex.test(arn);
}

let outdir = "";
beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), "deploy-policy-synth-"));
  buildApp(outdir).synth();
});
afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

/** The stack as envs/ declares it, or with SnapStart switched on (versions and an alias). */
function synthesized(env: "dev" | "prod", snapStart: boolean): Stack {
  if (!snapStart) return JSON.parse(readFileSync(join(outdir, "stacks", env, "cdk.tf.json"), "utf8")) as Stack;
  const config = { ...environmentConfig(env), snapStart: true };
  return JSON.parse(Testing.synth(new DataPlatformStack(Testing.app(), env, { config, rawTables: loadRawSources(SOURCES_FILE) })));
}

describe.each([
  ["dev", false],
  ["prod", false],
  ["dev", true],
] as const)("deploy policy of %s (snapStart %s) covers its synthesized stack", (env, snapStart) => {
  const config = environmentConfig(env);
  const policy = deployPolicy(deployScope(config, { partition: "aws", accountId: ACCOUNT, stateBucket: `repo-terraform-state-${ACCOUNT}` }));
  const bySid = new Map<string, PolicyStatement>(policy.Statement.map((s) => [s.Sid, s]));
  let cached: Stack | undefined;
  const stack = () => (cached ??= synthesized(env, snapStart));

  it("synthesizes the resource types this case is about", () => {
    expect("aws_lambda_alias" in stack().resource).toBe(snapStart);
  });

  it("has a statement for every resource type", () => {
    const uncovered = Object.keys(stack().resource).filter((t) => !LOCAL_ONLY.has(t) && !bySid.has(COVERAGE[t]?.sid ?? ""));
    expect(uncovered, "add these resource types to scripts/bootstrap/deploy-policy.ts").toEqual([]);
  });

  it("scopes every named resource by the statement's name pattern", () => {
    const outside: string[] = [];
    for (const [type, resources] of Object.entries(stack().resource)) {
      const coverage = COVERAGE[type];
      if (!coverage?.arn) continue;
      const patterns = [bySid.get(coverage.sid)?.Resource ?? []].flat() as string[];
      for (const resource of Object.values(resources)) {
        const arn = coverage.arn(resource, config.region, stack());
        if (!patterns.some((p) => matches(p, arn))) outside.push(`${type}: ${arn}`);
      }
    }
    expect(outside).toEqual([]);
  });

  it("allows the calls the provider makes to create, read back and delete each named resource", () => {
    const denied: string[] = [];
    for (const [type, resources] of Object.entries(stack().resource)) {
      const calls = LIFECYCLE_CALLS[type] ?? [];
      const arn = COVERAGE[type]?.arn;
      for (const resource of Object.values(resources)) {
        const target = arn ? arn(resource, config.region, stack()) : undefined;
        for (const action of calls) {
          if (!allows(policy.Statement, action, target)) denied.push(`${type}: ${action} on ${target ?? "its resource"}`);
        }
      }
    }
    expect(denied).toEqual([]);
  });

  it("tags every resource with the Environment the KMS statements are conditioned on", () => {
    expect(stack().provider.aws[0].default_tags[0].tags.Environment).toBe(env);
    expect(bySid.get("ManageEnvironmentKey")?.Condition).toEqual({ StringEquals: { "aws:ResourceTag/Environment": env } });
  });
});
