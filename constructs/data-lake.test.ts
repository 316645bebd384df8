import { describe, expect, it } from "vitest";
import { BUCKET_PREFIX_MAX } from "../envs";
import { BUCKET_KINDS, DataLake, bucketName, glueDatabaseName, SUFFIX_BYTES } from "./data-lake";
import { GrantStatement, IGrantable } from "./grants";
import { byPath, ofType, only, ref, synthConstructs, TfJson } from "./__fixtures__/synth";

const PREFIX = "p".repeat(BUCKET_PREFIX_MAX - 4) + "-a-b"; // the longest prefix envs/ accepts
const aws = { accountId: "111122223333", partition: "aws", region: "ap-southeast-2" };

class Recorder implements IGrantable {
  readonly statements: GrantStatement[] = [];
  grant(statement: GrantStatement): void {
    this.statements.push(statement);
  }
}

function lake(protectBuckets: boolean, recorder?: Recorder): TfJson {
  return synthConstructs((stack) => {
    const l = new DataLake(stack, "lake", {
      ...aws,
      bucketPrefix: PREFIX,
      athenaWorkgroupName: "dev-dbt",
      bytesScannedCutoffPerQuery: 10 * 1024 ** 3,
      protectBuckets,
    });
    if (recorder) {
      l.grantGlueForDbt(recorder);
      l.grantAthenaQuery(recorder);
    }
  });
}

const recorder = new Recorder();
const dev = lake(false, recorder);
const prod = lake(true);

/** The bucket name with the random_id interpolation replaced by its longest value. */
function worstCaseName(name: string): string {
  return name.replace(/\$\{random_id\.[^}]+\.hex\}/, "f".repeat(SUFFIX_BYTES * 2));
}

describe("DataLake buckets", () => {
  it("names each bucket <prefix>-<kind>-<random hex> from one random_id", () => {
    const random = only(dev, "random_id");
    expect(random.byte_length).toBe(SUFFIX_BYTES);
    const suffix = ref(dev, "random_id", "bucket-suffix", "hex");
    for (const kind of BUCKET_KINDS) {
      expect(byPath(dev, "aws_s3_bucket", `${kind}/bucket`).bucket).toBe(`${PREFIX}-${kind}-${suffix}`);
    }
    expect(byPath(dev, "aws_s3_bucket", "access-logs/bucket").bucket).toBe(`${PREFIX}-access-logs-${suffix}`);
  });

  it("keeps every name within 63 characters for the longest allowed prefix", () => {
    expect(PREFIX).toHaveLength(BUCKET_PREFIX_MAX);
    const names = Object.values(ofType(dev, "aws_s3_bucket")).map((b) => worstCaseName(b.bucket));
    expect(names).toHaveLength(4);
    for (const name of names) {
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(/^[a-z0-9][a-z0-9-]*[a-z0-9]$/);
    }
    // The bound itself: the longest kind plus the suffix leaves room for exactly 39 prefix chars.
    const longestKind = [...BUCKET_KINDS, "access-logs"].reduce((a, b) => (a.length >= b.length ? a : b));
    expect(bucketName("x".repeat(BUCKET_PREFIX_MAX), longestKind, "f".repeat(SUFFIX_BYTES * 2)).length).toBe(60);
    expect(BUCKET_PREFIX_MAX + 2 + longestKind.length + SUFFIX_BYTES * 2).toBeLessThanOrEqual(63);
  });

  it("applies each zone's lifecycle", () => {
    const rules = (kind: string) => byPath(dev, "aws_s3_bucket_lifecycle_configuration", `${kind}/lifecycle`).rule.slice(2);
    expect(rules("raw")).toEqual([
      expect.objectContaining({
        transition: [
          { days: 0, storage_class: "INTELLIGENT_TIERING" },
          { days: 1095, storage_class: "GLACIER" },
        ],
      }),
    ]);
    expect(rules("raw")[0].expiration).toBeUndefined();
    expect(rules("processed")).toEqual([expect.objectContaining({ transition: [{ days: 0, storage_class: "INTELLIGENT_TIERING" }] })]);
    expect(rules("processed")[0].expiration).toBeUndefined();
    expect(rules("athena-results")).toEqual([
      expect.objectContaining({ expiration: [{ days: 30 }], noncurrent_version_expiration: [{ noncurrent_days: 7 }] }),
    ]);
  });

  it("logs access to every data bucket in the access-log bucket, which S3's log delivery may write to", () => {
    const logging = Object.values(ofType(dev, "aws_s3_bucket_logging"));
    expect(logging.map((l) => l.bucket).sort()).toEqual(BUCKET_KINDS.map((k) => ref(dev, "aws_s3_bucket", `${k}/bucket`, "id")).sort());
    for (const l of logging) expect(l.target_bucket).toBe(ref(dev, "aws_s3_bucket", "access-logs/bucket", "id"));
    const delivery = byPath(dev, "aws_iam_policy_document", "access-logs/policy-document", "data").statement[1];
    expect(delivery).toMatchObject({
      effect: "Allow",
      principals: [{ type: "Service", identifiers: ["logging.s3.amazonaws.com"] }],
      actions: ["s3:PutObject"],
      condition: [
        { test: "StringEquals", variable: "aws:SourceAccount", values: ["111122223333"] },
        {
          test: "ArnLike",
          variable: "aws:SourceArn",
          values: BUCKET_KINDS.map((k) => `arn:aws:s3:::${byPath(dev, "aws_s3_bucket", `${k}/bucket`).bucket}`),
        },
      ],
    });
    expect(delivery.resources).toEqual([`arn:aws:s3:::${byPath(dev, "aws_s3_bucket", "access-logs/bucket").bucket}/*`]);
  });

  it("protects every bucket from destroy in prod, and lets dev's go with their data", () => {
    for (const b of Object.values(ofType(prod, "aws_s3_bucket"))) {
      expect(b.lifecycle).toEqual({ prevent_destroy: true });
      expect(b.force_destroy).toBe(false);
    }
    for (const b of Object.values(ofType(dev, "aws_s3_bucket"))) {
      expect(b.lifecycle).toBeUndefined();
      expect(b.force_destroy).toBe(true);
    }
    expect(only(prod, "aws_athena_workgroup").force_destroy).toBe(false);
    expect(only(dev, "aws_athena_workgroup").force_destroy).toBe(true);
  });
});

