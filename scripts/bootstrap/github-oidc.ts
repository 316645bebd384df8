import {
  AddClientIDToOpenIDConnectProviderCommand,
  CreateOpenIDConnectProviderCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  DeletePolicyVersionCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  ListPolicyVersionsCommand,
  GetOpenIDConnectProviderCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListOpenIDConnectProvidersCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
  type IAMClient,
} from "@aws-sdk/client-iam";
import type { Environment, GitHubRepo } from "./args";
import { errorName } from "./clients";
import { parsePolicy, samePolicy, type PolicyDocument } from "./policy-document";
import type { StepResult } from "./progress";

export const GITHUB_OIDC_HOST = "token.actions.githubusercontent.com";
export const OIDC_AUDIENCE = "sts.amazonaws.com";
/** Inline policy name on the deploy role. */
export const DEPLOY_POLICY_NAME = "terraform-deploy";
/** Inline policy name on the plan role. */
export const PLAN_POLICY_NAME = "terraform-plan";
/**
 * Environments whose deploy workflow plans on main before anyone approves (deploy.yml's
 * plan-prod, outside the `prod` GitHub environment, so that reviewers see the plan they
 * approve): their plan role also trusts the main branch.
 */
export const PLANS_ON_MAIN: Readonly<Record<Environment, boolean>> = { dev: false, prod: true };
/**
 * GitHub's intermediate CA thumbprints. IAM now trusts GitHub's issuer through its own CA
 * store and ignores these, but the field is still required by older API versions and tools.
 */
const GITHUB_THUMBPRINTS = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"];

export interface IamContext {
  readonly iam: IAMClient;
  readonly accountId: string;
  readonly partition: string;
  readonly dryRun: boolean;
}

/** The account's GitHub Actions OIDC provider, created if missing; reused (and given our audience) if present. */
export async function ensureOidcProvider(ctx: IamContext): Promise<StepResult & { arn: string }> {
  const expectedArn = `arn:${ctx.partition}:iam::${ctx.accountId}:oidc-provider/${GITHUB_OIDC_HOST}`;
  const list = await ctx.iam.send(new ListOpenIDConnectProvidersCommand({}));
  const existing = list.OpenIDConnectProviderList?.find((p) => p.Arn?.endsWith(`:oidc-provider/${GITHUB_OIDC_HOST}`))?.Arn;
  if (existing) {
    const provider = await ctx.iam.send(new GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: existing }));
    if (provider.ClientIDList?.includes(OIDC_AUDIENCE)) return { change: "unchanged", arn: existing, detail: existing };
    if (!ctx.dryRun) {
      await ctx.iam.send(
        new AddClientIDToOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: existing, ClientID: OIDC_AUDIENCE }),
      );
    }
    return { change: "updated", arn: existing, detail: `audience ${OIDC_AUDIENCE} added` };
  }
  if (ctx.dryRun) return { change: "created", arn: expectedArn, detail: expectedArn };
  const created = await ctx.iam.send(
    new CreateOpenIDConnectProviderCommand({
      Url: `https://${GITHUB_OIDC_HOST}`,
      ClientIDList: [OIDC_AUDIENCE],
      ThumbprintList: GITHUB_THUMBPRINTS,
      Tags: [{ Key: "ManagedBy", Value: "bootstrap" }],
    }),
  );
  const arn = created.OpenIDConnectProviderArn ?? expectedArn;
  return { change: "created", arn, detail: arn };
}

