import { describe, expect, it } from "vitest";
import { Testing } from "cdktf";
import { RunArtifacts } from "./run-artifacts";
import { GrantStatement, IGrantable } from "./grants";
import { only, synthConstructs } from "./__fixtures__/synth";

describe("RunArtifacts", () => {
  const granted: GrantStatement[] = [];
  let arn = "";
  const json = synthConstructs((stack) => {
    const artifacts = new RunArtifacts(stack, "artifacts", { bucketName: "acme-artifacts-0a1b2c3d", runRetentionDays: 14 });
    arn = artifacts.bucketArn;
    artifacts.grantRunner({ grant: (s) => granted.push(s) } satisfies IGrantable);
  });

  it("expires runs/ after the retention and keeps latest/ and docs/ current", () => {
    const rules = only(json, "aws_s3_bucket_lifecycle_configuration").rule as { id: string; filter: unknown; expiration?: { days?: number }[] }[];
    expect(rules.find((r) => r.id === "expire-runs")).toMatchObject({ filter: [{ prefix: "runs/" }], expiration: [{ days: 14 }] });
    expect(rules.filter((r) => r.expiration?.[0]?.days !== undefined).map((r) => r.id)).toEqual(["expire-runs"]);
  });

  it("lets the runner write its prefixes and ci/, read latest/, in_progress/ and its runs, list latest/, in_progress/ and timed-out runs, read bundles, delete replaced latest/ folders and records", () => {
    expect(granted).toEqual([
      { sid: "WriteRunArtifacts", actions: ["s3:PutObject"], resources: [`${arn}/runs/*`, `${arn}/latest/*`, `${arn}/docs/*`, `${arn}/in_progress/*`] },
      { sid: "ReadRunArtifacts", actions: ["s3:GetObject"], resources: [`${arn}/latest/*`, `${arn}/in_progress/*`, `${arn}/runs/*`] },
      { sid: "DeleteReplacedArtifacts", actions: ["s3:DeleteObject"], resources: [`${arn}/latest/*`, `${arn}/in_progress/*`] },
      {
        sid: "ListLatestArtifacts",
        actions: ["s3:ListBucket"],
        resources: [arn],
        conditions: [{ test: "StringLike", variable: "s3:prefix", values: ["latest/*", "in_progress/*", "runs/*/timed-out-*"] }],
      },
      { sid: "ReadProjectBundles", actions: ["s3:GetObject"], resources: [`${arn}/projects/*`, `${arn}/ci/*`] },
      { sid: "WriteCiRunRecords", actions: ["s3:PutObject"], resources: [`${arn}/ci/*`] },
    ]);
  });

  it("refuses a retention that is not a positive number of days", () => {
    expect(() => Testing.synthScope((scope) => new RunArtifacts(scope, "a", { bucketName: "acme-artifacts-x", runRetentionDays: 0 }))).toThrow(
      /runRetentionDays must be a positive integer, got 0/,
    );
  });
});