describe("DataLake catalog and workgroup", () => {
  it("names the Glue database with underscores", () => {
    expect(glueDatabaseName("acme-data-dev")).toBe("acme_data_dev");
    expect(only(dev, "aws_glue_catalog_database").name).toBe(PREFIX.replace(/-/g, "_"));
    expect(only(dev, "aws_glue_catalog_database").name).not.toContain("-");
  });

  it("runs engine v3 with the scan cutoff and encrypted results in the athena-results bucket by default", () => {
    const wg = only(dev, "aws_athena_workgroup");
    expect(wg.name).toBe("dev-dbt");
    expect(wg.state).toBe("ENABLED");
    expect(wg.configuration).toEqual({
      // Enforcing it would put dbt's tables in the athena-results bucket (see data-lake.ts).
      enforce_workgroup_configuration: false,
      publish_cloudwatch_metrics_enabled: true,
      bytes_scanned_cutoff_per_query: 10 * 1024 ** 3,
      engine_version: { selected_engine_version: "Athena engine version 3" },
      result_configuration: {
        output_location: `s3://${ref(dev, "aws_s3_bucket", "athena-results/bucket", "bucket")}/athena/`,
        expected_bucket_owner: "111122223333",
        encryption_configuration: { encryption_option: "SSE_S3" },
      },
    });
  });

  it("grants Glue on this catalog, database and its tables, and Athena on this workgroup only", () => {
    const db = PREFIX.replace(/-/g, "_");
    const base = "arn:aws:glue:ap-southeast-2:111122223333";
    const [read, write, athena] = recorder.statements;
    const glueResources = [
      `${base}:catalog`,
      `${base}:database/${db}`,
      `${base}:database/${db}_*`,
      `${base}:table/${db}/*`,
      `${base}:table/${db}_*/*`,
    ];
    expect(read.resources).toEqual(glueResources);
    expect(write.resources).toEqual(glueResources);
    for (const s of [read, write]) for (const a of s.actions) expect(a).toMatch(/^glue:[A-Z][A-Za-z]+$/);
    expect(write.actions).not.toContain("glue:DeleteDatabase");
    expect(athena.resources).toHaveLength(1);
    expect(athena.resources[0]).toMatch(/^\$\{TfToken\[TOKEN\.\d+\]\}$/); // the workgroup's arn attribute
    for (const a of athena.actions) expect(a).toMatch(/^athena:[A-Z][A-Za-z]+$/);
  });
});

describe("DataLake name guard", () => {
  it("refuses a prefix that would push a bucket name past 63 characters", () => {
    expect(() =>
      synthConstructs((stack) => {
        new DataLake(stack, "lake", {
          ...aws,
          bucketPrefix: "x".repeat(40),
          athenaWorkgroupName: "dev-dbt",
          bytesScannedCutoffPerQuery: 10 * 1024 ** 3,
          protectBuckets: false,
        });
      }),
    ).toThrow(/bucketPrefix "x{40}" makes "x{40}-athena-results-ffffffff" 64 chars; S3 allows 63/);
  });
});
