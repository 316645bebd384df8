"""python -m scripts.checks.athena_sql (make test-athena-sql): see the package docstring."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

from scripts.checks.athena_sql import check, glue, install
from scripts.checks.athena_sql.server import TrinoServer

REPO = Path(__file__).resolve().parents[3]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.checks.athena_sql", description=__doc__)
    parser.add_argument("--project-dir", type=Path, default=REPO / "dbt")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (printed) for inspection")
    args = parser.parse_args(argv)
    # A SIGTERM (make interrupted, CI timeout) unwinds like Ctrl-C, so Trino is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    try:
        installation = install.install()
    except install.InstallError as error:
        print(f"athena-sql: {error}", file=sys.stderr)
        return 2
    stack = glue.load_stack(glue.synth_json(REPO))
    work = Path(tempfile.mkdtemp(prefix="athena-sql-"))
    try:
        with TrinoServer(installation, work) as server:
            print(f"athena-sql: Trino {install.TRINO_VERSION} up on 127.0.0.1:{server.port} "
                  f"in {server.startup_seconds:.1f} s (Java at {installation.java_home})")
            session = check.Session(REPO, server, stack)
            session.prepare_raw_zone()
            report = check.run(session, args.project_dir.resolve(), work / "_dbt")
    finally:
        if args.keep:
            print(f"athena-sql: work folder kept: {work}")
        else:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    for failure in report.failures:
        print(f"athena-sql: FAIL {failure}", file=sys.stderr)
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items())
    print(f"{report.summary()} [{time.monotonic() - started:.0f} s: {timings}]")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
