/**
 * Runs the real bootstrap script as a subprocess against moto_server (a real HTTP endpoint on
 * 127.0.0.1) and reads every setting back with the AWS SDK.
 *
 * Emulator gap, handled in one place (`motoGaps` below): moto 5.2 does not implement Lambda
 * GetAccountSettings (GET /2016-08-19/account-settings). The script talks to moto through a
 * pass-through proxy that answers that one call with the account limits a test sets
 * (`lambdaQuota`), in the shape AWS documents; every other request reaches moto unchanged.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CreateBucketCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  CreatePolicyVersionCommand,
  GetOpenIDConnectProviderCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListOpenIDConnectProvidersCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { expandAction, NON_MUTATING } from "./testing/access-levels";

const ROOT = resolve(__dirname, "../..");
const SCRIPT = join(ROOT, "scripts/bootstrap/bootstrap.ts");
// What `npx tsx` runs, without npx's own lookup, so PATH can be reduced to node and git.
const TSX_CLI = join(ROOT, "node_modules/tsx/dist/cli.mjs");
const MOTO_SERVER = join(ROOT, ".venv/bin/moto_server");
const ACCOUNT = "123456789012"; // moto's default account for unknown access keys
const OTHER_ACCOUNT = "111111111111";
const REGION = "ap-southeast-2";
const REPO = "acme/dbt-lambda";
const BUCKET = `dbt-lambda-terraform-state-${ACCOUNT}`;
const DEV_ROLE = "GitHubActions-dbt-lambda-dev-DeployRole";
const PROD_ROLE = "GitHubActions-dbt-lambda-prod-DeployRole";
const DEV_PLAN_ROLE = "GitHubActions-dbt-lambda-dev-PlanRole";
const PROD_PLAN_ROLE = "GitHubActions-dbt-lambda-prod-PlanRole";
const DEV_CI_ROLE = "GitHubActions-dbt-lambda-dev-CiRole";
const DEV_BOUNDARY = `arn:aws:iam::${ACCOUNT}:policy/dev-platform-boundary`;
const PROD_BOUNDARY = `arn:aws:iam::${ACCOUNT}:policy/prod-platform-boundary`;
const OIDC_ARN = `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`;
const CREDENTIALS = { accessKeyId: "testing", secretAccessKey: "testing" };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let moto: ChildProcess | undefined;
let endpoint = "";
/** What the script uses as AWS_ENDPOINT_URL: moto behind the gap proxy. */
let scriptEndpoint = "";
let gapProxy: Server | undefined;
/** The Lambda account limits the proxy reports (a fresh account of moto's would have 1000). */
let lambdaQuota = { ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 1000 };
let workDir = "";
let binDir = "";
let s3: S3Client;
let iam: IAMClient;

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  await new Promise((ok) => server.close(ok));
  return port;
}

async function waitUntilAnswering(url: string, server: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`moto_server exited early with ${server.exitCode}`);
    try {
      await fetch(`${url}/moto-api/`);
      return;
    } catch {
      await new Promise((ok) => setTimeout(ok, 100));
    }
  }
  throw new Error(`moto_server did not answer on ${url} within ${timeoutMs} ms`);
}

/** The one emulator gap (see the file comment): Lambda GetAccountSettings. Everything else is proxied to moto. */
function motoGaps(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === "GET" && /^\/2016-08-19\/account-settings\/?(\?.*)?$/.test(req.url ?? "")) {
    const body = JSON.stringify({
      AccountLimit: { TotalCodeSize: 80530636800, CodeSizeUnzipped: 262144000, CodeSizeZipped: 52428800, ...lambdaQuota },
      AccountUsage: { TotalCodeSize: 0, FunctionCount: 0 },
    });
    res.writeHead(200, { "content-type": "application/json" }).end(body);
    return;
  }
  const target = new URL(endpoint);
  const upstream = httpRequest(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on("error", () => res.writeHead(502).end());
  req.pipe(upstream);
}

