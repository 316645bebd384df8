"""build/function.zip ships a parse per stack target, and the package, unpacked with a deployment's own
values, starts from it: rebound, it equals the parse dbt makes there for the Athena target."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scripts.testing.chinook import moto_server


# A deployment unlike the build's placeholders: other buckets, database, workgroup and folder. The region
# and ENVIRONMENT are keyed by value (issue 20): the package is parsed for the stack's region and a
# container elsewhere parses (checked below).
DEPLOYMENT = {"ENVIRONMENT": "dev", "AWS_REGION": "ap-southeast-2", "GLUE_DATABASE_NAME": "acme_data_dev",
              "RAW_BUCKET_NAME": "acme-data-dev-raw-5eed0a1b", "PROCESSED_BUCKET_NAME": "acme-data-dev-processed-5eed0a1b",
              "ATHENA_RESULTS_BUCKET": "acme-data-dev-athena-results-5eed0a1b", "ATHENA_WORKGROUP": "dev-dbt",
              "ARTIFACTS_BUCKET_NAME": "acme-data-dev-artifacts-5eed0a1b",
              "ALERT_TOPIC_ARN": "arn:aws:sns:ap-southeast-2:123456789012:dev-dbt-alerts",
              "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true"}

CONTAINER = r"""
import json, sys
from dbt_runner import handler, settings, shipped_parse
from dbt.cli.main import dbtRunner

config = settings.load()
settings.apply(config)
path = shipped_parse.path_for(config.shipped_parse_dir, config.target)
loaded, why = shipped_parse.load(path, shipped_parse.key(config.project_dir, config.profiles_dir, [config.target]),
                                 shipped_parse.container_values(config.project_dir))
assert loaded is not None, why
import os
elsewhere = dict(os.environ, AWS_REGION="eu-west-1")
missed, why_missed = shipped_parse.load(
    path, shipped_parse.key(config.project_dir, config.profiles_dir, [config.target], elsewhere),
    shipped_parse.container_values(config.project_dir),
    shipped_parse.key_parts(config.project_dir, config.profiles_dir, [config.target], elsewhere))
assert missed is None and "env:AWS_REGION" in why_missed, why_missed
schemas = sorted({n.schema for n in loaded.nodes.values() if n.resource_type == "model"})
fresh = dbtRunner().invoke(["parse", "--project-dir", str(config.project_dir), "--profiles-dir", str(config.profiles_dir),
                            "--target", config.target, "--no-partial-parse", "--quiet"]).result
for manifest in (loaded, fresh):
    shipped_parse.normalise(manifest)
difference = shipped_parse.first_difference(shipped_parse.plain(loaded), shipped_parse.plain(fresh))
listed = handler.handler({"command": ["ls"], "cli_args": ["--resource-type", "model"]})
print("RESULT " + json.dumps({"difference": difference, "schemas": schemas, "source": listed["manifest_source"],
                              "models": len(listed["output"])}))
"""


@pytest.fixture(scope="module")
def shipped(function_zip: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(function_zip) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name.startswith("shipped-parse/")}


def test_a_parse_for_each_stack_target_rebinding_only_what_reaches_it(shipped: dict[str, bytes]):
    assert sorted(shipped) == ["shipped-parse/dev.pickle", "shipped-parse/prod.pickle"]
    for data in shipped.values():
        header = pickle.loads(data)  # the header comes first; the manifest follows it
        assert header["format"] == 1 and len(header["key"]) == 64
        # The buckets, workgroup and region never reach this project's parse; the Glue database does.
        assert set(header["placeholders"]) == {"GLUE_DATABASE_NAME", "project folder", "dbt folder"}


def test_the_unpacked_package_starts_from_its_parse_and_it_equals_a_fresh_one(function_zip: Path, tmp_path: Path):
    with zipfile.ZipFile(function_zip) as archive:
        archive.extractall(tmp_path / "task")
    (tmp_path / "tmp").mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TMPDIR": str(tmp_path / "tmp"),
           "PYTHONPATH": str(tmp_path / "task"), "DBT_LOG_LEVEL": "warn", **DEPLOYMENT}
    # The deployment's AWS is moto_server: the runner asks its artifacts bucket for the current
    # project bundle (there is none, so it uses the package's project) and stores its run there.
    with moto_server() as endpoint:
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name=DEPLOYMENT["AWS_REGION"], aws_access_key_id="test",
                     aws_secret_access_key="test").create_bucket(
            Bucket=DEPLOYMENT["ARTIFACTS_BUCKET_NAME"],
            CreateBucketConfiguration={"LocationConstraint": DEPLOYMENT["AWS_REGION"]})
        done = subprocess.run([sys.executable, "-c", CONTAINER], cwd=tmp_path, env={**env, "AWS_ENDPOINT_URL": endpoint},
                              capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result == {"difference": None, "schemas": ["acme_data_dev"], "source": "package", "models": 17}
