"""Shared fixtures: import paths as in Lambda (handler modules at top level), sample data, env isolation."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
HANDLER_DIR = REPO / "handler"
SCRIPTS_DIR = REPO / "scripts"
FIXTURES = HERE / "fixtures"

# In Lambda the handler modules sit at the zip root; here handler/ plays that role.
for path in (HANDLER_DIR, SCRIPTS_DIR):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from runner_helpers import HANDLER_ENV  # noqa: E402


@pytest.fixture(autouse=True)
def clean_handler_env(monkeypatch):
    for name in HANDLER_ENV:
        monkeypatch.delenv(name, raising=False)
    # dbt's console output is noise in test logs; the handler's summary is what tests check.
    monkeypatch.setenv("DBT_LOG_LEVEL", "warn")


@pytest.fixture(scope="session")
def copy_fixture(tmp_path_factory):
    """Copy a fixture project into a fresh folder (tests may edit it)."""

    def copy(name: str) -> Path:
        target = tmp_path_factory.mktemp(f"project-{name}") / name
        shutil.copytree(FIXTURES / name, target)
        return target

    return copy


@pytest.fixture(scope="session")
def sample_local_dir(tmp_path_factory) -> Path:
    """A LOCAL_DATA_DIR holding the scale-1 sample data ingested into raw/ (B1's generator and ingest)."""
    import ingest
    import sample_data

    root = tmp_path_factory.mktemp("sample")
    database = root / "chinook.db"
    sample_data.generate(database, scale=1)
    local = root / "local"
    ingest.ingest(str(database), str(local))
    return local


@pytest.fixture(scope="session")
def handler_module():
    import handler

    return handler


@pytest.fixture
def context():
    class LambdaContext:
        aws_request_id = "test-request-0001"
        function_name = "test-dbt-runner"

    return LambdaContext()
