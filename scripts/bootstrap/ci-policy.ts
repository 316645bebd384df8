import type { DeployScope } from "./deploy-policy";
import type { PolicyDocument } from "./policy-document";

/** The inline policy's name on the CI role. */
export const CI_POLICY_NAME = "dbt-pull-request-ci";

/**
 * What the pull-request CI workflows (ci.yml, ci-close.yml, ci-sweep.yml) may do in the dev
 * account, and nothing more: put a pull request's bundle under `ci/` of the artifacts bucket and
 * invoke the dev runner (a CI build, a teardown, a sweep). Every build, drop and delete is the
 * runner's, which checks the event and runs a pull request's SQL with a session scoped to that
 * pull request's database and prefix (handler/dbt_runner/ci_credentials.py).
 */
export function ciPolicy(scope: DeployScope): PolicyDocument {
  const { partition, accountId, region, env } = scope;
  const runner = `arn:${partition}:lambda:${region}:${accountId}:function:${env}-dbt-runner`;
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "PutPullRequestBundles",
        Effect: "Allow",
        Action: "s3:PutObject",
        Resource: `arn:${partition}:s3:::${scope.bucketPrefix}-artifacts-*/ci/*`,
      },
      {
        // The function and its aliases (the SnapStart alias); nothing else of Lambda.
        Sid: "InvokeTheRunner",
        Effect: "Allow",
        Action: "lambda:InvokeFunction",
        Resource: [runner, `${runner}:*`],
      },
      {
        // Bundles are encrypted with the bucket's key (SSE-KMS), through S3 only.
        Sid: "EncryptBundlesThroughS3",
        Effect: "Allow",
        Action: "kms:GenerateDataKey",
        Resource: `arn:${partition}:kms:${region}:${accountId}:key/*`,
        Condition: { StringEquals: { "kms:ViaService": `s3.${region}.amazonaws.com` } },
      },
    ],
  };
}
