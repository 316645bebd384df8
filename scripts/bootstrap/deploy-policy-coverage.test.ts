/**
 * Keeps the bootstrap's policies honest against the real stack: every resource type the app
 * synthesizes must be covered by a statement of the deploy policy, and every named resource must
 * fall inside that statement's name scope; the plan policy must allow every refresh call; the
 * permissions boundary must allow everything the stack's own roles are granted. A new resource
 * type or grant fails here until the policies cover it.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Testing } from "cdktf";
import { buildApp, SOURCES_FILE } from "../../main";
import { environmentConfig } from "../../envs";
import { boundaryPolicy } from "./boundary-policy";
import { loadRawSources } from "../../constructs/dbt-sources";
import { DataPlatformStack } from "../../stacks/data-platform-stack";
import { deployPolicy, deployScope } from "./deploy-policy";
import { planPolicy } from "./plan-policy";
import type { PolicyStatement } from "./policy-document";
import { actionAppliesTo, expandAction, NON_MUTATING, uncoveredResourceTypes } from "./testing/access-levels";

const ACCOUNT = "123456789012";
type Resource = Record<string, unknown>;
type Stack = {
  resource: Record<string, Record<string, Resource>>;
  data: Record<string, Record<string, Resource>>;
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
  aws_sns_topic: { sid: "AlertTopics", arn: (r, region) => `arn:aws:sns:${region}:${ACCOUNT}:${r.name}` },
  aws_sns_topic_policy: { sid: "AlertTopics" },
  aws_sns_topic_subscription: { sid: "AlertTopics" },
  aws_cloudwatch_metric_alarm: {
    sid: "MetricAlarms",
    arn: (r, region) => `arn:aws:cloudwatch:${region}:${ACCOUNT}:alarm:${r.alarm_name}`,
  },
  aws_sfn_state_machine: { sid: "StateMachines", arn: (r, region) => `arn:aws:states:${region}:${ACCOUNT}:stateMachine:${r.name}` },
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
  aws_sns_topic: ["sns:CreateTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:DeleteTopic"],
  aws_cloudwatch_metric_alarm: ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
  aws_sfn_state_machine: [
    // Called before every create and update (moto lacks it: scripts/rehearse/gaps.py).
    "states:ValidateStateMachineDefinition",
    "states:CreateStateMachine",
    "states:DescribeStateMachine",
    "states:UpdateStateMachine",
    "states:DeleteStateMachine",
    "states:ListStateMachineVersions",
    "states:ListTagsForResource",
    // Its logging configuration: CloudWatch Logs checks the caller's delivery permissions too.
    "logs:CreateLogDelivery",
    "logs:ListLogDeliveries",
  ],
  aws_cloudwatch_event_target: ["events:PutTargets"],
};

/**
 * The calls the provider makes to refresh (read back) each resource type during a plan: what
 * the plan role must be allowed. Every type the stack synthesizes must be listed.
 */
