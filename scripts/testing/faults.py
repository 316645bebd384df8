"""The fault-injection suite's table: `python -m scripts.testing.faults` (make faults) runs
handler/tests/test_faults.py and prints "fault | outcome | records lost" (lost must be 0).

Each test of the suite injects one fault, checks what the system did, counts the records lost
(data published or run records that should exist and do not) and calls `record()`. Under this
module the records go to a JSON-lines file (FAULTS_REPORT); in a plain pytest run `record` does
nothing but the tests' own assertions (lost == 0) still hold.

How faults are injected (and what is simulated, with the reason):
  S3 5xx / throttling   botocore's event hook before-send on a real client against moto_server:
                        the request never reaches moto and botocore sees a 500 InternalError or a
                        503 SlowDown, exactly as from S3, so its own retry logic runs.
  SIGKILL               a real subprocess running the handler on DuckDB with a slow (Python) model,
                        killed with SIGKILL once its in-progress record exists.
  full /tmp             simulated: OSError(ENOSPC) raised where ingest writes its export. A real full
                        /tmp needs a small tmpfs mount (root and mount namespaces the test machines
                        do not give every engineer); the errno is the one the kernel returns.
  the rest              real inputs: a malformed manifest file, a future date, a half-written day,
                        an empty source table, a template that transforms a rebound variable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPORT = "FAULTS_REPORT"
REPO = Path(__file__).resolve().parents[2]
SUITE = "handler/tests/test_faults.py"


def record(fault: str, outcome: str, lost: int) -> None:
    """One row of the table (written only when the suite runs under this module)."""
    path = os.environ.get(REPORT)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"fault": fault, "outcome": outcome, "lost": lost}) + "\n")


def table(rows: list[dict]) -> str:
    header = ("fault", "outcome", "records lost")
    cells = [header, *((r["fault"], r["outcome"], str(r["lost"])) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    line = lambda c: " | ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), "-+-".join("-" * w for w in widths), *(line(c) for c in cells[1:])])


def main(argv: list[str] | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="faults-") as scratch:
        report = Path(scratch) / "faults.jsonl"
        env = {**os.environ, REPORT: str(report)}
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", SUITE, *(argv or [])],
                              cwd=REPO, env=env)
        rows = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    print()
    print(table(rows))
    lost = sum(r["lost"] for r in rows)
    print(f"\n{len(rows)} faults, {lost} records lost; pytest exit {done.returncode}")
    return done.returncode or (1 if lost else 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
