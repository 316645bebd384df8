"""`make invoke`: the function looked up in the real synthesized stack, the event built from CMD,
the request Lambda receives (on moto_server, which runs no code: gaps.MOTO_LAMBDA_INVOKE_ANSWER)
and the printing of real handler responses, made by dbt_runner.handler on DuckDB."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from scripts.operations import invoke
from scripts.rehearse import gaps
from scripts.testing.chinook import aws_env, moto_server
from scripts.testing.runner_env import HANDLER_ENV, REPO, write_numbers

FIXTURES = REPO / "handler" / "tests" / "fixtures"


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    """The app synthesized as `make synth` does (no bootstrap record)."""
    out = tmp_path_factory.mktemp("synth")
    subprocess.run(["npx", "tsx", "main.ts"], cwd=REPO, check=True, capture_output=True,
                   env={**os.environ, "CDKTF_OUTDIR": str(out), "CHECKPOINT_DISABLE": "1",
                        "BOOTSTRAP_RECORD_DIR": str(out / "no-records")})
    return out / "stacks"


@pytest.fixture(scope="module")
def responses(tmp_path_factory):
    """A good build and a failing one, by the real handler on DuckDB: (response, Lambda's error body)."""
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
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    # What the Lambda runtime returns for an unhandled exception.
    error = {"errorType": "DbtRunFailed", "errorMessage": str(failure.value), "stackTrace": []}
    return json.loads(json.dumps(good)), error


def test_the_command_line_becomes_the_handler_event():
    assert invoke.payload(None) == {"command": ["build"]}
    assert invoke.payload("build --select +album_track_counts") == {"command": ["build"], "cli_args": ["--select", "+album_track_counts"]}
    assert invoke.payload("source freshness") == {"command": ["source", "freshness"]}
    assert invoke.payload("run-operation my_macro --args '{days: 7}'") == {
        "command": ["run-operation", "my_macro"], "cli_args": ["--args", "{days: 7}"]}
    with pytest.raises(invoke.InvokeError, match="starts with an option"):
        invoke.payload("--select x")


def test_the_runner_comes_from_the_synthesized_stack(stacks, tmp_path):
    assert invoke.runner_of("dev", stacks) == invoke.Runner("dev-dbt-runner", "ap-southeast-2", None)
    assert invoke.runner_of("prod", stacks) == invoke.Runner("prod-dbt-runner", "ap-southeast-2", None)
    # With SnapStart the triggers call the live alias, and so does make invoke.
    stack = json.loads((stacks / "dev" / "cdk.tf.json").read_text())
    resource_id = next(iter(stack["resource"]["aws_lambda_function"]))
    fn = next(k for k, v in stack["resource"]["aws_lambda_function"].items() if v["function_name"] == "dev-dbt-runner")
    stack["resource"]["aws_lambda_alias"] = {"live": {"name": "live", "function_name": f"${{aws_lambda_function.{fn}.function_name}}"}}
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "cdk.tf.json").write_text(json.dumps(stack))
    assert invoke.runner_of("dev", tmp_path).qualifier == "live"
    assert resource_id
    with pytest.raises(invoke.InvokeError, match="run `make synth`"):
        invoke.runner_of("dev", tmp_path / "nowhere")


def test_the_request_is_a_synchronous_call_of_the_runner_and_a_good_run_prints_its_summary(responses):
    good, _ = responses
    client = boto3.client("lambda", region_name="ap-southeast-2", aws_access_key_id="x", aws_secret_access_key="x")
    body = json.dumps(good).encode()
    with Stubber(client) as stub:
        stub.add_response("invoke", {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))}, {
            "FunctionName": "dev-dbt-runner", "Qualifier": "live", "InvocationType": "RequestResponse",
            "Payload": json.dumps({"command": ["build"], "cli_args": ["--select", "+x"]}).encode()})
        ok, answer = invoke.invoke(invoke.Runner("dev-dbt-runner", "ap-southeast-2", "live"),
                                   {"command": ["build"], "cli_args": ["--select", "+x"]}, client)
    assert ok and answer == good
    lines = invoke.summary_lines("dev-dbt-runner", ok, answer)
    assert lines[0].startswith(f"dev-dbt-runner: success in {good['elapsed_seconds']:.1f} s  (build)")
    assert lines[1] == "  counts    " + "  ".join(f"{k} {v}" for k, v in sorted(good["counts"].items()))
    assert good["counts"] and lines[2] == f"  run       {good['artifacts']}" and "/runs/" in good["artifacts"]
    assert lines[3] == f"  dbt id    {good['invocation_id']}"


def test_a_failed_run_prints_its_counts_failing_nodes_and_run_folder(responses):
    _, error = responses
    lines = invoke.summary_lines("dev-dbt-runner", False, error)
    assert lines[0].startswith("dev-dbt-runner: error in ") and lines[0].endswith("(build --select broken+)")
    assert any(line.startswith("  failing   model.") and "broken" in line for line in lines)
    assert any(line.startswith("  run       ") and "/runs/" in line for line in lines)
    assert invoke.summary_lines("f", False, {"errorType": "Runtime.ImportModuleError", "errorMessage": "No module\nx"}) == [
        "f: FAILED (Runtime.ImportModuleError): No module"]


def test_on_moto_the_call_reaches_the_deployed_function_and_a_missing_one_is_named(tmp_path):
    """moto runs no Lambda code (gaps.MOTO_LAMBDA_INVOKE_ANSWER): the call is made and answered."""
    import zipfile

    archive = tmp_path / "f.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("h.py", "def handler(event, context):\n    return event\n")
    with moto_server() as endpoint, aws_env(endpoint):
        role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        boto3.client("lambda").create_function(FunctionName="dev-dbt-runner", Runtime="python3.12", Role=role,
                                               Handler="h.handler", Code={"ZipFile": archive.read_bytes()})
        ok, body = invoke.invoke(invoke.Runner("dev-dbt-runner", "ap-southeast-2"), invoke.payload("build"))
        assert not ok and gaps.MOTO_LAMBDA_INVOKE_ANSWER in json.dumps(body)
        with pytest.raises(Exception, match="ResourceNotFound|not found"):
            invoke.invoke(invoke.Runner("prod-dbt-runner", "ap-southeast-2"), invoke.payload("build"))
