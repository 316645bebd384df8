"""A PR's build session: writes only its own database and prefix, reads what it defers to.

moto enforces no IAM, so the session policy is evaluated with scripts/testing/iam_policy.py (a
small evaluator of Allow/Deny with IAM's wildcards; its docstring lists what it covers). The
role is taken to allow everything, the worst case: the session policy alone must contain the build.
"""

from __future__ import annotations

import json

import pytest

from dbt_runner import ci_credentials
from dbt_runner.ci_build import CiBuild
from dbt_runner.settings import ConfigError
from scripts.testing import iam_policy

ROLE = "arn:aws:iam::123456789012:role/dev-dbt-ci-build"
ENV = {"GLUE_DATABASE_NAME": "acme_dev", "PROCESSED_BUCKET_NAME": "acme-dev-processed-0a1b",
       "ATHENA_RESULTS_BUCKET": "acme-dev-athena-results-0a1b", "RAW_BUCKET_NAME": "acme-dev-raw-0a1b",
       "ATHENA_WORKGROUP": "dev-dbt", "ENVIRONMENT": "dev", "AWS_REGION": "ap-southeast-2"}
EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
GLUE = "arn:aws:glue:ap-southeast-2:123456789012:"
S3 = "arn:aws:s3:::"


@pytest.fixture
def session():
    return ci_credentials.session_policy(CiBuild(7), ROLE, ENV)


def can(session, action, *resources):
    return iam_policy.allowed_all(action, resources, identity=[EVERYTHING], session=session)


def glue_table(database, table="dim_customers"):
    return (f"{GLUE}catalog", f"{GLUE}database/{database}", f"{GLUE}table/{database}/{table}")


def test_the_session_writes_its_pr_database_and_prefix(session):
    for action in ("glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable"):
        assert can(session, action, *glue_table("acme_dev_pr_7"))
    assert can(session, "glue:CreateDatabase", f"{GLUE}catalog", f"{GLUE}database/acme_dev_pr_7")
    assert can(session, "s3:PutObject", f"{S3}acme-dev-processed-0a1b/ci/pr_7/dbt/acme_dev_pr_7/dim_customers/part-0.parquet")
    assert can(session, "s3:PutObject", f"{S3}acme-dev-athena-results-0a1b/dbt/dev/ci/pr_7/q.csv")
    assert can(session, "athena:StartQueryExecution", "arn:aws:athena:ap-southeast-2:123456789012:workgroup/dev-dbt")


def test_the_session_reads_what_it_defers_to(session):
    assert can(session, "glue:GetTable", *glue_table("acme_dev", "dim_tracks"))
    assert can(session, "s3:GetObject", f"{S3}acme-dev-processed-0a1b/dbt/acme_dev/dim_tracks/part-0.parquet")
    assert can(session, "s3:GetObject", f"{S3}acme-dev-raw-0a1b/raw/track/ingest_date=2026-01-01/part-0000.jsonl")
    assert can(session, "s3:ListBucket", f"{S3}acme-dev-processed-0a1b")


@pytest.mark.parametrize(("action", "resources"), [
    ("glue:CreateTable", glue_table("acme_dev")),
    ("glue:UpdateTable", glue_table("acme_dev")),
    ("glue:DeleteTable", glue_table("acme_dev")),
    ("glue:DeleteDatabase", (f"{GLUE}catalog", f"{GLUE}database/acme_dev")),
    ("glue:CreateTable", glue_table("acme_dev_pr_70")),  # another PR, by a longer number
    ("glue:CreateTable", glue_table("acme_dev_pr_8")),
    ("s3:PutObject", (f"{S3}acme-dev-processed-0a1b/dbt/acme_dev/dim_customers/part-0.parquet",)),
    ("s3:DeleteObject", (f"{S3}acme-dev-processed-0a1b/dbt/acme_dev/dim_customers/part-0.parquet",)),
    ("s3:PutObject", (f"{S3}acme-dev-processed-0a1b/ci/pr_70/x",)),
    ("s3:PutObject", (f"{S3}acme-dev-processed-0a1b/ci/pr_8/x",)),
    ("s3:PutObject", (f"{S3}acme-dev-raw-0a1b/raw/track/x.jsonl",)),
    ("s3:PutObject", (f"{S3}acme-dev-artifacts-0a1b/latest/manifest.json",)),
    ("s3:GetObject", (f"{S3}acme-dev-artifacts-0a1b/projects/current",)),
    ("iam:PassRole", (ROLE,)),
    ("lambda:InvokeFunction", ("arn:aws:lambda:ap-southeast-2:123456789012:function:dev-dbt-runner",)),
])
def test_the_session_cannot_write_the_envs_own_names_or_another_prs(session, action, resources):
    assert not can(session, action, *resources)


