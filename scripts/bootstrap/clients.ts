import { IAMClient } from "@aws-sdk/client-iam";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { S3Client } from "@aws-sdk/client-s3";
import { STSClient } from "@aws-sdk/client-sts";

export interface AwsClients {
  readonly s3: (region: string) => S3Client;
  readonly iam: IAMClient;
  readonly sts: STSClient;
  /** Lambda in the stack's region (envs/<env>.ts), for the account preflight. */
  readonly lambda: (region: string) => LambdaClient;
}

/**
 * SDK v3 clients. Credentials and `AWS_ENDPOINT_URL` come from the SDK's own chain; when a
 * custom endpoint is in use (moto, LocalStack, MinIO) S3 needs path-style addressing because
 * `<bucket>.127.0.0.1` does not resolve.
 */
export function createClients(region: string, customEndpoint: boolean): AwsClients {
  const s3Clients = new Map<string, S3Client>();
  return {
    s3: (bucketRegion: string) => {
      let client = s3Clients.get(bucketRegion);
      if (!client) {
        client = new S3Client({ region: bucketRegion, forcePathStyle: customEndpoint, followRegionRedirects: true });
        s3Clients.set(bucketRegion, client);
      }
      return client;
    },
    iam: new IAMClient({ region }),
    sts: new STSClient({ region }),
    lambda: (stackRegion: string) => new LambdaClient({ region: stackRegion }),
  };
}

/** The HTTP status of an SDK error, if the service answered. */
export function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

export function errorName(error: unknown): string | undefined {
  return (error as { name?: string }).name;
}

/** A failure the user can act on: printed without a stack trace, exit status 1. */
export class BootstrapError extends Error {
  override readonly name = "BootstrapError";
}
