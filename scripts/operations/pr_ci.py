"""The pull-request workflows' calls to the dev runner (.github/workflows/ci*.yml).

  pr_ci.py build --pr 7 --bundle <sha256>       the CI event; prints what was built (and writes it to
                                                 --summary, the job summary); exit 1 on a failed node
  pr_ci.py teardown --pr 7                       {"ci_teardown": ...} when the pull request closes
  pr_ci.py sweep --older-than-days 7 --open 3,9  {"ci_sweep": ...}: closed PRs' leftovers

The runner is invoked with the caller's credentials (the CI role: invoke only) through
ship_project.lambda_invoke; tests pass another `invoke_runner`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from scripts.operations import pr_build
from scripts.operations.ship_project import InvokeRunner, ShipError, lambda_invoke

_FAILED_PREFIX = " failed: "


def build(function_name: str, pr: int, bundle: str | None, invoke_runner: InvokeRunner = lambda_invoke) -> tuple[bool, dict]:
    """(succeeded, the runner's summary): a failed dbt run's summary comes back in its error message."""
    try:
        return True, invoke_runner(function_name, {"ci": {"pr": pr, "bundle": bundle}, "command": ["build"]})
    except ShipError as error:
        text = str(error)
        start = text.find("{", text.find(_FAILED_PREFIX))
        try:
            return False, json.loads(text[start:]) if start >= 0 else {"status": "error", "error": text}
        except ValueError:
            return False, {"status": "error", "error": text}


def markdown(summary: dict[str, Any]) -> str:
    lines = pr_build.describe(summary) if "nodes" in summary else [f"error: {summary.get('error')}"]
    title = "dbt CI: success" if summary.get("status") == "success" else "dbt CI: failed"
    return f"### {title}\n\n```\n" + "\n".join(lines) + "\n```\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("build", "teardown", "sweep"))
    parser.add_argument("--function-name", default="dev-dbt-runner")
    parser.add_argument("--pr", type=int)
    parser.add_argument("--bundle")
    parser.add_argument("--older-than-days", type=int, default=7)
    parser.add_argument("--open", default="", help="open pull requests' numbers, comma-separated")
    parser.add_argument("--summary", type=Path, help="append the report here (GitHub's job summary file)")
    args = parser.parse_args(argv)
    if args.action != "sweep" and args.pr is None:
        parser.error(f"{args.action} needs --pr")
    try:
        if args.action == "build":
            ok, summary = build(args.function_name, args.pr, args.bundle or None)
            report = markdown(summary)
            print(report)
            if args.summary:
                with args.summary.open("a", encoding="utf-8") as out:
                    out.write(report)
            return 0 if ok and summary.get("status") == "success" else 1
        if args.action == "teardown":
            event: dict = {"ci_teardown": {"pr": args.pr}}
        else:
            open_prs = [int(n) for n in args.open.replace(" ", "").split(",") if n]
            event = {"ci_sweep": {"older_than_days": args.older_than_days, "open_prs": open_prs}}
        print(json.dumps(lambda_invoke(args.function_name, event), indent=2))
        return 0
    except ShipError as error:
        print(f"pr-ci: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
