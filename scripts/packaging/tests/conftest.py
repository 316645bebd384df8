"""Shared fixtures: the built zips (built here if missing: the scripts skip work when up to date)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from scripts.packaging.tests.packaging_helpers import BUILD, REPO, packaging, run
@pytest.fixture(scope="session")
def layer_zip() -> Path:
    run(packaging("build_layer"), cwd=REPO)
    return BUILD / "dbt-layer.zip"


@pytest.fixture(scope="session")
def function_zip(layer_zip: Path) -> Path:
    run(packaging("build_package"), cwd=REPO)
    return BUILD / "function.zip"


@pytest.fixture(scope="session")
def layer_names(layer_zip: Path) -> list[str]:
    with zipfile.ZipFile(layer_zip) as archive:
        return archive.namelist()