/** A trust policy: GitHub's OIDC tokens for this audience whose subject is one of `subjects`. */
function webIdentityTrust(sid: string, providerArn: string, subjects: string | string[]): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: sid,
        Effect: "Allow",
        Principal: { Federated: providerArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${GITHUB_OIDC_HOST}:aud`]: OIDC_AUDIENCE,
            [`${GITHUB_OIDC_HOST}:sub`]: subjects,
          },
        },
      },
    ],
  };
}

/**
 * The CI role: jobs of this repository's pull requests (a fork's get no OIDC token) and of main
 * (the close and sweep workflows run there).
 */
export function ciTrustPolicy(providerArn: string, repo: GitHubRepo): PolicyDocument {
  const slug = `repo:${repo.owner}/${repo.name}`;
  return webIdentityTrust("GitHubActionsPullRequestCi", providerArn, [`${slug}:pull_request`, `${slug}:ref:refs/heads/main`]);
}

/** Only workflow jobs that run in this repository's GitHub environment `env` may assume the role. */
export function trustPolicy(providerArn: string, repo: GitHubRepo, env: Environment): PolicyDocument {
  return webIdentityTrust("GitHubActionsEnvironment", providerArn, `repo:${repo.owner}/${repo.name}:environment:${env}`);
}

/**
 * The plan role: jobs of this repository's pull requests (never a fork's: GitHub gives those no
 * OIDC token) and, where PLANS_ON_MAIN says so, of the main branch. No environment claim: the
 * plan needs no approval, and a job in a GitHub environment cannot assume it.
 */
export function planTrustPolicy(providerArn: string, repo: GitHubRepo, env: Environment): PolicyDocument {
  const slug = `repo:${repo.owner}/${repo.name}`;
  const subjects = PLANS_ON_MAIN[env] ? [`${slug}:pull_request`, `${slug}:ref:refs/heads/main`] : `${slug}:pull_request`;
  return webIdentityTrust("GitHubActionsPlans", providerArn, subjects);
}

export interface RoleSpec {
  readonly roleName: string;
  readonly trust: PolicyDocument;
  /** The inline policy's name and document. */
  readonly policyName: string;
  readonly policy: PolicyDocument;
  readonly description: string;
  readonly tags: Readonly<Record<string, string>>;
  /** A permissions boundary set when the role is created (the CI role carries the env's). */
  readonly permissionsBoundary?: string;
}

/** A GitHub Actions role, created or brought back to the wanted trust policy. */
export async function ensureRole(ctx: IamContext, spec: RoleSpec): Promise<StepResult & { arn: string; exists: boolean }> {
  const arn = `arn:${ctx.partition}:iam::${ctx.accountId}:role/${spec.roleName}`;
  const current = await getRole(ctx.iam, spec.roleName);
  if (current) {
    if (samePolicy(parsePolicy(current.AssumeRolePolicyDocument), spec.trust)) {
      return { change: "unchanged", arn: current.Arn ?? arn, exists: true, detail: current.Arn ?? arn };
    }
    if (!ctx.dryRun) {
      await ctx.iam.send(
        new UpdateAssumeRolePolicyCommand({ RoleName: spec.roleName, PolicyDocument: JSON.stringify(spec.trust) }),
      );
    }
    return { change: "updated", arn: current.Arn ?? arn, exists: true, detail: "trust policy" };
  }
  if (ctx.dryRun) return { change: "created", arn, exists: false, detail: arn };
  const created = await ctx.iam.send(
    new CreateRoleCommand({
      RoleName: spec.roleName,
      AssumeRolePolicyDocument: JSON.stringify(spec.trust),
      Description: spec.description,
      MaxSessionDuration: 3600,
      ...(spec.permissionsBoundary ? { PermissionsBoundary: spec.permissionsBoundary } : {}),
      Tags: Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  return { change: "created", arn: created.Role?.Arn ?? arn, exists: true, detail: created.Role?.Arn ?? arn };
}

/** The role's inline permissions, replaced when they differ from the wanted document. */
export async function ensureRolePolicy(ctx: IamContext, spec: RoleSpec, roleExists: boolean): Promise<StepResult> {
  let current: string | undefined;
  if (roleExists) {
    try {
      current = (await ctx.iam.send(new GetRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.policyName })))
        .PolicyDocument;
    } catch (error) {
      if (errorName(error) !== "NoSuchEntityException" && errorName(error) !== "NoSuchEntity") throw error;
    }
  }
  const statements = `${spec.policy.Statement.length} statements`;
  if (samePolicy(parsePolicy(current), spec.policy)) return { change: "unchanged", detail: statements };
  if (!ctx.dryRun) {
    await ctx.iam.send(
      new PutRolePolicyCommand({
        RoleName: spec.roleName,
        PolicyName: spec.policyName,
        PolicyDocument: JSON.stringify(spec.policy),
      }),
    );
  }
  return { change: current === undefined ? "created" : "updated", detail: statements };
}

export interface ManagedPolicySpec {
  readonly name: string;
  readonly document: PolicyDocument;
  readonly description: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** IAM keeps at most five versions of a managed policy. */
const MAX_POLICY_VERSIONS = 5;

/**
 * A customer-managed policy, created, or given a new default version when its document differs
 * (the oldest non-default version is deleted first when IAM's five are in use).
 */
export async function ensureManagedPolicy(ctx: IamContext, spec: ManagedPolicySpec): Promise<StepResult & { arn: string }> {
  const arn = `arn:${ctx.partition}:iam::${ctx.accountId}:policy/${spec.name}`;
  const statements = `${spec.document.Statement.length} statements`;
  let defaultVersion: string | undefined;
  try {
    defaultVersion = (await ctx.iam.send(new GetPolicyCommand({ PolicyArn: arn }))).Policy?.DefaultVersionId;
  } catch (error) {
    if (errorName(error) !== "NoSuchEntityException" && errorName(error) !== "NoSuchEntity") throw error;
  }
  const document = JSON.stringify(spec.document);
  if (defaultVersion === undefined) {
    if (!ctx.dryRun) {
      await ctx.iam.send(
        new CreatePolicyCommand({
          PolicyName: spec.name,
          PolicyDocument: document,
          Description: spec.description,
          Tags: Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value })),
        }),
      );
    }
    return { change: "created", arn, detail: `${arn}, ${statements}` };
  }
  const current = await ctx.iam.send(new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: defaultVersion }));
  if (samePolicy(parsePolicy(current.PolicyVersion?.Document), spec.document)) {
    return { change: "unchanged", arn, detail: statements };
  }
  if (!ctx.dryRun) {
    const versions = (await ctx.iam.send(new ListPolicyVersionsCommand({ PolicyArn: arn }))).Versions ?? [];
    if (versions.length >= MAX_POLICY_VERSIONS) {
      const oldest = versions
        .filter((v) => !v.IsDefaultVersion)
        .sort((a, b) => (a.CreateDate?.getTime() ?? 0) - (b.CreateDate?.getTime() ?? 0))[0];
      if (oldest?.VersionId) await ctx.iam.send(new DeletePolicyVersionCommand({ PolicyArn: arn, VersionId: oldest.VersionId }));
    }
    await ctx.iam.send(new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: document, SetAsDefault: true }));
  }
  return { change: "updated", arn, detail: `new default version, ${statements}` };
}

/** Whether a managed policy exists (for a boundary the config names by ARN, managed elsewhere). */
export async function managedPolicyExists(ctx: IamContext, arn: string): Promise<boolean> {
  try {
    await ctx.iam.send(new GetPolicyCommand({ PolicyArn: arn }));
    return true;
  } catch (error) {
    if (errorName(error) === "NoSuchEntityException" || errorName(error) === "NoSuchEntity") return false;
    throw error;
  }
}

async function getRole(iam: IAMClient, roleName: string) {
  try {
    return (await iam.send(new GetRoleCommand({ RoleName: roleName }))).Role;
  } catch (error) {
    if (errorName(error) === "NoSuchEntityException" || errorName(error) === "NoSuchEntity") return undefined;
    throw error;
  }
}
