import {
  CreateBucketCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { BootstrapError, errorName, httpStatus } from "./clients";
import type { StepResult } from "./progress";

export interface BucketTarget {
  readonly bucket: string;
  readonly accountId: string;
  /** Region to create the bucket in when it does not exist yet. */
  readonly region: string;
  readonly dryRun: boolean;
}

export interface BucketState extends StepResult {
  /** Where the bucket lives (an existing bucket keeps its region, whatever --region says). */
  readonly region: string;
  /** False only in a dry run that would create the bucket. */
  readonly exists: boolean;
}

function notOurs(target: BucketTarget, hint = ""): BootstrapError {
  return new BootstrapError(
    `S3 bucket "${target.bucket}" already exists but is not owned by account ${target.accountId}${hint}. ` +
      "Bucket names are global, so another account holds this one: refusing to use it for Terraform state. " +
      "Check that your credentials are for the intended account, or rename the repository (the name's first part).",
  );
}

/**
 * Finds the state bucket, creating it when missing. A bucket of another account is refused:
 * HeadBucket with ExpectedBucketOwner answers 403 for it, and because some S3-compatible
 * endpoints ignore that header, a 200 is confirmed against the account's own bucket list.
 */
export async function ensureStateBucket(s3: S3Client, target: BucketTarget): Promise<BucketState> {
  const found = await headBucket(s3, target);
  if (found) {
    if (!(await listedInAccount(s3, target.bucket))) throw notOurs(target);
    return { change: "unchanged", region: found.region ?? target.region, exists: true, detail: `in ${found.region ?? target.region}` };
  }
  if (target.dryRun) return { change: "created", region: target.region, exists: false, detail: `in ${target.region}` };

  try {
    await s3.send(
      new CreateBucketCommand({
        Bucket: target.bucket,
        ObjectOwnership: "BucketOwnerEnforced",
        // us-east-1 is S3's default location and rejects an explicit LocationConstraint.
        CreateBucketConfiguration: target.region === "us-east-1" ? undefined : { LocationConstraint: target.region as never },
      }),
    );
  } catch (error) {
    if (errorName(error) === "BucketAlreadyOwnedByYou") {
      return { change: "unchanged", region: target.region, exists: true, detail: `in ${target.region}` };
    }
    if (errorName(error) === "BucketAlreadyExists") throw notOurs(target);
    throw error;
  }
  return { change: "created", region: target.region, exists: true, detail: `in ${target.region}` };
}

async function headBucket(s3: S3Client, target: BucketTarget): Promise<{ region?: string } | undefined> {
  try {
    const out = await s3.send(new HeadBucketCommand({ Bucket: target.bucket, ExpectedBucketOwner: target.accountId }));
    return { region: out.BucketRegion };
  } catch (error) {
    const status = httpStatus(error);
    if (status === 404 || errorName(error) === "NotFound" || errorName(error) === "NoSuchBucket") return undefined;
    if (status === 403) throw notOurs(target, " (or these credentials may not read it: s3:ListBucket is needed)");
    throw error;
  }
}

async function listedInAccount(s3: S3Client, bucket: string): Promise<boolean> {
  let token: string | undefined;
  do {
    const page = await s3.send(new ListBucketsCommand({ Prefix: bucket, ContinuationToken: token, MaxBuckets: 1000 }));
    if (page.Buckets?.some((b) => b.Name === bucket)) return true;
    token = page.ContinuationToken;
  } while (token);
  return false;
}
