/**
 * Which cdktf command runs the app. cdktf tells the app nothing about it (the synth step gets
 * only CDKTF_OUTDIR and the context), yet `deploy`, `destroy` and `diff` go on to run
 * `terraform init` in a pseudo-terminal, where a partial backend's missing bucket becomes an
 * `Enter a value:` prompt that no one answers. So main.ts reads the command lines of the app's
 * ancestor processes and this module finds the cdktf CLI among them.
 */
import * as path from "node:path";

/** cdktf commands that run `terraform init` on the stacks they name. */
export const TERRAFORM_COMMANDS = ["deploy", "apply", "destroy", "diff", "plan", "watch", "output", "outputs"] as const;

export interface CdktfRun {
  readonly command: string;
  /** The positional arguments after the command: the stacks it names (empty: cdktf picks). */
  readonly args: readonly string[];
}

/** True for the token that is the cdktf CLI itself (`.../node_modules/.bin/cdktf`, `cdktf.js`, `cdktf`). */
function isCdktfBinary(token: string): boolean {
  const base = path.basename(token);
  return base === "cdktf" || base === "cdktf.js" || token.includes("cdktf-cli/bundle/bin/cdktf");
}

/**
 * The cdktf command among the ancestors' argument vectors (nearest ancestor first), or
 * undefined when the app does not run under the cdktf CLI (`npx tsx main.ts`, tests).
 */
export function findCdktfRun(ancestry: readonly (readonly string[])[]): CdktfRun | undefined {
  for (const argv of ancestry) {
    const at = argv.findIndex(isCdktfBinary);
    // `npx cdktf ...` is also an ancestor (argv[1] is "cdktf"); the node process running the CLI comes first.
    if (at < 0 || at + 1 >= argv.length) continue;
    const [command, ...rest] = argv.slice(at + 1);
    const args: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      if (rest[i].startsWith("-")) {
        // Options that take a value as the next token.
        if (!rest[i].includes("=") && VALUE_OPTIONS.has(rest[i])) i++;
        continue;
      }
      args.push(rest[i]);
    }
    return { command, args };
  }
  return undefined;
}

const VALUE_OPTIONS = new Set(["--app", "-a", "--output", "-o", "--var", "--var-file", "--parallelism", "--outputs-file", "--refresh-only-file", "--log-level"]);

/** The environments a run will `terraform init`: those it names, or all when it names none. */
export function environmentsToInit(run: CdktfRun | undefined, environments: readonly string[]): string[] {
  if (!run || !(TERRAFORM_COMMANDS as readonly string[]).includes(run.command)) return [];
  const named = run.args.filter((a) => environments.includes(a));
  return named.length > 0 ? named : [...environments];
}
