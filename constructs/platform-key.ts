import { Construct } from "constructs";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { IGrantable } from "./grants";

/** One statement of a KMS key policy, in IAM's JSON shape. */
export interface KeyPolicyStatement {
  readonly Sid: string;
  readonly Effect: "Allow";
  readonly Principal: { readonly AWS: string } | { readonly Service: string };
  readonly Action: readonly string[];
  /** In a key policy "*" means "this key": AWS accepts nothing narrower there. */
  readonly Resource: "*";
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
}

/** The key policy document aws_kms_key.policy holds. */
export interface KeyPolicy {
  readonly Version: "2012-10-17";
  readonly Statement: readonly KeyPolicyStatement[];
}

export interface PlatformKeyProps {
  /** Alias without the `alias/` prefix. */
  readonly alias: string;
  readonly accountId: string;
  readonly partition: string;
  readonly region: string;
  /** Log group names whose events CloudWatch Logs may encrypt with this key. */
  readonly logGroupNames: readonly string[];
  /**
   * Let CloudWatch alarms publish to SNS topics encrypted with this key (the alert topic).
   * Default false.
   */
  readonly encryptsAlarmTopics?: boolean;
  /** Days before a scheduled key deletion completes. Default 30 (the maximum). */
  readonly deletionWindowInDays?: number;
}

/**
 * A customer-managed KMS key (rotated yearly) for what AWS-managed keys cannot
 * cover or audit: the runner's log group, its environment variables and the alert topic. One key
 * per stack keeps the cost at one key.
 */
export class PlatformKey extends Construct {
  readonly key: KmsKey;
  readonly keyArn: string;

  constructor(scope: Construct, id: string, props: PlatformKeyProps) {
    super(scope, id);
    const account = `arn:${props.partition}:iam::${props.accountId}:root`;
    const logGroupArns = props.logGroupNames.map(
      (name) => `arn:${props.partition}:logs:${props.region}:${props.accountId}:log-group:${name}`,
    );
    // A key policy is a resource policy whose "Resource": "*" means "this key". It is typed here
    // and set on the key itself rather than built as an aws_iam_policy_document: scanners read
    // every such document as an identity policy and would flag "*" here, forcing their
    // identity-policy checks off for the role policies too.
    const policy: KeyPolicy = {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "AccountAdministersKeyThroughIam",
          Effect: "Allow",
          Principal: { AWS: account },
          Action: ["kms:*"],
          Resource: "*",
        },
        {
          Sid: "CloudWatchLogsEncryptsOwnLogGroups",
          Effect: "Allow",
          Principal: { Service: `logs.${props.region}.amazonaws.com` },
          Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
          Resource: "*",
          Condition: { ArnEquals: { "kms:EncryptionContext:aws:logs:arn": logGroupArns } },
        },
        // An alarm's publish to an encrypted topic makes SNS use the key on CloudWatch's behalf;
        // AWS documents exactly these two actions for the cloudwatch.amazonaws.com principal.
        ...(props.encryptsAlarmTopics
          ? [
              {
                Sid: "CloudWatchAlarmsPublishToEncryptedTopics",
                Effect: "Allow" as const,
                Principal: { Service: "cloudwatch.amazonaws.com" },
                Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
                Resource: "*" as const,
              },
            ]
          : []),
      ],
    };
    this.key = new KmsKey(this, "key", {
      description: `Encrypts ${props.alias} logs, Lambda environment variables and alerts`,
      enableKeyRotation: true,
      deletionWindowInDays: props.deletionWindowInDays ?? 30,
      policy: JSON.stringify(policy),
    });
    this.keyArn = this.key.arn;
    new KmsAlias(this, "alias", { name: `alias/${props.alias}`, targetKeyId: this.key.keyId });
  }

  /** Decrypt data encrypted with this key (e.g. the runner's environment variables). */
  grantDecrypt(grantee: IGrantable): void {
    grantee.grant({ sid: "DecryptWithPlatformKey", actions: ["kms:Decrypt"], resources: [this.keyArn] });
  }

  /** Make data keys with this key: publishing to an SNS topic it encrypts (with grantDecrypt). */
  grantGenerateDataKey(grantee: IGrantable): void {
    grantee.grant({ sid: "GenerateDataKeyWithPlatformKey", actions: ["kms:GenerateDataKey"], resources: [this.keyArn] });
  }
}
