import { DataAwsIamPolicyDocumentStatement } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";

/** One IAM statement. Allow only: deny rules live in resource policies, not in role grants. */
export interface GrantStatement {
  /** Statement id: letters and digits, unique within the policy. */
  readonly sid: string;
  readonly actions: readonly string[];
  readonly resources: readonly string[];
  /** IAM conditions, e.g. `s3:prefix` on a ListBucket. Default none. */
  readonly conditions?: readonly { readonly test: string; readonly variable: string; readonly values: readonly string[] }[];
}

/**
 * Something that can receive permissions (a Lambda's role). Resources call
 * `grantable.grant(...)` from their own `grant*` methods, so the statement that
 * names a bucket's ARN is written by the bucket, not pasted into the role.
 */
export interface IGrantable {
  grant(statement: GrantStatement): void;
}

export function toPolicyStatement(s: GrantStatement): DataAwsIamPolicyDocumentStatement {
  return {
    sid: s.sid,
    effect: "Allow",
    actions: [...s.actions],
    resources: [...s.resources],
    ...(s.conditions ? { condition: s.conditions.map((c) => ({ ...c, values: [...c.values] })) } : {}),
  };
}

/** `my-bucket_name` -> `MyBucketName`, for statement ids. */
export function pascal(text: string): string {
  return text
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join("");
}
