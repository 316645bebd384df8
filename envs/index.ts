import { EnvironmentConfig, EnvironmentInput } from "./config";
import { dev } from "./dev";
import { prod } from "./prod";
import { ConfigError, resolveEnvironment } from "./validate";

export * from "./config";
export { ConfigError, resolveEnvironment, LOG_RETENTION_DAYS } from "./validate";

/** Every environment the app synthesizes, one stack each. */
export const environments: readonly EnvironmentInput[] = [dev, prod];

/** The validated config of one environment; throws ConfigError when envs/ does not declare it. */
export function environmentConfig(name: string): EnvironmentConfig {
  const input = environments.find((e) => e.environment === name);
  if (!input) {
    const declared = environments.map((e) => e.environment).join(", ");
    throw new ConfigError(name, [`environment = "${name}": envs/ declares only ${declared}`]);
  }
  return resolveEnvironment(input);
}
