"""A PR build's effective permissions on AWS, from the synthesized stack and the real session policy.

A session of the CI build role may do what its role policy, the session policy the runner sends
(ci_credentials.session_policy) and the permissions boundary (scripts/bootstrap) all allow. Here
the three are the real documents: the role's `aws_iam_policy_document` from `make synth`'s
cdktf.out/stacks/dev/cdk.tf.json (its references resolved to account ACCOUNT), the session policy
for the env's own names as the runner's environment holds them, and the boundary as bootstrap
renders it (`npx tsx`). moto enforces no IAM, so scripts/testing/iam_policy.py evaluates them.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dbt_runner import ci_credentials
from dbt_runner.ci_build import CiBuild
from scripts.testing import iam_policy

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "cdktf.out" / "stacks" / "dev" / "cdk.tf.json"
ACCOUNT = "123456789012"
REGION = "ap-southeast-2"
HEX = "0a1b2c3d"  # stands for ${random_id.*.hex}
KMS_CONTEXT = {"aws:ResourceTag/Environment": "dev"}  # the key carries the provider's default tags
BOUNDARY_SCRIPT = (
    'import { boundaryPolicy } from "./scripts/bootstrap/boundary-policy";'
    'import { deployScope } from "./scripts/bootstrap/deploy-policy";'
    'import { environmentConfig } from "./envs";'
    f'console.log(JSON.stringify(boundaryPolicy(deployScope(environmentConfig("dev"), '
    f'{{ partition: "aws", accountId: "{ACCOUNT}", stateBucket: "state" }}))));'
)


class Stack:
    def __init__(self, tf: dict[str, Any]):
        self.tf = tf

    def _only(self, kind: str, prefix: str, data: bool = False) -> dict[str, Any]:
        block = self.tf["data" if data else "resource"][kind]
        [key] = [k for k in block if k.startswith(prefix)]
        return block[key]

    def _arn(self, kind: str, name: str) -> str:
        r = self.tf["resource"][kind][name]
        return {
            "aws_s3_bucket": lambda: f"arn:aws:s3:::{self.resolve(r['bucket'])}",
            "aws_iam_role": lambda: f"arn:aws:iam::{ACCOUNT}:role/{r['name']}",
            "aws_athena_workgroup": lambda: f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{r['name']}",
            "aws_kms_key": lambda: f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{HEX}",
            "aws_sqs_queue": lambda: f"arn:aws:sqs:{REGION}:{ACCOUNT}:{r['name']}",
            "aws_sns_topic": lambda: f"arn:aws:sns:{REGION}:{ACCOUNT}:{r['name']}",
            "aws_cloudwatch_log_group": lambda: f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{r['name']}",
        }[kind]()

    def resolve(self, value: str) -> str:
        def one(match: re.Match) -> str:
            ref = match.group(1)
            if re.fullmatch(r"data\.aws_partition\.[^.]+\.partition", ref):
                return "aws"
            if re.fullmatch(r"data\.aws_caller_identity\.[^.]+\.account_id", ref):
                return ACCOUNT
            if ref.startswith("random_id."):
                return HEX
            kind, name, attribute = ref.split(".")
            if attribute == "arn":
                return self._arn(kind, name)
            return self.resolve(str(self.tf["resource"][kind][name][attribute]))

        return re.sub(r"\$\{([^}]+)\}", one, value)

    def role_policy(self, prefix: str) -> dict[str, Any]:
        """The role's inline policy document, in IAM's JSON, references resolved."""
        attached = self._only("aws_iam_role_policy", f"{prefix}_role-policy")["policy"]
        document = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}", attached).group(1)
        return self.document(document)

    def document(self, name: str) -> dict[str, Any]:
        statements = []
        for s in self.tf["data"]["aws_iam_policy_document"][name].get("statement", []):
            statement: dict[str, Any] = {"Sid": s.get("sid", ""), "Effect": s.get("effect", "Allow"),
                                         "Action": s["actions"], "Resource": [self.resolve(r) for r in s.get("resources", [])]}
            if s.get("principals"):
                statement["Principal"] = {p["type"]: [self.resolve(i) for i in p["identifiers"]] for p in s["principals"]}
            for c in s.get("condition", []):
                statement.setdefault("Condition", {}).setdefault(c["test"], {})[c["variable"]] = c["values"]
            statements.append(statement)
        return {"Version": "2012-10-17", "Statement": statements}

    def runner_environment(self) -> dict[str, str]:
        block = self.tf["resource"]["aws_lambda_function"]
        [fn] = [f for f in block.values() if f["function_name"] == "dev-dbt-runner"]
        return {k: self.resolve(str(v)) for k, v in fn["environment"]["variables"].items()}

    def trust_of(self, prefix: str) -> dict[str, Any]:
        role = self._only("aws_iam_role", f"{prefix}_role")
        name = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}", role["assume_role_policy"]).group(1)
        return self.document(name)


@pytest.fixture(scope="module")
def stack() -> Stack:
    subprocess.run(["make", "-s", "synth"], cwd=ROOT, check=True, capture_output=True)  # up to date: a no-op
    return Stack(json.loads(STACK.read_text()))


@pytest.fixture(scope="module")
def boundary() -> dict[str, Any]:
    out = subprocess.run(["npx", "tsx", "-e", BOUNDARY_SCRIPT], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def names(stack) -> dict[str, str]:
    env = {**stack.runner_environment(), "AWS_REGION": REGION}
    assert env["CI_BUILD_ROLE_ARN"] == f"arn:aws:iam::{ACCOUNT}:role/dev-dbt-ci-build"
    return env


@pytest.fixture(scope="module")
def pr7(stack, boundary, names):
    """can(action, *resources): what PR 7's build session may do."""
    role = stack.role_policy("ci-build")
    session = json.loads(ci_credentials.packed(ci_credentials.session_policy(CiBuild(7), names["CI_BUILD_ROLE_ARN"], names)))

    def can(action: str, *resources: str) -> bool:
        return iam_policy.allowed_all(action, resources, identity=[role], session=session, boundary=boundary, context=KMS_CONTEXT)

    return can


