"""A pull request's build on this machine: `make ci-build PR=<n>` / `make ci-teardown PR=<n>`.

  pr_build.py build --pr 7      the working tree's dbt project built as pull request 7 would be in
                                CI: the runner's handler with the CI event (dbt_runner/ci_build.py),
                                on the local target, against the last local build's latest/
                                (`make demo`): state:modified+ into DuckDB schema main_pr_7, deferring
                                unchanged parents to main; files only under $LOCAL_DATA_DIR/ci/pr_7/
  pr_build.py teardown --pr 7   drop schema main_pr_7 and delete $LOCAL_DATA_DIR/ci/pr_7/

`--project-dir` builds another copy of the project (the tests change a copy, never dbt/).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from dbt_runner import run_artifacts

REPO = Path(__file__).resolve().parents[2]
FAILED = {"error", "fail", "runtime error"}
KINDS = {"model": "models", "seed": "seeds", "snapshot": "snapshots", "test": "tests", "unit_test": "tests"}


class LocalContext:
    aws_request_id = "local-ci-build"
    function_name = "local-dbt-runner"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("build", "teardown"))
    parser.add_argument("--pr", type=int, required=True, help="the pull request's number (1..999999)")
    parser.add_argument("--project-dir", type=Path, default=None, help="the dbt project (default: dbt/)")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("LOCAL_DATA_DIR") or REPO / ".local"),
                        help="the local target's data folder (default $LOCAL_DATA_DIR or .local/)")
    args = parser.parse_args(argv)

    from dbt_runner import ci_build
    from dbt_runner.events import EventError

    try:
        ci = ci_build.CiBuild(ci_build.pr_number(args.pr, "PR"))
    except EventError as error:
        print(f"ci: {error}", file=sys.stderr)
        return 2
    data_dir = args.data_dir.resolve()
    if args.action == "teardown":
        for line in teardown(ci, data_dir):
            print(line)
        return 0
    return build(ci, data_dir, args.project_dir)


def build(ci, data_dir: Path, project_dir: Path | None) -> int:
    if run_artifacts.read_latest(run_artifacts.LocalStore(data_dir / "artifacts"), names=("manifest.json",)) is None:
        print(f"ci-build: no last good build under {data_dir / 'artifacts' / 'latest'} to compare with and defer to; "
              "every node counts as new (run `make demo` first for a slim build)", file=sys.stderr)
    os.environ.update({"ENVIRONMENT": "local", "LOCAL_DATA_DIR": str(data_dir)})
    for name in ("DBT_TARGET", "DBT_PROFILES_DIR", "ARTIFACTS_BUCKET_NAME", "ALERT_TOPIC_ARN"):
        os.environ.pop(name, None)
    if project_dir is not None:
        os.environ["DBT_PROJECT_DIR"] = str(project_dir.resolve())
    else:
        os.environ.pop("DBT_PROJECT_DIR", None)
    os.environ.setdefault("DBT_LOG_LEVEL", "warn")
    from dbt_runner import handler

    try:
        summary = handler.handler({"ci": {"pr": ci.pr, "bundle": None}, "command": ["build"]}, LocalContext())
    except handler.DbtRunFailed as failure:
        summary = failure.summary
    print("\n".join(describe(summary)))
    return 0 if summary["status"] == "success" else 1


def describe(summary: dict[str, Any]) -> list[str]:
    """What a CI build did, as lines: where it wrote, the nodes built, tests, failures, the run folder."""
    ci = summary.get("ci") or {}
    nodes = summary.get("nodes") or []
    built = [n for n in nodes if n["unique_id"].split(".")[0] in ("model", "seed", "snapshot")]
    tests = [n for n in nodes if KINDS.get(n["unique_id"].split(".")[0]) == "tests"]
    failures = [n for n in nodes if n["status"] in FAILED]
    state = summary.get("state") or {}
    lines = [
        f"PR {ci.get('pr', '?')} build: {summary['status']} in {summary.get('elapsed_seconds', 0):.1f}s "
        f"into {ci.get('database', '?')} (data and run records under {ci.get('prefix', '?')})",
        f"compared with and deferred to: {state.get('source', '?')}"
        + ("" if state.get("used", True) else f" (not used: {state.get('reason')})"),
        f"built ({len(built)}):" if built else "built: nothing (no model changed)",
        *(f"  {n['status']:<8} {_name(n['unique_id'])}" for n in built),
        f"tests ({len(tests)}): " + (", ".join(f"{count} {status}" for status, count in sorted(_counts(tests).items())) or "none"),
        f"failures ({len(failures)}):" if failures else "failures: none",
        *(f"  {n['status']:<8} {n['unique_id']}: {n.get('message') or ''}"[:300] for n in failures),
    ]
    if summary.get("error") and not failures:
        lines.append(f"error: {summary['error']}")
    lines.append(f"run folder: {summary.get('artifacts')}")
    return lines


def teardown(ci, data_dir: Path) -> list[str]:
    """Drop the PR's DuckDB schema and delete its folder; safe to re-run."""
    import duckdb

    said = []
    database = data_dir / "dbt.duckdb"
    schema = ci.database("main")
    if database.is_file():
        with duckdb.connect(str(database)) as connection:
            found = connection.execute("select count(*) from information_schema.schemata where schema_name = ?",
                                       [schema]).fetchone()[0]
            connection.execute(f'drop schema if exists "{schema}" cascade')
        said.append(f"dropped schema {schema}" if found else f"no schema {schema}")
    folder = ci_local_dir(ci, data_dir)
    if folder.exists():
        shutil.rmtree(folder)
        said.append(f"deleted {folder}")
    else:
        said.append(f"no folder {folder}")
    return said


def ci_local_dir(ci, data_dir: Path) -> Path:
    from dbt_runner import ci_build

    return ci_build.local_pr_dir(data_dir, ci)


def _counts(nodes: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node["status"]] = counts.get(node["status"], 0) + 1
    return counts


def _name(unique_id: str) -> str:
    kind, _, rest = unique_id.partition(".")
    return f"{kind} {rest.partition('.')[2] or rest}"


if __name__ == "__main__":
    sys.exit(main())
