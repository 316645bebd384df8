"""`npx cdktf deploy dev` exactly as a user types it, with stdin closed, on the rehearsal's emulator.

After bootstrap it configures the S3 backend from bootstrap's record and never prompts; here it
then stops at provider installation (gaps.CDKTF_DEPLOY_STOPS_AT), which the test asserts it
reached. Without bootstrap, or with a config bootstrap did not bake in, it fails within seconds
and names the bootstrap command.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from scripts.rehearse import gaps
from scripts.rehearse.emulator import Emulator
from scripts.rehearse.terraform import cli_config

ROOT = Path(__file__).resolve().parents[3]
TSX_CLI = ROOT / "node_modules/tsx/dist/cli.mjs"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
ACCOUNT = "123456789012"
DEPLOY_TIMEOUT = 180  # far above what it takes; a prompt would hang until then and fail the test


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_", "BOOTSTRAP_"))}
    return {**env, "CHECKPOINT_DISABLE": "1", "NO_COLOR": "1", **extra}


def cdktf(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(["npx", "cdktf", *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=DEPLOY_TIMEOUT)
    return done, time.monotonic() - started


def test_deploy_after_bootstrap_configures_the_backend_and_never_prompts(tmp_path: Path):
    records, out = tmp_path / "records", tmp_path / "cdktf.out"
    with Emulator(tmp_path / "moto.log") as emulator:
        boot = subprocess.run(
            ["node", str(TSX_CLI), "scripts/bootstrap/bootstrap.ts", "--region", "us-east-1", "--env", "dev"],
            cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
            env=clean_env(**CREDENTIALS, AWS_REGION="us-east-1", AWS_ENDPOINT_URL=emulator.endpoint,
                          NODE_EXTRA_CA_CERTS=str(emulator.ca_bundle), BOOTSTRAP_RECORD_DIR=str(records)))
        assert boot.returncode == 0, boot.stdout + boot.stderr
        record = json.loads((records / "dev.json").read_text())
        bucket = record["backend"]["bucket"]
        assert bucket.endswith(f"-terraform-state-{ACCOUNT}") and record["backend"]["region"] == "us-east-1"

        backend_file = tmp_path / "emulator.s3.tfbackend"
        backend_file.write_text(gaps.backend_settings(emulator.endpoint))
        env = clean_env(**CREDENTIALS, BOOTSTRAP_RECORD_DIR=str(records), SSL_CERT_FILE=str(emulator.ca_bundle),
                        TF_CLI_CONFIG_FILE=str(cli_config(tmp_path / "terraform.rc")),
                        TF_CLI_ARGS_init=gaps.cdktf_init_args(str(backend_file)))
        done, _ = cdktf(["deploy", "dev", "--auto-approve", "--output", str(out)], env)

    output = done.stdout + done.stderr
    assert "Enter a value" not in output
    # The synthesized backend is complete: bucket and region from the record, as a real deploy has it.
    stack = json.loads((out / "stacks/dev/cdk.tf.json").read_text())
    assert stack["terraform"]["backend"]["s3"] == {
        "bucket": bucket, "region": "us-east-1", "key": "dbt-lambda-platform/dev/terraform.tfstate",
        "encrypt": True, "use_lockfile": True}
    assert stack["terraform"]["required_version"] == ">= 1.10"
    # cdktf's own terraform init configured that backend against the state bucket ...
    assert 'Successfully configured the backend "s3"' in output, output[-3000:]
    initialised = json.loads((out / "stacks/dev/.terraform/terraform.tfstate").read_text())["backend"]
    assert initialised["type"] == "s3" and initialised["config"]["bucket"] == bucket
    # ... and stopped where this machine must: installing the pinned providers (gaps.CDKTF_DEPLOY_STOPS_AT).
    assert done.returncode != 0
    assert "hashicorp/aws" in output and "6.25.0" in output, output[-3000:]


def test_deploy_without_bootstrap_fails_fast_and_names_bootstrap(tmp_path: Path):
    done, seconds = cdktf(["deploy", "dev", "--auto-approve", "--output", str(tmp_path / "out")],
                          clean_env(BOOTSTRAP_RECORD_DIR=str(tmp_path / "none")))
    assert done.returncode != 0
    assert seconds < 30
    output = done.stdout + done.stderr
    assert 'run make bootstrap ARGS="--region ap-southeast-2 --env dev" first' in output, output[-2000:]
    assert "Enter a value" not in output


@pytest.mark.parametrize("command", ["deploy", "destroy"])
def test_a_config_changed_since_bootstrap_stops_deploy_and_destroy(tmp_path: Path, command: str):
    records = tmp_path / "records"
    records.mkdir()
    (records / "dev.json").write_text(json.dumps({
        "version": 1, "environment": "dev",
        "backend": {"bucket": "b-terraform-state-123456789012", "region": "us-east-1",
                    "key": "dbt-lambda-platform/dev/terraform.tfstate"},
        "baked": {"accountId": ACCOUNT, "region": "ap-southeast-2", "bucketPrefix": "old-prefix",
                  "permissionsBoundary": "dev-platform-boundary"}}))
    done, seconds = cdktf([command, "dev", "--auto-approve", "--output", str(tmp_path / "out")],
                          clean_env(BOOTSTRAP_RECORD_DIR=str(records)))
    output = done.stdout + done.stderr
    assert done.returncode != 0 and seconds < 30
    assert "bucketPrefix: bootstrapped old-prefix, envs/dev.ts now dbt-lambda-dev" in output, output[-2000:]
    assert 're-run make bootstrap ARGS="--region us-east-1 --env dev" before deploying' in output