const REFRESH_CALLS: Record<string, string[]> = {
  aws_s3_bucket: [
    "s3:ListBucket",
    "s3:GetBucketAcl",
    "s3:GetBucketCORS",
    "s3:GetBucketLogging",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketPolicy",
    "s3:GetBucketRequestPayment",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetBucketWebsite",
    "s3:GetAccelerateConfiguration",
    "s3:GetEncryptionConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:GetReplicationConfiguration",
    "s3:ListTagsForResource",
  ],
  aws_s3_bucket_lifecycle_configuration: ["s3:GetLifecycleConfiguration"],
  aws_s3_bucket_logging: ["s3:GetBucketLogging"],
  aws_s3_bucket_notification: ["s3:GetBucketNotification"],
  aws_s3_bucket_ownership_controls: ["s3:GetBucketOwnershipControls"],
  aws_s3_bucket_policy: ["s3:GetBucketPolicy"],
  aws_s3_bucket_public_access_block: ["s3:GetBucketPublicAccessBlock"],
  aws_s3_bucket_server_side_encryption_configuration: ["s3:GetEncryptionConfiguration"],
  aws_s3_bucket_versioning: ["s3:GetBucketVersioning"],
  aws_s3_bucket_intelligent_tiering_configuration: ["s3:GetIntelligentTieringConfiguration"],
  aws_glue_catalog_database: ["glue:GetDatabase"],
  aws_glue_catalog_table: ["glue:GetTable", "glue:GetPartitionIndexes"],
  aws_athena_workgroup: ["athena:GetWorkGroup", "athena:ListTagsForResource"],
  aws_lambda_function: ["lambda:GetFunction", "lambda:GetFunctionCodeSigningConfig", "lambda:ListVersionsByFunction"],
  aws_lambda_alias: ["lambda:GetAlias"],
  aws_lambda_permission: ["lambda:GetPolicy"],
  aws_lambda_function_event_invoke_config: ["lambda:GetFunctionEventInvokeConfig"],
  aws_lambda_layer_version: ["lambda:GetLayerVersion"],
  aws_iam_role: ["iam:GetRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"],
  aws_iam_role_policy: ["iam:GetRolePolicy"],
  aws_cloudwatch_log_group: ["logs:DescribeLogGroups", "logs:ListTagsForResource"],
  aws_sqs_queue: ["sqs:GetQueueAttributes", "sqs:ListQueueTags"],
  aws_cloudwatch_event_rule: ["events:DescribeRule", "events:ListTagsForResource"],
  aws_cloudwatch_event_target: ["events:ListTargetsByRule"],
  aws_kms_key: ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"],
  aws_kms_alias: ["kms:ListAliases"],
  aws_sns_topic: ["sns:GetTopicAttributes", "sns:ListTagsForResource"],
  aws_sns_topic_policy: ["sns:GetTopicAttributes"],
  aws_sns_topic_subscription: ["sns:GetSubscriptionAttributes"],
  aws_cloudwatch_metric_alarm: ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"],
  aws_sfn_state_machine: ["states:DescribeStateMachine", "states:ListStateMachineVersions", "states:ListTagsForResource"],
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
  buildApp({ outdir }).synth();
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

  it("grants each lifecycle call on every resource type AWS requires for it (e.g. Glue's functions for DeleteDatabase)", async () => {
    const missing: string[] = [];
    for (const action of new Set(Object.values(LIFECYCLE_CALLS).flat())) {
      const granting = policy.Statement.filter(
        (st) => st.Effect === "Allow" && [st.Action].flat().some((p) => matches(p.toLowerCase(), action.toLowerCase())),
      );
      const resources = granting.flatMap((st) => [st.Resource ?? []].flat());
      for (const type of await uncoveredResourceTypes(action, resources)) missing.push(`${action}: ${type}`);
    }
    expect(missing).toEqual([]);
  });

  it("may pass each of the stack's roles to the service that assumes it, and to no other", () => {
    const passed = bySid.get("PassStackRoles")!;
    expect(passed.Action).toBe("iam:PassRole");
    const services = new Set([passed.Condition?.StringEquals?.["iam:PassedToService"] ?? []].flat());
    const trusted = Object.values(stack().resource.aws_iam_role ?? {}).flatMap((role) => {
      const document = String(role.assume_role_policy).replace(/^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$/, "$1");
      const statements = (stack().data.aws_iam_policy_document[document] as { statement: { principals: { type: string; identifiers: string[] }[] }[] }).statement;
      // Services are passed a role; a role trusted by another role (the CI build role, by the
      // runner's) is assumed with sts:AssumeRole and needs no iam:PassRole.
      return statements.flatMap((st) => st.principals.filter((p) => p.type === "Service").flatMap((p) => p.identifiers));
    });
    expect([...new Set(trusted)].sort()).toEqual([...services].sort());
    for (const role of Object.values(stack().resource.aws_iam_role ?? {})) {
      expect(allows(policy.Statement, "iam:PassRole", `arn:aws:iam::${ACCOUNT}:role/${role.name}`), String(role.name)).toBe(true);
    }
  });

  it("tags every resource with the Environment the KMS statements are conditioned on", () => {
    expect(stack().provider.aws[0].default_tags[0].tags.Environment).toBe(env);
    expect(bySid.get("ManageEnvironmentKey")?.Condition).toEqual({ StringEquals: { "aws:ResourceTag/Environment": env } });
  });

  it("lets the plan role make every refresh call, and only calls AWS classes as Read or List", async () => {
    const plan = planPolicy(deployScope(config, { partition: "aws", accountId: ACCOUNT, stateBucket: `repo-terraform-state-${ACCOUNT}` }));
    const unlisted = Object.keys(stack().resource).filter((t) => !LOCAL_ONLY.has(t) && !REFRESH_CALLS[t]);
    expect(unlisted, "add the provider's read calls of these types to REFRESH_CALLS").toEqual([]);
    const denied: string[] = [];
    for (const [type, resources] of Object.entries(stack().resource)) {
      for (const action of REFRESH_CALLS[type] ?? []) {
        for (const { accessLevel } of await expandAction(action)) expect(NON_MUTATING.has(accessLevel), action).toBe(true);
        for (const resource of Object.values(resources)) {
          const target = COVERAGE[type]?.arn?.(resource, config.region, stack());
          if (!allows(plan.Statement, action, target)) denied.push(`plan: ${type}: ${action} on ${target ?? "its resource"}`);
          // A refresh the deploy role could not make would fail its own plans.
          if (!allows(policy.Statement, action, target)) denied.push(`deploy: ${type}: ${action} on ${target ?? "its resource"}`);
        }
      }
    }
    expect(denied).toEqual([]);
  });

  it("sets the permissions boundary on every role, and the boundary allows every grant of the stack's roles", async () => {
    const scope = deployScope(config, { partition: "aws", accountId: ACCOUNT, stateBucket: `repo-terraform-state-${ACCOUNT}` });
    const boundary = boundaryPolicy(scope);
    const roles = Object.values(stack().resource.aws_iam_role ?? {});
    expect(roles.length).toBeGreaterThan(0);
    // The CI build role (ciBuilds: dev) is one of them, so its grants are held to the boundary too.
    expect(roles.some((r) => r.name === `${env}-dbt-ci-build`)).toBe(config.ciBuilds);
    for (const role of roles) {
      expect(resolve(String(role.permissions_boundary))).toBe(`arn:aws:iam::${ACCOUNT}:policy/${env}-platform-boundary`);
      expect(resolve(String(role.permissions_boundary))).toBe(scope.boundaryArn);
    }
    // Identity-policy statements (no principals) of every policy document the stack attaches to a role.
    const attached = Object.values(stack().resource.aws_iam_role_policy ?? {}).map((p) =>
      String(p.policy).replace(/^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$/, "$1"),
    );
    expect(attached.length).toBeGreaterThan(0);
    const outside: string[] = [];
    for (const name of attached) {
      const document = stack().data.aws_iam_policy_document[name] as { statement?: Resource[] };
      expect(document, `policy ${name} is not a typed aws_iam_policy_document`).toBeDefined();
      for (const statement of document.statement ?? []) {
        if (statement.principals) continue;
        for (const action of statement.actions as string[]) {
          for (const resource of statement.resources as string[]) {
            const arn = resolve(resource);
            if (!(await actionAppliesTo(action, arn))) continue;
            if (!allows(boundary.Statement, action, arn)) outside.push(`${name} ${statement.sid}: ${action} on ${arn}`);
          }
        }
      }
    }
    expect(outside, "add these to scripts/bootstrap/boundary-policy.ts").toEqual([]);
  });

  /** A synthesized string with its references replaced by what they will be in account ACCOUNT. */
  function resolve(value: string): string {
    return value
      .replace(/\$\{data\.aws_partition\.[^.]+\.partition\}/g, "aws")
      .replace(/\$\{data\.aws_caller_identity\.[^.]+\.account_id\}/g, ACCOUNT)
      .replace(/\$\{(aws_[a-z0-9_]+)\.([^.}]+)\.arn\}/g, (_, type: string, name: string) => {
        const target = stack().resource[type]?.[name];
        const arnOf = COVERAGE[type]?.arn;
        if (target && arnOf) return arnOf(target, config.region, stack());
        if (type === "aws_kms_key") return `arn:aws:kms:${config.region}:${ACCOUNT}:key/0a1b2c3d`;
        throw new Error(`no ARN known for ${type}.${name}: add it to COVERAGE`);
      });
  }
});
