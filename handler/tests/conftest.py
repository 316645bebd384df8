"""Shared fixtures of the Lambda packages' tests: sample data, fixture projects, env isolation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts.testing.chinook import ingest_module, sample_data
from scripts.testing.runner_env import HANDLER_ENV, write_numbers

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"


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
    root = tmp_path_factory.mktemp("sample")
    database = root / "chinook.db"
    sample_data().generate(database, scale=1)
    local = root / "local"
    ingest_module().ingest(str(database), str(local))
    return local


@pytest.fixture(scope="session")
def handler_module():
    from dbt_runner import handler

    return handler


@pytest.fixture
def context():
    class LambdaContext:
        aws_request_id = "test-request-0001"
        function_name = "test-dbt-runner"

    return LambdaContext()


@pytest.fixture
def tiny(copy_fixture, tmp_path, monkeypatch):
    """(project, data folder): the tiny fixture project on the local target, its raw table 1, 2, 3."""
    project = copy_fixture("tiny")
    data = tmp_path / "data"
    write_numbers(data, [1, 2, 3])
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))
    monkeypatch.setenv("ENVIRONMENT", "local")
    monkeypatch.setenv("LOCAL_DATA_DIR", str(data))
    return project, data
