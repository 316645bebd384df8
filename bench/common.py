"""What the benchmarks share: the repository's paths, their command lines, timed subprocesses,
medians, the environment a local build runs in and the sample data it builds from.

Run inside the project's venv (`scripts/uv run --frozen python -m bench.<name>`), where the
project is installed, so the Lambda packages and the tools are imported by name.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from ingest.handler import ingest
from scripts.demo import sample_data

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "dbt"
UV = REPO / "scripts" / "uv"
# The dbt CLI of the interpreter running the bench (the project's venv).
DBT = Path(sys.executable).parent / "dbt"
# In the order `python -m bench` runs them.
BENCHES = ("synth", "handler", "coldstart", "history", "ship", "steps")


# --- command line ---------------------------------------------------------------------------


def parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """An argument parser for `python -m <module>` whose --help shows the module's docstring."""
    return argparse.ArgumentParser(prog=f"python -m {module}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def uv_module(module: str, *args: str) -> list[str]:
    """The command that runs `python -m <module>` in the project's venv, as `make` does."""
    return [str(UV), "run", "--frozen", "python", "-m", module, *args]


# --- timing -----------------------------------------------------------------------------------


def median(values: Iterable, index: int | None = None) -> float:
    """The median of values, or of each value's [index] when they are tuples."""
    return statistics.median(values if index is None else (v[index] for v in values))


def run_label(run: int) -> str:
    """Run 0 of each bench is the discarded warm-up."""
    return str(run) if run else "warm-up"


def tagged(output: str, tag: str) -> str:
    """The rest of the first line of a child's output that starts with `<tag> `."""
    return next(line for line in output.splitlines() if line.startswith(tag + " ")).split(" ", 1)[1]


def tagged_json(output: str, tag: str):
    """The JSON a child printed after `<tag> `."""
    return json.loads(tagged(output, tag))


# --- subprocesses -----------------------------------------------------------------------------


def timed(command: Sequence[str], env: Mapping[str, str] | None = None) -> tuple[float, str]:
    """(wall seconds, stdout and stderr) of a command run from the repository root; exits if it fails."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command[:3])} ...\n{done.stdout[-3000:]}")
    return elapsed, done.stdout


def step(command: Sequence[str | Path]) -> None:
    """A preparation step run from the repository root; exits with its output if it fails."""
    done = subprocess.run([str(part) for part in command], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, command))}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


@contextlib.contextmanager
def quietly() -> Iterator[None]:
    """Swallow what the code inside prints (sample data generation and ingest report as they go)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


# --- local builds -----------------------------------------------------------------------------


def local_env(local: Path) -> dict[str, str]:
    """This environment without its dbt and handler settings, building the raw zone in `local`."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("DBT_") and k not in ("ENVIRONMENT", "LOCAL_DATA_DIR")}
    return dict(base, LOCAL_DATA_DIR=str(local), DBT_LOG_LEVEL="warn", DBT_SEND_ANONYMOUS_USAGE_STATS="false")


def handler_env(env: Mapping[str, str], tmpdir: Path) -> dict[str, str]:
    """`env` for the handler: its local (DuckDB) target, its scratch files under tmpdir."""
    return dict(env, ENVIRONMENT="local", TMPDIR=str(tmpdir))


def dbt_build(target_path: Path, log_path: Path) -> list[str]:
    """The bare `dbt build` of the project on its local target."""
    return [str(DBT), "build", "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
            "--target", "local", "--target-path", str(target_path), "--log-path", str(log_path)]


# --- sample data ------------------------------------------------------------------------------


def generate_sample(database: Path, scale: int) -> None:
    """The sample (Chinook-shaped) SQLite database at the given scale."""
    sample_data.generate(database, scale=scale)


def ingest_snapshot(database: Path, local: Path, ingest_date=None) -> dict:
    """One ingest of the database into the local raw zone (today's date unless given); its result."""
    return ingest(str(database), str(local), ingest_date=ingest_date)
