import { describe, expect, it } from "vitest";
import {
  BUCKET_PREFIX_MAX,
  ConfigError,
  DEFAULTS,
  EnvironmentInput,
  environmentConfig,
  environments,
  resolveEnvironment,
} from ".";
import { dev } from "./dev";
import { prod } from "./prod";

const base: EnvironmentInput = { environment: "dev", bucketPrefix: "acme-data" };

/** The message resolveEnvironment throws for `input`, or fails the test if it does not throw. */
function problemsOf(input: Partial<Record<keyof EnvironmentInput, unknown>>): string {
  try {
    resolveEnvironment({ ...base, ...input } as EnvironmentInput);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`config was accepted: ${JSON.stringify(input)}`);
}

describe("resolveEnvironment defaults", () => {
  it("fills the design's defaults", () => {
    const config = resolveEnvironment(base);
    expect(config).toMatchObject({
      region: "ap-southeast-2",
      lambdaMemoryMb: 3008,
      lambdaTimeoutSeconds: 900,
      logRetentionDays: 14,
      reservedConcurrency: 1,
      s3EventTrigger: true,
      athenaBytesScannedCutoff: DEFAULTS.athenaBytesScannedCutoff,
      protectDataBuckets: false,
      artifactRetentionDays: 90,
      alertEmails: [],
      snapStart: false,
      stepMarginSeconds: 60,
    });
    expect(config.scheduleExpression).toBeUndefined();
  });

  it("accepts no reservation for small accounts, with a warning that builds may overlap", () => {
    const quiet = { ...base, alertEmails: ["data@example.com"] };
    expect(resolveEnvironment(quiet).warnings).toEqual([]);
    const config = resolveEnvironment({ ...quiet, reservedConcurrency: "none" });
    expect(config.reservedConcurrency).toBe("none");
    expect(config.warnings).toEqual([expect.stringMatching(/^dev: reservedConcurrency = "none": .* may run at once/)]);
  });

  it("warns that an empty alertEmails reaches nobody, unless the env opts out", () => {
    expect(resolveEnvironment(base).warnings).toEqual([
      "dev: alertEmails is empty: failed builds and alarms reach the dev-dbt-alerts topic and nobody is subscribed; " +
        "list addresses in envs/dev.ts, or set alertEmailsOptOut: true if that is intended",
    ]);
    expect(resolveEnvironment({ ...base, alertEmailsOptOut: true }).warnings).toEqual([]);
    expect(() => resolveEnvironment({ ...base, alertEmailsOptOut: true, alertEmails: ["a@example.com"] })).toThrow(
      "alertEmailsOptOut = true: alertEmails lists addresses; remove one or the other",
    );
    expect(() => resolveEnvironment({ ...base, alertEmailsOptOut: "yes" } as unknown as EnvironmentInput)).toThrow(
      'alertEmailsOptOut = "yes": must be true or false',
    );
  });

  it("switches SnapStart on only when asked", () => {
    expect(resolveEnvironment({ ...base, snapStart: true }).snapStart).toBe(true);
    expect(resolveEnvironment(dev).snapStart).toBe(false);
    expect(resolveEnvironment(prod).snapStart).toBe(false);
  });

  it("creates the CI build role in dev only, unless told otherwise", () => {
    expect(resolveEnvironment(dev).ciBuilds).toBe(true);
    expect(resolveEnvironment(prod).ciBuilds).toBe(false);
    expect(resolveEnvironment({ ...base, environment: "prod", ciBuilds: true }).ciBuilds).toBe(true);
    expect(resolveEnvironment({ ...base, ciBuilds: false }).ciBuilds).toBe(false);
  });

  it("protects data buckets in prod unless told otherwise", () => {
    expect(resolveEnvironment({ ...base, environment: "prod" }).protectDataBuckets).toBe(true);
    expect(resolveEnvironment({ ...base, environment: "prod", protectDataBuckets: false }).protectDataBuckets).toBe(false);
  });

  it("merges tags: extra tags win, Environment is always set", () => {
    const config = resolveEnvironment({
      ...base,
      defaultTags: { Project: "p", Owner: "a" },
      extraTags: { Owner: "b" },
    });
    expect(config.tags).toEqual({ Project: "p", Owner: "b", Environment: "dev" });
  });
});