/** The script exactly as users run it, with a PATH of node and git only: no `gh`, so it prints the commands. */
function bootstrap(args: readonly string[], opts: { endpoint?: string; cwd?: string } = {}): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [TSX_CLI, SCRIPT, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: {
        PATH: binDir,
        HOME: workDir,
        AWS_ENDPOINT_URL: opts.endpoint ?? scriptEndpoint,
        AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
        AWS_CONFIG_FILE: join(workDir, "no-config"),
        AWS_SHARED_CREDENTIALS_FILE: join(workDir, "no-credentials"),
        AWS_EC2_METADATA_DISABLED: "true",
        NODE_NO_WARNINGS: "1",
        // Never the clone's own .bootstrap/: a record of moto's bucket would steer a real cdktf deploy.
        BOOTSTRAP_RECORD_DIR: join(workDir, "records"),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

/** Lines of the form `[n] title: outcome`. */
function steps(out: string): string[] {
  return out.split("\n").filter((l) => /^\[\d+\] /.test(l));
}

function s3Client(region = REGION, asAccount?: string): S3Client {
  const client = new S3Client({ region, endpoint, forcePathStyle: true, credentials: CREDENTIALS });
  if (asAccount) {
    // moto picks the account of a request from this header (before the access key).
    client.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers["x-moto-account-id"] = asAccount;
        return next(args);
      },
      { step: "build", name: "motoAccount" },
    );
  }
  return client;
}

async function roleExists(roleName: string): Promise<boolean> {
  try {
    await iam.send(new GetRoleCommand({ RoleName: roleName }));
    return true;
  } catch (error) {
    if ((error as Error).name === "NoSuchEntityException" || (error as Error).name === "NoSuchEntity") return false;
    throw error;
  }
}

async function bucketStatus(bucket: string): Promise<number> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return 200;
  } catch (error) {
    return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
  }
}

function decodePolicy(text: string | undefined): { Statement: Record<string, any>[] } {
  return JSON.parse(decodeURIComponent(text ?? "{}"));
}

/** The default version of a managed policy, as IAM stores it. */
async function boundaryDocument(arn: string): Promise<{ Statement: Record<string, any>[] }> {
  const policy = await iam.send(new GetPolicyCommand({ PolicyArn: arn }));
  const version = await iam.send(new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: policy.Policy?.DefaultVersionId }));
  return decodePolicy(version.PolicyVersion?.Document);
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), "bootstrap-test-"));
  binDir = join(workDir, "bin");
  mkdirSync(binDir);
  symlinkSync(process.execPath, join(binDir, "node"));
  symlinkSync("/usr/bin/git", join(binDir, "git"));

  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}`;
  moto = spawn(MOTO_SERVER, ["-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  await waitUntilAnswering(endpoint, moto, 20_000);
  gapProxy = createServer(motoGaps);
  await new Promise<void>((ok) => gapProxy!.listen(0, "127.0.0.1", ok));
  scriptEndpoint = `http://127.0.0.1:${(gapProxy.address() as AddressInfo).port}`;
  s3 = s3Client();
  iam = new IAMClient({ region: REGION, endpoint, credentials: CREDENTIALS });
});

