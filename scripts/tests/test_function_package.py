"""build/function.zip follows the layout the stack and the handler rely on (handler.handler, dbt/ beside it)."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from artifact_helpers import REPO, SCRIPTS, python312, run

FORBIDDEN_PARTS = {"target", "logs", ".local", "__pycache__", "dbt_packages", ".user.yml"}


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def test_handler_modules_at_the_root(function_zip: Path):
    entries = names(function_zip)
    root_files = {n for n in entries if "/" not in n}
    assert "handler.py" in root_files
    assert root_files == {p.name for p in (REPO / "handler").glob("*.py")}


def test_ingest_loads_with_the_standard_library_only(function_zip: Path, tmp_path: Path):
    """The ingest function has no layer: its module must import without dbt, yaml or boto3
    (boto3 is the runtime's, imported only when S3 is used), from the package as Lambda unpacks it."""
    with zipfile.ZipFile(function_zip) as archive:
        archive.extractall(tmp_path / "task")
    program = (
        "import sys, ingest; "
        "loaded = sorted(m for m in ('dbt', 'yaml', 'boto3', 'duckdb', 'agate') if m in sys.modules); "
        "print('LOADED', loaded, callable(ingest.handler))"
    )
    # -S: no site-packages, -I: no user paths or PYTHON* variables; only the unpacked package.
    done = subprocess.run([python312(), "-S", "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path / 'task')!r}); {program}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "LOADED [] True"


def test_dbt_project_under_dbt(function_zip: Path):
    entries = set(names(function_zip))
    assert {"dbt/dbt_project.yml", "dbt/profiles.yml", "dbt/models/sources.yml"} <= entries
    assert all("/" not in n or n.startswith(("dbt/", "shipped-parse/")) for n in entries), \
        "only handler modules, dbt/ and shipped-parse/ belong in the zip"
    project_files = {"dbt/" + p.relative_to(REPO / "dbt").as_posix() for p in (REPO / "dbt").rglob("*")
                     if p.is_file() and not set(p.relative_to(REPO / "dbt").parts) & FORBIDDEN_PARTS
                     and not any(part.startswith(".") for part in p.relative_to(REPO / "dbt").parts)}
    assert {n for n in entries if n.startswith("dbt/")} == project_files


def test_no_build_outputs_local_data_or_handler_tests(function_zip: Path):
    for name in names(function_zip):
        parts = name.split("/")
        assert not set(parts) & FORBIDDEN_PARTS, name
        assert parts[0] != "tests" and not name.endswith((".pyc", ".duckdb")), name
        assert not (len(parts) == 1 and (name.startswith("test_") or name == "conftest.py")), name


@pytest.fixture()
def sources(tmp_path: Path) -> tuple[Path, Path]:
    files = {
        "handler/handler.py": "def handler(event, context): ...\n",
        "handler/helper.py": "X = 1\n",
        "handler/tests/test_handler.py": "def test(): ...\n",
        "handler/tests/fixtures/event.json": "{}",
        "handler/__pycache__/handler.cpython-312.pyc": "",
        "dbt/dbt_project.yml": "name: fixture\nversion: '1.0.0'\nprofile: fixture\n",
        "dbt/profiles.yml": "fixture: {}\n",
        "dbt/models/a.sql": "select 1 as id\n",
        "dbt/tests/assert_a.sql": "select 1 where false\n",
        "dbt/macros/m.sql": "{% macro m() %}1{% endmacro %}\n",
        "dbt/target/manifest.json": "{}",
        "dbt/logs/dbt.log": "log",
        "dbt/.user.yml": "id: x\n",
        "dbt/.local/raw/a/part-0000.jsonl": "{}\n",
        "dbt/dbt_packages/stale/dbt_project.yml": "name: stale\n",
        "dbt/local.duckdb": "",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "handler", tmp_path / "dbt"


def build(handler: Path, dbt: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPTS / "build-package"), "--handler-dir", str(handler), "--dbt-dir", str(dbt),
                           "--out", str(out), "--layer-zip", str(out.with_name("no-layer.zip"))],
                          cwd=REPO, capture_output=True, text=True)


def test_fixture_package_keeps_exactly_code_and_project(sources: tuple[Path, Path], tmp_path: Path):
    result = build(*sources, tmp_path / "out" / "function.zip")
    assert result.returncode == 0, result.stderr
    assert names(tmp_path / "out" / "function.zip") == [
        "dbt/dbt_project.yml", "dbt/macros/m.sql", "dbt/models/a.sql", "dbt/profiles.yml", "dbt/tests/assert_a.sql",
        "handler.py", "helper.py",
    ]
    assert "function package:" in result.stdout and "7 files" in result.stdout


def test_declared_packages_are_installed_and_shipped(sources: tuple[Path, Path], tmp_path: Path):
    handler, dbt = sources
    (dbt / "dbt_packages" / "stale" / "dbt_project.yml").unlink()
    (dbt / "dbt_packages" / "stale").rmdir()
    (dbt / "dbt_packages").rmdir()
    local = tmp_path / "local_pkg"
    (local / "macros").mkdir(parents=True)
    (local / "dbt_project.yml").write_text("name: local_pkg\nversion: '1.0.0'\nconfig-version: 2\n")
    (local / "macros" / "helper.sql").write_text("{% macro helper() %}2{% endmacro %}\n")
    (dbt / "packages.yml").write_text(f"packages:\n  - local: {local}\n")
    result = build(handler, dbt, tmp_path / "function.zip")
    assert result.returncode == 0, result.stdout + result.stderr
    entries = names(tmp_path / "function.zip")
    assert "dbt/packages.yml" in entries
    assert "dbt/dbt_packages/local_pkg/macros/helper.sql" in entries
    assert "dbt/dbt_packages/local_pkg/dbt_project.yml" in entries


def test_missing_handler_is_a_clear_error(sources: tuple[Path, Path], tmp_path: Path):
    handler, dbt = sources
    (handler / "handler.py").unlink()
    result = build(handler, dbt, tmp_path / "function.zip")
    assert result.returncode != 0
    assert "handler.py not found" in result.stderr and "handler.handler" in result.stderr
    assert not (tmp_path / "function.zip").exists()


def test_missing_dbt_project_is_a_clear_error(sources: tuple[Path, Path], tmp_path: Path):
    handler, dbt = sources
    (dbt / "dbt_project.yml").unlink()
    result = build(handler, dbt, tmp_path / "function.zip")
    assert result.returncode != 0 and "dbt_project.yml not found" in result.stderr
