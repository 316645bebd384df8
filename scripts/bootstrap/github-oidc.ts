import {
  AddClientIDToOpenIDConnectProviderCommand,
  CreateOpenIDConnectProviderCommand,
  CreateRoleCommand,
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

/** Only workflow jobs that run in this repository's GitHub environment `env` may assume the role. */
export function trustPolicy(providerArn: string, repo: GitHubRepo, env: Environment): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "GitHubActionsEnvironment",
        Effect: "Allow",
        Principal: { Federated: providerArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${GITHUB_OIDC_HOST}:aud`]: OIDC_AUDIENCE,
            [`${GITHUB_OIDC_HOST}:sub`]: `repo:${repo.owner}/${repo.name}:environment:${env}`,
          },
        },
      },
    ],
  };
}

export interface RoleSpec {
  readonly roleName: string;
  readonly trust: PolicyDocument;
  readonly policy: PolicyDocument;
  readonly description: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** The deploy role, created or brought back to the wanted trust policy. */
export async function ensureDeployRole(ctx: IamContext, spec: RoleSpec): Promise<StepResult & { arn: string; exists: boolean }> {
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
      Tags: Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  return { change: "created", arn: created.Role?.Arn ?? arn, exists: true, detail: created.Role?.Arn ?? arn };
}

/** The role's inline permissions, replaced when they differ from the wanted document. */
export async function ensureDeployPolicy(ctx: IamContext, spec: RoleSpec, roleExists: boolean): Promise<StepResult> {
  let current: string | undefined;
  if (roleExists) {
    try {
      current = (await ctx.iam.send(new GetRolePolicyCommand({ RoleName: spec.roleName, PolicyName: DEPLOY_POLICY_NAME })))
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
        PolicyName: DEPLOY_POLICY_NAME,
        PolicyDocument: JSON.stringify(spec.policy),
      }),
    );
  }
  return { change: current === undefined ? "created" : "updated", detail: statements };
}

async function getRole(iam: IAMClient, roleName: string) {
  try {
    return (await iam.send(new GetRoleCommand({ RoleName: roleName }))).Role;
  } catch (error) {
    if (errorName(error) === "NoSuchEntityException" || errorName(error) === "NoSuchEntity") return undefined;
    throw error;
  }
}
