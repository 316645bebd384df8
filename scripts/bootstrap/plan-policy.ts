import { logGroupArns, type DeployScope } from "./deploy-policy";
import { glueDatabaseName, stateKey } from "./names";
import type { PolicyDocument } from "./policy-document";

/**
 * What `terraform plan -lock=false` of one environment's stack needs and nothing more: read the
 * state object, and refresh every resource the stack manages. Same name scopes as the deploy
 * policy; no write, no lock, no object data of the data buckets, no queue messages, no secrets.
 *
 * Two reads return more than configuration, both accepted (README, Security):
 * - lambda:GetFunction (the provider's refresh call; GetFunctionConfiguration alone does not
 *   serve it) and lambda:GetLayerVersion return a 10-minute download URL of the function's
 *   package and of the layer: this repository's handler and dbt project, and public pip
 *   packages, which anyone who can open a pull request here already has.
 * - kms:Decrypt, only when Lambda asks on the caller's behalf for a function of this
 *   environment: Lambda returns a function's environment variables (bucket names, workgroup,
 *   topic ARN; never secrets) only if the caller may decrypt them, and without them every plan
 *   would show a false change.
 */
export function planPolicy(scope: DeployScope): PolicyDocument {
  const { partition, accountId, region, env } = scope;
  const arn = (service: string, resource: string, inRegion = true) =>
    `arn:${partition}:${service}:${inRegion ? region : ""}:${accountId}:${resource}`;
  const s3 = (resource: string) => `arn:${partition}:s3:::${resource}`;
  const database = glueDatabaseName(scope.bucketPrefix);
  const envTag = { "aws:ResourceTag/Environment": env };

  return {
    Version: "2012-10-17",
    Statement: [
      {
        // Key names only; the backend lists the bucket to find workspaces.
        Sid: "TerraformStateList",
        Effect: "Allow",
        Action: "s3:ListBucket",
        Resource: s3(scope.stateBucket),
      },
      {
        // The state object only: a plan with -lock=false never reads or writes the .tflock.
        Sid: "TerraformStateRead",
        Effect: "Allow",
        Action: "s3:GetObject",
        Resource: s3(`${scope.stateBucket}/${stateKey(env)}`),
      },
      {
        // The bucket resource only, never "<bucket>/*": configuration and key names, no object data.
        Sid: "DataBucketsRead",
        Effect: "Allow",
        Action: [
          "s3:ListBucket",
          // Every GetBucket* action is Read and bucket-level; the provider adds such reads across versions.
          "s3:GetBucket*",
          "s3:GetAccelerateConfiguration",
          "s3:GetEncryptionConfiguration",
          "s3:GetIntelligentTieringConfiguration",
          "s3:GetLifecycleConfiguration",
          "s3:GetReplicationConfiguration",
          "s3:ListTagsForResource",
        ],
        Resource: s3(`${scope.bucketPrefix}-*`),
      },
      {
        // Database and table definitions (schemas); partitions and data stay out of reach.
        Sid: "GlueCatalogRead",
        Effect: "Allow",
        Action: ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartitionIndexes", "glue:GetTags"],
        Resource: [arn("glue", "catalog"), arn("glue", `database/${database}`), arn("glue", `table/${database}/*`)],
      },
      {
        Sid: "AthenaWorkgroupRead",
        Effect: "Allow",
        Action: ["athena:GetWorkGroup", "athena:ListTagsForResource"],
        Resource: arn("athena", `workgroup/${env}-*`),
      },
      {
        Sid: "LambdaFunctionsRead",
        Effect: "Allow",
        Action: [
          // GetFunction and its siblings (configuration, concurrency, event invoke, recursion, URL, ...): all Read.
          "lambda:GetFunction*",
          "lambda:GetAlias",
          "lambda:ListVersionsByFunction",
          "lambda:GetPolicy",
          "lambda:GetRuntimeManagementConfig",
          "lambda:ListTags",
        ],
        Resource: arn("lambda", `function:${env}-*`),
      },
      {
        Sid: "LambdaLayersRead",
        Effect: "Allow",
        Action: ["lambda:GetLayerVersion", "lambda:ListLayerVersions"],
        Resource: [arn("lambda", `layer:${env}-*`), arn("lambda", `layer:${env}-*:*`)],
      },
      {
        Sid: "StackRolesRead",
        Effect: "Allow",
        Action: ["iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListRoleTags"],
        Resource: arn("iam", `role/${env}-*`, false),
      },
      {
        Sid: "LogGroupsRead",
        Effect: "Allow",
        Action: ["logs:ListTagsForResource", "logs:ListTagsLogGroup"],
        Resource: logGroupArns(arn, env),
      },
      {
        // DescribeLogGroups is a list call: IAM scopes it no narrower than all log groups of the region.
        Sid: "DescribeLogGroups",
        Effect: "Allow",
        Action: "logs:DescribeLogGroups",
        Resource: arn("logs", "log-group:*"),
      },
      {
        // Queue attributes only; ReceiveMessage (the dead letters themselves) is not granted.
        Sid: "DeadLetterQueuesRead",
        Effect: "Allow",
        Action: ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags"],
        Resource: arn("sqs", `${env}-*`),
      },
      {
        Sid: "AlertTopicsRead",
        Effect: "Allow",
        Action: ["sns:GetTopicAttributes", "sns:GetSubscriptionAttributes", "sns:ListSubscriptionsByTopic", "sns:ListTagsForResource"],
        Resource: [arn("sns", `${env}-*`), arn("sns", `${env}-*:*`)],
      },
      {
        Sid: "MetricAlarmsRead",
        Effect: "Allow",
        Action: ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"],
        Resource: arn("cloudwatch", `alarm:${env}-*`),
      },
      {
        // The definition, role, logging and tracing settings: configuration only, never an execution.
        Sid: "StateMachinesRead",
        Effect: "Allow",
        Action: ["states:DescribeStateMachine", "states:ListStateMachineVersions", "states:ListTagsForResource"],
        Resource: arn("states", `stateMachine:${env}-*`),
      },
      {
        Sid: "EventRulesRead",
        Effect: "Allow",
        Action: ["events:DescribeRule", "events:ListTargetsByRule", "events:ListTagsForResource"],
        Resource: arn("events", `rule/${env}-*`),
      },
      {
        Sid: "EnvironmentKeyRead",
        Effect: "Allow",
        Action: ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"],
        Resource: arn("kms", "key/*"),
        Condition: { StringEquals: envTag },
      },
      {
        // Only through Lambda, for this environment's functions: their environment variables.
        Sid: "FunctionEnvironmentThroughLambda",
        Effect: "Allow",
        Action: "kms:Decrypt",
        Resource: arn("kms", "key/*"),
        Condition: {
          StringEquals: { ...envTag, "kms:ViaService": `lambda.${region}.amazonaws.com` },
          StringLike: { "kms:EncryptionContext:aws:lambda:FunctionArn": arn("lambda", `function:${env}-*`) },
        },
      },
      {
        // ListAliases is a list call that IAM only authorizes on "*"; the provider reads aliases with it.
        Sid: "ListKeyAliases",
        Effect: "Allow",
        Action: "kms:ListAliases",
        Resource: "*",
      },
    ],
  };
}
