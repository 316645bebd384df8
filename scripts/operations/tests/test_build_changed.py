"""The post-deploy state-aware build: what it finds changed, comparing the deployed project's manifest with latest/."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

from dbt_runner import run_artifacts
from scripts.operations import build_changed
from scripts.operations.artifact_source import LocalSource
from scripts.testing.runner_env import REPO


# --- manifest against manifest: the deployed project vs latest/ ------------------------------------


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    """The real project parsed as deployed (from a function.zip holding dbt/), and a copy with one model changed."""
    root = tmp_path_factory.mktemp("deployed")
    archive = root / "function.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in (REPO / "dbt").rglob("*"):
            rel = path.relative_to(REPO)
            if path.is_file() and not {"target", "logs", "dbt_packages"} & set(rel.parts):
                z.write(path, rel.as_posix())
    deployed = build_changed.deployed_manifest(archive)
    changed_dir = root / "changed"
    shutil.copytree(REPO / "dbt", changed_dir, ignore=shutil.ignore_patterns("target", "logs"))
    model = next(changed_dir.glob("models/marts/**/album_track_counts.sql"))
    model.write_text(model.read_text() + "\n-- a deployed change\n")
    return deployed, build_changed.deployed_manifest(project_dir=changed_dir)


def test_nothing_is_built_when_the_deployed_project_is_the_last_good_build(parsed, tmp_path):
    deployed, _ = parsed
    run_artifacts.write_latest(run_artifacts.LocalStore(tmp_path), "build-1", {"manifest.json": json.dumps(deployed).encode()})
    latest = build_changed.read_latest_manifest(LocalSource(tmp_path))
    assert build_changed.changed_nodes(deployed, latest) == []


def test_a_changed_model_is_found_and_no_latest_means_a_first_full_build(parsed, tmp_path):
    deployed, changed = parsed
    assert build_changed.changed_nodes(changed, deployed) == ["model.dbt_lambda.album_track_counts"]
    assert build_changed.read_latest_manifest(LocalSource(tmp_path)) is None
    everything = build_changed.changed_nodes(deployed, None)
    assert "model.dbt_lambda.album_track_counts" in everything and len(everything) > 20
