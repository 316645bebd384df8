import { describe, expect, it } from "vitest";
import { glueDatabaseName as stackGlueDatabaseName } from "../../constructs/data-lake";
import { environmentConfig, environments } from "../../envs";
import { stateKey as stackStateKey } from "../../stacks/data-platform-stack";
import { parseBootstrapArgs, UsageError } from "./args";
import type { LambdaClient } from "@aws-sdk/client-lambda";
import { checkLambdaConcurrency } from "./account-preflight";
import { boundaryPolicy } from "./boundary-policy";
import { deployPolicy, deployScope, LOG_DELIVERY_ACTIONS } from "./deploy-policy";
import { ensureGitHubVariables, ensureRepositoryVariables } from "./github-env";
import { boundaryPolicyArn, deployRoleName, glueDatabaseName, planRoleName, stateBucketName, stateKey, stateKeyPrefix } from "./names";
import { planPolicy } from "./plan-policy";
import { sameStatement } from "./policy-document";

const ACCOUNT = "123456789012";

describe("names shared with the stack", () => {
  it.each(["dev", "prod"] as const)("state key of %s is the stack's backend key", (env) => {
    expect(stateKey(env)).toBe(stackStateKey(env));
    expect(stateKey(env).startsWith(stateKeyPrefix(env))).toBe(true);
  });

  it("Glue database name is the stack's", () => {
    for (const input of environments) {
      expect(glueDatabaseName(input.bucketPrefix)).toBe(stackGlueDatabaseName(input.bucketPrefix));
    }
  });
});

describe("stateBucketName", () => {
  it.each([
    ["dbt-lambda", `dbt-lambda-terraform-state-${ACCOUNT}`],
    ["My_Sample.Repo", `my-sample-repo-terraform-state-${ACCOUNT}`],
    ["--Weird__name--", `weird-name-terraform-state-${ACCOUNT}`],
  ])("%s -> %s", (repo, bucket) => {
    expect(stateBucketName(repo, ACCOUNT)).toBe(bucket);
  });

  it("cuts long names to S3's 63 characters without a trailing hyphen", () => {
    const name = stateBucketName("a-very-long-repository-name-that-goes-on-and-on-forever", ACCOUNT);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^[a-z0-9][a-z0-9-]*[a-z0-9]$/);
    expect(name).not.toContain("--");
    expect(name.endsWith(`-terraform-state-${ACCOUNT}`)).toBe(true);
  });

  it("refuses names with nothing usable or a reserved prefix", () => {
    expect(() => stateBucketName("___", ACCOUNT)).toThrow(/no letters or digits/);
    expect(() => stateBucketName("sthree-repo", ACCOUNT)).toThrow(/uses "sthree-", which S3 reserves/);
    expect(() => stateBucketName("repo", "12345")).toThrow(/not 12 digits/);
  });
});

describe("deployRoleName", () => {
  it("follows GitHubActions-<repo>-<env>-DeployRole", () => {
    expect(deployRoleName({ owner: "acme", name: "dbt-lambda" }, "prod")).toBe("GitHubActions-dbt-lambda-prod-DeployRole");
  });

  it("keeps long names within IAM's 64 characters and distinct", () => {
    const a = deployRoleName({ owner: "acme", name: "x".repeat(60) + "a" }, "prod");
    const b = deployRoleName({ owner: "acme", name: "x".repeat(60) + "b" }, "prod");
    expect(a.length).toBeLessThanOrEqual(64);
    expect(a).toMatch(/^GitHubActions-[\w+=,.@-]+-prod-DeployRole$/);
    expect(a).not.toBe(b);
  });
});

describe("planRoleName and the boundary's name", () => {
  it("follows GitHubActions-<repo>-<env>-PlanRole within 64 characters", () => {
    expect(planRoleName({ owner: "acme", name: "dbt-lambda" }, "dev")).toBe("GitHubActions-dbt-lambda-dev-PlanRole");
    const long = planRoleName({ owner: "acme", name: "y".repeat(80) }, "prod");
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long).not.toBe(deployRoleName({ owner: "acme", name: "y".repeat(80) }, "prod"));
  });

  it("resolves the config's default name in the account, and keeps an ARN as given", () => {
    for (const env of ["dev", "prod"] as const) {
      expect(boundaryPolicyArn(environmentConfig(env).permissionsBoundary, "aws", ACCOUNT)).toBe(
        `arn:aws:iam::${ACCOUNT}:policy/${env}-platform-boundary`,
      );
    }
    const arn = "arn:aws-us-gov:iam::210987654321:policy/org/boundary";
    expect(boundaryPolicyArn(arn, "aws", ACCOUNT)).toBe(arn);
  });
});

