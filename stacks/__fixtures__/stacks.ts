import { Testing } from "cdktf";
import { environments, resolveEnvironment } from "../../envs";
import { loadRawSources } from "../../constructs/dbt-sources";
import { FIXTURE_SOURCES, synthStack, TfJson } from "../../constructs/__fixtures__/synth";
import { DataPlatformStack } from "../data-platform-stack";

/** dev and prod, synthesized once per test file from envs/ and the fixture sources. */
export function synthBothStacks(): Record<"dev" | "prod", TfJson> {
  const app = Testing.app();
  const rawTables = loadRawSources(FIXTURE_SOURCES);
  const out: Partial<Record<"dev" | "prod", TfJson>> = {};
  for (const input of environments) {
    const config = resolveEnvironment(input);
    out[config.environment] = synthStack(new DataPlatformStack(app, config.environment, { config, rawTables }));
  }
  return out as Record<"dev" | "prod", TfJson>;
}
