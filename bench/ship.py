"""Shipping a model change, and what a pull request's slim build saves, measured in one run:
  ship      a one-line change to one mart shipped with ship-project (pack, upload, the runner's
            dry-run parse, the pointer) on moto_server, against `make package` (build_package,
            with its shipped parses) plus `terraform apply` of the runner's function with the new
            zip on moto_server (a minimal config: role and function, the rehearsal's provider mirror)
  first     the first call of a new process with the current bundle against the packaged project
            (both parse: the repository has no shipped parse of the local target)
  pr        a PR build of that one-mart change (the CI event) against a full build: nodes run and
            the handler's time with the manifest reused (no parse), both warm in one process
Budgets: ship <= 0.2x package + apply; the PR build runs only that mart and its tests, in <= 0.3x
the full build's time. Prints figures; asserts nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import common

SHIP_BUDGET, PR_BUDGET = 0.2, 0.3
MART = "models/marts/album_track_counts.sql"
OLD, NEW = "count(tracks.track_id) as track_count", "count(tracks.track_id) as track_count  -- changed"

TERRAFORM = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "%(version)s" }
  }
}
variable "zip" { type = string }
provider "aws" {
  region                      = "ap-southeast-2"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {
    iam    = "%(endpoint)s"
    lambda = "%(endpoint)s"
    sts    = "%(endpoint)s"
  }
}
resource "aws_iam_role" "runner" {
  name               = "dev-dbt-runner"
  assume_role_policy = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "lambda.amazonaws.com" } }] })
}
resource "aws_lambda_function" "runner" {
  function_name    = "dev-dbt-runner"
  role             = aws_iam_role.runner.arn
  handler          = "dbt_runner.handler.handler"
  runtime          = "python3.12"
  architectures    = ["arm64"]
  memory_size      = 3008
  timeout          = 900
  filename         = var.zip
  source_code_hash = filebase64sha256(var.zip)
}
"""

CHILD_FIRST_CALL = """
import json, time
started = time.perf_counter()
from dbt_runner import handler
event = {"command": ["ls"], "cli_args": ["--resource-type", "model"]}
summary = handler.handler(event, None)
seconds = time.perf_counter() - started
warm = handler.handler(event, None)
print("FIRST " + json.dumps({"seconds": seconds, "project": summary["project"], "source": summary["manifest_source"],
                             "warm_pointer_check_ms": warm["project"].get("pointer_check_ms")}))
"""


def project_copy(root: Path, name: str, changed: bool) -> Path:
    project = root / name / "dbt"
    shutil.copytree(common.PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "project_tests"))
    if changed:
        mart = project / MART
        mart.write_text(mart.read_text().replace(OLD, NEW))
    return project


def package(project: Path, out: Path, cache: Path) -> float:
    started = time.perf_counter()
    common.step(common.uv_module("scripts.packaging.build_package", "--dbt-dir", str(project), "--out", str(out),
                                 "--shipped-parse-cache", str(cache)))
    return time.perf_counter() - started


