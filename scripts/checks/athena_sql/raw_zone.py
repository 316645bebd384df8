"""The raw zone the demo's ingest writes, and its row counts per table and partition."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

_PARTITION = re.compile(r"^ingest_date=(\d{4}-\d{2}-\d{2})$")


def run_demo(repo: Path, data_dir: Path) -> None:
    """The demo's pipeline into data_dir: sample SQLite -> ingest -> raw zone -> DuckDB build.

    """
    result = subprocess.run([sys.executable, "-m", "scripts.demo.demo", "--data-dir", str(data_dir), "--quiet"],
                            cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the demo failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def partition_counts(data_dir: Path, folder: str) -> dict[str, int]:
    """{ingest_date: rows} from the JSON-lines files of raw/<folder>/ingest_date=*/."""
    counts: dict[str, int] = {}
    root = data_dir / "raw" / folder
    for child in sorted(root.iterdir()) if root.is_dir() else ():
        match = _PARTITION.match(child.name)
        if match:
            counts[match.group(1)] = sum(
                sum(1 for line in part.open("rb") if line.strip()) for part in child.glob("part-*.jsonl")
            )
    return counts
