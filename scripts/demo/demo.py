"""The seed's pipeline on one machine: a SQLite database in the public Chinook DDL -> ingest into
the raw zone -> its one manifest -> the dbt_runner handler invoked with that manifest's
Object Created event (one build over every ingested table) on DuckDB.

Run by `make demo` (`SCALE=10` for ten times the data). Safe to re-run: each run starts from a
clean raw zone, manifests, processed folder and DuckDB file under the data folder (default `.local/`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

MARTS = ("album_track_counts", "revenue_by_genre", "revenue_by_country", "fct_invoice_lines", "dim_tracks", "dim_customers")

KIND_LABELS = {"model": "models", "test": "tests", "seed": "seeds", "snapshot": "snapshots",
               "operation": "hooks", "unit_test": "unit tests", "source": "sources"}


class DemoContext:
    """The parts of Lambda's context object the handler reads."""

    aws_request_id = "local-demo"
    function_name = "local-dbt-runner"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=_positive, default=1, help="sample data size; 1 is ~10k invoice lines (default 1)")
    parser.add_argument("--seed", type=int, default=42, help="sample data seed (default 42)")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("LOCAL_DATA_DIR") or REPO / ".local"),
        help="where the raw zone, DuckDB file and Parquet marts go (default $LOCAL_DATA_DIR or .local/)",
    )
    parser.add_argument("--quiet", action="store_true", help="hide dbt's own log lines during the build")
    parser.add_argument("--step-seconds", type=_positive_seconds, default=None,
                        help="run the build through the dbt-build state machine's definition (moto's ASL "
                             "interpreter), each step limited to this many seconds (make demo STEP_SECONDS=n)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    timings: dict[str, float] = {}

    with stage("1/4", "generate the sample database", timings):
        from scripts.demo import sample_data

        _clean(data_dir)
        database = data_dir / "source" / "chinook.db"
        database.parent.mkdir(parents=True, exist_ok=True)
        database.unlink(missing_ok=True)
        rows = sample_data.generate(database, scale=args.scale, seed=args.seed)
        print(f"      {sum(rows.values()):,} rows in {len(rows)} tables -> {_show(database)}")

    with stage("2/4", "ingest it into the raw zone, then write its manifest", timings):
        from ingest.handler import ingest

        result = ingest(str(database), str(data_dir))
        manifest = Path(result["manifest"])
        print(f"      {len(result['tables'])} tables -> {_show(data_dir / 'raw')}/<table>/ingest_date={result['ingest_date']}/")
        print(f"      manifest -> {_show(manifest)}")

    event = {
        "version": "0", "detail-type": "Object Created", "source": "aws.s3", "region": "local",
        "detail": {"bucket": {"name": "local"}, "object": {"key": manifest.relative_to(data_dir).as_posix()}},
    }
    with stage("3/4", "invoke the dbt_runner handler (cold start) with the manifest's Object Created event, on target local (DuckDB)", timings):
        # As the Lambda would run it, but on the local target and this machine's data folder.
        os.environ["ENVIRONMENT"] = "local"
        os.environ["LOCAL_DATA_DIR"] = str(data_dir)
        for name in ("DBT_TARGET", "DBT_PROJECT_DIR", "DBT_PROFILES_DIR"):
            os.environ.pop(name, None)
        os.environ.setdefault("DBT_LOG_LEVEL", "warn" if args.quiet else "info")
        from dbt_runner import handler

        if args.step_seconds is not None:
            summary = _stepped(event, args.step_seconds, data_dir)
            if summary["status"] != "success":
                _report_failure(summary)
                return 1
        else:
            try:
                summary = handler.handler(event, DemoContext())
            except handler.DbtRunFailed as failure:
                _report_failure(failure.summary)
                return 1

    with stage("4/4", "read the marts", timings):
        rows_per_mart, top_albums = _read_marts(data_dir)

    _report(summary, rows_per_mart, top_albums, data_dir, timings)
    return 0


def _stepped(event: dict, step_seconds: float, data_dir: Path) -> dict:
    """The build through the state machine's definition, one real handler call per step (state_machine.py)."""
    import json

    from scripts.demo import state_machine

    # DuckDB runs a node in well under a second; with no run history yet (no latest/), this is
    # the estimate a step plans with (in AWS the default is 30 s, see DBT_STEP_DEFAULT_NODE_SECONDS).
    os.environ.setdefault("DBT_STEP_DEFAULT_NODE_SECONDS", "0.1")
    body, where = state_machine.definition()
    print(f"      definition: {where}; steps of {step_seconds:g}s on moto's ASL interpreter", flush=True)
    with state_machine.interpreter(step_seconds) as run:
        execution = run(event, body, name="local-demo")
    record = next((data_dir / "artifacts" / "runs").glob(f"*/{execution.name}/summary.json"), None)
    summary = json.loads(record.read_text()) if record else {"status": "error", "counts": {}, "nodes": [],
                                                            "error": f"{execution.error}: {execution.cause}"}
    print(f"      execution {execution.status}: {execution.calls.count('build_step')} build_step call(s)"
          + (f", then {execution.calls.count('build_step_failed')} build_step_failed" if "build_step_failed" in execution.calls else ""))
    print(f"      interpreter overhead {execution.interpreter_seconds:.1f}s of {execution.wall_seconds:.1f}s")
    print(f"steps: {execution.steps}", flush=True)
    return summary


@contextmanager
def stage(number: str, title: str, timings: dict[str, float]):
    print(f"\n[{number}] {title} ...", flush=True)
    started = time.perf_counter()
    yield
    timings[title.split(":")[0]] = elapsed = time.perf_counter() - started
    print(f"      done in {elapsed:.1f}s", flush=True)


def _clean(data_dir: Path) -> None:
    """Remove what a previous run produced, so counts never mix two runs."""
    for folder in ("raw", "manifests", "processed"):
        shutil.rmtree(data_dir / folder, ignore_errors=True)
    for name in ("dbt.duckdb", "dbt.duckdb.wal"):
        (data_dir / name).unlink(missing_ok=True)


def _read_marts(data_dir: Path):
    import duckdb

    processed = data_dir / "processed"
    with duckdb.connect() as connection:
        rows = {
            mart: connection.execute("select count(*) from read_parquet(?)", [str(processed / f"{mart}.parquet")]).fetchone()[0]
            for mart in MARTS
        }
        top = connection.execute(
            "select album_title, artist_name, track_count from read_parquet(?) "
            "order by track_count desc, album_title limit 5",
            [str(processed / "album_track_counts.parquet")],
        ).fetchall()
    return rows, top


def _report(summary: dict, rows_per_mart: dict, top_albums: list, data_dir: Path, timings: dict) -> None:
    kinds: dict[str, dict[str, int]] = {}
    for node in summary["nodes"]:
        kind = KIND_LABELS.get(node["unique_id"].split(".")[0], node["unique_id"].split(".")[0])
        kinds.setdefault(kind, {})
        kinds[kind][node["status"]] = kinds[kind].get(node["status"], 0) + 1

    print("\n== Summary ==")
    print(f"dbt {' '.join(summary['command'][:2])} ... ({len(summary['command']) - 3} tables + seeds): "
          f"{summary['status']} in {summary['elapsed_seconds']:.1f}s")
    for kind in sorted(kinds):
        counts = ", ".join(f"{count} {status}" for status, count in sorted(kinds[kind].items()))
        print(f"  {kind:<10} {counts}")
    print("\nRows per mart:")
    for mart, count in rows_per_mart.items():
        print(f"  {mart:<22} {count:>10,}")
    print("\nTop albums by track count:")
    for title, artist, tracks in top_albums:
        print(f"  {tracks:>4}  {title}  ({artist})")
    print("\nOutputs:")
    print(f"  DuckDB database  {_show(data_dir / 'dbt.duckdb')}")
    print(f"  Parquet marts    {_show(data_dir / 'processed')}/")
    print(f"  raw zone         {_show(data_dir / 'raw')}/")
    print(f"  ingest manifests {_show(data_dir / 'manifests')}/")
    if summary.get("artifacts"):
        print(f"  run artifacts    {_show(Path(summary['artifacts']))}/  (`make runs` lists the runs)")
    print("\nTime per stage:")
    for title, seconds in timings.items():
        print(f"  {seconds:6.1f}s  {title}")


def _report_failure(summary: dict) -> None:
    print(f"\ndbt build failed ({summary.get('counts')}):", file=sys.stderr)
    if summary.get("error"):
        print(f"  {summary['error']}", file=sys.stderr)
    for node in summary.get("nodes", []):
        if node["status"] in ("error", "fail", "runtime error"):
            print(f"  {node['status']:<6} {node['unique_id']}: {node['message']}", file=sys.stderr)


def _show(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _positive_seconds(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {value}")
    return number


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return number


if __name__ == "__main__":
    sys.exit(main())
