"""The dbt_runner's cold start, the way Lambda runs it: the x86-64 twin of the layer
(`python -m scripts.packaging.build_layer --arch x86_64`, the same files as the arm64 layer) and
the function package on PYTHONPATH of a bare CPython 3.12 (as Lambda puts /var/task and
/opt/python on the path), no bytecode writes (PYTHONDONTWRITEBYTECODE, as /opt and /var/task are
read-only), the stack's environment for the `dev` (Athena) target.
  import          wall time of a new process that imports the handler (Lambda's init phase)
  import + parse  ... that imports it and invokes {"command": ["parse"]}: dbt parses the project
  import + ready  ... that imports it and invokes {"command": ["ls"]}, a first call that needs the
                  parsed project and no warehouse: it starts from the package's shipped parse
                  (shipped-parse/dev.pickle); the row "no shipped parse" is the same call in a
                  package without it, where dbt parses inside the call as it did before.
Each figure for the layer as built and, as the reference measured in the same run, for the same
layer with its bytecode removed; CPU seconds (user + sys) beside each, as they vary less with
the load of a shared machine. Then the SnapStart mode (DBT_PARSE_AT_INIT=true): the init phase,
which a restore from the snapshot replaces, and the first `parse` invocation after it.
Goal: import + ready <= 3.5 s as built. Prints figures; asserts nothing.
Options: --runs N (default 3, median).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench import common

OUT = common.REPO / "build" / "x86_64"
# Child programs, run by a bare interpreter with the package and the layer on PYTHONPATH (the
# function zip holds dbt_runner/ at its root; Lambda's handler string is dbt_runner.handler.handler).
IMPORT = "from dbt_runner import handler"
PARSE = """
from dbt_runner import handler
result = handler.handler({"command": ["parse"]})
assert result["status"] == "success", result
"""
READY = """
from dbt_runner import handler
result = handler.handler({"command": ["ls"], "cli_args": ["--resource-type", "model"]})
assert result["status"] == "success", result
print("SOURCE " + result["manifest_source"])
"""
SNAPSTART = """
import json, time
started = time.perf_counter()
from dbt_runner import handler
initialised = time.perf_counter()
result = handler.handler({"command": ["parse"]})
assert result["status"] == "success", result
print("TIMES " + json.dumps([initialised - started, time.perf_counter() - initialised]))
"""
# What the stack sets (values need not exist: parse makes no AWS call).
STACK_ENV = {"ENVIRONMENT": "dev", "AWS_REGION": "ap-southeast-2", "AWS_ACCESS_KEY_ID": "bench",
             "AWS_SECRET_ACCESS_KEY": "bench", "AWS_EC2_METADATA_DISABLED": "true",
             "RAW_BUCKET_NAME": "bench-raw-0a1b2c3d", "PROCESSED_BUCKET_NAME": "bench-processed-0a1b2c3d",
             "GLUE_DATABASE_NAME": "bench_dev", "ATHENA_RESULTS_BUCKET": "bench-athena-results-0a1b2c3d",
             "ATHENA_WORKGROUP": "dev-dbt"}
# Where each row's first `ls` should have found its manifest.
EXPECTED_SOURCE = {"as built": "package", "no bytecode": "package", "no shipped parse": "parsed"}


def child_cpu() -> float:
    """CPU seconds (user + sys) of the waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Cold:
    """Cold processes of a bare interpreter in scratch folders under root."""

    def __init__(self, python: str, root: Path):
        self.python, self.root = python, root

    def timed(self, program: str, layer: Path, package: Path, **extra: str) -> tuple[float, float, str]:
        """(wall seconds, CPU seconds, stdout) of one cold process."""
        scratch = Path(tempfile.mkdtemp(dir=self.root))
        env = {"PATH": os.environ["PATH"], "HOME": str(scratch), "TMPDIR": str(scratch), "PYTHONNOUSERSITE": "1",
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": os.pathsep.join([str(package), str(layer)]),
               **STACK_ENV, **extra}
        cpu, started = child_cpu(), time.perf_counter()
        done = subprocess.run([self.python, "-c", program], env=env, cwd=scratch, capture_output=True, text=True)
        elapsed, cpu = time.perf_counter() - started, child_cpu() - cpu
        if done.returncode != 0:
            sys.exit(f"failed ({layer.name}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        shutil.rmtree(scratch)
        return elapsed, cpu, done.stdout


def measure(runs: int, root: Path) -> None:
    task = root / "task"
    with zipfile.ZipFile(common.REPO / "build" / "function.zip") as archive:
        archive.extractall(task)
    bare = root / "task-without-shipped-parse"
    shutil.copytree(task, bare, ignore=shutil.ignore_patterns("shipped-parse"))
    layers = {"as built": OUT / "layer" / "python", "no bytecode": root / "layer-source-only"}
    shutil.copytree(layers["as built"], layers["no bytecode"], ignore=shutil.ignore_patterns("__pycache__"))
    pycs = sum(1 for _ in layers["as built"].rglob("*.pyc"))
    print(f"layer as built: {pycs} .pyc files; reference: the same tree without them", flush=True)
    venv = root / "venv"
    common.step([common.UV, "venv", "--quiet", "--python", sys.executable, venv])
    cold = Cold(str(venv / "bin" / "python"), root)

    kinds = (("import", IMPORT, task), ("import + parse", PARSE, task), ("import + ready", READY, task))
    samples = {(layer, what): [] for layer in layers for what, _, _ in kinds}
    samples[("no shipped parse", "import + ready")] = []
    plan = [(layer, tree, what, program, package) for layer, tree in layers.items() for what, program, package in kinds]
    plan.append(("no shipped parse", layers["as built"], "import + ready", READY, bare))
    snap = []
    for run in range(runs + 1):  # run 0 is a warm-up (page cache); interleaved so load hits all alike
        for layer, tree, what, program, package in plan:
            elapsed, cpu, out = cold.timed(program, tree, package)
            if program is READY:
                source = common.tagged(out, "SOURCE")
                if source != EXPECTED_SOURCE[layer]:
                    sys.exit(f"{layer}: the first call's manifest came from {source!r}, "
                             f"expected {EXPECTED_SOURCE[layer]!r}")
            if run:
                samples[(layer, what)].append((elapsed, cpu))
            print(f"  {layer:<16} {what:<14} run {common.run_label(run)}: {elapsed:5.2f}s ({cpu:5.2f}s cpu)",
                  flush=True)
        _, _, out = cold.timed(SNAPSTART, layers["as built"], task, DBT_PARSE_AT_INIT="true")
        init, first = common.tagged_json(out, "TIMES")
        if run:
            snap.append((init, first))
        print(f"  as built         parse at init  run {common.run_label(run)}: init {init:5.2f}s, "
              f"first parse {first:5.2f}s", flush=True)

    def cell(layer, what):
        values = samples.get((layer, what))
        return (f"{common.median(values, 0):9.2f} ({common.median(values, 1):5.2f})" if values
                else f"{'-':>9} {'':7}")

    print(f"\nmedian of {runs}         import(s) (cpu)  import + parse(s) (cpu)  import + ready(s) (cpu)")
    for layer in (*layers, "no shipped parse"):
        print(f"{layer:<18} {cell(layer, 'import')} {cell(layer, 'import + parse')}    {cell(layer, 'import + ready')}")
    ready = common.median(samples[("as built", "import + ready")], 0)
    parse = common.median(samples[("as built", "import + parse")], 0)
    reference = common.median(samples[("no bytecode", "import + parse")], 0)
    unshipped = common.median(samples[("no shipped parse", "import + ready")], 0)
    print(f"as built / no bytecode (import + parse): {parse / reference:.2f}; "
          f"shipped parse / no shipped parse (import + ready): {ready / unshipped:.2f}")
    print(f"goal import + ready <= 3.50 s: {ready:.2f} s, {'ok' if ready <= 3.5 else 'OVER'}")
    print(f"parse at init (SnapStart): init {common.median(snap, 0):.2f}s (in the snapshot), "
          f"first parse invocation {common.median(snap, 1):.2f}s")


def main(argv: list[str] | None = None) -> int:
    parser = common.parser("bench.coldstart", __doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    print("building the x86-64 twin of the layer and the function package ...", flush=True)
    common.step(common.uv_module("scripts.packaging.build_layer", "--arch", "x86_64", "--out-dir", str(OUT)))
    common.step(common.uv_module("scripts.packaging.build_package"))
    root = Path(tempfile.mkdtemp(prefix="bench-coldstart-"))
    try:
        measure(args.runs, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
