import { describe, expect, it } from "vitest";
import { environmentsToInit, findCdktfRun } from "./deploy-run";

const ENVS = ["dev", "prod"];
// As /proc shows them under `npx cdktf deploy dev --auto-approve` (nearest ancestor first).
const DEPLOY = [
  ["/bin/sh", "-c", "npx tsx main.ts"],
  ["node", "/repo/node_modules/.bin/cdktf", "deploy", "dev", "--auto-approve", "--output", "/tmp/out"],
  ["sh", "-c", "'cdktf' deploy dev --auto-approve"],
  ["npm", "exec", "cdktf", "deploy", "dev", "--auto-approve"],
];

describe("which cdktf command runs the app", () => {
  it("finds deploy and the stack it names, skipping option values", () => {
    expect(findCdktfRun(DEPLOY)).toEqual({ command: "deploy", args: ["dev"] });
    expect(findCdktfRun([["node", "/x/cdktf-cli/bundle/bin/cdktf", "destroy", "--app", "node x", "prod"]])).toEqual({
      command: "destroy",
      args: ["prod"],
    });
  });

  it("inits the named stacks for deploy/destroy/diff, all of them when none is named, none for synth", () => {
    expect(environmentsToInit(findCdktfRun(DEPLOY), ENVS)).toEqual(["dev"]);
    expect(environmentsToInit({ command: "diff", args: [] }, ENVS)).toEqual(ENVS);
    expect(environmentsToInit({ command: "synth", args: [] }, ENVS)).toEqual([]);
    expect(environmentsToInit(findCdktfRun([["node", "main.ts"], ["bash"]]), ENVS)).toEqual([]);
  });
});