def glue(*parts: str) -> tuple[str, ...]:
    """catalog, database and (with a table) table ARNs, as Glue authorizes a call on them."""
    base = f"arn:aws:glue:{REGION}:{ACCOUNT}:"
    database = parts[0]
    return (f"{base}catalog", f"{base}database/{database}", *([f"{base}table/{database}/{parts[1]}"] if len(parts) > 1 else []))


def s3(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def test_a_pr_build_writes_its_own_pr_database_and_prefix(pr7, names):
    db = names["GLUE_DATABASE_NAME"]
    for action in ("glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable", "glue:BatchCreatePartition"):
        assert pr7(action, *glue(f"{db}_pr_7", "dim_customers")), action
    assert pr7("glue:CreateDatabase", *glue(f"{db}_pr_7"))
    assert pr7("s3:PutObject", s3(names["PROCESSED_BUCKET_NAME"], f"ci/pr_7/dbt/{db}_pr_7/dim_customers/part-0.parquet"))
    assert pr7("s3:DeleteObject", s3(names["PROCESSED_BUCKET_NAME"], "ci/pr_7/dbt/x/part-0.parquet"))
    assert pr7("s3:PutObject", s3(names["ATHENA_RESULTS_BUCKET"], "dbt/dev/ci/pr_7/q.csv"))
    assert pr7("athena:StartQueryExecution", f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{names['ATHENA_WORKGROUP']}")
    assert pr7("athena:GetQueryResults", f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{names['ATHENA_WORKGROUP']}")
    assert pr7("kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{HEX}")


def test_a_pr_build_reads_what_it_defers_to(pr7, names):
    db = names["GLUE_DATABASE_NAME"]
    assert pr7("glue:GetTable", *glue(db, "dim_tracks"))
    assert pr7("glue:GetPartitions", *glue(db, "dim_tracks"))
    assert pr7("s3:GetObject", s3(names["PROCESSED_BUCKET_NAME"], f"dbt/{db}/dim_tracks/part-0.parquet"))
    assert pr7("s3:GetObject", s3(names["RAW_BUCKET_NAME"], "raw/Track/ingest_date=2026-01-01/part-0000.jsonl"))
    assert pr7("s3:ListBucket", f"arn:aws:s3:::{names['PROCESSED_BUCKET_NAME']}")


@pytest.mark.parametrize("target", ["env", "pr_8", "pr_70"])
def test_a_pr_build_cannot_write_the_envs_own_names_or_another_prs(pr7, names, target):
    db = names["GLUE_DATABASE_NAME"] if target == "env" else f"{names['GLUE_DATABASE_NAME']}_{target}"
    prefix = f"dbt/{db}/" if target == "env" else f"ci/{target}/"
    for action in ("glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable", "glue:BatchDeletePartition"):
        assert not pr7(action, *glue(db, "dim_customers")), action
    assert not pr7("glue:DeleteDatabase", *glue(db))
    assert not pr7("glue:CreateDatabase", *glue(db))
    for action in ("s3:PutObject", "s3:DeleteObject"):
        assert not pr7(action, s3(names["PROCESSED_BUCKET_NAME"], f"{prefix}dim_customers/part-0.parquet")), action
    results = "dbt/dev/x.csv" if target == "env" else f"dbt/dev/ci/{target}/x.csv"
    assert not pr7("s3:PutObject", s3(names["ATHENA_RESULTS_BUCKET"], results))


def test_a_pr_build_reads_no_other_prs_database_and_writes_no_raw_or_artifacts(pr7, names):
    assert not pr7("glue:GetTable", *glue(f"{names['GLUE_DATABASE_NAME']}_pr_8", "dim_customers"))
    assert not pr7("s3:PutObject", s3(names["RAW_BUCKET_NAME"], "raw/Track/x.jsonl"))
    for key in ("latest/manifest.json", "projects/current", "ci/pr_7/run.json"):
        assert not pr7("s3:PutObject", s3(names["ARTIFACTS_BUCKET_NAME"], key)), key
    assert not pr7("sts:AssumeRole", names["CI_BUILD_ROLE_ARN"])
    assert not pr7("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:dev-dbt-runner")


def test_the_role_alone_writes_no_envs_own_names(stack, boundary, names):
    """Whatever session policy is sent, the role itself cannot touch the env's database or data."""
    role = stack.role_policy("ci-build")
    db = names["GLUE_DATABASE_NAME"]

    def can(action: str, *resources: str) -> bool:
        return iam_policy.allowed_all(action, resources, identity=[role], boundary=boundary, context=KMS_CONTEXT)

    assert can("glue:CreateTable", *glue(f"{db}_pr_12345", "t"))
    assert not can("glue:CreateTable", *glue(db, "t"))
    assert not can("glue:DeleteDatabase", *glue(f"{db}_pr_7"))
    assert not can("s3:PutObject", s3(names["PROCESSED_BUCKET_NAME"], f"dbt/{db}/t/x.parquet"))
    assert not can("s3:PutObject", s3(names["ARTIFACTS_BUCKET_NAME"], "latest/manifest.json"))


def test_only_the_runner_may_assume_the_role_and_the_runner_only_that_one(stack, boundary, names):
    trust = stack.trust_of("ci-build")["Statement"]
    assert [(s["Effect"], s["Action"], s["Principal"]) for s in trust] == [
        ("Allow", ["sts:AssumeRole"], {"AWS": [f"arn:aws:iam::{ACCOUNT}:role/dev-dbt-runner-role"]})]
    runner = stack.role_policy("dbt-runner")

    def can(action: str, *resources: str) -> bool:
        return iam_policy.allowed_all(action, resources, identity=[runner], boundary=boundary)

    assert can("sts:AssumeRole", names["CI_BUILD_ROLE_ARN"])
    assert not can("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/dev-dbt-deploy")


def test_the_runners_teardown_drops_only_pr_databases_and_ci_prefixes(stack, boundary, names):
    runner = stack.role_policy("dbt-runner")
    db = names["GLUE_DATABASE_NAME"]

    def can(action: str, *resources: str) -> bool:
        return iam_policy.allowed_all(action, resources, identity=[runner], boundary=boundary)

    base = f"arn:aws:glue:{REGION}:{ACCOUNT}:"
    pr_db = (*glue(f"{db}_pr_7", "fct_invoice_line"), f"{base}userDefinedFunction/{db}_pr_7/f")
    assert can("glue:DeleteDatabase", *pr_db)
    assert not can("glue:DeleteDatabase", *glue(db, "fct_invoice_line"))
    assert not can("glue:DeleteDatabase", *glue(f"{db}_marts"))
    for bucket, key in ((names["PROCESSED_BUCKET_NAME"], "ci/pr_7/dbt/x.parquet"),
                        (names["ARTIFACTS_BUCKET_NAME"], "ci/pr_7/runs/run.json"),
                        (names["ATHENA_RESULTS_BUCKET"], "dbt/dev/ci/pr_7/q.csv")):
        assert can("s3:DeleteObjectVersion", s3(bucket, key)), bucket
    for bucket, key in ((names["PROCESSED_BUCKET_NAME"], f"dbt/{db}/x.parquet"),
                        (names["ARTIFACTS_BUCKET_NAME"], "latest/manifest.json"),
                        (names["RAW_BUCKET_NAME"], "ci/pr_7/x")):
        assert not can("s3:DeleteObjectVersion", s3(bucket, key)), bucket
    for bucket in (names["PROCESSED_BUCKET_NAME"], names["ARTIFACTS_BUCKET_NAME"]):
        assert iam_policy.allowed("s3:ListBucketVersions", f"arn:aws:s3:::{bucket}", identity=[runner], boundary=boundary,
                                  context={"s3:prefix": "ci/pr_7/"})
        assert not iam_policy.allowed("s3:ListBucketVersions", f"arn:aws:s3:::{bucket}", identity=[runner],
                                      boundary=boundary, context={"s3:prefix": "latest/"})
