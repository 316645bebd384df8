import { describe, expect, it } from "vitest";
import { KeyPolicy, PlatformKey } from "./platform-key";
import { GrantStatement, IGrantable } from "./grants";
import { only, synthConstructs } from "./__fixtures__/synth";

const statements: GrantStatement[] = [];
const grantee: IGrantable = { grant: (s) => statements.push(s) };
const json = synthConstructs((stack) => {
  const key = new PlatformKey(stack, "key", {
    alias: "dev-dbt-platform",
    accountId: "111122223333",
    partition: "aws",
    region: "ap-southeast-2",
    logGroupNames: ["/aws/lambda/dev-dbt-runner"],
  });
  key.grantDecrypt(grantee);
});

describe("PlatformKey", () => {
  it("rotates and waits the longest window before deletion", () => {
    expect(only(json, "aws_kms_key")).toMatchObject({ enable_key_rotation: true, deletion_window_in_days: 30 });
    expect(only(json, "aws_kms_alias").name).toBe("alias/dev-dbt-platform");
  });

  it("lets CloudWatch Logs use the key only for the named log groups", () => {
    const policy = JSON.parse(only(json, "aws_kms_key").policy) as KeyPolicy;
    expect(policy.Version).toBe("2012-10-17");
    const [admin, logs] = policy.Statement;
    expect(admin).toMatchObject({ Principal: { AWS: "arn:aws:iam::111122223333:root" }, Action: ["kms:*"] });
    expect(logs.Principal).toEqual({ Service: "logs.ap-southeast-2.amazonaws.com" });
    expect(logs.Action).not.toContain("kms:*");
    expect(logs.Condition).toEqual({
      ArnEquals: {
        "kms:EncryptionContext:aws:logs:arn": ["arn:aws:logs:ap-southeast-2:111122223333:log-group:/aws/lambda/dev-dbt-runner"],
      },
    });
  });

  it("is the key's own policy, not an IAM policy document", () => {
    expect(Object.keys(json.data?.aws_iam_policy_document ?? {})).toEqual([]);
  });

  it("grants decrypt on this key only", () => {
    expect(statements).toHaveLength(1);
    expect(statements[0].actions).toEqual(["kms:Decrypt"]);
    expect(statements[0].resources).toHaveLength(1);
  });
});