describe("envs/dev.ts and envs/prod.ts", () => {
  it("are both valid and listed once each", () => {
    expect(environments.map((e) => e.environment)).toEqual(["dev", "prod"]);
    for (const env of [dev, prod]) expect(() => resolveEnvironment(env)).not.toThrow();
  });

  it("keep prod's buckets protected and both on the design's runner settings", () => {
    const d = resolveEnvironment(dev);
    const p = resolveEnvironment(prod);
    expect(p.protectDataBuckets).toBe(true);
    expect(d.protectDataBuckets).toBe(false);
    for (const c of [d, p]) {
      expect(c.region).toBe("ap-southeast-2");
      expect([c.lambdaMemoryMb, c.lambdaTimeoutSeconds, c.logRetentionDays, c.reservedConcurrency]).toEqual([3008, 900, 14, 1]);
    }
    expect(d.bucketPrefix).not.toBe(p.bucketPrefix);
  });
});

describe("resolveEnvironment rules (each names field, value and rule)", () => {
  it.each([
    [{ environment: "staging" }, 'environment = "staging": must be one of dev, prod'],
    [{ region: "Sydney" }, 'region = "Sydney": must be an AWS region code'],
    [{ bucketPrefix: "abc" }, `bucketPrefix = "abc": must be 4-${BUCKET_PREFIX_MAX} characters long`],
    [{ bucketPrefix: "a".repeat(BUCKET_PREFIX_MAX + 1) }, `must be 4-${BUCKET_PREFIX_MAX} characters long`],
    [{ bucketPrefix: "Acme-Data" }, 'bucketPrefix = "Acme-Data": must be lowercase letters and digits'],
    [{ bucketPrefix: "acme.data" }, "no dots"],
    [{ bucketPrefix: "acme--data" }, "single hyphens"],
    [{ bucketPrefix: "-acme" }, "single hyphens"],
    [{ bucketPrefix: "xn--acme" }, "must be lowercase letters"],
    [{ bucketPrefix: "sthree-acme" }, "must not start with a prefix S3 reserves"],
    [{ lambdaMemoryMb: 64 }, "lambdaMemoryMb = 64: must be an integer from 128 to 10240"],
    [{ lambdaMemoryMb: 1024.5 }, "lambdaMemoryMb = 1024.5: must be an integer"],
    [{ lambdaTimeoutSeconds: 901 }, "lambdaTimeoutSeconds = 901: must be an integer from 1 to 900"],
    [{ reservedConcurrency: 0 }, 'reservedConcurrency (or "none") = 0: must be an integer from 1 to 1000'],
    [{ logRetentionDays: 10 }, "logRetentionDays = 10: must be one of 1, 3, 5, 7, 14"],
    [{ scheduleExpression: "0 2 * * *" }, 'scheduleExpression = "0 2 * * *": must be cron(<6 fields>) or rate('],
    [{ scheduleExpression: "cron(0 2 * * *)" }, "must be cron(<6 fields>)"],
    [{ scheduleExpression: "rate(0 hours)" }, "must be cron(<6 fields>)"],
    [{ s3EventTrigger: "yes" }, 's3EventTrigger = "yes": must be true or false'],
    [{ athenaBytesScannedCutoff: 1024 }, "athenaBytesScannedCutoff = 1024: must be an integer from 10485760"],
    [{ protectDataBuckets: 1 }, "protectDataBuckets = 1: must be true or false"],
    [{ snapStart: "on" }, 'snapStart = "on": must be true or false'],
    [{ stepMarginSeconds: 29 }, "stepMarginSeconds = 29: must be an integer from 30 to 300"],
    [{ stepMarginSeconds: 301 }, "stepMarginSeconds = 301: must be an integer from 30 to 300"],
    [{ stepMarginSeconds: 45.5 }, "stepMarginSeconds = 45.5: must be an integer from 30 to 300"],
    [{ stepMarginSeconds: "60" }, 'stepMarginSeconds = "60": must be an integer from 30 to 300'],
    [{ stepMarginSeconds: 120, lambdaTimeoutSeconds: 200 }, "stepMarginSeconds = 120: must be at most half of lambdaTimeoutSeconds (200)"],
    [{ lambdaTimeoutSeconds: 100 }, "stepMarginSeconds = 60: must be at most half of lambdaTimeoutSeconds (100)"],
    [{ ciBuilds: "yes" }, 'ciBuilds = "yes": must be true or false'],
    [{ defaultTags: { "aws:owner": "x" } }, 'defaultTags key "aws:owner": the "aws:" prefix is reserved'],
    [{ extraTags: { "": "x" } }, 'extraTags key "": must be 1-128 characters'],
    [{ extraTags: { Team: "a;b" } }, 'extraTags.Team = "a;b": must be a string of at most 256'],
    [{ extraTags: { Team: "x".repeat(257) } }, "extraTags.Team"],
    [{ artifactRetentionDays: 0 }, "artifactRetentionDays = 0: must be an integer from 1 to 3650"],
    [{ artifactRetentionDays: 7.5 }, "artifactRetentionDays = 7.5: must be an integer"],
    [{ alertEmails: "team@example.com" }, 'alertEmails = "team@example.com": must be a list of email addresses'],
    [{ alertEmails: ["ok@example.com", "Team <t@example.com>"] }, 'alertEmails[1] = "Team <t@example.com>": must be an email address'],
    [{ alertEmails: ["no-domain@localhost"] }, 'alertEmails[0] = "no-domain@localhost": must be an email address'],
    [{ alertEmails: ["a@example.com", "a@example.com"] }, 'alertEmails: "a@example.com" is listed twice'],
  ])("rejects %j", (input, message) => {
    expect(problemsOf(input)).toContain(message);
  });

  it("accepts the edges of each range", () => {
    expect(() =>
      resolveEnvironment({
        ...base,
        bucketPrefix: "a".repeat(BUCKET_PREFIX_MAX),
        lambdaMemoryMb: 10240,
        // The smallest timeout that leaves a step as much time to build as the smallest margin keeps.
        lambdaTimeoutSeconds: 60,
        stepMarginSeconds: 30,
        reservedConcurrency: 1,
        logRetentionDays: 3653,
        scheduleExpression: "rate(1 day)",
        athenaBytesScannedCutoff: 10 * 1024 ** 2,
        artifactRetentionDays: 3650,
        alertEmails: ["data.team+alerts@example.co.uk"],
      }),
    ).not.toThrow();
    expect(() => resolveEnvironment({ ...base, bucketPrefix: "abcd", scheduleExpression: "cron(15 3 ? * MON-FRI *)" })).not.toThrow();
    expect(resolveEnvironment({ ...base, stepMarginSeconds: 300, lambdaTimeoutSeconds: 600 }).stepMarginSeconds).toBe(300);
  });

  it("reports every broken rule at once and names the environment", () => {
    const message = problemsOf({ environment: "prod", bucketPrefix: "X", lambdaTimeoutSeconds: 0 });
    expect(message).toMatch(/^invalid environment config "prod":/);
    expect(message).toContain("bucketPrefix");
    expect(message).toContain("lambdaTimeoutSeconds");
  });

  it("rejects more than 50 tags in total", () => {
    const many = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, "v"]));
    expect(problemsOf({ defaultTags: many })).toContain("AWS allows at most 50");
  });
});

