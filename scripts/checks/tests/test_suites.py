"""make test's lane runner: lanes side by side, every suite run even after a failure, counts read
from the runners' own closing lines, and a failed suite fails the whole run."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

MAKEFILE = """\
slow-pass:
\t@sleep 1; echo "==== 3 passed, 1 skipped in 1.00s ===="
fail:
\t@echo " Tests  1 failed | 283 passed (284)"; exit 3
after-fail:
\t@echo "===== 2 failed, 5 passed in 0.50s ====="
quick:
\t@echo "no runner here"
"""


def run(tmp_path: Path, *lanes: str) -> subprocess.CompletedProcess:
    (tmp_path / "Makefile").write_text(MAKEFILE)
    args = [arg for lane in lanes for arg in ("--lane", lane)]
    return subprocess.run([sys.executable, "-m", "scripts.checks.suites", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_lanes_run_side_by_side_and_every_suite_runs(tmp_path: Path):
    started = time.monotonic()
    done = run(tmp_path, "slow-pass quick", "slow-pass")
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.monotonic() - started < 1.9, "two 1 s suites in two lanes take about 1 s, not 2"
    assert "[quick] no runner here" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1] == "tests: 6 passed, 0 failed"


def test_a_failed_suite_fails_the_run_but_not_its_lane(tmp_path: Path):
    done = run(tmp_path, "fail after-fail", "slow-pass")
    assert done.returncode == 1
    table = done.stdout[done.stdout.index("suite "):]
    assert "FAILED (exit 2)" in table and "FAILED (tests)" in table  # make exits 2 when a recipe fails
    assert "failed suites: fail after-fail" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1] == "tests: 291 passed, 3 failed"


def test_an_empty_lane_is_refused(tmp_path: Path):
    done = run(tmp_path, " ")
    assert done.returncode == 2 and "every --lane needs at least one Make target" in done.stderr
