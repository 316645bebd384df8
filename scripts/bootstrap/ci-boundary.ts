import type { DeployScope } from "./deploy-policy";
import { glueDatabaseName } from "./names";
import type { PolicyStatement } from "./policy-document";

/** The CI build role the stack creates where the env allows CI (constructs/ci-build-role.ts). */
export const ciBuildRoleName = (env: string) => `${env}-dbt-ci-build`;

/**
 * What the boundary adds for pull-request builds: the runner assumes `<env>-dbt-ci-build` (that
 * role only), and its teardown drops `<database>_pr_<n>` databases (AWS checks DeleteDatabase on
 * the catalog, the database, its tables and its functions) and deletes object versions under
 * `ci/` of processed and artifacts and `dbt/<env>/ci/` of the results bucket. Nothing here reaches
 * the env's own database or prefixes.
 */
export function ciBoundaryStatements(scope: DeployScope): PolicyStatement[] {
  const { partition, accountId, region, env } = scope;
  const glue = (resource: string) => `arn:${partition}:glue:${region}:${accountId}:${resource}`;
  const bucket = (kind: string) => `arn:${partition}:s3:::${scope.bucketPrefix}-${kind}-*`;
  const pr = `${glueDatabaseName(scope.bucketPrefix)}_pr_*`;
  return [
    {
      Sid: "AssumeCiBuildRole",
      Effect: "Allow",
      Action: "sts:AssumeRole",
      Resource: `arn:${partition}:iam::${accountId}:role/${ciBuildRoleName(env)}`,
    },
    {
      Sid: "DropPrDatabases",
      Effect: "Allow",
      Action: "glue:DeleteDatabase",
      Resource: [glue("catalog"), glue(`database/${pr}`), glue(`table/${pr}/*`), glue(`userDefinedFunction/${pr}/*`)],
    },
    {
      Sid: "ListPrObjectVersions",
      Effect: "Allow",
      Action: "s3:ListBucketVersions",
      Resource: [bucket("processed"), bucket("artifacts"), bucket("athena-results")],
    },
    {
      Sid: "DeletePrObjectVersions",
      Effect: "Allow",
      Action: "s3:DeleteObjectVersion",
      Resource: [
        `${bucket("processed")}/ci/*`,
        `${bucket("artifacts")}/ci/*`,
        `${bucket("athena-results")}/dbt/${env}/ci/*`,
      ],
    },
  ];
}
