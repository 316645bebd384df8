"""Shared fixtures: the built artifacts (built here if missing: the scripts skip work when up to date)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from artifact_helpers import BUILD, REPO, SCRIPTS, run


@pytest.fixture(scope="session")
def layer_zip() -> Path:
    run([str(SCRIPTS / "build-layer")], cwd=REPO)
    return BUILD / "dbt-layer.zip"


@pytest.fixture(scope="session")
def function_zip(layer_zip: Path) -> Path:
    run([str(SCRIPTS / "build-package")], cwd=REPO)
    return BUILD / "function.zip"


@pytest.fixture(scope="session")
def layer_names(layer_zip: Path) -> list[str]:
    with zipfile.ZipFile(layer_zip) as archive:
        return archive.namelist()


