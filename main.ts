/**
 * The CDKTF app: one DataPlatformStack per environment in envs/.
 * The only module that reads process.env (cdktf's own settings, e.g. CDKTF_OUTDIR).
 */
import * as path from "node:path";
import { App } from "cdktf";
import { environments, resolveEnvironment } from "./envs";
import { loadRawSources } from "./constructs/dbt-sources";
import { DataPlatformStack } from "./stacks/data-platform-stack";

/** The dbt sources file the raw Glue tables come from. */
export const SOURCES_FILE = path.join(__dirname, "dbt", "models", "sources.yml");

export function buildApp(outdir?: string): App {
  const app = new App(outdir ? { outdir } : undefined);
  const rawTables = loadRawSources(SOURCES_FILE);
  for (const input of environments) {
    const config = resolveEnvironment(input);
    for (const warning of config.warnings) console.warn(`warning: ${warning}`);
    new DataPlatformStack(app, config.environment, { config, rawTables });
  }
  return app;
}

if (require.main === module) {
  try {
    // cdktf-cli passes the output directory in CDKTF_OUTDIR; App reads it by default too.
    buildApp(process.env.CDKTF_OUTDIR).synth();
  } catch (err) {
    console.error(`synth failed: ${(err as Error).message}`);
    process.exit(1);
  }
}
