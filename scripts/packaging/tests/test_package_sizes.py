"""Lambda's limits and the layer's budgets, measured on the built zips."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from scripts.packaging.tests.packaging_helpers import REPO, packaging
from scripts.packaging import deterministic_zip, lambda_budget

MB = 1024 * 1024


def test_layer_zip_fits_direct_upload_and_budget(layer_zip: Path):
    size = layer_zip.stat().st_size
    assert size < 50 * MB, "over Lambda's direct-upload limit: the stack would have to upload it through S3"
    assert size <= lambda_budget.LAYER_ZIPPED_BUDGET == 45 * MB


def test_layer_unzipped_within_budget(layer_zip: Path):
    assert deterministic_zip.unzipped_size(layer_zip) <= lambda_budget.LAYER_UNZIPPED_BUDGET == 120 * MB


def test_layer_plus_function_unzipped_under_lambda_quota(layer_zip: Path, function_zip: Path):
    total = deterministic_zip.unzipped_size(layer_zip) + deterministic_zip.unzipped_size(function_zip)
    assert total < 262_144_000 == lambda_budget.LAMBDA_UNZIPPED_LIMIT
    assert lambda_budget.check_deployment(layer_zip, function_zip) == total


def test_over_budget_message_names_the_artifact_the_limit_and_the_excess():
    with pytest.raises(lambda_budget.OverBudget) as raised:
        lambda_budget.check("the layer zip", 46 * MB, lambda_budget.LAYER_ZIPPED_BUDGET, "layer budget")
    message = str(raised.value)
    assert "the layer zip is 46.0 MiB" in message
    assert "layer budget of 45.0 MiB" in message
    assert "by 1.0 MiB" in message
    lambda_budget.check("the layer zip", 45 * MB, lambda_budget.LAYER_ZIPPED_BUDGET, "layer budget")


@pytest.mark.parametrize(("flag", "label"), [("--max-zipped-mib", "the layer zip"),
                                             ("--max-unzipped-mib", "the layer unzipped")])
def test_build_layer_fails_clearly_over_budget(layer_zip: Path, flag: str, label: str):
    result = subprocess.run(packaging("build_layer", flag, "10"), cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1
    assert f"error: over budget: {label} is" in result.stdout
    assert "over the layer budget of 10.0 MiB" in result.stdout
