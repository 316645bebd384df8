/**
 * Prints the build state machine's definition as buildDefinition() makes it, for the Python tests
 * that run it on an ASL interpreter: `npx tsx scripts/testing/print-build-definition.ts '<props JSON>'`.
 */
import { buildDefinition, BuildDefinitionProps } from "../../constructs/build-definition";

const props = JSON.parse(process.argv[2] ?? "{}") as BuildDefinitionProps;
process.stdout.write(JSON.stringify(buildDefinition(props)));
