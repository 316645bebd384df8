"""What the dbt layer drops after installation, and why the rest stays.

Removed (the Lambda runtime never loads it):
  - the bytecode caches the install left (__pycache__/, *.pyc): compile() below
    writes the layer's own, reproducibly;
  - test suites: directories named tests/ or test/ (networkx and jsonschema ship
    several MB of them; dbt-protos ships a top-level test/ that would shadow the
    standard library's test package);
  - type stubs (*.pyi): only type checkers read them;
  - bin/: console scripts whose shebangs point at the build machine's Python;
  - babel's locale data (28 MiB of the 30 MiB babel occupies) except root, en and en_US:
    babel is there for agate, whose number type reads the symbols of one locale, en_US (agate's
    default; dbt never passes another), and babel loads a locale's parents (en, root) with it.
    This is what makes room for the bytecode below within the 45 MiB zipped budget.
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

import base64
import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

TEST_DIRS = frozenset({"tests", "test"})
BYTECODE_SUFFIXES = frozenset({".pyc", ".pyo"})
STUB_SUFFIX = ".pyi"
# Where Lambda mounts the layer's python/ folder: the path compiled into the bytecode.
LAMBDA_LAYER_PATH = "/opt/python"
CACHE_TAG = "cpython-312"
BABEL_LOCALE_DATA = Path("babel", "locale-data")
BABEL_LOCALES_KEPT = frozenset({"root", "en", "en_US"})


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
        relative = path.relative_to(site_packages)
        stub = path.suffix == STUB_SUFFIX and not _protected(relative)
        locale = relative.parent == BABEL_LOCALE_DATA and path.suffix == ".dat" and path.stem not in BABEL_LOCALES_KEPT
        if bytecode or stub or locale:
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


def compile_bytecode(site_packages: Path, python: str = sys.executable) -> int:
    """Compile every .py under site_packages for `python` (a CPython 3.12); returns the number of .pyc files.

    Runs `python -m compileall` in a child with PYTHONHASHSEED=0, so frozenset constants are
    marshalled in the same order on every build and the zip stays byte-identical. Each new
    .pyc is added to its distribution's RECORD, as an installer that compiles would.
    """
    tag = subprocess.run([python, "-c", "import sys; print(sys.implementation.cache_tag)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    if tag != CACHE_TAG:
        raise RuntimeError(f"bytecode for the python3.12 runtime needs CPython 3.12, got {python} ({tag})")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    command = [python, "-m", "compileall", "-q", "-q", "-j", "0", "-d", LAMBDA_LAYER_PATH,
               "--invalidation-mode", "unchecked-hash", str(site_packages)]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"compileall failed for {site_packages}:\n{result.stdout}{result.stderr}")
    compiled = sorted(site_packages.rglob(f"__pycache__/*.{CACHE_TAG}.pyc"))
    _record_bytecode(site_packages, compiled)
    return len(compiled)


def _record_bytecode(site_packages: Path, compiled: list[Path]) -> None:
    owners: dict[str, Path] = {}
    for record in sorted(site_packages.glob("*.dist-info/RECORD")):
        with record.open(newline="") as handle:
            for row in csv.reader(handle):
                if row and row[0].endswith(".py"):
                    owners[os.path.normpath(row[0])] = record
    rows: dict[Path, list[str]] = {}
    for pyc in compiled:
        source = pyc.parent.parent / (pyc.name.removesuffix(f".{CACHE_TAG}.pyc") + ".py")
        record = owners.get(os.path.normpath(source.relative_to(site_packages).as_posix()))
        if record is None:
            continue
        data = pyc.read_bytes()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.setdefault(record, []).append(f"{pyc.relative_to(site_packages).as_posix()},sha256={digest},{len(data)}\n")
    for record, lines in rows.items():
        text = record.read_text()
        record.write_text(text + ("" if text.endswith("\n") or not text else "\n") + "".join(lines))
