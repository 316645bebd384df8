"""Paths and commands for the packaging tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCRIPTS = REPO / "scripts"
BUILD = REPO / "build"


def packaging(name: str, *args: str) -> list[str]:
    """The command `make layer` / `make package` run: `python -m scripts.packaging.<name>` in the
    project's environment (this interpreter), which imports the scripts package from any folder."""
    return [sys.executable, "-m", f"scripts.packaging.{name}", *args]


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command and fail the test with its output when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}"
    return result


def python312() -> str:
    return run([str(SCRIPTS / "find-python312")]).stdout.strip()
