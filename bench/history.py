"""Steady-state cost: does a build get slower as the raw zone accumulates daily snapshots?
The same scale-10 sample database is ingested as 1 daily snapshot and as 30 (30 real ingests,
consecutive days), and the handler builds each from the newest ingest's manifest event:
  warm   median time of a handler invocation in a process that has already run two (the steady
         state of a warm Lambda: imports done, manifest parsed), so what is left is what dbt reads;
         one process per raw zone, their builds interleaved so that load from other work on the
         machine hits both alike
  cli    one bare `dbt build` without the partition dates (the max(ingest_date) fallback), for reference
Budget: warm(30 snapshots) <= 1.3x warm(1 snapshot). Prints figures; asserts nothing.
Options: --runs N (default 3), --scale N (default 10), --days N (default 30), --no-cli.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import common

# A warm container: one handler build per line read from stdin, its time on a TIME line.
WARM = """
import json, sys, time
from dbt_runner import handler
event = json.loads({event!r})
for _ in sys.stdin:
    started = time.perf_counter()
    summary = handler.handler(event, None)
    print("TIME " + json.dumps([time.perf_counter() - started, summary["manifest_reused"]]), flush=True)
"""
LAST_DAY = dt.date(2024, 6, 30)


def prepare(database: Path, local: Path, days: int) -> dict:
    """The database ingested into local on `days` consecutive days up to LAST_DAY; the newest manifest's event."""
    result = None
    for index in range(days):
        day = LAST_DAY - dt.timedelta(days=days - 1 - index)
        with common.quietly():
            result = common.ingest_snapshot(database, local, ingest_date=day)
        if (index + 1) % 10 == 0 or index + 1 == days:
            print(f"  ingested {index + 1}/{days} (newest {day})", flush=True)
    key = Path(result["manifest"]).relative_to(local).as_posix()
    return {"version": "0", "detail-type": "Object Created", "source": "aws.s3",
            "detail": {"bucket": {"name": "local"}, "object": {"key": key}}}


class Container:
    """A warm handler process for one raw zone."""

    def __init__(self, event: dict, env: dict[str, str]):
        command = [sys.executable, "-c", WARM.format(event=json.dumps(event))]
        self.process = subprocess.Popen(command, cwd=common.REPO, env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output = []

    def build(self) -> list:
        """[seconds, manifest_reused] of one more invocation."""
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith("TIME "):
                return json.loads(line.split(" ", 1)[1])
        sys.exit("the handler process stopped:\n" + "".join(self.output[-60:]))

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def measure(args, root: Path) -> dict[int, dict]:
    figures = {}
    containers = {}
    try:
        database = root / "chinook.db"
        print(f"scale {args.scale}: generating the sample database ...", flush=True)
        with contextlib.redirect_stderr(io.StringIO()):
            common.generate_sample(database, args.scale)
        envs = {}
        for days in (1, args.days):
            local = root / f"days-{days}"
            print(f"\n{days} daily snapshot(s): ingesting ...", flush=True)
            event = prepare(database, local, days)
            parts = sum(1 for _ in (local / "raw").rglob("*.jsonl"))
            size = sum(p.stat().st_size for p in (local / "raw").rglob("*.jsonl")) / 1e6
            print(f"  raw zone: {parts} part files, {size:.0f} MB", flush=True)
            envs[days] = common.local_env(local)
            (root / f"tmp-{days}").mkdir()
            containers[days] = Container(event, common.handler_env(envs[days], root / f"tmp-{days}"))
            figures[days] = {"warm": []}

        print("\nhandler builds, interleaved (the first two of each are the cold start and the parse):", flush=True)
        for index in range(args.runs + 2):
            label = "cold" if index == 0 else "parse" if index == 1 else f"warm {index - 1}"
            for days, container in containers.items():
                elapsed, reused = container.build()
                print(f"  {days:>2} snapshot(s) {label:<7} {elapsed:6.2f}s  manifest_reused={reused}", flush=True)
                if index >= 2:
                    figures[days]["warm"].append(elapsed)
        for days in containers:
            containers[days].close()
            figures[days]["warm"] = common.median(figures[days]["warm"])
        if not args.no_cli:
            print("\nbare dbt build without the dates (the max(ingest_date) fallback), once each:", flush=True)
            for days in containers:
                cli_cmd = common.dbt_build(root / f"cli-target-{days}", root / f"cli-logs-{days}")
                figures[days]["cli"], _ = common.timed(cli_cmd, envs[days])
                print(f"  {days:>2} snapshot(s) {figures[days]['cli']:6.2f}s", flush=True)
    finally:
        for container in containers.values():
            if container.process.poll() is None:
                container.process.kill()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = common.parser("bench.history", __doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--no-cli", action="store_true", help="skip the bare dbt build (fallback) reference")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="bench-history-"))
    try:
        figures = measure(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    one, many = figures[1], figures[args.days]
    ratio = many["warm"] / one["warm"]
    print("\nsnapshots   handler warm(s)   dbt build, no dates(s)")
    for days in (1, args.days):
        cli = f"{figures[days]['cli']:10.2f}" if "cli" in figures[days] else "         -"
        print(f"{days:>9} {figures[days]['warm']:14.2f} {cli:>22}")
    print(f"warm {args.days}/1 = {ratio:.2f} (budget <= 1.30): {'ok' if ratio <= 1.3 else 'OVER'}")
    if "cli" in one:
        print(f"fallback {args.days}/1 = {many['cli'] / one['cli']:.2f} "
              "(no budget: the cost a build without the dates pays)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
