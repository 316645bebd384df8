import { Construct } from "constructs";
import { TerraformBackend, TerraformRemoteState } from "cdktf";

export interface PartialS3BackendProps {
  /** State object key, one per environment. */
  readonly key: string;
  /**
   * The state bucket and its region, when known at synth: bootstrap's record
   * (`.bootstrap/<env>.json`, read by main.ts) makes the backend complete, so
   * `npx cdktf deploy` inits with no input. Without them the backend stays partial.
   */
  readonly bucket?: { readonly name: string; readonly region: string };
}

/**
 * An S3 backend whose `bucket` and `region` may be left out: they differ per account, so
 * CI's `terraform init -backend-config=bucket=... -backend-config=region=...` supplies
 * them. cdktf's S3Backend requires a bucket; this one only writes what is known.
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
    const fixed = { key: this.props.key, encrypt: true, use_lockfile: true };
    const { bucket } = this.props;
    return bucket ? { bucket: bucket.name, region: bucket.region, ...fixed } : fixed;
  }

  protected synthesizeHclAttributes(): Record<string, unknown> {
    return this.synthesizeAttributes();
  }

  getRemoteStateDataSource(_scope: Construct, name: string): TerraformRemoteState {
    throw new Error(`PartialS3Backend: remote state "${name}" needs the bucket, which is only known at init`);
  }
}
