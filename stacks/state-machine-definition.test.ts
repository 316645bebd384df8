/**
 * The build state machine's definition as both stacks synthesize it (the JSON AWS receives, and
 * the local interpreter reads), checked by an independent Amazon States Language validator
 * (asl-validator: the ASL JSON schemas, transitions, terminal states, paths and intrinsic functions).
 */
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { byPath } from "../constructs/__fixtures__/synth";
import { synthBothStacks } from "./__fixtures__/stacks";

type AslValidator = (definition: unknown, options?: { checkPaths: boolean; checkArn: boolean }) => {
  isValid: boolean;
  errorsText: (separator?: string) => string;
};
// asl-validator ships CommonJS without type declarations.
const aslValidator = createRequire(__filename)("asl-validator") as AslValidator;
const STRICT = { checkPaths: true, checkArn: true };

const stacks = synthBothStacks();
const definitionOf = (env: "dev" | "prod") => JSON.parse(byPath(stacks[env], "aws_sfn_state_machine", "build/state-machine").definition);

describe("the synthesized build state machine definition", () => {
  it.each(["dev", "prod"] as const)("%s passes the ASL validator with path and ARN checks on", (env) => {
    const result = aslValidator(definitionOf(env), STRICT);
    expect(result.errorsText("\n")).toBe("");
    expect(result.isValid).toBe(true);
  });

  it("is the same in both stacks but for the runner it invokes", () => {
    const text = (env: "dev" | "prod") => JSON.stringify(definitionOf(env)).replace(/\$\{aws_lambda_function\.[^}]+\}/g, "<runner>");
    expect(text("dev")).toBe(text("prod"));
  });

  it("the validator does reject a broken definition (a dangling Next, an OutputPath that is no path, a broken intrinsic)", () => {
    const broken = definitionOf("dev");
    broken.States.Step.Next = "NoSuchState";
    expect(aslValidator(broken, STRICT).isValid).toBe(false);
    const badPath = definitionOf("dev");
    badPath.States.Step.OutputPath = "Payload";
    expect(aslValidator(badPath, STRICT).isValid).toBe(false);
    const badIntrinsic = definitionOf("dev");
    badIntrinsic.States.OldestRunning.Parameters["oldest.$"] = "States.ArrayGetItem($.running, States.MathAdd($.count, -1)";
    expect(aslValidator(badIntrinsic, STRICT).isValid).toBe(false);
  });
});
