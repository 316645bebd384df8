"""What the handler needs to know about a dbt project without starting dbt.

raw_tables: the tables of the `raw` source and their raw-zone folders, so an S3 event for an
unknown table is refused early and the newest partition of each table can be listed.
macro_names: the macros the project itself defines, the only ones run-operation may run.
fingerprint: everything a parsed manifest depends on, so a warm container reuses its manifest
only while the project, its profile, its env_var() values and --vars are unchanged.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Iterable, Iterator

import yaml

from dbt_runner.settings import RUNNER_ONLY

# Folders at the project's top level that dbt writes or that never hold project files (only
# there: dbt parses a models/logs/ folder like any other).
_TOP_LEVEL_SKIP = {"target", "logs", "node_modules"}
_NOT_SOURCE_FILES = {"dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml", "selectors.yml"}
_ENV_VAR_CALL = re.compile(rb"""env_var\(\s*['"]([^'"]+)['"]""")
_MACRO_DEFINITION = re.compile(rb"\{%-?\s*macro\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def raw_tables(project_dir: Path, source_name: str = "raw") -> dict[str, str]:
    """Every table of the `sources:` entries called `source_name`: {table name: raw-zone folder}.

    The folder is the table's `identifier` when it sets one, else its name, in lower case (the
    ingestion writes raw/<lower-case name>/, and Glue lower-cases table names).
    """
    tables: dict[str, str] = {}
    for path in files(project_dir, skip_packages=True):
        if path.suffix not in (".yml", ".yaml") or path.name in _NOT_SOURCE_FILES:
            continue
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue  # dbt reports broken YAML itself, with a better message
        sources = document.get("sources") if isinstance(document, dict) else None
        for source in sources if isinstance(sources, list) else []:
            if isinstance(source, dict) and source.get("name") == source_name:
                for table in source.get("tables") or []:
                    if isinstance(table, dict) and isinstance(table.get("name"), str):
                        identifier = table.get("identifier")
                        folder = identifier if isinstance(identifier, str) and identifier else table["name"]
                        tables[table["name"]] = folder.lower()
    return tables


def macro_names(project_dir: Path) -> set[str]:
    """Names of the macros defined under the project's macro-paths (default `macros/`)."""
    try:
        config = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return set()  # dbt reports a broken project itself
    paths = config.get("macro-paths") if isinstance(config, dict) else None
    names: set[str] = set()
    for folder in paths if isinstance(paths, list) else ["macros"]:
        root = project_dir / str(folder)
        for path in files(root, skip_packages=True) if root.is_dir() else ():
            if path.suffix == ".sql":
                names.update(match.decode() for match in _MACRO_DEFINITION.findall(path.read_bytes()))
    return names


def fingerprint(project_dir: Path, profiles_dir: Path, inputs: Iterable[str]) -> str:
    """A digest of the project's files, the profile, the env vars they read, and `inputs`."""
    digest = hashlib.sha256()
    env_names = hash_files(digest, project_dir, profiles_dir, relative=False)
    # DBT_* variables are dbt's own settings; the rest are what the project's env_var() calls read.
    env_names.update(name for name in os.environ if name.startswith("DBT_") and name not in RUNNER_ONLY)
    for name in sorted(env_names):
        digest.update(f"\0env:{name}={os.environ.get(name)!r}".encode())
    for item in inputs:
        digest.update(f"\0input:{item}".encode())
    return digest.hexdigest()


def hash_files(digest: "hashlib._Hash", project_dir: Path, profiles_dir: Path, *, relative: bool) -> set[str]:
    """Feed each project file and profiles.yml, by path and content, to `digest`.

    Returns the names of the variables their env_var() calls read. `relative`: paths as seen from
    the project folder, so the same project elsewhere gives the same digest.
    """
    env_names: set[str] = set()
    found = sorted(files(project_dir, skip_packages=False))
    profiles = profiles_dir / "profiles.yml"
    if profiles not in found:
        found.append(profiles)
    for path in found:
        try:
            content = path.read_bytes()
        except OSError:
            continue
        shown = path.relative_to(project_dir).as_posix() if relative and path.is_relative_to(project_dir) else str(path)
        digest.update(shown.encode() + b"\0" + hashlib.sha256(content).digest())
        env_names.update(env_var_names(content))
    return env_names


def env_var_names(content: bytes) -> set[str]:
    """Names of the variables that the env_var() calls in a file's text read."""
    return {match.decode(errors="replace") for match in _ENV_VAR_CALL.findall(content)}


def files(root: Path, *, skip_packages: bool) -> Iterator[Path]:
    """Every file dbt may read under a project folder (not target/, logs/ or hidden ones)."""
    for folder, dirs, names in os.walk(root):
        top = Path(folder) == root
        dirs[:] = [
            d for d in dirs
            if not d.startswith(".") and d != "__pycache__"
            and not (top and (d in _TOP_LEVEL_SKIP or (skip_packages and d == "dbt_packages")))
        ]
        for name in names:
            if not name.startswith("."):
                yield Path(folder, name)
