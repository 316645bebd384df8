"""Prints every benchmark's figures: synth (time, peak memory), the handler (CLI vs cold vs warm), the
Lambda-faithful cold start (import, import + parse, with and without the layer's bytecode) and
history (a build over 1 vs 30 daily snapshots).

Runs bench.synth, bench.handler, bench.coldstart, bench.history and bench.steps in that order, each in its own
process with its defaults; the exit status is non-zero if any failed.
Usage: python -m bench
"""

from __future__ import annotations

import subprocess
import sys

from bench import common


def main(argv: list[str] | None = None) -> int:
    common.parser("bench", __doc__).parse_args(argv)
    status = 0
    for name in common.BENCHES:
        print(f"== bench.{name}", flush=True)
        code = subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=common.REPO).returncode
        if code:
            status = code if code > 0 else 128 - code  # killed by a signal: as a shell reports it
        print(flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
