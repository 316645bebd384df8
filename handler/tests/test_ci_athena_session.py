"""dbt-athena runs a PR build with the CI build role's scoped session, not the runner's credentials.

ci_credentials.contained hands the assumed-role session over through the AWS_* variables. This
holds only if dbt-athena builds its boto3 session from the environment: its profile (dbt/profiles.yml)
names no `aws_profile_name`, keys or `assume_role_arn`, so `get_boto3_session` makes a
`boto3.session.Session` with none, and botocore's chain reads AWS_ACCESS_KEY_ID/.../SESSION_TOKEN
when the connection's clients are made. A real AthenaConnection (what dbt-athena's connection manager
opens, per invocation) is opened here against moto_server, and STS says who it is.
"""

from __future__ import annotations

import os

import boto3
import pytest
import yaml

from dbt_runner import ci_credentials
from dbt_runner.ci_build import CiBuild
from scripts.testing.chinook import aws_env, moto_server

pytest.importorskip("dbt.adapters.athena")
from dbt.adapters.athena.connections import AthenaConnection, AthenaCredentials  # noqa: E402

ENV = {"GLUE_DATABASE_NAME": "acme_dev", "PROCESSED_BUCKET_NAME": "acme-dev-processed-0a1b",
       "ATHENA_RESULTS_BUCKET": "acme-dev-athena-results-0a1b", "RAW_BUCKET_NAME": "acme-dev-raw-0a1b",
       "ATHENA_WORKGROUP": "dev-dbt", "ENVIRONMENT": "dev"}
TRUST = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}'


def _connection() -> AthenaConnection:
    credentials = AthenaCredentials(database="awsdatacatalog", schema="acme_dev_pr_7", region_name="ap-southeast-2",
                                    s3_staging_dir="s3://acme-dev-athena-results-0a1b/dbt/dev/ci/pr_7/", work_group="dev-dbt")
    return AthenaConnection(credentials).connect()


def _caller(connection: AthenaConnection) -> str:
    return connection.session.client("sts", region_name="ap-southeast-2").get_caller_identity()["Arn"]


def test_the_athena_profile_takes_its_credentials_from_the_environment():
    profiles = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "..", "dbt", "profiles.yml")))
    for name, output in profiles["dbt_lambda"]["outputs"].items():
        if output["type"] == "athena":
            named = {"aws_profile_name", "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "assume_role_arn"}
            assert not named & set(output), f"{name}: these would bypass the CI session's AWS_* variables"


def test_a_dbt_athena_connection_opened_in_the_block_runs_as_the_ci_build_role():
    with moto_server() as url, aws_env(url, **ENV):
        role = boto3.client("iam").create_role(RoleName="dev-dbt-ci-build", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        os.environ["CI_BUILD_ROLE_ARN"] = role
        try:
            runner = _caller(_connection())
            with ci_credentials.contained(CiBuild(7), "athena") as note:
                connection = _connection()
                assert connection.session.get_credentials().access_key == os.environ["AWS_ACCESS_KEY_ID"] != "testing"
                assert _caller(connection).endswith(":assumed-role/dev-dbt-ci-build/ci-pr-7")
                # dbt-athena's Glue and S3 clients come from the same session (impl.py: handle.session.client)
                assert connection.session.client("glue", region_name="ap-southeast-2")._request_signer._credentials.access_key \
                    == os.environ["AWS_ACCESS_KEY_ID"]
            assert note == {"role": role, "session": "ci-pr-7"}
            assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
            assert _caller(_connection()) == runner  # the runner's own credentials are back for the run records
        finally:
            os.environ.pop("CI_BUILD_ROLE_ARN", None)
