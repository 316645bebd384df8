"""The close workflow's teardown and the sweeper, on moto_server: exactly the PR's database and prefixes."""

from __future__ import annotations

import boto3
import pytest

from dbt_runner import ci_teardown
from dbt_runner.events import EventError
from scripts.testing.chinook import aws_env, moto_server

ENV = {"GLUE_DATABASE_NAME": "acme_dev", "PROCESSED_BUCKET_NAME": "acme-dev-processed", "ARTIFACTS_BUCKET_NAME": "acme-dev-artifacts",
       "ATHENA_RESULTS_BUCKET": "acme-dev-athena-results", "ENVIRONMENT": "dev"}
DATABASES = ["acme_dev", "acme_dev_pr_7", "acme_dev_pr_70", "acme_dev_pr_8", "other_pr_7"]
OBJECTS = {
    "acme-dev-processed": ["dbt/acme_dev/dim_customers/a.parquet", "ci/pr_7/dbt/acme_dev_pr_7/dim_customers/a.parquet",
                           "ci/pr_70/dbt/acme_dev_pr_70/x/a.parquet", "ci/pr_8/dbt/acme_dev_pr_8/x/a.parquet"],
    "acme-dev-artifacts": ["latest/manifest.json", "runs/2026-01-01/i/summary.json", "projects/current",
                           "ci/pr_7/runs/2026-01-01/i/summary.json", "ci/pr_7/bundles/b.zip", "ci/pr_8/bundles/b.zip"],
    "acme-dev-athena-results": ["dbt/dev/q1.csv", "dbt/dev/ci/pr_7/q2.csv", "dbt/dev/ci/pr_70/q3.csv"],
}


@pytest.fixture
def lake():
    with moto_server() as url, aws_env(url):
        glue, s3 = boto3.client("glue"), boto3.client("s3")
        for name in DATABASES:
            glue.create_database(DatabaseInput={"Name": name})
            glue.create_table(DatabaseName=name, TableInput={"Name": "dim_customers"})
        for bucket, keys in OBJECTS.items():
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            for key in keys:
                s3.put_object(Bucket=bucket, Key=key, Body=b"x")
                s3.put_object(Bucket=bucket, Key=key, Body=b"y")  # two versions
        yield glue, s3


def state(glue, s3):
    databases = {d["Name"] for d in glue.get_databases()["DatabaseList"]}
    objects = {(b, v["Key"]) for b in OBJECTS for v in s3.list_object_versions(Bucket=b).get("Versions", [])}
    return databases, objects


def test_teardown_removes_exactly_the_prs_database_and_prefixes(lake):
    glue, s3 = lake
    result = ci_teardown.handle({"ci_teardown": {"pr": 7}}, env=ENV, clients=lake)
    assert result["teardown"] == [{"pr": 7, "database": "acme_dev_pr_7", "database_dropped": True, "objects_deleted": 8}]
    databases, objects = state(glue, s3)
    assert databases == set(DATABASES) - {"acme_dev_pr_7"}
    expected = {(b, k) for b, keys in OBJECTS.items() for k in keys if "ci/pr_7/" not in k}
    assert objects == expected  # every version of the PR's objects, nothing else
    again = ci_teardown.handle({"ci_teardown": {"pr": 7}}, env=ENV, clients=lake)
    assert again["teardown"][0]["database_dropped"] is False and again["teardown"][0]["objects_deleted"] == 0


def test_the_sweeper_removes_closed_prs_only_and_spares_recent_ones(lake):
    glue, s3 = lake
    recent = ci_teardown.handle({"ci_sweep": {"older_than_days": 30, "open_prs": []}}, env=ENV, clients=lake)
    assert recent["teardown"] == []
    swept = ci_teardown.handle({"ci_sweep": {"older_than_days": 0, "open_prs": [8]}}, env=ENV, clients=lake)
    assert [s["pr"] for s in swept["teardown"]] == [7, 70]
    databases, objects = state(glue, s3)
    assert databases == {"acme_dev", "acme_dev_pr_8", "other_pr_7"}
    assert objects == {(b, k) for b, keys in OBJECTS.items() for k in keys if "ci/pr_7/" not in k and "ci/pr_70/" not in k}


@pytest.mark.parametrize(("event", "field"), [
    ({"ci_teardown": {"pr": "7/../.."}}, "ci_teardown.pr"),
    ({"ci_teardown": {"pr": 0}}, "ci_teardown.pr"),
    ({"ci_teardown": {"pr": 7, "prefix": "latest/"}}, "ci_teardown.prefix"),
    ({"ci_teardown": {"pr": 7}, "command": ["build"]}, "command"),
    ({"ci_sweep": {"older_than_days": -1, "open_prs": []}}, "ci_sweep.older_than_days"),
    ({"ci_sweep": {"older_than_days": 7, "open_prs": ["12"]}}, "ci_sweep.open_prs[0]"),
    ({"ci_sweep": {"older_than_days": 7}}, "ci_sweep.open_prs"),
])
def test_teardown_events_are_refused_naming_the_field(event, field):
    with pytest.raises(EventError) as raised:
        ci_teardown.handle(event, env=ENV, clients=(object(), object()))
    assert raised.value.field == field
