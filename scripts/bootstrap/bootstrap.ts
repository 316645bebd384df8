/**
 * One-time (and re-runnable) setup of an AWS account for this platform: a check of the
 * account's Lambda quota, the Terraform state bucket, the permissions boundary of the stack's
 * roles and, with --github-repo, the GitHub OIDC provider, the environment's deploy and plan
 * roles and the GitHub variables the workflows read. Run with --help for the options.
 */
import { resolve } from "node:path";
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { environmentConfig } from "../../envs";
import { parseBootstrapArgs, UsageError, USAGE, type BootstrapArgs } from "./args";
import { BootstrapError, createClients } from "./clients";
import { checkLambdaConcurrency, type MissingPrerequisite } from "./account-preflight";
import { boundaryPolicy } from "./boundary-policy";
import { deployPolicy, deployScope } from "./deploy-policy";
import { ensureGitHubVariables, ensureRepositoryVariables } from "./github-env";
import {
  DEPLOY_POLICY_NAME,
  ensureManagedPolicy,
  ensureOidcProvider,
  ensureRole,
  ensureRolePolicy,
  managedPolicyExists,
  PLAN_POLICY_NAME,
  ciTrustPolicy,
  planTrustPolicy,
  trustPolicy,
} from "./github-oidc";
import { ciRoleName, deployRoleName, localRepoName, planRoleName, stateBucketName, stateKey } from "./names";
import { CI_POLICY_NAME, ciPolicy } from "./ci-policy";
import { planPolicy } from "./plan-policy";
import { Progress } from "./progress";
import { RECORD_VERSION, recordDir, writeRecord } from "./record";
import { BUCKET_SETTINGS } from "./state-bucket-settings";
import { ensureStateBucket } from "./state-bucket";

