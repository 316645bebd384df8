"""Paths and a subprocess helper for the artifact tests (a unique module name: handler/tests has a conftest too)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
BUILD = REPO / "build"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command and fail the test with its output when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}"
    return result


def python312() -> str:
    return run([str(SCRIPTS / "find-python312")]).stdout.strip()