def test_the_evaluator_follows_iam_on_deny_wildcards_and_conditions():
    deny = {"Statement": [{"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}]}
    allow = {"Statement": {"Effect": "Allow", "Action": "S3:*", "Resource": "arn:aws:s3:::b/runs/*",
                           "Condition": {"StringLike": {"s3:prefix": ["runs/*"]}}}}
    assert iam_policy.decision("s3:GetObject", "arn:aws:s3:::b/runs/x", identity=[allow], context={"s3:prefix": "runs/a"}) == "Allow"
    assert iam_policy.decision("s3:GetObject", "arn:aws:s3:::b/runs/x", identity=[allow]) == "ImplicitDeny"
    assert iam_policy.decision("s3:DeleteObject", "arn:aws:s3:::b/runs/x", identity=[allow, deny],
                               context={"s3:prefix": "runs/a"}) == "ExplicitDeny"
    assert iam_policy.decision("s3:GetObject", "arn:aws:s3:::b/Runs/x", identity=[allow], context={"s3:prefix": "runs/"}) == "ImplicitDeny"
    assert not iam_policy.allowed("s3:GetObject", "x", identity=[EVERYTHING], session={"Statement": []})


def test_the_session_policy_fits_sts_limit_with_the_longest_names():
    prefix = "x" * 36  # envs/: bucketPrefix is at most 36 characters
    env = {"GLUE_DATABASE_NAME": prefix, "PROCESSED_BUCKET_NAME": f"{prefix}-processed-0a1b2c3d",
           "ATHENA_RESULTS_BUCKET": f"{prefix}-athena-results-0a1b2c3d", "RAW_BUCKET_NAME": f"{prefix}-raw-0a1b2c3d",
           "ATHENA_WORKGROUP": f"prod-{prefix}", "ENVIRONMENT": "prod"}
    policy = ci_credentials.session_policy(CiBuild(999999), ROLE, env)
    assert len(ci_credentials.packed(policy)) <= ci_credentials.MAX_PACKED_POLICY


def test_dbt_runs_with_the_scoped_session_and_the_runners_credentials_come_back():
    calls = []

    class Sts:
        def assume_role(self, **kwargs):
            calls.append(kwargs)
            return {"Credentials": {"AccessKeyId": "ASIACI", "SecretAccessKey": "s", "SessionToken": "t"}}

    env = {**ENV, "CI_BUILD_ROLE_ARN": ROLE, "AWS_ACCESS_KEY_ID": "ASIARUNNER", "AWS_SECRET_ACCESS_KEY": "r"}
    with ci_credentials.contained(CiBuild(7), "athena", env, sts=Sts()) as note:
        assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SESSION_TOKEN"]) == ("ASIACI", "t")
    assert note == {"role": ROLE, "session": "ci-pr-7"}
    assert env["AWS_ACCESS_KEY_ID"] == "ASIARUNNER" and "AWS_SESSION_TOKEN" not in env
    assert calls[0]["RoleArn"] == ROLE and calls[0]["RoleSessionName"] == "ci-pr-7"
    sent = json.loads(calls[0]["Policy"])
    assert sent == json.loads(ci_credentials.packed(ci_credentials.session_policy(CiBuild(7), ROLE, env)))
    assert not iam_policy.allowed("glue:CreateTable", f"{GLUE}database/acme_dev", identity=[EVERYTHING], session=sent)


def test_a_ci_build_on_athena_without_a_ci_role_is_refused():
    with pytest.raises(ConfigError, match="CI_BUILD_ROLE_ARN"):
        ci_credentials.check(CiBuild(7), "athena", ENV)
    ci_credentials.check(CiBuild(7), "duckdb", ENV)  # locally there is no AWS to contain
    with ci_credentials.contained(CiBuild(7), "duckdb", dict(ENV)) as note:
        assert note is None
