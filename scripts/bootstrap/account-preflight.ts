import { GetAccountSettingsCommand, GetFunctionConcurrencyCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import type { EnvironmentConfig } from "../../envs";
import { errorName } from "./clients";
import type { StepResult } from "./progress";

/** Lambda keeps this much of an account's concurrency unreserved; a reservation that would cut into it fails. */
export const MIN_UNRESERVED = 100;

/** A prerequisite of the account that bootstrap cannot create: what is missing and what to do. */
export interface MissingPrerequisite {
  readonly title: string;
  readonly lines: readonly string[];
}

export interface PreflightResult extends StepResult {
  readonly missing: readonly MissingPrerequisite[];
}

/**
 * Whether the stack's reserved concurrency fits the account's Lambda quota in the stack's
 * region: Lambda refuses a reservation that leaves fewer than 100 unreserved executions, and
 * new accounts often have a quota of 10 or 50. A reservation the function already holds is
 * already out of the unreserved pool, so a re-run does not count it twice.
 */
export async function checkLambdaConcurrency(lambda: LambdaClient, stack: EnvironmentConfig): Promise<PreflightResult> {
  const where = `${stack.region} (envs/${stack.environment}.ts)`;
  let settings;
  try {
    settings = await lambda.send(new GetAccountSettingsCommand({}));
  } catch (error) {
    const name = errorName(error);
    const lines =
      name === "UnrecognizedClientException" || name === "InvalidClientTokenId"
        ? [
            `Lambda in ${where} does not accept this account's credentials: the region is probably not enabled.`,
            `Enable it under Account > AWS Regions (opt-in regions), or set another region in envs/${stack.environment}.ts.`,
          ]
        : name === "AccessDeniedException"
          ? [`These credentials may not call lambda:GetAccountSettings in ${stack.region}; run bootstrap as an administrator of the account.`]
          : [`lambda:GetAccountSettings in ${stack.region} failed: ${name}: ${(error as Error).message}`];
    return { change: "manual", detail: "could not read the Lambda quota", missing: [{ title: "Lambda account settings", lines }] };
  }

  const quota = settings.AccountLimit?.ConcurrentExecutions ?? 0;
  const unreserved = settings.AccountLimit?.UnreservedConcurrentExecutions ?? quota;
  // Every function's reservation comes out of the same unreserved pool (stack.reservations).
  const reservations = Object.entries(stack.reservations);
  const wanted = reservations.reduce((sum, [, n]) => sum + n, 0);
  let held = 0;
  for (const [name] of reservations) held += await currentReservation(lambda, name);
  const leftAfter = unreserved + held - wanted;
  const figures = `quota ${quota}, unreserved ${unreserved}, the stack reserves ${wanted}`;
  if (wanted === 0 || leftAfter >= MIN_UNRESERVED) return { change: "unchanged", detail: figures, missing: [] };

  const needed = quota + (MIN_UNRESERVED - leftAfter);
  return {
    change: "manual",
    detail: `${figures}: ${leftAfter} would stay unreserved, Lambda requires ${MIN_UNRESERVED}`,
    missing: [
      {
        title: `Lambda concurrency in ${stack.region}`,
        lines: [
          `The account's Lambda "Concurrent executions" quota in ${stack.region} is ${quota} (${unreserved} unreserved).`,
          `${reservations.map(([name, n]) => `${name} reserves ${n}`).join(", ")} (reservedConcurrency in envs/${stack.environment}.ts), which would leave ${leftAfter};`,
          `Lambda refuses any reservation that leaves fewer than ${MIN_UNRESERVED}, so the first apply would fail.`,
          `Either request a quota of at least ${needed} (Service Quotas > AWS Lambda > "Concurrent executions", region ${stack.region}; new accounts are often raised to 1000),`,
          `or set reservedConcurrency: "none" in envs/${stack.environment}.ts: no reservation, at the price that two builds may then run at once.`,
        ],
      },
    ],
  };
}

async function currentReservation(lambda: LambdaClient, functionName: string): Promise<number> {
  try {
    return (await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: functionName }))).ReservedConcurrentExecutions ?? 0;
  } catch (error) {
    if (errorName(error) === "ResourceNotFoundException") return 0;
    throw error;
  }
}