describe("planPolicy and boundaryPolicy", () => {
  const scopeFor = (env: "dev" | "prod") =>
    deployScope(environmentConfig(env), { partition: "aws", accountId: ACCOUNT, stateBucket: `repo-terraform-state-${ACCOUNT}` });

  it("fit IAM's limits: 10,240 characters inline, 6,144 for a managed policy", () => {
    for (const env of ["dev", "prod"] as const) {
      expect(JSON.stringify(planPolicy(scopeFor(env))).length).toBeLessThan(10_240);
      expect(JSON.stringify(boundaryPolicy(scopeFor(env))).length).toBeLessThan(6_144);
    }
  });

  it("give dev nothing of prod's and back", () => {
    expect(JSON.stringify(planPolicy(scopeFor("dev")))).not.toMatch(/prod/);
    expect(JSON.stringify(boundaryPolicy(scopeFor("dev")))).not.toMatch(/prod/);
    expect(JSON.stringify(planPolicy(scopeFor("prod")))).not.toMatch(/dev/);
    expect(JSON.stringify(boundaryPolicy(scopeFor("prod")))).not.toMatch(/dev/);
  });
});

describe("checkLambdaConcurrency", () => {
  /** A LambdaClient answering from fixed account limits and an existing reservation (or none). */
  function fakeLambda(limit: { ConcurrentExecutions: number; UnreservedConcurrentExecutions: number }, held?: number) {
    return {
      send: async (command: { constructor: { name: string } }) => {
        if (command.constructor.name === "GetAccountSettingsCommand") return { AccountLimit: limit };
        if (held === undefined) throw Object.assign(new Error("Function not found"), { name: "ResourceNotFoundException" });
        return { ReservedConcurrentExecutions: held };
      },
    } as unknown as LambdaClient;
  }
  const dev = environmentConfig("dev");

  it.each([
    [{ ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 1000 }, undefined, "unchanged"],
    [{ ConcurrentExecutions: 10, UnreservedConcurrentExecutions: 10 }, undefined, "manual"],
    // The runner reserves 1 and the ingest function 1: 2 out of the pool.
    [{ ConcurrentExecutions: 102, UnreservedConcurrentExecutions: 102 }, undefined, "unchanged"],
    [{ ConcurrentExecutions: 101, UnreservedConcurrentExecutions: 101 }, undefined, "manual"],
    // The functions already hold their reservations: a re-run must not count them twice.
    [{ ConcurrentExecutions: 102, UnreservedConcurrentExecutions: 100 }, 1, "unchanged"],
  ] as const)("limits %j with reservation %s: %s", async (limit, held, change) => {
    const result = await checkLambdaConcurrency(fakeLambda(limit, held), dev);
    expect(result.change).toBe(change);
    expect(result.missing.length).toBe(change === "manual" ? 1 : 0);
  });

  it("asks for nothing when the environment reserves no concurrency", async () => {
    const result = await checkLambdaConcurrency(
      fakeLambda({ ConcurrentExecutions: 10, UnreservedConcurrentExecutions: 10 }),
      { ...dev, reservedConcurrency: "none", reservations: {} },
    );
    expect(result).toMatchObject({ change: "unchanged", missing: [] });
  });

  it("names a region that is not enabled", async () => {
    const lambda = {
      send: async () => {
        throw Object.assign(new Error("The security token included in the request is invalid"), { name: "UnrecognizedClientException" });
      },
    } as unknown as LambdaClient;
    const result = await checkLambdaConcurrency(lambda, dev);
    expect(result.change).toBe("manual");
    expect(result.missing[0].lines.join(" ")).toContain("the region is probably not enabled");
  });
});

