import { Construct } from "constructs";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { IGrantable } from "./grants";

export interface PlatformKeyProps {
  /** Alias without the `alias/` prefix. */
  readonly alias: string;
  readonly accountId: string;
  readonly partition: string;
  readonly region: string;
  /** Log group names whose events CloudWatch Logs may encrypt with this key. */
  readonly logGroupNames: readonly string[];
  /** Days before a scheduled key deletion completes. Default 30 (the maximum). */
  readonly deletionWindowInDays?: number;
}

/**
 * A customer-managed KMS key (rotated yearly) for what AWS-managed keys cannot
 * cover or audit: the runner's log group and its environment variables. One key
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
    // In a key policy "Resource": "*" means "this key": AWS accepts nothing narrower there.
    const policy = new DataAwsIamPolicyDocument(this, "policy", {
      statement: [
        {
          sid: "AccountAdministersKeyThroughIam",
          effect: "Allow",
          principals: [{ type: "AWS", identifiers: [account] }],
          actions: ["kms:*"],
          resources: ["*"],
        },
        {
          sid: "CloudWatchLogsEncryptsOwnLogGroups",
          effect: "Allow",
          principals: [{ type: "Service", identifiers: [`logs.${props.region}.amazonaws.com`] }],
          actions: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
          resources: ["*"],
          condition: [{ test: "ArnEquals", variable: "kms:EncryptionContext:aws:logs:arn", values: logGroupArns }],
        },
      ],
    });
    this.key = new KmsKey(this, "key", {
      description: `Encrypts ${props.alias} logs and Lambda environment variables`,
      enableKeyRotation: true,
      deletionWindowInDays: props.deletionWindowInDays ?? 30,
      policy: policy.json,
    });
    this.keyArn = this.key.arn;
    new KmsAlias(this, "alias", { name: `alias/${props.alias}`, targetKeyId: this.key.keyId });
  }

  /** Decrypt data encrypted with this key (e.g. the runner's environment variables). */
  grantDecrypt(grantee: IGrantable): void {
    grantee.grant({ sid: "DecryptWithPlatformKey", actions: ["kms:Decrypt"], resources: [this.keyArn] });
  }
}
