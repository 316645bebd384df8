"""What the dbt layer drops after installation, and why the rest stays.

Removed (the Lambda runtime never loads it):
  - bytecode caches (__pycache__/, *.pyc): the layer is read-only at /opt, and
    stale caches built by another interpreter would only be ignored;
  - test suites: directories named tests/ or test/ (networkx and jsonschema ship
    several MB of them; dbt-protos ships a top-level test/ that would shadow the
    standard library's test package);
  - type stubs (*.pyi): only type checkers read them;
  - bin/: console scripts whose shebangs point at the build machine's Python.
Kept on purpose:
  - every *.dist-info folder: dbt finds its adapters and reports versions through
    package metadata (importlib.metadata). Only the RECORD rows of pruned files are
    dropped, so RECORD lists what is really there; it also keeps the layer's bytes
    independent of the build machine (the rows for bin/ hash scripts whose shebang
    is the local interpreter's path);
  - everything under an include/ folder: dbt's global project, adapter macros,
    starter project and docs templates are data read at run time, and they contain
    folders named tests/ (generic test macros);
  - modules that merely have "test" in their name (dbt_common/tests.py is imported
    by dbt at run time): only directories are pruned, never a .py file;
  - documentation text (*.md, *.rst): about 40 KB in total, and dbt reads
    include/global_project/docs/overview.md for `dbt docs generate`.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

TEST_DIRS = frozenset({"tests", "test"})
BYTECODE_SUFFIXES = frozenset({".pyc", ".pyo"})
STUB_SUFFIX = ".pyi"


@dataclass
class PruneReport:
    removed_files: int = 0
    removed_bytes: int = 0
    removed_dirs: list[str] = field(default_factory=list)


def _protected(relative: Path) -> bool:
    return any(part == "include" or part.endswith(".dist-info") for part in relative.parts)


def _tree_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def prune(site_packages: Path) -> PruneReport:
    """Prune an installed --target tree in place."""
    report = PruneReport()

    def drop_dir(path: Path) -> None:
        count, size = _tree_size(path)
        report.removed_files += count
        report.removed_bytes += size
        report.removed_dirs.append(path.relative_to(site_packages).as_posix())
        shutil.rmtree(path)

    bin_dir = site_packages / "bin"
    if bin_dir.is_dir():
        drop_dir(bin_dir)

    # Parents sort before their children; the exists() check skips folders already removed with a parent.
    for directory in sorted(p for p in site_packages.rglob("*") if p.is_dir()):
        if not directory.exists():
            continue
        relative = directory.relative_to(site_packages)
        if directory.name == "__pycache__":
            drop_dir(directory)
        elif directory.name in TEST_DIRS and not _protected(relative):
            drop_dir(directory)

    for path in sorted(site_packages.rglob("*")):
        if not path.is_file():
            continue
        bytecode = path.suffix in BYTECODE_SUFFIXES
        stub = path.suffix == STUB_SUFFIX and not _protected(path.relative_to(site_packages))
        if bytecode or stub:
            report.removed_files += 1
            report.removed_bytes += path.stat().st_size
            path.unlink()
    _drop_missing_record_rows(site_packages)
    return report


def _drop_missing_record_rows(site_packages: Path) -> None:
    for record in sorted(site_packages.glob("*.dist-info/RECORD")):
        lines = record.read_text().splitlines(keepends=True)
        kept = []
        for line in lines:
            row = next(csv.reader(io.StringIO(line)), None)
            if row and not (site_packages / os.path.normpath(row[0])).exists():
                continue
            kept.append(line)
        if kept != lines:
            record.write_text("".join(kept))
