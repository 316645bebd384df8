import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { basename } from "node:path";
import type { Environment, GitHubRepo } from "./args";
import { BootstrapError } from "./clients";

/**
 * The key in the stacks' partial S3 backend (stacks/data-platform-stack.ts): one state object,
 * and its .tflock, per environment. Repeated here so the script does not load cdktf; a test
 * keeps the two equal.
 */
export function stateKey(env: Environment): string {
  return `${stateKeyPrefix(env)}terraform.tfstate`;
}

/** Everything the deploy role may touch in the state bucket: the env's state and its lock file. */
export function stateKeyPrefix(env: Environment): string {
  return `dbt-lambda-platform/${env}/`;
}

/** The Glue database of an environment (constructs/data-lake.ts): the bucket prefix with underscores. */
export function glueDatabaseName(bucketPrefix: string): string {
  return bucketPrefix.replace(/-/g, "_");
}

const STATE_SUFFIX = "-terraform-state-";
const MAX_BUCKET_NAME = 63;
// Prefixes and suffixes S3 reserves for its own bucket types.
const RESERVED_PREFIXES = ["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/**
 * `<repo>-terraform-state-<account_id>`: the repo part lowercased, every run of characters
 * other than [a-z0-9] turned into one hyphen (dots are legal but break virtual-hosted TLS),
 * trimmed of hyphens and cut so the whole name stays within S3's 63 characters.
 */
export function stateBucketName(repo: string, accountId: string): string {
  if (!/^\d{12}$/.test(accountId)) throw new BootstrapError(`account id "${accountId}" is not 12 digits`);
  const room = MAX_BUCKET_NAME - STATE_SUFFIX.length - accountId.length;
  const prefix = repo
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+/, "")
    .slice(0, room)
    .replace(/-+$/, "");
  if (prefix.length === 0) {
    throw new BootstrapError(`repository name "${repo}" has no letters or digits to build an S3 bucket name from`);
  }
  const name = `${prefix}${STATE_SUFFIX}${accountId}`;
  const reserved = RESERVED_PREFIXES.find((p) => name.startsWith(p)) ?? RESERVED_SUFFIXES.find((s) => name.endsWith(s));
  if (reserved) throw new BootstrapError(`state bucket name "${name}" uses "${reserved}", which S3 reserves; rename the repository`);
  return name;
}

const ROLE_PREFIX = "GitHubActions-";
const MAX_ROLE_NAME = 64;

/**
 * `GitHubActions-<repo>-<env>-DeployRole`. IAM allows 64 characters of [\w+=,.@-]; a longer
 * repository name is cut and given a short hash of the full name so two long names never collide.
 */
export function deployRoleName(repo: GitHubRepo, env: Environment): string {
  return githubRoleName(repo, env, "DeployRole");
}

/** `GitHubActions-<repo>-<env>-PlanRole`: the read-only role of pull-request and pre-approval plans. */
export function planRoleName(repo: GitHubRepo, env: Environment): string {
  return githubRoleName(repo, env, "PlanRole");
}

/** `GitHubActions-<repo>-<env>-CiRole`: the pull-request CI workflows' role (bundles under ci/, invoke the runner). */
export function ciRoleName(repo: GitHubRepo, env: Environment): string {
  return githubRoleName(repo, env, "CiRole");
}

function githubRoleName(repo: GitHubRepo, env: Environment, kind: string): string {
  const suffix = `-${env}-${kind}`;
  const cleaned = repo.name.replace(/[^\w+=,.@-]/g, "-");
  const room = MAX_ROLE_NAME - ROLE_PREFIX.length - suffix.length;
  const part =
    cleaned.length <= room
      ? cleaned
      : `${cleaned.slice(0, room - 9)}-${createHash("sha256").update(repo.name).digest("hex").slice(0, 8)}`;
  return `${ROLE_PREFIX}${part}${suffix}`;
}

/**
 * The permissions boundary's ARN in this account: envs/<env>.ts `permissionsBoundary` when it is
 * an ARN, else the policy of that name in `accountId` (the default name, `<env>-platform-boundary`,
 * is the managed policy bootstrap creates; the stack resolves it the same way at apply time).
 */
export function boundaryPolicyArn(configured: string, partition: string, accountId: string): string {
  return configured.startsWith("arn:") ? configured : `arn:${partition}:iam::${accountId}:policy/${configured}`;
}

/**
 * The repository name the state bucket is named after when --github-repo is not given: the
 * name in the "origin" remote URL, else the basename of the git top-level directory, else of `cwd`.
 */
export function localRepoName(cwd: string): string {
  const origin = git(cwd, ["remote", "get-url", "origin"]);
  const fromRemote = origin?.match(/([^/:]+?)(?:\.git)?\/?$/)?.[1];
  if (fromRemote) return fromRemote;
  const topLevel = git(cwd, ["rev-parse", "--show-toplevel"]);
  return basename(topLevel ?? cwd);
}

function git(cwd: string, args: string[]): string | undefined {
  try {
    const out = execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    return out.length > 0 ? out : undefined;
  } catch {
    return undefined;
  }
}
