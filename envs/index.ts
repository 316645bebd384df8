import { EnvironmentInput } from "./config";
import { dev } from "./dev";
import { prod } from "./prod";

export * from "./config";
export { ConfigError, resolveEnvironment, LOG_RETENTION_DAYS } from "./validate";

/** Every environment the app synthesizes, one stack each. */
export const environments: readonly EnvironmentInput[] = [dev, prod];
