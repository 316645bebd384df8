"""Synthesizing both stacks (dev, prod) the way `cdktf synth` runs the app (`npx tsx main.ts`):
median wall time and peak RSS over N runs (default 5), in a scratch output directory.
Budget on the 2-core build machine: median <= 5 s, peak RSS <= 600 MB. Prints figures; asserts nothing.
Usage: python -m bench.synth [RUNS]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time

from bench import common

USAGE = "usage: python -m bench.synth [RUNS]  (RUNS: a positive integer, default 5)"


def main(argv: list[str] | None = None) -> int:
    parser = common.parser("bench.synth", __doc__)
    parser.add_argument("runs", nargs="?", default="5", metavar="RUNS",
                        help="how many times to synthesize (a positive integer, default 5)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[1-9][0-9]*", args.runs):
        print(USAGE, file=sys.stderr)
        return 2
    runs = int(args.runs)
    base = dict(os.environ, CHECKPOINT_DISABLE="1")
    if not os.access(common.REPO / "node_modules" / ".bin" / "tsx", os.X_OK):
        print("installing Node dependencies (npm ci) ...", flush=True)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=common.REPO, env=base, check=True)

    walls, peaks = [], []
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as outdir:
        env = dict(base, CDKTF_OUTDIR=outdir)
        for i in range(1, runs + 1):
            start = time.perf_counter()
            proc = subprocess.Popen(["npx", "tsx", "main.ts"], cwd=common.REPO, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            # wait4 reports the child's own rusage; ru_maxrss covers the largest process in its tree (node), in KiB.
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            err = proc.stderr.read().decode()
            proc.stderr.close()
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                sys.exit(f"run {i}: synth failed ({proc.returncode}):\n{err}")
            for env_name in ("dev", "prod"):
                if not os.path.exists(os.path.join(outdir, "stacks", env_name, "cdk.tf.json")):
                    sys.exit(f"run {i}: stacks/{env_name}/cdk.tf.json was not written")
            peak_mb = usage.ru_maxrss / 1024
            walls.append(wall)
            peaks.append(peak_mb)
            print(f"run {i}/{runs}: {wall:.2f} s, peak RSS {peak_mb:.0f} MB", flush=True)

    median = common.median(walls)
    peak = max(peaks)
    print(f"synth (dev + prod), {runs} runs: median {median:.2f} s (min {min(walls):.2f}, max {max(walls):.2f}); "
          f"peak RSS {peak:.0f} MB")
    print(f"budget: median <= 5 s ({'within' if median <= 5 else 'OVER'}), "
          f"peak RSS <= 600 MB ({'within' if peak <= 600 else 'OVER'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