describe("parseBootstrapArgs", () => {
  it("parses every option", () => {
    expect(
      parseBootstrapArgs(["--region", "us-east-1", "--env", "prod", "--github-repo", "Acme/Data.Platform", "--dry-run"]),
    ).toEqual({ help: false, region: "us-east-1", env: "prod", githubRepo: { owner: "Acme", name: "Data.Platform" }, dryRun: true });
    expect(parseBootstrapArgs(["-h"])).toEqual({ help: true });
  });

  it.each([
    [["--env", "dev"], /--region is required/],
    [["--region", "ap-southeast-2"], /--env is required/],
    [["--region", "AP-SOUTHEAST-2", "--env", "dev"], /--region "AP-SOUTHEAST-2" is not an AWS region name/],
    [["--region", "ap-southeast-2", "--env", "qa"], /--env "qa" must be one of dev, prod/],
    [["--region", "ap-southeast-2", "--env", "dev", "--github-repo", "a/b/c"], /--github-repo "a\/b\/c" must be <owner>\/<name>/],
    [["--region", "ap-southeast-2", "--env", "dev", "--github-repo", "-acme/x"], /--github-repo/],
    [["--region", "ap-southeast-2", "--env", "dev", "extra"], /positional/i],
    [["--region"], /--region/],
  ])("%j is a usage error", (argv, message) => {
    expect(() => parseBootstrapArgs(argv)).toThrow(UsageError);
    expect(() => parseBootstrapArgs(argv)).toThrow(message);
  });
});

describe("deployPolicy", () => {
  const policyFor = (env: "dev" | "prod") => {
    const config = environmentConfig(env);
    return deployPolicy(deployScope(config, { partition: "aws", accountId: ACCOUNT, stateBucket: `repo-terraform-state-${ACCOUNT}` }));
  };

  it("fits IAM's 10,240-character limit for a role's inline policies", () => {
    for (const env of ["dev", "prod"] as const) {
      expect(JSON.stringify(policyFor(env)).length).toBeLessThan(10_240);
    }
  });

  it('uses "*" only where IAM accepts nothing narrower, and then with a condition, a list-only action or log delivery', () => {
    const wildcard = policyFor("dev").Statement.filter((s) => [s.Resource].flat().includes("*"));
    expect(wildcard.map((s) => s.Sid).sort()).toEqual(["CreateEnvironmentKey", "ListKeyAliases", "LogDelivery", "ValidateStateMachineDefinitions"]);
    expect(wildcard.find((s) => s.Sid === "CreateEnvironmentKey")?.Condition).toEqual({
      StringEquals: { "aws:RequestTag/Environment": "dev" },
    });
    expect(wildcard.find((s) => s.Sid === "ListKeyAliases")?.Action).toBe("kms:ListAliases");
    // A state machine's logging: CloudWatch Logs' vended-log delivery has no resource-level permissions.
    expect(wildcard.find((s) => s.Sid === "LogDelivery")?.Action).toEqual([...LOG_DELIVERY_ACTIONS]);
    expect(wildcard.find((s) => s.Sid === "ValidateStateMachineDefinitions")?.Action).toBe("states:ValidateStateMachineDefinition");
  });

  it("gives dev nothing of prod's", () => {
    const dev = JSON.stringify(policyFor("dev"));
    expect(dev).not.toMatch(/prod/);
    const prod = JSON.stringify(policyFor("prod"));
    expect(prod).not.toMatch(/dev/);
  });
});

describe("sameStatement", () => {
  it("treats a single value as a one-element list and ignores order", () => {
    expect(
      sameStatement(
        { Sid: "A", Effect: "Deny", Principal: { AWS: "*" }, Action: ["s3:*"], Resource: ["b", "a"] },
        { Sid: "A", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: ["a", "b"] },
      ),
    ).toBe(true);
    expect(sameStatement({ Sid: "A", Effect: "Deny", Action: "s3:*" }, { Sid: "A", Effect: "Allow", Action: "s3:*" })).toBe(false);
  });
});

describe("ensureRepositoryVariables", () => {
  const repo = { owner: "acme", name: "dbt-lambda" };
  const vars = { DEV_PLAN_ROLE_ARN: "arn:aws:iam::123456789012:role/r", DEV_AWS_REGION: "ap-southeast-2" };

  it("sets only the repository variables that differ, never an environment's", async () => {
    const calls: string[] = [];
    const gh = (args: readonly string[]) => {
      calls.push(args.join(" "));
      if (args[0] === "variable" && args[1] === "list") {
        return { ok: true, stdout: JSON.stringify([{ name: "DEV_AWS_REGION", value: "ap-southeast-2" }, { name: "OTHER", value: "x" }]), missing: false };
      }
      return { ok: true, stdout: "", missing: false };
    };
    const result = await ensureRepositoryVariables(repo, vars, { dryRun: false, print: () => {}, gh });
    expect(result).toEqual({ change: "updated", detail: "DEV_PLAN_ROLE_ARN" });
    expect(calls.filter((c) => c.startsWith("variable set"))).toEqual([
      "variable set DEV_PLAN_ROLE_ARN --repo acme/dbt-lambda --body arn:aws:iam::123456789012:role/r",
    ]);
    expect(calls.some((c) => c.includes("--env") || c.includes("environments"))).toBe(false);
  });
});

