"""List recent dbt runs from their artifacts: start, trigger, command, status, steps (a build the
state machine ran in n steps is one run), duration, counts, failing nodes. Newest first.

  runs.py                 the local target's artifacts ($LOCAL_DATA_DIR/artifacts or .local/artifacts)
  runs.py --env dev       the dev stack's artifacts bucket (from its terraform outputs)
  runs.py --bucket NAME   any artifacts bucket
"""

from __future__ import annotations

import argparse
import json
import sys

from scripts.operations.artifact_source import SourceError, add_arguments, recent_runs, resolve

_FAILED = {"error", "fail", "runtime error"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("-n", "--limit", type=_positive, default=20, help="how many runs (default 20)")
    parser.add_argument("--json", action="store_true", help="print the summary.json records as JSON lines")
    args = parser.parse_args(argv)
    try:
        source = resolve(args)
        runs = list(recent_runs(source, args.limit))
    except SourceError as error:
        print(f"runs: {error}", file=sys.stderr)
        return 2
    if args.json:
        for run in runs:
            print(json.dumps(run, separators=(",", ":")))
        return 0
    if not runs:
        print(f"No runs under {source.where('runs/')} yet.")
        return 0
    print(f"Runs in {source.location} (newest first):")
    rows = [("STARTED (UTC)", "TRIGGER", "COMMAND", "STATUS", "STEPS", "DURATION", "COUNTS", "PROJECT", "FAILING")]
    rows += [_row(run) for run in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    return 0


def _row(run: dict) -> tuple[str, ...]:
    counts = run.get("counts") or {}
    failing = [n["unique_id"] for n in run.get("nodes", []) if n.get("status") in _FAILED]
    shown = ", ".join(failing[:3]) + (f" (+{len(failing) - 3})" if len(failing) > 3 else "")
    if not failing and run.get("error"):
        shown = str(run["error"]).splitlines()[0][:80]
    elapsed = run.get("elapsed_seconds")
    return (
        str(run.get("started_at", "?")).replace("T", " ").rstrip("Z")[:19],
        str(run.get("trigger", "?")),
        " ".join(run.get("command", [])[:6]) or "?",
        str(run.get("status", "?")),
        str(run.get("steps") or 1),  # a stepped build (the dbt-build state machine) is one run of n steps
        f"{elapsed:.1f}s" if isinstance(elapsed, (int, float)) else "?",
        " ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-",
        _project(run.get("project")),
        shown or "-",
    )


def _project(project: object) -> str:
    """Which project the run used: a bundle (its name's first 12 digits) or the packaged one."""
    if not isinstance(project, dict):
        return "-"
    bundle = project.get("bundle")
    return f"bundle {str(bundle)[:12]}" if bundle else str(project.get("source") or "-")


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return number


if __name__ == "__main__":
    sys.exit(main())
