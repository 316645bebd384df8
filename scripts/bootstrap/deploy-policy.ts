import type { EnvironmentConfig } from "../../envs";
import { LOG_DELIVERY_ACTIONS } from "../../constructs/log-delivery";
import type { Environment } from "./args";
import { boundaryPolicyArn, glueDatabaseName, stateKeyPrefix } from "./names";
import type { PolicyDocument, PolicyStatement } from "./policy-document";

export { LOG_DELIVERY_ACTIONS };

/** The services the stack's roles are passed to: functions, the build state machine, its rules. */
export const STACK_ROLE_SERVICES = ["lambda.amazonaws.com", "states.amazonaws.com", "events.amazonaws.com"] as const;

/** The env's log groups: its functions' and its state machine's (`/aws/vendedlogs/states/<env>-*`). */
export function logGroupArns(arn: (service: string, resource: string) => string, env: string): string[] {
  return [`/aws/lambda/${env}-*`, `/aws/vendedlogs/states/${env}-*`].flatMap((name) => [
    arn("logs", `log-group:${name}`),
    arn("logs", `log-group:${name}:*`),
  ]);
}

/** Where the stack of one environment lives and how its resources are named. */
export interface DeployScope {
  readonly partition: string;
  readonly accountId: string;
  /** The stack's region (envs/<env>.ts), not necessarily the state bucket's. */
  readonly region: string;
  readonly env: Environment;
  /** envs/<env>.ts bucketPrefix: every data bucket is `<bucketPrefix>-<role>-<hex>`. */
  readonly bucketPrefix: string;
  readonly stateBucket: string;
  /** Key prefix of this environment's state object and its lock file. */
  readonly stateKeyPrefix: string;
  /** The permissions boundary every role of the stack must carry (envs/<env>.ts permissionsBoundary). */
  readonly boundaryArn: string;
}

/** The deploy scope of an environment's stack, as envs/<env>.ts declares it, in one account. */
export function deployScope(
  stack: EnvironmentConfig,
  account: { readonly partition: string; readonly accountId: string; readonly stateBucket: string },
): DeployScope {
  return {
    ...account,
    region: stack.region,
    env: stack.environment,
    bucketPrefix: stack.bucketPrefix,
    stateKeyPrefix: stateKeyPrefix(stack.environment),
    boundaryArn: boundaryPolicyArn(stack.permissionsBoundary, account.partition, account.accountId),
  };
}

/**
 * What `terraform plan/apply/destroy` of one environment's stack needs, each statement limited
 * to that environment's resources by the stack's names: buckets `<bucketPrefix>-*`, Glue
 * database `<bucketPrefix with underscores>`, everything else `<env>-*` (function, layer, role,
 * log groups, queue, rules, workgroup, state machine, key alias); the KMS key, which has no name, by its
 * `Environment` tag (the provider's default_tags put it on every resource). Roles are created,
 * given policies and changed only while they carry the environment's permissions boundary, which
 * the role cannot edit, delete or take off: whatever it writes into a role stays inside it.
 */
