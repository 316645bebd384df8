"""dbt_layer/requirements.txt is uv.lock's `layer` group, so the layer's dbt-core is the local one."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import tomllib
from pathlib import Path

from scripts.packaging.tests.packaging_helpers import REPO, packaging, run
REQUIREMENTS = REPO / "dbt_layer" / "requirements.txt"


def pins(text: str) -> dict[str, str]:
    return {name.lower(): version for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", text, re.M)}


def locked_versions() -> dict[str, str]:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"] if "version" in package}


def test_requirements_match_uv_lock():
    result = run(packaging("build_layer", "--check-requirements"), cwd=REPO)
    assert "matches uv.lock" in result.stdout


def test_drift_is_detected(tmp_path: Path):
    drifted = tmp_path / "requirements.txt"
    drifted.write_text(REQUIREMENTS.read_text().replace("dbt-core==", "dbt-core==0.0.1.dev0+", 1))
    result = subprocess.run(packaging("build_layer", "--check-requirements", "--requirements", str(drifted)),
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1
    assert "drifted from uv.lock" in result.stdout
    assert "make layer-requirements" in result.stdout


def test_layer_dbt_core_is_the_local_dbt_core():
    layer = pins(REQUIREMENTS.read_text())
    assert layer["dbt-core"] == importlib.metadata.version("dbt-core") == locked_versions()["dbt-core"]
    assert layer["dbt-athena"] == locked_versions()["dbt-athena"]


def test_every_pin_is_the_locked_version_and_hashed():
    locked = locked_versions()
    layer = pins(REQUIREMENTS.read_text())
    assert {"dbt-core", "dbt-athena", "dbt-adapters", "boto3", "botocore"} <= layer.keys()
    assert {name: version for name, version in layer.items() if locked.get(name) != version} == {}
    blocks = [block for block in re.split(r"\n(?=[A-Za-z0-9])", REQUIREMENTS.read_text()) if "==" in block]
    assert len(blocks) == len(layer)
    assert all("--hash=sha256:" in block for block in blocks), "every pin must carry hashes (--require-hashes)"


def test_local_only_packages_stay_out_of_the_layer():
    layer = pins(REQUIREMENTS.read_text())
    assert not {"dbt-duckdb", "duckdb", "pytest", "moto"} & layer.keys()