def terraform_apply(workdir: Path, env: dict, zip_path: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(["terraform", f"-chdir={workdir}", "apply", "-auto-approve", "-input=false", "-no-color",
                           f"-var=zip={zip_path}"], env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"terraform apply failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


def bench_ship(root: Path) -> dict:
    import boto3

    from dbt_runner import bundles
    from scripts.operations import ship_project
    from scripts.rehearse import terraform as rehearse_tf
    from scripts.rehearse.gaps import AWS_PROVIDER_VERSION
    from scripts.testing.chinook import aws_env, moto_server

    base, changed = project_copy(root, "base", False), project_copy(root, "changed", True)
    figures: dict = {}
    with moto_server() as url, aws_env(url):
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="bench-artifacts", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
        key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
        s3.put_bucket_encryption(Bucket="bench-artifacts", ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]})
        saved = {name: os.environ.get(name) for name in ("ARTIFACTS_BUCKET_NAME", "ENVIRONMENT", "LOCAL_DATA_DIR", "TMPDIR",
                                                         "DBT_LOG_LEVEL")}
        os.environ.update(ARTIFACTS_BUCKET_NAME="bench-artifacts", ENVIRONMENT="local", LOCAL_DATA_DIR=str(root / "local"),
                          TMPDIR=str(root / "tmp"), DBT_LOG_LEVEL="warn")
        (root / "tmp").mkdir(exist_ok=True)
        tempfile.tempdir = None
        from dbt_runner import handler

        bundles.forget()
        invoke = lambda function_name, payload: handler.handler(payload, None)  # noqa: E731 - moto runs no Lambda code
        say = lambda _: None  # noqa: E731
        with common.quietly():
            ship_project.ship(bucket="bench-artifacts", function_name="bench", dbt_dir=base, invoke_runner=invoke, s3=s3, say=say)
            started = time.perf_counter()
            shipped = ship_project.ship(bucket="bench-artifacts", function_name="bench", dbt_dir=changed,
                                        invoke_runner=invoke, s3=s3, say=say)
        figures["ship"] = time.perf_counter() - started
        figures["ship_steps"] = {k: round(v, 2) for k, v in shipped["timings"].items()}

        # The first call of a new process: the current bundle against the packaged project.
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_") or k == "DBT_LOG_LEVEL"}
        first = {}
        for label, extra in (("bundle", {}), ("package", {"ARTIFACTS_BUCKET_NAME": ""})):
            runs = []
            for _ in range(2):
                shutil.rmtree(root / "tmp" / "dbt-runner", ignore_errors=True)
                _, out = common.timed([sys.executable, "-c", CHILD_FIRST_CALL], env={**child_env, **extra})
                runs.append(common.tagged_json(out, "FIRST"))
            first[label] = runs[-1]
        figures["first"] = first

        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        tempfile.tempdir = None

        # make package + terraform apply of the runner, for the same change.
        cache = root / "shipped-parse"
        package(base, root / "base.zip", cache)
        figures["package"] = package(changed, root / "changed.zip", cache)
        workdir = root / "terraform"
        workdir.mkdir()
        (workdir / "main.tf").write_text(TERRAFORM % {"version": AWS_PROVIDER_VERSION, "endpoint": url})
        env = rehearse_tf.base_env(rehearse_tf.cli_config(root / "terraform.rc"))
        done = subprocess.run(["terraform", f"-chdir={workdir}", "init", "-input=false", "-no-color"], env=env,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"terraform init failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        terraform_apply(workdir, env, root / "base.zip")
        figures["apply"] = terraform_apply(workdir, env, root / "changed.zip")
    return figures


CHILD_PR = """
import json, os, time
from dbt_runner import handler
from dbt_runner.dbt_run import DbtSession

def timed(event, project=None):
    if project:
        os.environ["DBT_PROJECT_DIR"] = project
    else:
        os.environ.pop("DBT_PROJECT_DIR", None)
    try:
        summary = handler.handler(event, None)
    except handler.DbtRunFailed as failed:
        summary = failed.summary
    return summary

full = {"command": ["build"]}
timed(full)                      # cold: dbt parses inside the build (as the CLI), sets latest/
timed(full)                      # a second call keeps its own parse
warm_full = timed(full)          # warm: the manifest reused
pr = {"ci": {"pr": 7, "bundle": None}, "command": ["build"]}
timed(pr, os.environ["PR_PROJECT"])
warm_pr = timed(pr, os.environ["PR_PROJECT"])
def figures(s):
    nodes = [n for n in s["nodes"] if not n["unique_id"].startswith("operation.")]
    return {"status": s["status"], "seconds": s["elapsed_seconds"], "source": s["manifest_source"],
            "nodes": len(nodes), "models": sorted(n["unique_id"] for n in nodes if n["unique_id"].startswith("model.")),
            "node_seconds": round(sum(n["execution_time"] for n in nodes), 3)}
print("PR " + json.dumps({"full": figures(warm_full), "pr": figures(warm_pr)}))
"""


def bench_pr(root: Path) -> dict:
    local = root / "pr-local"
    with common.quietly():
        common.generate_sample(root / "chinook.db", 1)
        common.ingest_snapshot(root / "chinook.db", local)
    changed = project_copy(root, "pr", True)
    env = common.handler_env(common.local_env(local), root / "tmp")
    env["PR_PROJECT"] = str(changed)
    _, out = common.timed([sys.executable, "-c", CHILD_PR], env=env)
    return common.tagged_json(out, "PR")


def main(argv: list[str] | None = None) -> int:
    common.parser("bench.ship", __doc__).parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-ship-"))
    try:
        print("one-line change to one mart, shipped vs packaged and applied (moto_server) ...", flush=True)
        ship = bench_ship(root)
        slow = ship["package"] + ship["apply"]
        print(f"  ship-project          {ship['ship']:7.2f}s  ({ship['ship_steps']})")
        print(f"  make package          {ship['package']:7.2f}s")
        print(f"  terraform apply       {ship['apply']:7.2f}s  (runner role + function on moto, update of the zip)")
        ratio = ship["ship"] / slow
        print(f"  ship / (package + apply) = {ratio:.3f}x  (budget <= {SHIP_BUDGET}x: {'ok' if ratio <= SHIP_BUDGET else 'OVER'})")
        for label, first in ship["first"].items():
            project = first["project"]
            print(f"  first call, {label:<8}  {first['seconds']:7.2f}s  (manifest {first['source']}, {project['source']}"
                  f"{' ' + project['bundle'][:12] if project.get('bundle') else ''}; pointer check "
                  f"{project.get('pointer_check_ms', '-')} ms cold, {first['warm_pointer_check_ms'] or '-'} ms warm)")

        print("\nPR build of that change vs a full build, warm in one process (scale 1) ...", flush=True)
        pr = bench_pr(root)
        full, one = pr["full"], pr["pr"]
        print(f"  full build   {full['nodes']:3d} nodes  {full['seconds']:6.2f}s  (node time {full['node_seconds']}s, manifest {full['source']})")
        print(f"  PR build     {one['nodes']:3d} nodes  {one['seconds']:6.2f}s  (node time {one['node_seconds']}s, manifest {one['source']})")
        print(f"  PR models: {', '.join(m.split('.')[-1] for m in one['models'])}")
        ratio = one["seconds"] / full["seconds"]
        print(f"  PR / full = {ratio:.3f}x  (budget <= {PR_BUDGET}x: {'ok' if ratio <= PR_BUDGET else 'OVER'})")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
