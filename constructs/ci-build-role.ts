import { Construct } from "constructs";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { GLUE_READ_ACTIONS, GLUE_WRITE_ACTIONS } from "./dbt-actions";
import { GrantStatement, IGrantable, toPolicyStatement } from "./grants";

/** The PR databases dbt builds into: `<database>_pr_<n>` (handler/dbt_runner/ci_build.py). */
export const prDatabasePattern = (database: string) => `${database}_pr_*`;
/** Where a PR build writes data in the processed bucket: `ci/pr_<n>/`. */
export const PR_PREFIX_PATTERN = "ci/pr_*";
/** Where a PR build's Athena query results go in the results bucket. */
export const prResultsPattern = (env: string) => `dbt/${env}/ci/pr_*`;

export interface CiBuildRoleProps {
  /** `<env>-dbt-ci-build`. */
  readonly roleName: string;
  readonly env: string;
  readonly accountId: string;
  readonly partition: string;
  readonly region: string;
  /** The only principal that may assume the role: the dbt runner's execution role. */
  readonly runnerRoleArn: string;
  /** ARN of the managed policy set as the role's permissions boundary. */
  readonly permissionsBoundary: string;
  /** The env's Glue database (`<bucketPrefix with underscores>`). */
  readonly databaseName: string;
  readonly processedBucketArn: string;
  readonly athenaResultsBucketArn: string;
}

/**
 * The role a pull request's dbt build runs as. The runner assumes it with a session policy scoped
 * to one PR (handler/dbt_runner/ci_credentials.py), and the session gets the intersection of both,
 * so this role carries what any PR build needs and nothing of the env's own to write: Glue write
 * on `<database>_pr_<n>` databases only, read of the env's database for deferral; S3 write under
 * `ci/pr_<n>/` of processed and `dbt/<env>/ci/pr_<n>/` of the results bucket only. The raw zone, processed data,
 * Athena workgroup and key arrive through the resources' own `grant*` methods, as for the runner.
 * Trusted only by the runner's role, inside the env's permissions boundary.
 */
export class CiBuildRole extends Construct implements IGrantable {
  readonly role: IamRole;
  readonly roleArn: string;
  private readonly statements: GrantStatement[] = [];
  private readonly policyDocument: DataAwsIamPolicyDocument;

  constructor(scope: Construct, id: string, props: CiBuildRoleProps) {
    super(scope, id);
    const trust = new DataAwsIamPolicyDocument(this, "trust", {
      statement: [
        {
          sid: "TheDbtRunnerOnly",
          effect: "Allow",
          // No session tags: the runner scopes the session with a policy (ci_credentials.py).
          actions: ["sts:AssumeRole"],
          principals: [{ type: "AWS", identifiers: [props.runnerRoleArn] }],
        },
      ],
    });
    this.role = new IamRole(this, "role", {
      name: props.roleName,
      description: `Pull-request dbt builds of ${props.env}, assumed by the runner with a session policy per PR`,
      assumeRolePolicy: trust.json,
      permissionsBoundary: props.permissionsBoundary,
      // The runner asks for 900 s sessions; one hour is IAM's minimum maximum.
      maxSessionDuration: 3600,
    });
    this.roleArn = this.role.arn;
    this.policyDocument = new DataAwsIamPolicyDocument(this, "policy", { statement: [] });
    new IamRolePolicy(this, "role-policy", {
      name: `${props.roleName}-permissions`,
      role: this.role.id,
      policy: this.policyDocument.json,
    });

    const glue = `arn:${props.partition}:glue:${props.region}:${props.accountId}`;
    const db = props.databaseName;
    const pr = prDatabasePattern(db);
    this.grant({
      sid: "GlueReadForDeferral",
      actions: [...GLUE_READ_ACTIONS],
      resources: [`${glue}:catalog`, `${glue}:database/${db}`, `${glue}:table/${db}/*`, `${glue}:database/${pr}`, `${glue}:table/${pr}/*`],
    });
    this.grant({
      sid: "GlueWritePrDatabases",
      actions: [...GLUE_WRITE_ACTIONS],
      resources: [`${glue}:catalog`, `${glue}:database/${pr}`, `${glue}:table/${pr}/*`],
    });
    const writes = [`${props.processedBucketArn}/${PR_PREFIX_PATTERN}/*`, `${props.athenaResultsBucketArn}/${prResultsPattern(props.env)}/*`];
    this.grant({
      sid: "WritePrData",
      actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      resources: writes,
    });
    // Athena checks the results bucket's location and dbt-athena lists it before it cleans up.
    this.grant({
      sid: "ListAthenaResults",
      actions: ["s3:GetBucketLocation", "s3:ListBucket"],
      resources: [props.athenaResultsBucketArn],
    });
  }

  /** Adds a statement to the role's policy; a sid may be granted once. */
  grant(statement: GrantStatement): void {
    if (this.statements.some((s) => s.sid === statement.sid)) {
      throw new Error(`${this.node.id}: a statement with sid "${statement.sid}" was already granted`);
    }
    this.statements.push(statement);
    this.policyDocument.putStatement(this.statements.map(toPolicyStatement));
  }

  /** Lets `grantee` (the runner) assume this role, and nothing else of STS. */
  grantAssume(grantee: IGrantable): void {
    grantee.grant({ sid: "AssumeCiBuildRole", actions: ["sts:AssumeRole"], resources: [this.roleArn] });
  }
}

export interface PrTeardownProps {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  readonly env: string;
  readonly databaseName: string;
  readonly processedBucketArn: string;
  readonly artifactsBucketArn: string;
  readonly athenaResultsBucketArn: string;
}

/**
 * What the runner's teardown and sweeper (handler/dbt_runner/ci_teardown.py, with the runner's
 * own credentials) need beyond its build grants: drop `<database>_pr_<n>` (AWS checks DeleteDatabase
 * on the catalog, the database, its tables and its functions), list and delete every object
 * version under `ci/` of processed and artifacts and under `dbt/<env>/ci/` of the results bucket.
 */
export function grantPrTeardown(grantee: IGrantable, props: PrTeardownProps): void {
  const glue = `arn:${props.partition}:glue:${props.region}:${props.accountId}`;
  const pr = prDatabasePattern(props.databaseName);
  grantee.grant({
    sid: "DropPrDatabases",
    actions: ["glue:DeleteDatabase", "glue:DeleteTable", "glue:BatchDeleteTable"],
    resources: [`${glue}:catalog`, `${glue}:database/${pr}`, `${glue}:table/${pr}/*`, `${glue}:userDefinedFunction/${pr}/*`],
  });
  grantee.grant({
    sid: "DeletePrObjectVersions",
    actions: ["s3:DeleteObject", "s3:DeleteObjectVersion"],
    resources: [
      `${props.processedBucketArn}/ci/*`,
      `${props.artifactsBucketArn}/ci/*`,
      `${props.athenaResultsBucketArn}/dbt/${props.env}/ci/*`,
    ],
  });
  grantee.grant({
    sid: "ListPrObjectVersions",
    actions: ["s3:ListBucket", "s3:ListBucketVersions"],
    resources: [props.processedBucketArn, props.artifactsBucketArn, props.athenaResultsBucketArn],
    conditions: [{ test: "StringLike", variable: "s3:prefix", values: ["ci/*", `dbt/${props.env}/ci/*`] }],
  });
}
