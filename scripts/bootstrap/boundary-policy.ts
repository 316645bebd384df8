import { buildEventSource } from "../../constructs/build-events";
import { ATHENA_QUERY_ACTIONS, GLUE_READ_ACTIONS, GLUE_WRITE_ACTIONS } from "../../constructs/dbt-actions";
import { ciBoundaryStatements } from "./ci-boundary";
import { LOG_DELIVERY_ACTIONS, type DeployScope } from "./deploy-policy";
import { glueDatabaseName } from "./names";
import type { PolicyDocument } from "./policy-document";

/**
 * `<env>-platform-boundary`: the most any role of the environment's stack may ever do, whatever
 * policy the deploy role writes into it. The union of what the stack's own roles need (the dbt
 * runner; the ingest function; alerts and run artifacts; the build state machine and the rules
 * that start it), each statement scoped to the
 * environment's resources by name, as the deploy policy is: buckets `<bucketPrefix>-<kind>-*`,
 * Glue database `<bucketPrefix with underscores>` (and dbt's `<db>_<schema>` ones), everything
 * else `<env>-*`; the KMS key by its `Environment` tag.
 */
export function boundaryPolicy(scope: DeployScope): PolicyDocument {
  const { partition, accountId, region, env } = scope;
  const arn = (service: string, resource: string) => `arn:${partition}:${service}:${region}:${accountId}:${resource}`;
  const bucket = (kind: string) => `arn:${partition}:s3:::${scope.bucketPrefix}-${kind}-*`;
  const database = glueDatabaseName(scope.bucketPrefix);
  const dataBuckets = ["raw", "processed", "athena-results", "artifacts"].map(bucket);

  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "OwnLogGroups",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: arn("logs", `log-group:/aws/lambda/${env}-*:*`),
      },
      {
        Sid: "DeadLetterQueues",
        Effect: "Allow",
        Action: "sqs:SendMessage",
        Resource: arn("sqs", `${env}-*`),
      },
      {
        // X-Ray has no resource-level permissions: AWS accepts only "*" for these actions
        // (the sampling reads are the state machine's tracing).
        Sid: "XRayTracing",
        Effect: "Allow",
        Action: ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"],
        Resource: "*",
      },
      {
        // The state machine's logging: CloudWatch Logs' vended-log delivery, "*" only (AWS requires it).
        Sid: "LogDelivery",
        Effect: "Allow",
        Action: [...LOG_DELIVERY_ACTIONS, "logs:DescribeLogGroups"],
        Resource: "*",
      },
      {
        // The build state machine invokes the env's functions (a SnapStart runner through its alias).
        Sid: "InvokeFunctions",
        Effect: "Allow",
        Action: "lambda:InvokeFunction",
        Resource: arn("lambda", `function:${env}-*`),
      },
      {
        // The build's queue lists its own executions; the trigger rules start them.
        Sid: "BuildExecutions",
        Effect: "Allow",
        Action: ["states:ListExecutions", "states:StartExecution"],
        Resource: arn("states", `stateMachine:${env}-*`),
      },
      {
        // "dbt build finished" events, on the default bus, only under the env's own source.
        Sid: "PutBuildEvents",
        Effect: "Allow",
        Action: "events:PutEvents",
        Resource: arn("events", "event-bus/default"),
        Condition: { StringEquals: { "events:source": buildEventSource(env) } },
      },
      {
        // Decrypt for the function's environment; GenerateDataKey to publish to a topic encrypted with the key.
        Sid: "EnvironmentKey",
        Effect: "Allow",
        Action: ["kms:Decrypt", "kms:GenerateDataKey"],
        Resource: arn("kms", "key/*"),
        Condition: { StringEquals: { "aws:ResourceTag/Environment": env } },
      },
      {
        Sid: "ReadDataBuckets",
        Effect: "Allow",
        Action: ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetObject", "s3:GetObjectVersion"],
        Resource: [...dataBuckets, ...dataBuckets.map((b) => `${b}/*`)],
      },
      {
        // The raw zone is written only under raw/ and manifests/ (the ingest); the other buckets anywhere.
        Sid: "WriteDataObjects",
        Effect: "Allow",
        Action: ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
        Resource: [
          `${bucket("raw")}/raw/*`,
          `${bucket("raw")}/manifests/*`,
          `${bucket("processed")}/*`,
          `${bucket("athena-results")}/*`,
          `${bucket("artifacts")}/*`,
        ],
      },
      {
        Sid: "GlueCatalog",
        Effect: "Allow",
        Action: [...GLUE_READ_ACTIONS, ...GLUE_WRITE_ACTIONS],
        Resource: [
          arn("glue", "catalog"),
          arn("glue", `database/${database}`),
          arn("glue", `database/${database}_*`),
          arn("glue", `table/${database}/*`),
          arn("glue", `table/${database}_*/*`),
        ],
      },
      {
        Sid: "AthenaQueries",
        Effect: "Allow",
        Action: [...ATHENA_QUERY_ACTIONS],
        Resource: arn("athena", `workgroup/${env}-*`),
      },
      {
        Sid: "PublishAlerts",
        Effect: "Allow",
        Action: "sns:Publish",
        Resource: arn("sns", `${env}-*`),
      },
      ...ciBoundaryStatements(scope),
    ],
  };
}
