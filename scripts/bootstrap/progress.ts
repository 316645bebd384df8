/** What a step did (or, in a dry run, would do). */
export type Change = "unchanged" | "created" | "updated" | "manual";

export interface StepResult {
  readonly change: Change;
  readonly detail?: string;
}

const LABELS: Record<Change, { apply: string; dryRun: string }> = {
  unchanged: { apply: "unchanged", dryRun: "unchanged" },
  created: { apply: "created", dryRun: "would create" },
  updated: { apply: "updated", dryRun: "would update" },
  manual: { apply: "to do by hand", dryRun: "to do by hand" },
};

/** Numbered, one-line-per-step progress, and the tally the summary line is made of. */
export class Progress {
  private readonly results: StepResult[] = [];

  constructor(
    private readonly print: (line: string) => void,
    readonly dryRun: boolean,
  ) {}

  async step<T extends StepResult>(title: string, run: () => Promise<T>): Promise<T> {
    const n = this.results.length + 1;
    const result = await run();
    this.results.push(result);
    const label = this.dryRun ? LABELS[result.change].dryRun : LABELS[result.change].apply;
    this.print(`[${n}] ${title}: ${label}${result.detail ? ` (${result.detail})` : ""}`);
    return result;
  }

  info(line: string): void {
    this.print(line);
  }

  /** `true` when some step created or updated something (or would, in a dry run). */
  get changed(): boolean {
    return this.results.some((r) => r.change === "created" || r.change === "updated");
  }

  summary(): string {
    const count = (c: Change) => this.results.filter((r) => r.change === c).length;
    if (!this.changed) {
      return this.dryRun
        ? "Dry run: everything is already in place; a real run would change nothing."
        : "No changes: everything was already in place.";
    }
    const verb = this.dryRun ? "Dry run, nothing changed: would create" : "Done: created";
    const upd = this.dryRun ? "would update" : "updated";
    return `${verb} ${count("created")}, ${upd} ${count("updated")}, ${count("unchanged")} unchanged.`;
  }
}
