"""`make runs` and `make docs ENV=...` over artifacts a real handler run wrote, locally and in
a bucket on moto_server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from scripts.testing.chinook import aws_env, moto_server
from scripts.testing.runner_env import HANDLER_ENV, REPO, write_numbers

FIXTURES = REPO / "handler" / "tests" / "fixtures"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """Two real runs on DuckDB: a good build of the tiny project, then a failing one."""
    root = tmp_path_factory.mktemp("runs")
    saved = {name: os.environ.get(name) for name in (*HANDLER_ENV, "DBT_LOG_LEVEL")}
    for name in HANDLER_ENV:
        os.environ.pop(name, None)
    from dbt_runner import handler

    try:
        os.environ.update(ENVIRONMENT="local", LOCAL_DATA_DIR=str(root), DBT_LOG_LEVEL="warn")
        for name in ("tiny", "failing"):
            shutil.copytree(FIXTURES / name, root / name)
        write_numbers(root, [1, 2])
        os.environ["DBT_PROJECT_DIR"] = str(root / "tiny")
        good = handler.handler({"command": ["build"]})
        os.environ["DBT_PROJECT_DIR"] = str(root / "failing")
        with pytest.raises(handler.DbtRunFailed) as failure:
            handler.handler({"command": ["build"], "cli_args": ["--select", "broken+"]})
        os.environ["DBT_PROJECT_DIR"] = str(root / "tiny")
        docs = handler.handler({"command": ["docs", "generate"]})
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return root / "artifacts", good, failure.value.summary, docs


def upload(client, bucket: str, root: Path) -> None:
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
    for path in root.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), bucket, path.relative_to(root).as_posix())


def lines_of(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def check_listing(output: str, good: dict, failed: dict) -> None:
    lines = lines_of(output)
    header, rows = lines[1], lines[2:]
    assert header.split()[:4] == ["STARTED", "(UTC)", "TRIGGER", "COMMAND"]
    assert len(rows) == 3  # docs, the failure and the build, newest first
    docs_row, failed_row, good_row = rows
    assert "docs generate --static" in docs_row and "success" in docs_row
    assert "build --select broken+" in failed_row and " error " in failed_row
    assert "model.failing.broken" in failed_row and "error 1" in failed_row and "skipped 1" in failed_row
    assert good_row.split()[2:4] == ["invoke", "build"]
    assert "success" in good_row and "pass 2 success 1" in good_row and good_row.rstrip().endswith("-")


def test_runs_lists_local_runs_newest_first(artifacts, capsys):
    from scripts.operations import runs

    root, good, failed, _ = artifacts
    assert runs.main(["--local-dir", str(root)]) == 0
    output = capsys.readouterr().out
    assert output.startswith(f"Runs in {root} (newest first):")
    check_listing(output, good, failed)

    assert runs.main(["--local-dir", str(root), "-n", "1"]) == 0
    assert len(lines_of(capsys.readouterr().out)) == 3


def test_runs_and_docs_read_an_env_bucket_on_moto(artifacts, capsys, tmp_path):
    from scripts.operations import dbt_docs as docs
    from scripts.operations import runs

    root, good, failed, _ = artifacts
    with moto_server() as endpoint, aws_env(endpoint):
        import boto3

        upload(boto3.client("s3"), "dev-artifacts-0a1b2c3d", root)
        assert runs.main(["--bucket", "dev-artifacts-0a1b2c3d"]) == 0
        output = capsys.readouterr().out
        assert output.startswith("Runs in s3://dev-artifacts-0a1b2c3d (newest first):")
        check_listing(output, good, failed)

        out = tmp_path / "page.html"
        assert docs.main(["--bucket", "dev-artifacts-0a1b2c3d", "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert out.read_bytes() == (root / "docs" / "index.html").read_bytes()
        url = printed.split("Pre-signed URL (valid 15 minutes, do not share): ")[1].strip()
        assert "X-Amz-Expires=900" in url and "docs/index.html" in url
        with urllib.request.urlopen(url) as response:  # the URL alone is enough to read it
            assert response.read() == out.read_bytes()


def test_a_bucket_without_docs_and_an_env_without_a_stack_get_clear_errors(capsys, tmp_path):
    from scripts.operations import artifact_source
    from scripts.operations import dbt_docs as docs
    from scripts.operations import runs

    with moto_server() as endpoint, aws_env(endpoint):
        import boto3

        boto3.client("s3").create_bucket(Bucket="empty-artifacts", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
        assert docs.main(["--bucket", "empty-artifacts", "--out", str(tmp_path / "x.html")]) == 2
        assert "no s3://empty-artifacts/docs/index.html yet" in capsys.readouterr().err
        assert runs.main(["--bucket", "empty-artifacts"]) == 0
        assert "No runs under s3://empty-artifacts/runs/ yet." in capsys.readouterr().out

    with pytest.raises(artifact_source.SourceError, match=r"^--env staging: no synthesized stack at .*make synth"):
        artifact_source.bucket_of("staging", tmp_path / "stacks")
    stack = tmp_path / "stacks" / "dev"
    stack.mkdir(parents=True)
    (stack / "cdk.tf.json").write_text(json.dumps({"output": {"artifacts_bucket": {"value": "dev-artifacts-0a1b2c3d"}}}))
    # Not applied yet: no output, and the error says what to do.
    with pytest.raises(artifact_source.SourceError, match=r"^--env dev: the state has no artifacts_bucket output .*--bucket"):
        artifact_source.bucket_of("dev", tmp_path / "stacks")
    # Initialised and applied (outputs only, so no provider is needed): the bucket is the output.
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    for args in (["init", "-input=false", "-backend=false"], ["apply", "-input=false", "-auto-approve"]):
        subprocess.run(["terraform", f"-chdir={stack}", *args], check=True, capture_output=True, env=env)
    assert artifact_source.bucket_of("dev", tmp_path / "stacks") == "dev-artifacts-0a1b2c3d"
