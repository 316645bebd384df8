"""The README's example outputs against a real run: `make demo`, then `make runs`, on DuckDB."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from scripts.testing.runner_env import REPO

README = (REPO / "README.md").read_text()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """`make demo` (scale 1) into a scratch folder, then `make runs` of it: (runs output, summary.json)."""
    data = tmp_path_factory.mktemp("demo")
    env_cmd = [sys.executable, "-m", "scripts.demo.demo", "--data-dir", str(data), "--quiet"]
    subprocess.run(env_cmd, cwd=REPO, check=True, capture_output=True, timeout=600)
    runs = subprocess.run([sys.executable, "-m", "scripts.operations.runs", "--local-dir", str(data / "artifacts")],
                          cwd=REPO, check=True, capture_output=True, text=True, timeout=120).stdout
    summary = json.loads(next((data / "artifacts" / "runs").glob("*/*/summary.json")).read_text())
    return runs, summary


def columns(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_the_make_runs_example_is_what_make_runs_prints_after_the_demo(demo_run):
    printed, _ = demo_run
    example = README[README.index("$ make runs            # after make demo"):]
    example_lines = example.split("```")[0].strip().splitlines()[1:]
    real_lines = printed.strip().splitlines()
    assert columns(example_lines[1]) == columns(real_lines[1])  # the header
    # After the start time (its own 19 characters): trigger, command, status, counts and failing
    # agree; the duration is the run's own.
    duration = columns(real_lines[1]).index("DURATION") - 1  # counted after the start time
    keep = lambda line: [c for i, c in enumerate(columns(line[19:])) if i != duration]  # noqa: E731
    assert keep(example_lines[2]) == keep(real_lines[2])


def test_the_handler_response_example_has_the_real_build_counts(demo_run):
    _, summary = demo_run
    example = re.search(r'`(\{"status": "success", "command": \["build"\].*?)`', README).group(1)
    counts = json.loads(re.search(r'"counts": (\{[^}]*\})', example).group(1))
    assert counts == summary["counts"]