describe("ensureGitHubVariables with gh logged in", () => {
  const repo = { owner: "acme", name: "dbt-lambda" };
  const vars = { AWS_REGION: "ap-southeast-2", TFSTATE_KEY: "dbt-lambda-platform/dev/terraform.tfstate" };

  /** A fake `gh` holding one environment's variables; records every call. */
  function fakeGh(existing: Record<string, string> | undefined) {
    const calls: string[] = [];
    const state = existing ? { ...existing } : undefined;
    const gh = (args: readonly string[]) => {
      calls.push(args.join(" "));
      const [cmd, sub] = args;
      if (cmd === "auth") return { ok: true, stdout: "", missing: false };
      if (cmd === "api" && args.length === 2) return { ok: state !== undefined, stdout: "{}", missing: false };
      if (cmd === "variable" && sub === "list") {
        return { ok: true, stdout: JSON.stringify(Object.entries(state ?? {}).map(([name, value]) => ({ name, value }))), missing: false };
      }
      return { ok: true, stdout: "", missing: false };
    };
    return { gh, calls };
  }

  it("creates a missing environment and sets every variable", async () => {
    const { gh, calls } = fakeGh(undefined);
    const result = await ensureGitHubVariables(repo, "dev", vars, { dryRun: false, print: () => {}, gh });
    expect(result.change).toBe("created");
    expect(calls).toContain("api --method PUT repos/acme/dbt-lambda/environments/dev");
    expect(calls).toContain("variable set AWS_REGION --env dev --repo acme/dbt-lambda --body ap-southeast-2");
    expect(calls.filter((c) => c.startsWith("variable set"))).toHaveLength(2);
  });

  it("sets only the variables that differ, and never re-creates an existing environment", async () => {
    const { gh, calls } = fakeGh({ AWS_REGION: "ap-southeast-2", TFSTATE_KEY: "old/key" });
    const result = await ensureGitHubVariables(repo, "dev", vars, { dryRun: false, print: () => {}, gh });
    expect(result).toEqual({ change: "updated", detail: "TFSTATE_KEY" });
    expect(calls.some((c) => c.includes("--method PUT"))).toBe(false);
    expect(calls.filter((c) => c.startsWith("variable set"))).toEqual([
      "variable set TFSTATE_KEY --env dev --repo acme/dbt-lambda --body dbt-lambda-platform/dev/terraform.tfstate",
    ]);
  });

  it("reports unchanged when everything matches, and a dry run writes nothing", async () => {
    const same = fakeGh({ ...vars });
    expect((await ensureGitHubVariables(repo, "dev", vars, { dryRun: false, print: () => {}, gh: same.gh })).change).toBe(
      "unchanged",
    );
    const dry = fakeGh(undefined);
    expect((await ensureGitHubVariables(repo, "dev", vars, { dryRun: true, print: () => {}, gh: dry.gh })).change).toBe("created");
    expect(dry.calls.filter((c) => c.includes("--method PUT") || c.startsWith("variable set"))).toEqual([]);
  });

  it("prints the exact commands when gh is not logged in", async () => {
    const lines: string[] = [];
    const gh = () => ({ ok: false, stdout: "", missing: false });
    const result = await ensureGitHubVariables(repo, "dev", vars, { dryRun: false, print: (l) => lines.push(l.trim()), gh });
    expect(result).toEqual({ change: "manual", detail: "gh is not logged in (gh auth login)" });
    expect(lines).toContain("gh api --method PUT repos/acme/dbt-lambda/environments/dev");
    expect(lines).toContain(
      "gh variable set TFSTATE_KEY --env dev --repo acme/dbt-lambda --body dbt-lambda-platform/dev/terraform.tfstate",
    );
  });
});
