/**
 * The zips the runner deploys, relative to the synthesized stack directory
 * (`cdktf.out/stacks/<env>/`, where Terraform runs), i.e. `<repo>/build/...`.
 * Terraform hashes them at plan time, so synth needs neither file:
 *   build/function.zip  <- `make package` (handler modules + the dbt project)
 *   build/dbt-layer.zip <- `make layer`   (dbt-core + dbt-athena for arm64)
 */
export const FUNCTION_ZIP = "../../../build/function.zip";
export const LAYER_ZIP = "../../../build/dbt-layer.zip";
