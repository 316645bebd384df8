"""Run `make test`'s suites in lanes side by side: the suites of a lane one after another, the
lanes at once (the build machines have two cores). Every line a suite prints is shown as it comes,
behind the suite's name; a failed suite does not stop the others. The end is a table of each
suite's status, time and test counts, then one total line.

Usage: python -m scripts.checks.suites --lane "test-python test-packaging" --lane "test-ts rehearse"
Each name is a Make target, run as `make <target>`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

# The closing lines of the runners the suites use: pytest's "12 passed, 1 failed in 3.2s" and
# vitest's "Tests  284 passed (284)" / "Tests  1 failed | 283 passed (284)".
_PYTEST = re.compile(r"^=*\s*(?:(\d+) failed, )?(\d+) passed(?:, (\d+) failed)?.* in [\d.]+s")
_PYTEST_FAILED_ONLY = re.compile(r"^=*\s*(\d+) failed.* in [\d.]+s")
_VITEST = re.compile(r"^\s*Tests\s+(?:(\d+) failed \| )?(\d+) passed")


@dataclass
class Suite:
    target: str
    status: str = "not run"
    seconds: float = 0.0
    passed: int = 0
    failed: int = 0
    lines: list[str] = field(default_factory=list)

    def count(self, line: str) -> None:
        """Add the test counts of a runner's closing line."""
        plain = re.sub(r"\x1b\[[0-9;]*m", "", line)
        if match := _PYTEST.match(plain):
            self.passed += int(match.group(2))
            self.failed += int(match.group(1) or match.group(3) or 0)
        elif match := _PYTEST_FAILED_ONLY.match(plain):
            self.failed += int(match.group(1))
        elif match := _VITEST.match(plain):
            self.passed += int(match.group(2))
            self.failed += int(match.group(1) or 0)


_print_lock = threading.Lock()


def _show(prefix: str, line: str) -> None:
    with _print_lock:
        sys.stdout.write(f"{prefix} {line}")
        if not line.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()


def run_suite(suite: Suite, make: str) -> None:
    prefix = f"[{suite.target}]"
    _show(prefix, f"--- make {suite.target}")
    started = time.monotonic()
    process = subprocess.Popen([make, "--no-print-directory", suite.target], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1)
    assert process.stdout is not None
    for line in process.stdout:
        suite.count(line)
        _show(prefix, line)
    code = process.wait()
    suite.seconds = time.monotonic() - started
    # A runner that reported failed tests fails the suite even if its make target exited 0.
    suite.status = f"FAILED (exit {code})" if code else ("FAILED (tests)" if suite.failed else "passed")
    _show(prefix, f"--- make {suite.target}: {suite.status} in {suite.seconds:.0f} s")


def run_lane(suites: list[Suite], make: str) -> None:
    for suite in suites:
        run_suite(suite, make)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.checks.suites", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lane", action="append", required=True, metavar="TARGETS",
                        help="Make targets run one after another (repeat for each lane)")
    args = parser.parse_args(argv)
    make = os.environ.get("MAKE", "make")
    lanes = [[Suite(target) for target in lane.split()] for lane in args.lane]
    if not all(lanes):
        parser.error("every --lane needs at least one Make target")

    started = time.monotonic()
    threads = [threading.Thread(target=run_lane, args=(lane, make), daemon=True) for lane in lanes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started

    suites = [suite for lane in lanes for suite in lane]
    print("\nsuite                 status              time   passed  failed")
    for suite in suites:
        print(f"{suite.target:<21} {suite.status:<18} {suite.seconds:5.0f} s {suite.passed:8} {suite.failed:7}")
    print(f"wall time {wall:.0f} s for {sum(s.seconds for s in suites):.0f} s of suites in {len(lanes)} lanes")
    failed_suites = [suite.target for suite in suites if suite.status != "passed"]
    if failed_suites:
        print(f"failed suites: {' '.join(failed_suites)}")
    # The plain closing line CI reads: every test counted by pytest and vitest across the suites.
    print(f"tests: {sum(s.passed for s in suites)} passed, {sum(s.failed for s in suites)} failed")
    return 1 if failed_suites else 0


if __name__ == "__main__":
    sys.exit(main())
