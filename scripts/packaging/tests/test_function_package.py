"""build/function.zip follows the layout the stack and the handlers rely on (the Lambda packages, dbt/ beside them)."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from scripts.packaging.build_package import LAMBDA_PACKAGES
from scripts.packaging.tests.packaging_helpers import REPO, packaging, python312
FORBIDDEN_PARTS = {"target", "logs", ".local", "__pycache__", "dbt_packages", ".user.yml", "project_tests"}


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def test_lambda_packages_at_the_root(function_zip: Path):
    entries = names(function_zip)
    assert not {n for n in entries if "/" not in n}, "nothing loose at the zip root"
    code = {n for n in entries if n.split("/")[0] in LAMBDA_PACKAGES}
    assert {"dbt_runner/handler.py", "ingest/handler.py", "raw_zone/__init__.py", "raw_zone/contract.json",
            "lambda_logging/__init__.py"} <= code
    assert code == {p.relative_to(REPO / "handler").as_posix() for package in LAMBDA_PACKAGES
                    for p in (REPO / "handler" / package).rglob("*")
                    if p.is_file() and p.suffix in (".py", ".json") and "__pycache__" not in p.parts}


def test_ingest_loads_with_the_standard_library_only(function_zip: Path, tmp_path: Path):
    """The ingest function has no layer: its module must import without dbt, yaml or boto3
    (boto3 is the runtime's, imported only when S3 is used), from the package as Lambda unpacks it."""
    with zipfile.ZipFile(function_zip) as archive:
        archive.extractall(tmp_path / "task")
    program = (
        "import sys; from ingest import handler; "
        "loaded = sorted(m for m in ('dbt', 'yaml', 'boto3', 'duckdb', 'agate', 'dbt_runner') if m in sys.modules); "
        "print('LOADED', loaded, callable(handler.handler))"
    )
    # -S: no site-packages, -E -s: no PYTHON* variables or user site; the working folder (the task
    # root, as /var/task is in Lambda) is the only place to import from.
    done = subprocess.run([python312(), "-S", "-E", "-s", "-c", program], cwd=tmp_path / "task",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "LOADED [] True"


def test_dbt_project_under_dbt(function_zip: Path):
    entries = set(names(function_zip))
    assert {"dbt/dbt_project.yml", "dbt/profiles.yml", "dbt/models/sources.yml"} <= entries
    assert all(n.split("/")[0] in (*LAMBDA_PACKAGES, "dbt", "shipped-parse") for n in entries), \
        "only the Lambda packages, dbt/ and shipped-parse/ belong in the zip"
    project_files = {"dbt/" + p.relative_to(REPO / "dbt").as_posix() for p in (REPO / "dbt").rglob("*")
                     if p.is_file() and not set(p.relative_to(REPO / "dbt").parts) & FORBIDDEN_PARTS
                     and not any(part.startswith(".") for part in p.relative_to(REPO / "dbt").parts)}
    assert {n for n in entries if n.startswith("dbt/")} == project_files


def test_no_build_outputs_local_data_or_handler_tests(function_zip: Path):
    for name in names(function_zip):
        parts = name.split("/")
        assert not set(parts) & FORBIDDEN_PARTS, name
        assert not (parts[0] in LAMBDA_PACKAGES and "tests" in parts) and not name.endswith((".pyc", ".duckdb")), name
        assert not parts[-1].startswith("test_") and parts[-1] != "conftest.py", name


@pytest.fixture()
def sources(tmp_path: Path) -> tuple[Path, Path]:
    files = {
        "handler/dbt_runner/__init__.py": "",
        "handler/dbt_runner/handler.py": "def handler(event, context): ...\n",
        "handler/dbt_runner/tests/test_handler.py": "def test(): ...\n",
        "handler/dbt_runner/__pycache__/handler.cpython-312.pyc": "",
        "handler/ingest/__init__.py": "",
        "handler/ingest/handler.py": "def handler(event, context): ...\n",
        "handler/raw_zone/__init__.py": "X = 1\n",
        "handler/raw_zone/contract.json": "{}",
        "handler/raw_zone/notes.md": "not code",
        "handler/lambda_logging/__init__.py": "",
        "handler/tests/test_handler.py": "def test(): ...\n",
        "handler/tests/fixtures/event.json": "{}",
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
    return subprocess.run(packaging("build_package", "--handler-dir", str(handler), "--dbt-dir", str(dbt),
                           "--out", str(out), "--layer-zip", str(out.with_name("no-layer.zip"))),
                          cwd=REPO, capture_output=True, text=True)


def test_fixture_package_keeps_exactly_code_and_project(sources: tuple[Path, Path], tmp_path: Path):
    result = build(*sources, tmp_path / "out" / "function.zip")
    assert result.returncode == 0, result.stderr
    assert names(tmp_path / "out" / "function.zip") == [
        "dbt/dbt_project.yml", "dbt/macros/m.sql", "dbt/models/a.sql", "dbt/profiles.yml", "dbt/tests/assert_a.sql",
        "dbt_runner/__init__.py", "dbt_runner/handler.py", "ingest/__init__.py", "ingest/handler.py",
        "lambda_logging/__init__.py", "raw_zone/__init__.py", "raw_zone/contract.json",
    ]
    assert "function package:" in result.stdout and "12 files" in result.stdout


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
    (handler / "ingest" / "__init__.py").unlink()
    result = build(handler, dbt, tmp_path / "function.zip")
    assert result.returncode != 0
    assert "ingest/__init__.py not found" in result.stderr and "package ingest/" in result.stderr
    assert not (tmp_path / "function.zip").exists()


def test_missing_dbt_project_is_a_clear_error(sources: tuple[Path, Path], tmp_path: Path):
    handler, dbt = sources
    (dbt / "dbt_project.yml").unlink()
    result = build(handler, dbt, tmp_path / "function.zip")
    assert result.returncode != 0 and "dbt_project.yml not found" in result.stderr