/** Runs every step; returns the prerequisites it could not set up itself (empty when the account is ready). */
async function bootstrap(args: BootstrapArgs, progress: Progress): Promise<MissingPrerequisite[]> {
  const stack = environmentConfig(args.env);
  const clients = createClients(args.region, Boolean(process.env.AWS_ENDPOINT_URL || process.env.AWS_ENDPOINT_URL_S3));

  progress.info(`==> Bootstrap of "${args.env}"${args.dryRun ? " (dry run: nothing will be changed)" : ""}`);
  const identity = await clients.sts.send(new GetCallerIdentityCommand({}));
  const accountId = identity.Account ?? "";
  const partition = identity.Arn?.split(":")[1] ?? "aws";
  progress.info(`    account ${accountId} as ${identity.Arn}`);
  progress.info(`    the ${args.env} stack deploys to ${stack.region} (envs/${args.env}.ts)`);
  const missing: MissingPrerequisite[] = [];

  progress.info(`==> Account prerequisites in ${stack.region}`);
  const concurrency = await progress.step("Lambda concurrency quota", () =>
    checkLambdaConcurrency(clients.lambda(stack.region), stack),
  );
  missing.push(...concurrency.missing);

  const repoName = args.githubRepo?.name ?? localRepoName(process.cwd());
  const bucket = stateBucketName(repoName, accountId);
  const s3 = clients.s3(args.region);

  progress.info(`==> Terraform state bucket ${bucket}`);
  const { region: bucketRegion, exists } = await progress.step(`bucket ${bucket}`, () =>
    ensureStateBucket(s3, { bucket, accountId, region: args.region, dryRun: args.dryRun }),
  );
  if (bucketRegion !== args.region) {
    progress.info(`    note: the bucket already lives in ${bucketRegion}; state is read from there, not ${args.region}`);
  }
  const bucketCtx = { s3: clients.s3(bucketRegion), bucket, accountId, partition, exists, dryRun: args.dryRun };
  for (const setting of BUCKET_SETTINGS) await progress.step(setting.title, () => setting.ensure(bucketCtx));

  const key = stateKey(args.env);
  const scope = deployScope(stack, { partition, accountId, stateBucket: bucket });
  const iamCtx = { iam: clients.iam, accountId, partition, dryRun: args.dryRun };

  progress.info(`==> Permissions boundary of the ${args.env} stack's roles (envs/${args.env}.ts permissionsBoundary)`);
  if (stack.permissionsBoundary.startsWith("arn:")) {
    // Named by ARN: a policy managed elsewhere; the deploy role only requires it on every role.
    const exists = await managedPolicyExists(iamCtx, scope.boundaryArn);
    await progress.step(`boundary ${scope.boundaryArn}`, async () => ({
      change: exists ? ("unchanged" as const) : ("manual" as const),
      detail: exists ? "managed outside bootstrap" : "does not exist",
    }));
    if (!exists) {
      missing.push({
        title: "permissions boundary",
        lines: [
          `envs/${args.env}.ts sets permissionsBoundary to ${scope.boundaryArn}, which does not exist in account ${accountId}.`,
          "Create that policy, or remove permissionsBoundary to use the boundary bootstrap manages.",
        ],
      });
    }
  } else {
    await progress.step(`boundary policy ${stack.permissionsBoundary}`, () =>
      ensureManagedPolicy(iamCtx, {
        name: stack.permissionsBoundary,
        document: boundaryPolicy(scope),
        description: `Permissions boundary of every IAM role the ${args.env} data platform stack creates`,
        tags: { ManagedBy: "bootstrap", Environment: args.env },
      }),
    );
  }

  if (args.githubRepo) {
    const repo = args.githubRepo;
    const slug = `${repo.owner}/${repo.name}`;
    progress.info(`==> GitHub Actions deploy access for ${slug}, environment "${args.env}"`);
    const provider = await progress.step("GitHub OIDC identity provider", () => ensureOidcProvider(iamCtx));
    const roleName = deployRoleName(repo, args.env);
    const spec = {
      roleName,
      trust: trustPolicy(provider.arn, repo, args.env),
      policyName: DEPLOY_POLICY_NAME,
      policy: deployPolicy(scope),
      description: `Terraform plan/apply of the ${args.env} data platform from GitHub Actions (${slug})`,
      tags: { ManagedBy: "bootstrap", Environment: args.env, Repository: slug },
    };
    const role = await progress.step(`deploy role ${roleName}`, () => ensureRole(iamCtx, spec));
    await progress.step("deploy role permissions", () => ensureRolePolicy(iamCtx, spec, role.exists));

    const planSpec = {
      roleName: planRoleName(repo, args.env),
      trust: planTrustPolicy(provider.arn, repo, args.env),
      policyName: PLAN_POLICY_NAME,
      policy: planPolicy(scope),
      description: `Read-only terraform plan (-lock=false) of the ${args.env} data platform from GitHub Actions (${slug})`,
      tags: { ManagedBy: "bootstrap", Environment: args.env, Repository: slug },
    };
    const planRole = await progress.step(`plan role ${planSpec.roleName}`, () => ensureRole(iamCtx, planSpec));
    await progress.step("plan role permissions", () => ensureRolePolicy(iamCtx, planSpec, planRole.exists));

    // Pull-request CI builds run in dev only: its CI role, inside the env's permissions boundary.
    const ciVariables: Record<string, string> = {};
    if (args.env === "dev") {
      const ciSpec = {
        roleName: ciRoleName(repo, args.env),
        trust: ciTrustPolicy(provider.arn, repo),
        policyName: CI_POLICY_NAME,
        policy: ciPolicy(scope),
        description: `Pull-request dbt CI against the ${args.env} runner from GitHub Actions (${slug})`,
        tags: { ManagedBy: "bootstrap", Environment: args.env, Repository: slug },
        permissionsBoundary: scope.boundaryArn,
      };
      const ciRole = await progress.step(`CI role ${ciSpec.roleName}`, () => ensureRole(iamCtx, ciSpec));
      await progress.step("CI role permissions", () => ensureRolePolicy(iamCtx, ciSpec, ciRole.exists));
      ciVariables.DEV_CI_ROLE_ARN = ciRole.arn;
    }

    const variables = {
      AWS_ROLE_ARN: role.arn,
      AWS_REGION: stack.region,
      AWS_ACCOUNT_ID: accountId,
      TFSTATE_BUCKET: bucket,
      TFSTATE_KEY: key,
      TFSTATE_REGION: bucketRegion,
      // What the policies were built for besides the region: setup-stack stops on a config changed since.
      BUCKET_PREFIX: stack.bucketPrefix,
    };
    await progress.step(`GitHub environment "${args.env}" variables`, () =>
      ensureGitHubVariables(repo, args.env, variables, { dryRun: args.dryRun, print: (l) => progress.info(l) }),
    );
    // Pull-request plans run in no GitHub environment (no approval), so they read repository variables.
    const ENV = args.env.toUpperCase();
    const planVariables = {
      [`${ENV}_PLAN_ROLE_ARN`]: planRole.arn,
      [`${ENV}_AWS_REGION`]: stack.region,
      [`${ENV}_TFSTATE_BUCKET`]: bucket,
      [`${ENV}_TFSTATE_KEY`]: key,
      [`${ENV}_TFSTATE_REGION`]: bucketRegion,
      [`${ENV}_BUCKET_PREFIX`]: stack.bucketPrefix,
      ...ciVariables,
    };
    await progress.step(`GitHub repository variables for ${args.env} plans`, () =>
      ensureRepositoryVariables(repo, planVariables, { dryRun: args.dryRun, print: (l) => progress.info(l) }),
    );
  } else {
    progress.info("==> No --github-repo: OIDC provider, deploy and plan roles and GitHub variables skipped");
  }

  // What `npx cdktf deploy` reads (main.ts): the whole backend, and what the policies were built for.
  const recordFolder = recordDir(resolve(__dirname, "../.."), process.env.BOOTSTRAP_RECORD_DIR);
  if (args.dryRun) {
    progress.info(`==> Dry run: ${recordFolder}/${args.env}.json not written`);
  } else {
    const file = writeRecord(recordFolder, {
      version: RECORD_VERSION,
      environment: args.env,
      backend: { bucket, region: bucketRegion, key },
      baked: { accountId, region: stack.region, bucketPrefix: stack.bucketPrefix, permissionsBoundary: stack.permissionsBoundary },
    });
    progress.info(`==> Recorded in ${file}: npx cdktf deploy ${args.env} / destroy ${args.env} use this backend`);
  }
  progress.info(`==> Terraform backend for "${args.env}" (after npx cdktf synth):`);
  progress.info(`    terraform -chdir=cdktf.out/stacks/${args.env} init \\`);
  progress.info(`      -backend-config=bucket=${bucket} \\`);
  progress.info(`      -backend-config=region=${bucketRegion}`);
  progress.info(`    (the key, ${key}, is already in the synthesized backend)`);
  for (const problem of missing) {
    progress.info(`==> Missing prerequisite: ${problem.title}`);
    for (const line of problem.lines) progress.info(`    ${line}`);
  }
  const summary = progress.summary();
  progress.info(
    missing.length === 0
      ? summary
      : `Not ready: ${missing.map((m) => m.title).join("; ")} (see above). Everything else: ${summary}`,
  );
  return missing;
}

async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseBootstrapArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`error: ${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const progress = new Progress((line) => process.stdout.write(`${line}\n`), parsed.dryRun);
  try {
    const missing = await bootstrap(parsed, progress);
    if (missing.length === 0) return 0;
    process.stderr.write(
      `error: the account is not ready for the ${parsed.env} stack: ${missing.map((m) => m.title).join("; ")} (see above)\n`,
    );
    return 1;
  } catch (error) {
    const err = error as Error;
    const message =
      err instanceof BootstrapError
        ? err.message
        : err.name === "CredentialsProviderError"
          ? `no AWS credentials found (${err.message}); log in first, e.g. aws sso login --profile <p> and export AWS_PROFILE=<p>`
          : `${err.name}: ${err.message}`;
    process.stderr.write(`error: ${message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`error: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