describe("environmentConfig", () => {
  it("returns the validated config of a declared environment", () => {
    expect(environmentConfig("prod")).toEqual(resolveEnvironment(prod));
  });

  it("names the declared environments when asked for another", () => {
    expect(() => environmentConfig("staging")).toThrow(/environment = "staging": envs\/ declares only dev, prod/);
  });
});

describe("permissionsBoundary and reservedConcurrency", () => {
  it("defaults the boundary to the policy bootstrap creates, named per environment", () => {
    expect(resolveEnvironment(base).permissionsBoundary).toBe("dev-platform-boundary");
    expect(resolveEnvironment({ ...base, environment: "prod" }).permissionsBoundary).toBe("prod-platform-boundary");
  });

  it("accepts an IAM policy ARN or a policy name", () => {
    for (const value of ["arn:aws:iam::123456789012:policy/org/boundaries/data", "arn:aws-cn:iam::123456789012:policy/b", "my.boundary"]) {
      expect(resolveEnvironment({ ...base, permissionsBoundary: value }).permissionsBoundary).toBe(value);
    }
  });

  it.each([
    "arn:aws:iam::123456789012:role/dev-x",
    "arn:aws:iam::12345:policy/b",
    "arn:aws:s3:::bucket",
    "has spaces",
    "",
  ])("rejects permissionsBoundary %j, naming the field", (value) => {
    expect(problemsOf({ permissionsBoundary: value })).toContain(`permissionsBoundary = ${JSON.stringify(value)}: must be an IAM policy ARN`);
  });

  it('allows "none" (no reservation) but not 0 or -1', () => {
    expect(resolveEnvironment({ ...base, reservedConcurrency: "none" }).reservedConcurrency).toBe("none");
    expect(problemsOf({ reservedConcurrency: 0 })).toContain('reservedConcurrency (or "none") = 0');
    expect(problemsOf({ reservedConcurrency: -1 })).toContain('reservedConcurrency (or "none") = -1');
  });
});
