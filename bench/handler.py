"""The dbt_runner handler against the bare dbt CLI, at scale 1 and 10 of the sample data:
  cli   median wall time of `dbt build` in a new process
  cold  median wall time of a new process that imports the handler and invokes it once
  warm  median time of a further invocation in a process that has already run one
Budgets: cold <= 1.1x cli, warm <= 0.7x cli. Prints figures; asserts nothing.
Options: --runs N (default 3), --scales "1 10".
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from bench import common

# Child programs, run by this venv's python, where the project is installed.
COLD = """
from dbt_runner import handler
handler.handler({"command": ["build"]}, None)
"""
WARM = """
import json, time
from dbt_runner import handler
times = []
for _ in range({calls}):
    started = time.perf_counter()
    handler.handler({{"command": ["build"]}}, None)
    times.append(time.perf_counter() - started)
print("TIMES " + json.dumps(times))
"""


def prepare(scale: int, root: Path) -> Path:
    """The sample database at this scale, ingested once into root/local; that raw zone's folder."""
    local = root / "local"
    common.generate_sample(root / "chinook.db", scale)
    common.ingest_snapshot(root / "chinook.db", local)
    return local


def main(argv: list[str] | None = None) -> int:
    parser = common.parser("bench.handler", __doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scales", default="1 10")
    args = parser.parse_args(argv)

    print(f"runs per figure: {args.runs} (median); cli and cold interleaved after one discarded warm-up round")
    rows = []
    for scale in (int(s) for s in args.scales.split()):
        root = Path(tempfile.mkdtemp(prefix=f"bench-handler-{scale}-"))
        try:
            print(f"\nscale {scale}: preparing sample data ...", flush=True)
            with common.quietly():
                local = prepare(scale, root)
            env = common.local_env(local)
            cli_cmd = common.dbt_build(root / "cli-target", root / "cli-logs")
            handler_env = common.handler_env(env, root)
            cold_cmd = [sys.executable, "-c", COLD]
            warm_cmd = [sys.executable, "-c", WARM.format(calls=args.runs + 1)]

            # Interleaved, so load from other work on the machine hits both alike.
            samples = {"cli": [], "cold": []}
            for run in range(args.runs + 1):  # run 0 is a warm-up: partial-parse file and OS caches
                for name, command, run_env in (("cli", cli_cmd, env), ("cold", cold_cmd, handler_env)):
                    elapsed, _ = common.timed(command, run_env)
                    if run:
                        samples[name].append(elapsed)
                    print(f"  {name:<4} run {common.run_label(run)}: {elapsed:6.2f}s", flush=True)
            figures = {name: common.median(values) for name, values in samples.items()}
            _, output = common.timed(warm_cmd, handler_env)
            times = common.tagged_json(output, "TIMES")
            for run, elapsed in enumerate(times[1:]):
                print(f"  warm run {run + 1}: {elapsed:6.2f}s", flush=True)
            figures["warm"] = common.median(times[1:])
            rows.append((scale, figures))
        finally:
            shutil.rmtree(root, ignore_errors=True)

    print("\nscale   cli(s)   cold(s)  cold/cli (<=1.10)   warm(s)  warm/cli (<=0.70)")
    for scale, f in rows:
        cold, warm = f["cold"] / f["cli"], f["warm"] / f["cli"]
        print(f"{scale:>5} {f['cli']:8.2f} {f['cold']:9.2f} {cold:9.2f} {'ok' if cold <= 1.1 else 'OVER':>8}"
              f" {f['warm']:9.2f} {warm:9.2f} {'ok' if warm <= 0.7 else 'OVER':>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