afterAll(async () => {
  if (gapProxy) {
    gapProxy.closeAllConnections();
    await new Promise((ok) => gapProxy!.close(ok));
  }
  if (moto && moto.exitCode === null) {
    const exited = new Promise((ok) => moto!.once("exit", ok));
    moto.kill("SIGTERM");
    const timer = setTimeout(() => moto!.kill("SIGKILL"), 3_000);
    await exited;
    clearTimeout(timer);
  }
  s3?.destroy();
  iam?.destroy();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

// Independent runs that never reach AWS: run side by side to keep the file fast.
describe.concurrent("bootstrap command line", () => {
  let recorder: Server;
  let requests = 0;
  let recorderUrl = "";

  beforeAll(async () => {
    // An endpoint that counts every request: argument errors and --help must not reach AWS.
    recorder = createServer((_req, res) => {
      requests += 1;
      res.writeHead(500).end();
    });
    await new Promise<void>((ok) => recorder.listen(0, "127.0.0.1", ok));
    recorderUrl = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((ok) => recorder.close(ok));
  });

  it("--help prints the usage and exits 0 without calling AWS", async () => {
    const run = await bootstrap(["--help"], { endpoint: recorderUrl });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Usage: npx tsx scripts/bootstrap/bootstrap.ts --region <aws-region> --env <dev|prod>");
    expect(run.stdout).toContain("--github-repo");
    expect(run.stdout).toContain("--dry-run");
    expect(requests).toBe(0);
  });

  // Every rule has a unit test (bootstrap/bootstrap-units.test.ts); these check the exit path.
  it.each([
    [[], "--region is required"],
    [["--region", REGION, "--env", "staging"], '--env "staging" must be one of dev, prod'],
    [["--region", REGION, "--env", "dev", "--colour"], "Unknown option '--colour'"],
  ])("rejects %j with exit 2 and no AWS call", async (args, message) => {
    const run = await bootstrap(args, { endpoint: recorderUrl });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain("Usage:");
    expect(run.stdout).toBe("");
    expect(requests).toBe(0);
  });
});

describe("bootstrap against moto_server", () => {
  it("--dry-run on an empty account reports what it would create and changes nothing", async () => {
    const run = await bootstrap(["--region", REGION, "--env", "dev", "--github-repo", REPO, "--dry-run"]);
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    expect(steps(run.stdout)).toHaveLength(18);
    expect(run.stdout).toContain("[1] Lambda concurrency quota: unchanged (quota 1000, unreserved 1000, the stack reserves 2)");
    expect(run.stdout).toContain(`[2] bucket ${BUCKET}: would create (in ${REGION})`);
    expect(run.stdout).toContain("boundary policy dev-platform-boundary: would create");
    expect(run.stdout).toContain(`deploy role ${DEV_ROLE}: would create`);
    expect(run.stdout).toContain(`plan role ${DEV_PLAN_ROLE}: would create`);
    expect(run.stdout).toContain("Dry run, nothing changed: would create 15");

    expect(await bucketStatus(BUCKET)).toBe(404);
    expect(existsSync(join(workDir, "records", "dev.json"))).toBe(false);
    expect(await roleExists(DEV_ROLE)).toBe(false);
    expect(await roleExists(DEV_PLAN_ROLE)).toBe(false);
    await expect(iam.send(new GetPolicyCommand({ PolicyArn: DEV_BOUNDARY }))).rejects.toThrow();
    const providers = await iam.send(new ListOpenIDConnectProvidersCommand({}));
    expect(providers.OpenIDConnectProviderList ?? []).toHaveLength(0);
  });

  it("first run creates the hardened state bucket, the OIDC provider and the deploy role", async () => {
    const run = await bootstrap(["--region", REGION, "--env", "dev", "--github-repo", REPO]);
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`[2] bucket ${BUCKET}: created (in ${REGION})`);
    expect(run.stdout).toMatch(/Done: created \d+/);

    const versioning = await s3.send(new GetBucketVersioningCommand({ Bucket: BUCKET }));
    expect(versioning.Status).toBe("Enabled");

    const encryption = await s3.send(new GetBucketEncryptionCommand({ Bucket: BUCKET }));
    expect(encryption.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm).toBe(
      "AES256",
    );

    const pab = await s3.send(new GetPublicAccessBlockCommand({ Bucket: BUCKET }));
    expect(pab.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      IgnorePublicAcls: true,
      BlockPublicPolicy: true,
      RestrictPublicBuckets: true,
    });

    const ownership = await s3.send(new GetBucketOwnershipControlsCommand({ Bucket: BUCKET }));
    expect(ownership.OwnershipControls?.Rules).toEqual([{ ObjectOwnership: "BucketOwnerEnforced" }]);

    const policy = JSON.parse((await s3.send(new GetBucketPolicyCommand({ Bucket: BUCKET }))).Policy ?? "{}");
    expect(policy.Statement).toEqual([
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ]);

    const lifecycle = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: BUCKET }));
    expect(lifecycle.Rules).toHaveLength(1);
    expect(lifecycle.Rules?.[0]).toMatchObject({
      ID: "expire-noncurrent-state-versions",
      Status: "Enabled",
      NoncurrentVersionExpiration: { NoncurrentDays: 90 },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
    });

    const provider = await iam.send(new GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: OIDC_ARN }));
    expect(provider.Url).toContain("token.actions.githubusercontent.com");
    expect(provider.ClientIDList).toEqual(["sts.amazonaws.com"]);

    const role = (await iam.send(new GetRoleCommand({ RoleName: DEV_ROLE }))).Role;
    const trust = decodePolicy(role?.AssumeRolePolicyDocument);
    expect(trust.Statement).toHaveLength(1);
    expect(trust.Statement[0]).toMatchObject({
      Effect: "Allow",
      Principal: { Federated: OIDC_ARN },
      Action: "sts:AssumeRoleWithWebIdentity",
      Condition: {
        StringEquals: {
          "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
          "token.actions.githubusercontent.com:sub": `repo:${REPO}:environment:dev`,
        },
      },
    });

    const inline = await iam.send(new GetRolePolicyCommand({ RoleName: DEV_ROLE, PolicyName: "terraform-deploy" }));
    const permissions = decodePolicy(inline.PolicyDocument).Statement;
    const bySid = Object.fromEntries(permissions.map((s) => [s.Sid, s]));
    // State: this environment's key prefix only; the data buckets by the env's bucket prefix.
    expect(bySid.TerraformStateObjects.Resource).toBe(`arn:aws:s3:::${BUCKET}/dbt-lambda-platform/dev/*`);
    expect(bySid.DataBuckets.Resource).toBe("arn:aws:s3:::dbt-lambda-dev-*");
    expect(bySid.LambdaFunctions.Resource).toBe(`arn:aws:lambda:${REGION}:${ACCOUNT}:function:dev-*`);
    expect(bySid.PassStackRoles.Condition).toEqual({
      StringEquals: { "iam:PassedToService": ["lambda.amazonaws.com", "states.amazonaws.com", "events.amazonaws.com"] },
    });
    // "*" only where IAM accepts nothing narrower (see bootstrap-units.test.ts).
    const wildcards = permissions.filter((s) => [s.Resource].flat().includes("*")).map((s) => s.Sid);
    expect(wildcards.sort()).toEqual(["CreateEnvironmentKey", "ListKeyAliases", "LogDelivery", "ValidateStateMachineDefinitions"]);
    // Roles only with the boundary, which the deploy role can neither change nor remove.
    expect(bySid.BoundedStackRoles).toEqual({
      Sid: "BoundedStackRoles",
      Effect: "Allow",
      Action: ["iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:AttachRolePolicy"],
      Resource: `arn:aws:iam::${ACCOUNT}:role/dev-*`,
      Condition: { StringEquals: { "iam:PermissionsBoundary": DEV_BOUNDARY } },
    });
    expect(bySid.DenyRolesWithoutBoundary.Condition).toEqual({ StringNotEquals: { "iam:PermissionsBoundary": DEV_BOUNDARY } });
    expect(bySid.DenyBoundaryChanges).toMatchObject({ Effect: "Deny", Resource: DEV_BOUNDARY });
    expect(bySid.DenyBoundaryChanges.Action).toEqual(expect.arrayContaining(["iam:CreatePolicyVersion", "iam:DeletePolicy"]));
    expect(bySid.DenyBoundaryRemoval).toMatchObject({ Effect: "Deny", Action: "iam:DeleteRolePermissionsBoundary" });
    // No Allow anywhere grants an unconditioned way to add permissions to a role.
    const roleWrites = ["iam:createrole", "iam:putrolepolicy", "iam:attachrolepolicy", "iam:putrolepermissionsboundary"];
    for (const statement of permissions.filter((s) => s.Effect === "Allow" && s.Sid !== "BoundedStackRoles")) {
      for (const action of [statement.Action].flat() as string[]) expect(roleWrites).not.toContain(action.toLowerCase());
    }
    expect(bySid.GlueCatalog.Resource).toContain(`arn:aws:glue:${REGION}:${ACCOUNT}:userDefinedFunction/dbt_lambda_dev/*`);
    for (const statement of permissions) {
      expect(["Allow", "Deny"]).toContain(statement.Effect);
      expect([statement.Action].flat()).not.toContain("*");
      for (const resource of [statement.Resource].flat() as string[]) {
        expect(resource.includes("prod"), `${statement.Sid} reaches prod: ${resource}`).toBe(false);
      }
    }

    // No gh on PATH: the exact commands are printed, and the backend flags for terraform init.
    expect(run.stdout).toContain("gh is not installed; run these to finish:");
    expect(run.stdout).toContain("gh api --method PUT repos/acme/dbt-lambda/environments/dev");
    for (const [name, value] of [
      ["AWS_ROLE_ARN", `arn:aws:iam::${ACCOUNT}:role/${DEV_ROLE}`],
      ["AWS_REGION", REGION],
      ["AWS_ACCOUNT_ID", ACCOUNT],
      ["TFSTATE_BUCKET", BUCKET],
      ["TFSTATE_KEY", "dbt-lambda-platform/dev/terraform.tfstate"],
      ["TFSTATE_REGION", REGION],
      ["BUCKET_PREFIX", "dbt-lambda-dev"],
    ]) {
      expect(run.stdout).toContain(`gh variable set ${name} --env dev --repo ${REPO} --body ${value}\n`);
    }
    for (const [name, value] of [
      ["DEV_PLAN_ROLE_ARN", `arn:aws:iam::${ACCOUNT}:role/${DEV_PLAN_ROLE}`],
      ["DEV_AWS_REGION", REGION],
      ["DEV_TFSTATE_BUCKET", BUCKET],
      ["DEV_TFSTATE_KEY", "dbt-lambda-platform/dev/terraform.tfstate"],
      ["DEV_TFSTATE_REGION", REGION],
      ["DEV_BUCKET_PREFIX", "dbt-lambda-dev"],
    ]) {
      expect(run.stdout).toContain(`gh variable set ${name} --repo ${REPO} --body ${value}\n`);
    }
    expect(run.stdout).toContain(`-backend-config=bucket=${BUCKET}`);
    expect(run.stdout).toContain(`-backend-config=region=${REGION}\n`);
    expect(run.stdout).toContain("(the key, dbt-lambda-platform/dev/terraform.tfstate, is already in the synthesized backend)");
    // The record npx cdktf deploy reads: the whole backend and what the policies were built for.
    expect(JSON.parse(readFileSync(join(workDir, "records", "dev.json"), "utf8"))).toEqual({
      version: 1,
      environment: "dev",
      backend: { bucket: BUCKET, region: REGION, key: "dbt-lambda-platform/dev/terraform.tfstate" },
      baked: { accountId: ACCOUNT, region: "ap-southeast-2", bucketPrefix: "dbt-lambda-dev", permissionsBoundary: "dev-platform-boundary" },
    });
  });

  it("second run changes nothing and says so for every step", async () => {
    const record = readFileSync(join(workDir, "records", "dev.json"), "utf8");
    const run = await bootstrap(["--region", REGION, "--env", "dev", "--github-repo", REPO]);
    expect(run.code).toBe(0);
    // A teammate's clone re-running bootstrap gets the same file, byte for byte.
    expect(readFileSync(join(workDir, "records", "dev.json"), "utf8")).toBe(record);
    const lines = steps(run.stdout);
    expect(lines).toHaveLength(18);
    for (const line of lines) expect(line).toMatch(/: (unchanged|to do by hand)( \(.*\))?$/);
    expect(run.stdout).toContain("No changes: everything was already in place.");

    const dryRun = await bootstrap(["--region", REGION, "--env", "dev", "--github-repo", REPO, "--dry-run"]);
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain("Dry run: everything is already in place; a real run would change nothing.");
  });

  it("repairs drift and keeps bucket-policy statements it does not own", async () => {
    const foreignStatement = {
      Sid: "AuditorsMayList",
      Effect: "Allow",
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
      Action: "s3:ListBucket",
      Resource: `arn:aws:s3:::${BUCKET}`,
    };
    await s3.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: "Suspended" } }));
    await s3.send(
      new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: JSON.stringify({ Version: "2012-10-17", Statement: [foreignStatement] }) }),
    );
    await iam.send(
      new UpdateAssumeRolePolicyCommand({
        RoleName: DEV_ROLE,
        PolicyDocument: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Principal: { Federated: OIDC_ARN },
              Action: "sts:AssumeRoleWithWebIdentity",
              Condition: { StringLike: { "token.actions.githubusercontent.com:sub": "repo:acme/*" } },
            },
          ],
        }),
      }),
    );

    // Someone widens the boundary by hand.
    await iam.send(
      new CreatePolicyVersionCommand({
        PolicyArn: DEV_BOUNDARY,
        SetAsDefault: true,
        PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] }),
      }),
    );

    const run = await bootstrap(["--region", REGION, "--env", "dev", "--github-repo", REPO]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("versioning: updated");
    expect(run.stdout).toContain("bucket policy (deny non-TLS requests): updated");
    expect(run.stdout).toContain(`deploy role ${DEV_ROLE}: updated (trust policy)`);
    expect(run.stdout).toContain("boundary policy dev-platform-boundary: updated (new default version, 17 statements)");
    expect(run.stdout).toContain("Done: created 0, updated 4");

    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: BUCKET }))).Status).toBe("Enabled");
    const policy = JSON.parse((await s3.send(new GetBucketPolicyCommand({ Bucket: BUCKET }))).Policy ?? "{}");
    expect(policy.Statement.map((s: { Sid: string }) => s.Sid)).toEqual(["AuditorsMayList", "DenyInsecureTransport"]);
    const trust = decodePolicy((await iam.send(new GetRoleCommand({ RoleName: DEV_ROLE }))).Role?.AssumeRolePolicyDocument);
    expect(trust.Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"]).toBe(
      `repo:${REPO}:environment:dev`,
    );
    const boundary = await boundaryDocument(DEV_BOUNDARY);
    expect(JSON.stringify(boundary)).not.toContain('"s3:*"');
  });

  it("prod reuses the account's bucket and OIDC provider and gets its own role", async () => {
    const run = await bootstrap(["--region", "us-east-1", "--env", "prod", "--github-repo", REPO]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`[2] bucket ${BUCKET}: unchanged (in ${REGION})`);
    expect(run.stdout).toContain(`the bucket already lives in ${REGION}`);
    expect(run.stdout).toContain("GitHub OIDC identity provider: unchanged");
    expect(run.stdout).toContain(`deploy role ${PROD_ROLE}: created`);
    expect(run.stdout).toContain(`gh variable set TFSTATE_REGION --env prod --repo ${REPO} --body ${REGION}\n`);
    expect(run.stdout).toContain(`gh variable set TFSTATE_KEY --env prod --repo ${REPO} --body dbt-lambda-platform/prod/terraform.tfstate\n`);

    const trust = decodePolicy((await iam.send(new GetRoleCommand({ RoleName: PROD_ROLE }))).Role?.AssumeRolePolicyDocument);
    expect(trust.Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"]).toBe(
      `repo:${REPO}:environment:prod`,
    );
    const inline = await iam.send(new GetRolePolicyCommand({ RoleName: PROD_ROLE, PolicyName: "terraform-deploy" }));
    const bySid = Object.fromEntries(decodePolicy(inline.PolicyDocument).Statement.map((s) => [s.Sid, s]));
    expect(bySid.TerraformStateObjects.Resource).toBe(`arn:aws:s3:::${BUCKET}/dbt-lambda-platform/prod/*`);
    expect(bySid.DataBuckets.Resource).toBe("arn:aws:s3:::dbt-lambda-prod-*");
    expect(bySid.BoundedStackRoles.Condition).toEqual({ StringEquals: { "iam:PermissionsBoundary": PROD_BOUNDARY } });

    // prod's plan role also serves deploy.yml's plan-prod, which runs on main outside the prod environment.
    const planTrust = decodePolicy((await iam.send(new GetRoleCommand({ RoleName: PROD_PLAN_ROLE }))).Role?.AssumeRolePolicyDocument);
    expect(planTrust.Statement).toEqual([
      {
        Sid: "GitHubActionsPlans",
        Effect: "Allow",
        Principal: { Federated: OIDC_ARN },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": [`repo:${REPO}:pull_request`, `repo:${REPO}:ref:refs/heads/main`],
          },
        },
      },
    ]);
    expect(run.stdout).toContain(`gh variable set PROD_PLAN_ROLE_ARN --repo ${REPO} --body arn:aws:iam::${ACCOUNT}:role/${PROD_PLAN_ROLE}\n`);
    const boundary = await boundaryDocument(PROD_BOUNDARY);
    expect(JSON.stringify(boundary)).not.toMatch(/dev/);
  });

  it("the dev plan role is assumable by this repository's pull requests only, and writes nothing", async () => {
    const role = (await iam.send(new GetRoleCommand({ RoleName: DEV_PLAN_ROLE }))).Role;
    expect(role?.PermissionsBoundary).toBeUndefined();
    expect(decodePolicy(role?.AssumeRolePolicyDocument).Statement).toEqual([
      {
        Sid: "GitHubActionsPlans",
        Effect: "Allow",
        Principal: { Federated: OIDC_ARN },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": `repo:${REPO}:pull_request`,
          },
        },
      },
    ]);

    const inline = await iam.send(new GetRolePolicyCommand({ RoleName: DEV_PLAN_ROLE, PolicyName: "terraform-plan" }));
    const statements = decodePolicy(inline.PolicyDocument).Statement;
    expect(statements.length).toBeGreaterThan(10);
    // Every action, wildcards expanded, judged by the access level AWS publishes for it. A Write
    // is admissible only where another service performs it for the caller (kms:ViaService), so
    // the role cannot call it itself.
    const writes: string[] = [];
    for (const statement of statements) {
      expect(statement.Effect).toBe("Allow");
      const viaService = statement.Condition?.StringEquals?.["kms:ViaService"];
      for (const pattern of [statement.Action].flat() as string[]) {
        for (const { action, accessLevel } of await expandAction(pattern)) {
          if (NON_MUTATING.has(accessLevel)) continue;
          if (viaService === `lambda.${REGION}.amazonaws.com` && accessLevel === "Write") continue;
          writes.push(`${statement.Sid}: ${action} (${accessLevel})`);
        }
      }
    }
    expect(writes).toEqual([]);

    // No object data: the only object the role may get is this environment's state.
    const objectReads = statements.filter((st) =>
      ([st.Action].flat() as string[]).some((a) => /^s3:(get|\*)/i.test(a) && !/^s3:GetBucket|Configuration$|^s3:GetAccelerate/i.test(a)),
    );
    for (const st of objectReads) {
      for (const resource of [st.Resource].flat() as string[]) {
        if (resource.includes("/")) expect(resource).toBe(`arn:aws:s3:::${BUCKET}/dbt-lambda-platform/dev/terraform.tfstate`);
      }
    }
    // KMS decrypt only through Lambda, for dev's functions.
    const decrypt = statements.filter((st) => ([st.Action].flat() as string[]).some((a) => /^kms:(decrypt|\*)/i.test(a)));
    expect(decrypt).toHaveLength(1);
    expect(decrypt[0].Condition).toEqual({
      StringEquals: { "aws:ResourceTag/Environment": "dev", "kms:ViaService": `lambda.${REGION}.amazonaws.com` },
      StringLike: { "kms:EncryptionContext:aws:lambda:FunctionArn": `arn:aws:lambda:${REGION}:${ACCOUNT}:function:dev-*` },
    });
    const wildcards = statements.filter((st) => [st.Resource].flat().includes("*")).map((st) => st.Sid);
    expect(wildcards).toEqual(["ListKeyAliases"]);
  });

  it("the boundary is scoped to the environment's resources by name", async () => {
    const statements = (await boundaryDocument(DEV_BOUNDARY)).Statement;
    const bySid = Object.fromEntries(statements.map((st) => [st.Sid, st]));
    const inScope = (r: string) =>
      /^arn:aws:s3:::dbt-lambda-dev-[a-z-]+-\*(\/|$)/.test(r) ||
      r.startsWith(`arn:aws:glue:${REGION}:${ACCOUNT}:`) && /(catalog|dbt_lambda_dev)/.test(r) ||
      new RegExp(`^arn:aws:(logs|sqs|athena|sns|kms|lambda|states|events):${REGION}:${ACCOUNT}:`).test(r) ||
      r === `arn:aws:iam::${ACCOUNT}:role/dev-dbt-ci-build`; // the one role a stack role may assume
    for (const st of statements) {
      expect(st.Effect).toBe("Allow");
      for (const resource of [st.Resource].flat() as string[]) {
        if (resource === "*") {
          expect(["XRayTracing", "LogDelivery"]).toContain(st.Sid);
          continue;
        }
        expect(inScope(resource), `${st.Sid}: ${resource}`).toBe(true);
        if (/:(logs|sqs|athena|sns|lambda|states):/.test(resource)) expect(resource).toMatch(/[:/]dev-/);
      }
    }
    // The raw zone is written under raw/ and manifests/ only; the KMS key only by its tag.
    const rawWrites = ([bySid.WriteDataObjects.Resource].flat() as string[]).filter((r) => r.includes("-raw-"));
    expect(rawWrites.sort()).toEqual(["arn:aws:s3:::dbt-lambda-dev-raw-*/manifests/*", "arn:aws:s3:::dbt-lambda-dev-raw-*/raw/*"]);
    expect(bySid.EnvironmentKey.Condition).toEqual({ StringEquals: { "aws:ResourceTag/Environment": "dev" } });
    expect(bySid.PublishAlerts).toMatchObject({ Action: "sns:Publish", Resource: `arn:aws:sns:${REGION}:${ACCOUNT}:dev-*` });
    // Events on the default bus only under dev's own source.
    expect(bySid.PutBuildEvents).toMatchObject({
      Resource: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`,
      Condition: { StringEquals: { "events:source": "dbt-lambda.dev" } },
    });
    const policy = await iam.send(new GetPolicyCommand({ PolicyArn: DEV_BOUNDARY }));
    expect(policy.Policy?.Description).toContain("Permissions boundary of every IAM role the dev data platform stack creates");
  });

  it("creates the dev CI role inside the boundary: bundles under ci/ and invoking the dev runner only", async () => {
    const role = await iam.send(new GetRoleCommand({ RoleName: DEV_CI_ROLE }));
    expect(role.Role?.PermissionsBoundary?.PermissionsBoundaryArn).toBe(DEV_BOUNDARY);
    const trust = JSON.parse(decodeURIComponent(role.Role?.AssumeRolePolicyDocument ?? "{}"));
    expect(trust.Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"]).toEqual([
      "repo:acme/dbt-lambda:pull_request",
      "repo:acme/dbt-lambda:ref:refs/heads/main",
    ]);
    const inline = await iam.send(new GetRolePolicyCommand({ RoleName: DEV_CI_ROLE, PolicyName: "dbt-pull-request-ci" }));
    const statements = JSON.parse(decodeURIComponent(inline.PolicyDocument ?? "{}")).Statement;
    expect(statements.map((s: { Action: unknown; Resource: unknown }) => [s.Action, s.Resource])).toEqual([
      ["s3:PutObject", "arn:aws:s3:::dbt-lambda-dev-artifacts-*/ci/*"],
      ["lambda:InvokeFunction", [`arn:aws:lambda:${REGION}:${ACCOUNT}:function:dev-dbt-runner`, `arn:aws:lambda:${REGION}:${ACCOUNT}:function:dev-dbt-runner:*`]],
      ["kms:GenerateDataKey", `arn:aws:kms:${REGION}:${ACCOUNT}:key/*`],
    ]);
  });

  it("reports a Lambda quota that leaves no room for the reservation, and still sets up everything else", async () => {
    lambdaQuota = { ConcurrentExecutions: 50, UnreservedConcurrentExecutions: 50 };
    try {
      const run = await bootstrap(["--region", REGION, "--env", "dev", "--github-repo", REPO]);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(
        "[1] Lambda concurrency quota: to do by hand (quota 50, unreserved 50, the stack reserves 2: 48 would stay unreserved, Lambda requires 100)",
      );
      expect(run.stdout).toContain('==> Missing prerequisite: Lambda concurrency in ap-southeast-2');
      expect(run.stdout).toContain('quota in ap-southeast-2 is 50 (50 unreserved)');
      expect(run.stdout).toContain('request a quota of at least 102 (Service Quotas > AWS Lambda > "Concurrent executions", region ap-southeast-2');
      expect(run.stdout).toContain('or set reservedConcurrency: "none" in envs/dev.ts');
      expect(run.stderr).toBe("error: the account is not ready for the dev stack: Lambda concurrency in ap-southeast-2 (see above)\n");
      expect(run.stdout).toContain(
        "Not ready: Lambda concurrency in ap-southeast-2 (see above). Everything else: No changes: everything was already in place.",
      );
      // Every other step still ran.
      expect(steps(run.stdout)).toHaveLength(18);
      expect(run.stdout).toContain(`plan role ${DEV_PLAN_ROLE}: unchanged`);
    } finally {
      lambdaQuota = { ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 1000 };
    }
  });

  it("without --github-repo names the bucket after the directory and creates it in us-east-1", async () => {
    const repoDir = join(workDir, "My_Sample.Repo");
    mkdirSync(repoDir);
    const run = await bootstrap(["--region", "us-east-1", "--env", "dev"], { cwd: repoDir });
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    const bucket = `my-sample-repo-terraform-state-${ACCOUNT}`;
    expect(run.stdout).toContain(`[2] bucket ${bucket}: created (in us-east-1)`);
    expect(run.stdout).toContain("No --github-repo: OIDC provider, deploy and plan roles and GitHub variables skipped");
    // The boundary is needed by any deploy, CI or not.
    expect(run.stdout).toContain("boundary policy dev-platform-boundary: unchanged");
    expect(steps(run.stdout)).toHaveLength(9);

    const head = await s3Client("us-east-1").send(new HeadBucketCommand({ Bucket: bucket }));
    expect(head.BucketRegion).toBe("us-east-1");
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBe("Enabled");
  });

  it("refuses a bucket with the expected name that another account owns", async () => {
    const bucket = `other-team-terraform-state-${ACCOUNT}`;
    const foreign = s3Client(REGION, OTHER_ACCOUNT);
    await foreign.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: REGION } }));

    const run = await bootstrap(["--region", REGION, "--env", "dev", "--github-repo", "acme/other-team"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`S3 bucket "${bucket}" already exists but is not owned by account ${ACCOUNT}`);
    expect(run.stdout).not.toContain("versioning");

    // Nothing was configured on the foreign bucket, and no role was made for that repository.
    const versioning = await foreign.send(new GetBucketVersioningCommand({ Bucket: bucket }));
    expect(versioning.Status).toBeUndefined();
    expect(await roleExists("GitHubActions-other-team-dev-DeployRole")).toBe(false);
    foreign.destroy();
  });
});
