"""A pull request's own SQL runs with credentials that can write only the pull request's names.

Validating the CI event is not enough: the PR's models, macros and hooks run arbitrary SQL. So
for a CI build on AWS the runner assumes the CI build role (`CI_BUILD_ROLE_ARN`) with a session
policy (`session_policy`) that allows:

  write  Glue database `<GLUE_DATABASE_NAME>_pr_<n>` and its tables; `ci/pr_<n>/*` of the
         processed bucket; `dbt/<env>/ci/pr_<n>/*` of the Athena results bucket
  read   the raw bucket, the env's Glue database and its data `dbt/<database>/*` of the processed
         bucket (the parents a deferred build reads), the PR's own database and data
  query  Athena in the env's workgroup; the platform key, as the role itself allows

A session's permissions are the intersection of the role's policy and the session policy, so
whatever the role may do, this session writes nothing of the env's own. dbt runs with the
session's credentials (the AWS_* variables dbt-athena's boto3 session reads) and the runner's
own credentials come back when it finishes; the run records are written afterwards, by the
runner, under `ci/pr_<n>/` of the artifacts bucket.

Without `CI_BUILD_ROLE_ARN` a CI build runs only on a target that is not Athena (DuckDB, locally).
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Iterator, Mapping

from dbt_runner.ci_build import CiBuild
from dbt_runner.settings import ConfigError

# Not a DBT_* name: those key the shipped parse (shipped_parse.key), and a deployment value would
# make every container's key differ from the package's.
ROLE_VARIABLE = "CI_BUILD_ROLE_ARN"
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
MAX_PACKED_POLICY = 2048  # STS's limit on a session policy's plain text
# Wildcards keep the policy within STS's 2048 characters; each is write (or read) only of Glue's
# catalog objects, and the resources below decide which database.
GLUE_WRITE = ["glue:Create*", "glue:Delete*", "glue:Update*", "glue:BatchCreate*", "glue:BatchDelete*"]
GLUE_READ = ["glue:Get*"]


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if not value:
        raise ConfigError(f"{name}: a CI build on AWS needs it to scope its session")
    return value


def session_policy(ci: CiBuild, role_arn: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The session policy of PR `ci.pr`'s build: its own names to write, the env's to read."""
    env = os.environ if env is None else env
    partition, account = role_arn.split(":")[1], role_arn.split(":")[4]
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "ap-southeast-2"
    database = _require(env, "GLUE_DATABASE_NAME")
    processed, results = _require(env, "PROCESSED_BUCKET_NAME"), _require(env, "ATHENA_RESULTS_BUCKET")
    raw, workgroup = _require(env, "RAW_BUCKET_NAME"), _require(env, "ATHENA_WORKGROUP")
    environment = env.get("ENVIRONMENT", "dev")
    pr_database = ci.database(database)
    s3 = f"arn:{partition}:s3:::"
    glue = f"arn:{partition}:glue:{region}:{account}:"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "WritePrData", "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
             "Resource": [f"{s3}{processed}/{ci.prefix}*", f"{s3}{results}/dbt/{environment}/{ci.prefix}*"]},
            {"Sid": "ReadForDeferral", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": [f"{s3}{raw}/*", f"{s3}{processed}/dbt/{database}/*"]},
            {"Sid": "ListBuckets", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
             "Resource": [f"{s3}{raw}", f"{s3}{processed}", f"{s3}{results}"]},
            {"Sid": "WritePrDatabase", "Effect": "Allow", "Action": GLUE_WRITE,
             "Resource": [f"{glue}catalog", f"{glue}database/{pr_database}", f"{glue}table/{pr_database}/*"]},
            {"Sid": "ReadCatalog", "Effect": "Allow", "Action": GLUE_READ,
             "Resource": [f"{glue}catalog", f"{glue}database/{database}", f"{glue}table/{database}/*",
                          f"{glue}database/{pr_database}", f"{glue}table/{pr_database}/*"]},
            {"Sid": "QueryInWorkgroup", "Effect": "Allow",
             "Action": ["athena:StartQueryExecution", "athena:StopQueryExecution", "athena:Get*"],
             "Resource": f"arn:{partition}:athena:{region}:{account}:workgroup/{workgroup}"},
            {"Sid": "UseThePlatformKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"},
        ],
    }


def packed(policy: dict[str, Any]) -> str:
    """The policy as sent to STS: no whitespace, no Sids (they only name statements for people)."""
    statements = [{k: v for k, v in statement.items() if k != "Sid"} for statement in policy["Statement"]]
    return json.dumps({**policy, "Statement": statements}, separators=(",", ":"))


def adapter_type(project_dir, profiles_dir, target: str | None) -> str | None:
    """The `type` of the target's output in profiles.yml (athena, duckdb), or None when unclear."""
    from dbt_runner import shipped_parse

    return shipped_parse._adapter_type(project_dir, profiles_dir, target or "")


def check(ci: CiBuild | None, target_type: str | None, env: Mapping[str, str] | None = None) -> None:
    """Refuse, before dbt starts, a CI build on Athena that could not be contained."""
    env = os.environ if env is None else env
    if ci is not None and target_type == "athena" and not env.get(ROLE_VARIABLE):
        raise ConfigError(f"{ROLE_VARIABLE}: a CI build on Athena runs the pull request's SQL with the CI build "
                          "role's scoped session, and this runner has no CI build role")


@contextlib.contextmanager
def contained(ci: CiBuild | None, target_type: str | None, env: os._Environ | dict | None = None,
              sts: Any = None) -> Iterator[dict[str, Any] | None]:
    """Run the block with the PR's scoped credentials (a CI build on AWS), else unchanged.

    Yields the note for the summary ({"role": ..., "session": ...}), or None.
    """
    env = os.environ if env is None else env
    role = env.get(ROLE_VARIABLE)
    check(ci, target_type, env)
    if ci is None or not role:
        yield None
        return
    policy = packed(session_policy(ci, role, env))
    if len(policy) > MAX_PACKED_POLICY:
        raise ConfigError(f"the session policy of PR {ci.pr} is {len(policy)} characters, over STS's {MAX_PACKED_POLICY}")
    if sts is None:
        import boto3

        sts = boto3.client("sts")
    session = f"ci-pr-{ci.pr}"
    credentials = sts.assume_role(RoleArn=role, RoleSessionName=session, Policy=policy, DurationSeconds=900)["Credentials"]
    saved = {name: env.get(name) for name in CREDENTIAL_VARIABLES}
    env.update({"AWS_ACCESS_KEY_ID": credentials["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                "AWS_SESSION_TOKEN": credentials["SessionToken"]})
    try:
        yield {"role": role, "session": session}
    finally:
        for name, value in saved.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
