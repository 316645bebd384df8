/**
 * One-time (and re-runnable) setup of an AWS account for this platform: the Terraform state
 * bucket and, with --github-repo, the GitHub OIDC provider, the environment's deploy role and
 * the GitHub environment variables the workflows read. Run with --help for the options.
 */
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { environmentConfig } from "../envs";
import { parseBootstrapArgs, UsageError, USAGE, type BootstrapArgs } from "./bootstrap/args";
import { BootstrapError, createClients } from "./bootstrap/clients";
import { deployPolicy, deployScope } from "./bootstrap/deploy-policy";
import { ensureGitHubVariables } from "./bootstrap/github-env";
import { ensureDeployPolicy, ensureDeployRole, ensureOidcProvider, trustPolicy } from "./bootstrap/github-oidc";
import { deployRoleName, localRepoName, stateBucketName, stateKey } from "./bootstrap/names";
import { Progress } from "./bootstrap/progress";
import { BUCKET_SETTINGS } from "./bootstrap/state-bucket-settings";
import { ensureStateBucket } from "./bootstrap/state-bucket";

async function bootstrap(args: BootstrapArgs, progress: Progress): Promise<void> {
  const stack = environmentConfig(args.env);
  const clients = createClients(args.region, Boolean(process.env.AWS_ENDPOINT_URL || process.env.AWS_ENDPOINT_URL_S3));

  progress.info(`==> Bootstrap of "${args.env}"${args.dryRun ? " (dry run: nothing will be changed)" : ""}`);
  const identity = await clients.sts.send(new GetCallerIdentityCommand({}));
  const accountId = identity.Account ?? "";
  const partition = identity.Arn?.split(":")[1] ?? "aws";
  progress.info(`    account ${accountId} as ${identity.Arn}`);
  progress.info(`    the ${args.env} stack deploys to ${stack.region} (envs/${args.env}.ts)`);

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
  if (args.githubRepo) {
    const repo = args.githubRepo;
    const slug = `${repo.owner}/${repo.name}`;
    const iamCtx = { iam: clients.iam, accountId, partition, dryRun: args.dryRun };
    progress.info(`==> GitHub Actions deploy access for ${slug}, environment "${args.env}"`);
    const provider = await progress.step("GitHub OIDC identity provider", () => ensureOidcProvider(iamCtx));
    const roleName = deployRoleName(repo, args.env);
    const spec = {
      roleName,
      trust: trustPolicy(provider.arn, repo, args.env),
      policy: deployPolicy(deployScope(stack, { partition, accountId, stateBucket: bucket })),
      description: `Terraform plan/apply of the ${args.env} data platform from GitHub Actions (${slug})`,
      tags: { ManagedBy: "bootstrap", Environment: args.env, Repository: slug },
    };
    const role = await progress.step(`deploy role ${roleName}`, () => ensureDeployRole(iamCtx, spec));
    await progress.step("deploy role permissions", () => ensureDeployPolicy(iamCtx, spec, role.exists));

    const variables = {
      AWS_ROLE_ARN: role.arn,
      AWS_REGION: stack.region,
      AWS_ACCOUNT_ID: accountId,
      TFSTATE_BUCKET: bucket,
      TFSTATE_KEY: key,
      TFSTATE_REGION: bucketRegion,
    };
    await progress.step(`GitHub environment "${args.env}" variables`, () =>
      ensureGitHubVariables(repo, args.env, variables, { dryRun: args.dryRun, print: (l) => progress.info(l) }),
    );
  } else {
    progress.info("==> No --github-repo: OIDC provider, deploy role and GitHub variables skipped");
  }

  progress.info(`==> Terraform backend for "${args.env}" (after npx cdktf synth):`);
  progress.info(`    terraform -chdir=cdktf.out/stacks/${args.env} init \\`);
  progress.info(`      -backend-config=bucket=${bucket} \\`);
  progress.info(`      -backend-config=region=${bucketRegion}`);
  progress.info(`    (the key, ${key}, is already in the synthesized backend)`);
  progress.info(progress.summary());
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
    await bootstrap(parsed, progress);
    return 0;
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
