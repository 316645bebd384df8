import { Construct } from "constructs";
import { TerraformBackend, TerraformRemoteState } from "cdktf";

export interface PartialS3BackendProps {
  /** State object key, one per environment. */
  readonly key: string;
}

/**
 * An S3 backend without `bucket` and `region`: they differ per account, so
 * `terraform init -backend-config=bucket=... -backend-config=region=...` supplies
 * them. cdktf's S3Backend requires a bucket; this one only writes what is fixed.
 * Being a backend, it also stops cdktf from adding its default local backend.
 */
export class PartialS3Backend extends TerraformBackend {
  constructor(
    scope: Construct,
    private readonly props: PartialS3BackendProps,
  ) {
    super(scope, "backend", "s3");
  }

  protected synthesizeAttributes(): Record<string, unknown> {
    // S3 native locking (use_lockfile) replaces the DynamoDB lock table.
    return { key: this.props.key, encrypt: true, use_lockfile: true };
  }

  protected synthesizeHclAttributes(): Record<string, unknown> {
    return this.synthesizeAttributes();
  }

  getRemoteStateDataSource(_scope: Construct, name: string): TerraformRemoteState {
    throw new Error(`PartialS3Backend: remote state "${name}" needs the bucket, which is only known at init`);
  }
}
