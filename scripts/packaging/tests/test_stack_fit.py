"""The synthesized stacks reference exactly the zips `make layer package` writes, and those fit them."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import pytest

from scripts.packaging.tests.packaging_helpers import REPO, run
CDKTF_OUT = REPO / "cdktf.out"


@pytest.fixture(scope="module")
def stacks(layer_zip: Path, function_zip: Path) -> dict[str, dict]:
    # Synthesize now: a cdktf.out left over from an older stack would prove nothing.
    run(["npx", "cdktf", "synth"], cwd=REPO, env={**os.environ, "CHECKPOINT_DISABLE": "1"}, timeout=600)
    found = {path.parent.name: json.loads(path.read_text()) for path in sorted(CDKTF_OUT.glob("stacks/*/cdk.tf.json"))}
    assert {"dev", "prod"} <= found.keys(), f"stacks synthesized: {sorted(found)}"
    return found


def resources_of(stack: dict, resource_type: str) -> dict[str, dict]:
    return stack.get("resource", {}).get(resource_type, {})


def resolve(env: str, filename: str) -> Path:
    # Terraform runs in cdktf.out/stacks/<env>/, so relative paths resolve from there.
    return (CDKTF_OUT / "stacks" / env / filename).resolve()


def test_every_referenced_zip_exists_and_is_ours(stacks: dict[str, dict]):
    expected = {"aws_lambda_function": REPO / "build" / "function.zip",
                "aws_lambda_layer_version": REPO / "build" / "dbt-layer.zip"}
    for env, stack in stacks.items():
        for resource_type, zip_path in expected.items():
            resources = resources_of(stack, resource_type)
            assert resources, f"{env}: no {resource_type}"
            for name, resource in resources.items():
                assert "filename" in resource, f"{env} {resource_type}.{name} does not deploy a local zip"
                path = resolve(env, resource["filename"])
                assert path.is_file(), f"{env} {resource_type}.{name}: {resource['filename']} -> {path} does not exist"
                assert path == zip_path.resolve()
                assert "filebase64sha256" in resource.get("source_code_hash", ""), \
                    f"{env} {resource_type}.{name}: the hash must be computed by Terraform at plan time"


def test_handler_strings_name_modules_in_the_function_zip(stacks: dict[str, dict], function_zip: Path):
    with zipfile.ZipFile(function_zip) as archive:
        modules = {n[:-3].replace("/", ".") for n in archive.namelist() if n.endswith(".py")}
    for env, stack in stacks.items():
        for name, function in resources_of(stack, "aws_lambda_function").items():
            module = function["handler"].rsplit(".", 1)[0]
            assert module in modules, f"{env} {name}: handler {function['handler']} has no module {module} in the zip"


def test_runtime_and_architecture_match_the_layer_build(stacks: dict[str, dict]):
    for env, stack in stacks.items():
        for name, function in resources_of(stack, "aws_lambda_function").items():
            if resolve(env, function["filename"]).name != "function.zip":
                continue
            assert function["runtime"] == "python3.12", f"{env} {name}"
            assert function.get("architectures") == ["arm64"], f"{env} {name}: the layer's binaries are aarch64"
            if function["handler"] == "ingest.handler.handler":
                # Ingestion needs only the standard library and the runtime's boto3 (see the package test).
                assert not function.get("layers"), f"{env} {name}: the ingest function needs no layer"
                continue
            assert function["handler"] == "dbt_runner.handler.handler", f"{env} {name}"
            assert function.get("layers"), f"{env} {name}: the dbt layer is not attached"
            assert all(re.search(r"aws_lambda_layer_version\.", layer) for layer in function["layers"])
        for name, layer in resources_of(stack, "aws_lambda_layer_version").items():
            assert set(layer.get("compatible_runtimes", ["python3.12"])) == {"python3.12"}, f"{env} {name}"
            assert set(layer.get("compatible_architectures", ["arm64"])) == {"arm64"}, f"{env} {name}"