export function deployPolicy(scope: DeployScope): PolicyDocument {
  const { partition, accountId, region, env } = scope;
  const arn = (service: string, resource: string, inRegion = true) =>
    `arn:${partition}:${service}:${inRegion ? region : ""}:${accountId}:${resource}`;
  const s3 = (resource: string) => `arn:${partition}:s3:::${resource}`;
  const database = glueDatabaseName(scope.bucketPrefix);
  const envTag = { StringEquals: { "aws:ResourceTag/Environment": env } };
  const stackRoles = arn("iam", `role/${env}-*`, false);
  const withBoundary = { StringEquals: { "iam:PermissionsBoundary": scope.boundaryArn } };

  const statements: PolicyStatement[] = [
    {
      // Listing shows key names only; the backend lists to find workspaces.
      Sid: "TerraformStateList",
      Effect: "Allow",
      Action: "s3:ListBucket",
      Resource: s3(scope.stateBucket),
    },
    {
      // This environment's state object and its .tflock (S3 native locking), nothing else.
      Sid: "TerraformStateObjects",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
      Resource: s3(`${scope.stateBucket}/${scope.stateKeyPrefix}*`),
    },
    {
      // Bucket-level configuration only: the resource is the bucket, so no object data is reachable.
      Sid: "DataBuckets",
      Effect: "Allow",
      Action: [
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:ListBucket",
        "s3:GetBucket*",
        "s3:PutBucket*",
        "s3:DeleteBucketPolicy",
        "s3:GetAccelerateConfiguration",
        "s3:GetEncryptionConfiguration",
        "s3:PutEncryptionConfiguration",
        "s3:GetIntelligentTieringConfiguration",
        "s3:PutIntelligentTieringConfiguration",
        "s3:GetLifecycleConfiguration",
        "s3:PutLifecycleConfiguration",
        "s3:GetReplicationConfiguration",
        // Provider 6.x tags buckets at creation and reads the tags back through these.
        "s3:TagResource",
        "s3:UntagResource",
        "s3:ListTagsForResource",
      ],
      Resource: s3(`${scope.bucketPrefix}-*`),
    },
    {
      // make build-changed after an apply: the last good build's manifest, which it compares
      // with the deployed project's, found through latest/pointer.json (written last). Those
      // objects of the artifacts bucket, nothing else.
      Sid: "LatestBuildManifest",
      Effect: "Allow",
      Action: "s3:GetObject",
      Resource: [
        s3(`${scope.bucketPrefix}-artifacts-*/latest/pointer.json`),
        s3(`${scope.bucketPrefix}-artifacts-*/latest/*/manifest.json`),
      ],
    },
    {
      // make ship-project in deploy.yml: a bundle under projects/bundles/ and the env's pointer
      // projects/current (read to compare, written last). Nothing else of the artifacts bucket.
      Sid: "ShipProjectBundles",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:PutObject"],
      Resource: s3(`${scope.bucketPrefix}-artifacts-*/projects/*`),
    },
    {
      Sid: "GlueCatalog",
      Effect: "Allow",
      Action: [
        "glue:CreateDatabase",
        "glue:GetDatabase",
        "glue:UpdateDatabase",
        "glue:DeleteDatabase",
        "glue:CreateTable",
        "glue:GetTable",
        "glue:GetTables",
        "glue:UpdateTable",
        "glue:DeleteTable",
        // The provider reads every aws_glue_catalog_table's partition indexes back after apply.
        "glue:GetPartitionIndexes",
        "glue:GetTags",
        "glue:TagResource",
        "glue:UntagResource",
      ],
      Resource: [
        arn("glue", "catalog"),
        arn("glue", `database/${database}`),
        arn("glue", `table/${database}/*`),
        // DeleteDatabase also authorizes on the database's functions (Service Authorization Reference).
        arn("glue", `userDefinedFunction/${database}/*`),
      ],
    },
    {
      Sid: "AthenaWorkgroup",
      Effect: "Allow",
      Action: [
        "athena:CreateWorkGroup",
        "athena:GetWorkGroup",
        "athena:UpdateWorkGroup",
        "athena:DeleteWorkGroup",
        "athena:ListTagsForResource",
        "athena:TagResource",
        "athena:UntagResource",
      ],
      Resource: arn("athena", `workgroup/${env}-*`),
    },
    {
      Sid: "LambdaFunctions",
      Effect: "Allow",
      Action: [
        "lambda:CreateFunction",
        "lambda:DeleteFunction",
        "lambda:GetFunction*",
        "lambda:UpdateFunction*",
        "lambda:PutFunction*",
        "lambda:DeleteFunction*",
        "lambda:ListVersionsByFunction",
        "lambda:PublishVersion",
        // The `live` alias of a SnapStart runner (arn function:<name>:live, inside this scope).
        "lambda:CreateAlias",
        "lambda:GetAlias",
        "lambda:UpdateAlias",
        "lambda:DeleteAlias",
        "lambda:GetPolicy",
        "lambda:AddPermission",
        "lambda:RemovePermission",
        "lambda:GetRuntimeManagementConfig",
        "lambda:ListTags",
        "lambda:TagResource",
        "lambda:UntagResource",
        // deploy.yml's state-aware build after an apply that changed the function's package.
        "lambda:InvokeFunction",
      ],
      Resource: arn("lambda", `function:${env}-*`),
    },
    {
      Sid: "LambdaLayers",
      Effect: "Allow",
      Action: ["lambda:PublishLayerVersion", "lambda:GetLayerVersion", "lambda:DeleteLayerVersion", "lambda:ListLayerVersions"],
      Resource: [arn("lambda", `layer:${env}-*`), arn("lambda", `layer:${env}-*:*`)],
    },
    {
      // Reads, tags and removals; nothing here adds a permission to a role.
      Sid: "StackRoles",
      Effect: "Allow",
      Action: [
        "iam:GetRole",
        "iam:UpdateRole",
        "iam:UpdateRoleDescription",
        "iam:DeleteRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:ListRoleTags",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:DetachRolePolicy",
        "iam:ListInstanceProfilesForRole",
      ],
      Resource: stackRoles,
    },
    {
      // Creating a role and adding permissions to it only while it carries the boundary.
      Sid: "BoundedStackRoles",
      Effect: "Allow",
      Action: ["iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:AttachRolePolicy"],
      Resource: stackRoles,
      Condition: withBoundary,
    },
    {
      // Explicit, so no other policy on this role can lift it: no role without the boundary.
      Sid: "DenyRolesWithoutBoundary",
      Effect: "Deny",
      Action: ["iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:AttachRolePolicy"],
      Resource: stackRoles,
      Condition: { StringNotEquals: { "iam:PermissionsBoundary": scope.boundaryArn } },
    },
    {
      // The boundary itself is bootstrap's: never edited, replaced or removed from a role here.
      Sid: "DenyBoundaryChanges",
      Effect: "Deny",
      Action: [
        "iam:CreatePolicyVersion",
        "iam:DeletePolicy",
        "iam:DeletePolicyVersion",
        "iam:SetDefaultPolicyVersion",
        "iam:TagPolicy",
        "iam:UntagPolicy",
      ],
      Resource: scope.boundaryArn,
    },
    {
      Sid: "DenyBoundaryRemoval",
      Effect: "Deny",
      Action: "iam:DeleteRolePermissionsBoundary",
      Resource: arn("iam", "role/*", false),
    },
    {
      // The stack's roles may be handed to its functions, its state machine and the rules that
      // start it, and to nothing else.
      Sid: "PassStackRoles",
      Effect: "Allow",
      Action: "iam:PassRole",
      Resource: stackRoles,
      Condition: { StringEquals: { "iam:PassedToService": [...STACK_ROLE_SERVICES] } },
    },
    {
      Sid: "LogGroups",
      Effect: "Allow",
      Action: [
        "logs:CreateLogGroup",
        "logs:DeleteLogGroup",
        "logs:PutRetentionPolicy",
        "logs:DeleteRetentionPolicy",
        "logs:AssociateKmsKey",
        "logs:DisassociateKmsKey",
        "logs:ListTagsForResource",
        "logs:ListTagsLogGroup",
        "logs:TagResource",
        "logs:TagLogGroup",
        "logs:UntagResource",
        "logs:UntagLogGroup",
      ],
      Resource: logGroupArns(arn, env),
    },
    {
      // Creating or changing a state machine with logging sets up CloudWatch Logs' vended-log
      // delivery on the caller's behalf: AWS requires "*" for these actions (no resource-level permissions).
      Sid: "LogDelivery",
      Effect: "Allow",
      Action: [...LOG_DELIVERY_ACTIONS],
      Resource: "*",
    },
    {
      // DescribeLogGroups is a list call: IAM scopes it no narrower than all log groups of the region.
      Sid: "DescribeLogGroups",
      Effect: "Allow",
      Action: "logs:DescribeLogGroups",
      Resource: arn("logs", "log-group:*"),
    },
    {
      Sid: "DeadLetterQueues",
      Effect: "Allow",
      Action: [
        "sqs:CreateQueue",
        "sqs:DeleteQueue",
        "sqs:GetQueueAttributes",
        "sqs:SetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ListQueueTags",
        "sqs:TagQueue",
        "sqs:UntagQueue",
      ],
      Resource: arn("sqs", `${env}-*`),
    },
    {
      // The build state machine `<env>-dbt-build` (versions and aliases are not used).
      Sid: "StateMachines",
      Effect: "Allow",
      Action: [
        "states:CreateStateMachine",
        "states:DescribeStateMachine",
        "states:UpdateStateMachine",
        "states:DeleteStateMachine",
        "states:ListStateMachineVersions",
        "states:ListTagsForResource",
        "states:TagResource",
        "states:UntagResource",
      ],
      Resource: arn("states", `stateMachine:${env}-*`),
    },
    {
      // The provider validates a definition before it creates or updates a state machine; IAM
      // authorizes ValidateStateMachineDefinition only on "*" (it reads nothing of the account).
      Sid: "ValidateStateMachineDefinitions",
      Effect: "Allow",
      Action: "states:ValidateStateMachineDefinition",
      Resource: "*",
    },
    {
      Sid: "EventRules",
      Effect: "Allow",
      Action: [
        "events:PutRule",
        "events:DescribeRule",
        "events:DeleteRule",
        "events:EnableRule",
        "events:DisableRule",
        "events:PutTargets",
        "events:RemoveTargets",
        "events:ListTargetsByRule",
        "events:ListTagsForResource",
        "events:TagResource",
        "events:UntagResource",
      ],
      Resource: arn("events", `rule/${env}-*`),
    },
    {
      // The alert topic `<env>-dbt-alerts`, its policy and its email subscriptions (ARNs `<topic>:<id>`).
      Sid: "AlertTopics",
      Effect: "Allow",
      Action: [
        "sns:CreateTopic",
        "sns:DeleteTopic",
        "sns:GetTopicAttributes",
        "sns:SetTopicAttributes",
        "sns:Subscribe",
        "sns:Unsubscribe",
        "sns:GetSubscriptionAttributes",
        "sns:SetSubscriptionAttributes",
        "sns:ListSubscriptionsByTopic",
        "sns:ListTagsForResource",
        "sns:TagResource",
        "sns:UntagResource",
      ],
      Resource: [arn("sns", `${env}-*`), arn("sns", `${env}-*:*`)],
    },
    {
      Sid: "MetricAlarms",
      Effect: "Allow",
      Action: [
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:DeleteAlarms",
        "cloudwatch:ListTagsForResource",
        "cloudwatch:TagResource",
        "cloudwatch:UntagResource",
      ],
      Resource: arn("cloudwatch", `alarm:${env}-*`),
    },
    {
      // A key has no ARN before it exists, so CreateKey only takes "*": the request must tag it with the env.
      Sid: "CreateEnvironmentKey",
      Effect: "Allow",
      Action: ["kms:CreateKey", "kms:TagResource"],
      Resource: "*",
      Condition: { StringEquals: { "aws:RequestTag/Environment": env } },
    },
    {
      Sid: "ManageEnvironmentKey",
      Effect: "Allow",
      Action: [
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:PutKeyPolicy",
        "kms:GetKeyRotationStatus",
        "kms:EnableKeyRotation",
        "kms:UpdateKeyDescription",
        "kms:ListResourceTags",
        "kms:TagResource",
        "kms:ScheduleKeyDeletion",
        "kms:CreateAlias",
        "kms:DeleteAlias",
        "kms:UpdateAlias",
        // Lambda encrypts the function's environment with the caller's grant on the key.
        "kms:CreateGrant",
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:GenerateDataKey",
      ],
      Resource: arn("kms", "key/*"),
      Condition: envTag,
    },
    {
      Sid: "EnvironmentKeyAlias",
      Effect: "Allow",
      Action: ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
      Resource: arn("kms", `alias/${env}-*`),
    },
    {
      // ListAliases is a list call that IAM only authorizes on "*"; the provider reads aliases with it.
      Sid: "ListKeyAliases",
      Effect: "Allow",
      Action: "kms:ListAliases",
      Resource: "*",
    },
  ];
  return { Version: "2012-10-17", Statement: statements };
}
