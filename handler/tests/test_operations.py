"""Run artifacts, state-aware builds, private docs and alerts, with real dbt on DuckDB and a real
moto_server for S3 and SNS."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from dbt_runner import run_artifacts, state
from scripts.testing.chinook import DBT_DIR, aws_env, moto_server
from dbt_runner.dbt_run import DbtRunFailed, DbtSession
from dbt_runner.events import EventError

STATE_BUILD = {"command": ["build"], "cli_args": ["--select", "state:modified+"], "state": "latest"}


def run_folders(artifacts: Path) -> list[Path]:
    return sorted(p for p in artifacts.glob("runs/*/*") if p.is_dir())


# --- state-aware builds on a copy of the real project ---------------------------------------

@pytest.fixture(scope="module")
def chinook(tmp_path_factory, sample_local_dir):
    """A copy of dbt/ and of the ingested sample data: the test edits the project's SQL."""
    root = tmp_path_factory.mktemp("state")
    project = root / "dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    data = root / "local"
    shutil.copytree(sample_local_dir, data, ignore=shutil.ignore_patterns("*.duckdb", "processed", "artifacts"))
    return project, data


def test_state_aware_build_selects_nothing_when_unchanged_and_only_the_changed_model_and_children(
    handler_module, chinook, context, monkeypatch
):
    project, data = chinook
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))
    monkeypatch.setenv("ENVIRONMENT", "local")
    monkeypatch.setenv("LOCAL_DATA_DIR", str(data))
    monkeypatch.setattr(handler_module, "SESSION", DbtSession())
    artifacts = data / "artifacts"

    # No latest/ yet: a first build of everything, said so, not an error.
    first = handler_module.handler(STATE_BUILD, context)
    assert first["status"] == "success"
    assert first["state"]["used"] is False and "no latest/" in first["state"]["reason"]
    models = {n["unique_id"] for n in first["nodes"] if n["unique_id"].startswith("model.")}
    assert len(models) == len(list((project / "models").rglob("*.sql"))) == 17
    latest = run_artifacts.read_latest(run_artifacts.LocalStore(artifacts))
    assert latest.invocation_id == first["invocation_id"] and "manifest.json" in latest.files

    # Unchanged project: nothing selected, success.
    unchanged = handler_module.handler(STATE_BUILD, context)
    assert (unchanged["status"], unchanged["nodes"], unchanged["state"]["used"]) == ("success", [], True)
    # A state-aware build is partial: latest/ stays the last complete build (issue 20).
    assert run_artifacts.read_latest(run_artifacts.LocalStore(artifacts)).invocation_id == first["invocation_id"]
    assert (artifacts / "runs" / first["artifacts"].split("/runs/")[1] / "run_results.json").is_file()

    # One model's SQL changes: that model and its children (and their tests) only.
    model = project / "models" / "marts" / "fct_invoice_lines.sql"
    model.write_text(model.read_text() + "\n-- a changed comment changes the checksum\n")
    changed = handler_module.handler(STATE_BUILD, context)
    assert changed["status"] == "success"
    built = {n["unique_id"] for n in changed["nodes"] if n["unique_id"].split(".")[0] in ("model", "seed", "snapshot")}
    assert built == {
        "model.dbt_lambda.fct_invoice_lines",
        "model.dbt_lambda.revenue_by_genre",
        "model.dbt_lambda.revenue_by_country",
    }
    assert any(n["unique_id"].startswith("test.") for n in changed["nodes"])

    # A partial build is not the baseline (issue 20): the change is still "modified" until a
    # complete build moves latest/; after one, the next state-aware build selects nothing again.
    still = handler_module.handler(STATE_BUILD, context)
    assert {n["unique_id"] for n in still["nodes"] if n["unique_id"].startswith("model.")} == built
    complete = handler_module.handler({"command": ["build"]}, context)
    assert run_artifacts.read_latest(run_artifacts.LocalStore(artifacts)).invocation_id == complete["invocation_id"]
    again = handler_module.handler(STATE_BUILD, context)
    assert (again["status"], again["nodes"]) == ("success", [])

    # Every invocation left a complete folder named by dbt's invocation_id.
    folders = run_folders(artifacts)
    assert [p.name for p in folders] == sorted(r["invocation_id"] for r in (first, unchanged, changed, still, complete, again))
    for folder in folders:
        summary = json.loads((folder / "summary.json").read_text())
        run_results = json.loads((folder / "run_results.json").read_text())
        assert summary["invocation_id"] == run_results["metadata"]["invocation_id"] == folder.name
        assert (summary["trigger"], summary["target"], summary["request_id"]) == ("invoke", "local", context.aws_request_id)
        assert (folder / "manifest.json").is_file()


def test_without_state_treats_every_node_as_new():
    assert state.without_state(("--select", "state:modified+")) == ()
    assert state.without_state(("--select=state:modified.body+", "--full-refresh")) == ("--full-refresh",)
    assert state.without_state(("-s", "state:modified+,tag:daily", "stg_x")) == ("-s", "tag:daily", "stg_x")
    assert state.without_state(("--select", "a", "state:new", "--exclude", "b")) == ("--exclude", "b")
    assert state.without_state(("--select", "+state:modified+ tag:x")) == ()
    assert state.without_state(("--select", "tag:x", "--threads", "2")) == ("--select", "tag:x", "--threads", "2")
    for refused in (("--select", "state:unmodified"), ("--exclude", "state:modified"), ("-s", "1+state:old")):
        with pytest.raises(EventError, match=r"^cli_args: .*needs a baseline"):
            state.without_state(refused)


@pytest.mark.parametrize("event, field", [
    ({"command": ["build"], "state": "previous"}, "state"),
    ({"command": ["build"], "defer": True}, "defer"),
    ({"command": ["build"], "state": "latest", "defer": "yes"}, "defer"),
])
def test_bad_state_options_are_refused_before_dbt_starts(handler_module, event, field, tiny):
    with pytest.raises(EventError, match=rf"^{field}: "):
        handler_module.handler(event)
    assert not (tiny / "artifacts").exists()


# --- artifacts, docs ---------------------------------------------------------------------

@pytest.fixture
def tiny(tiny):
    """conftest's tiny project; these tests need only its data folder."""
    return tiny[1]


def test_docs_generate_stores_one_self_contained_page(handler_module, tiny, context):
    summary = handler_module.handler({"command": ["docs", "generate"]}, context)
    assert summary["status"] == "success"
    page_path = tiny / "artifacts" / "docs" / "index.html"
    assert summary["docs"] == str(page_path)
    page = page_path.read_text()
    # The manifest and the catalog are inlined (dbt's page uses these before fetching any file)...
    manifest = re.search(r'manifest:(\{"metadata": \{"dbt_schema_version": "https://schemas\.getdbt\.com/dbt/manifest/)', page)
    catalog = re.search(r'catalog:(\{"metadata": \{"dbt_schema_version": "https://schemas\.getdbt\.com/dbt/catalog/)', page)
    assert manifest and catalog
    inline, _ = json.JSONDecoder().raw_decode(page, manifest.start(1))
    assert "model.tiny.doubled" in inline["nodes"]
    # ...and nothing else is loaded: no scripts, stylesheets or icons from elsewhere.
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"<link[^>]*rel=\"(stylesheet|shortcut icon|icon)\"", page)
    assert "${require(" not in page.split("<body")[0]
    # The docs run has its own run folder too; docs never become the build baseline.
    assert [p.name for p in run_folders(tiny / "artifacts")] == [summary["invocation_id"]]
    assert not (tiny / "artifacts" / "latest").exists()


def test_an_upload_failure_is_logged_and_never_hides_the_result(handler_module, aws, tiny, context, monkeypatch, capsys):
    monkeypatch.setenv("ARTIFACTS_BUCKET_NAME", "no-such-artifacts-bucket")
    summary = handler_module.handler({"command": ["build"]}, context)
    assert summary["status"] == "success" and summary["artifacts"] is None
    failed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"dbt_artifacts_failed"' in line]
    assert len(failed) == 1 and "NoSuchBucket" in failed[0]["error"]


# --- S3 and SNS on moto_server --------------------------------------------------------------

@pytest.fixture(scope="module")
def aws():
    """moto_server with an artifacts bucket and an alert topic that delivers into an SQS queue."""
    with moto_server() as endpoint, aws_env(endpoint):
        import boto3

        s3, sns, sqs = boto3.client("s3"), boto3.client("sns"), boto3.client("sqs")
        s3.create_bucket(Bucket="dev-artifacts", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
        topic = sns.create_topic(Name="dev-dbt-alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        yield {"endpoint": endpoint, "s3": s3, "sqs": sqs, "topic": topic, "queue": queue}


def received(aws) -> list[dict]:
    messages = []
    while batch := aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages"):
        for message in batch:
            messages.append(json.loads(message["Body"]))
            aws["sqs"].delete_message(QueueUrl=aws["queue"], ReceiptHandle=message["ReceiptHandle"])
    return messages


def test_a_failing_test_publishes_exactly_one_readable_alert(handler_module, aws, copy_fixture, tmp_path, context, monkeypatch):
    project = copy_fixture("failing")
    # Only the singular test fails: the model it reads builds, so this is a data-test failure.
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))
    monkeypatch.setenv("DBT_TARGET", "local")
    monkeypatch.setenv("ENVIRONMENT", "dev")
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ARTIFACTS_BUCKET_NAME", "dev-artifacts")
    monkeypatch.setenv("ALERT_TOPIC_ARN", aws["topic"])
    received(aws)  # an empty inbox

    with pytest.raises(DbtRunFailed) as failure:
        handler_module.handler(
            {"command": ["build"], "cli_args": ["--select", "good", "--vars", "{api_token: hunter2-secret}"]}, context
        )
    summary = failure.value.summary
    assert summary["counts"] == {"success": 1, "fail": 1}

    alerts = received(aws)
    assert len(alerts) == 1
    subject, body = alerts[0]["Subject"], alerts[0]["Message"]
    assert subject == "[dev] dbt build failed: 1 failed"
    assert "test.failing.good_has_no_rows [fail]: Got 1 result, configured to fail if != 0" in body
    assert "Counts: fail 1, success 1" in body
    prefix = f"runs/{summary['artifacts'].split('/runs/')[1]}"
    assert f"Artifacts: s3://dev-artifacts/{prefix}" in body
    assert prefix.endswith(f"/{summary['invocation_id']}/")
    assert "hunter2" not in body and "<redacted>" in body

    # The artifacts are in the bucket, in the local layout; a failed build is not the new latest/.
    keys = sorted(o["Key"] for o in aws["s3"].list_objects_v2(Bucket="dev-artifacts", Prefix=prefix)["Contents"])
    assert keys == [prefix + name for name in ("manifest.json", "run_results.json", "summary.json")]
    stored = json.loads(aws["s3"].get_object(Bucket="dev-artifacts", Key=prefix + "summary.json")["Body"].read())
    assert (stored["status"], stored["environment"], stored["trigger"]) == ("error", "dev", "invoke")
    assert "hunter2" not in json.dumps(stored)
    assert "Contents" not in aws["s3"].list_objects_v2(Bucket="dev-artifacts", Prefix="latest/")

    # A success sends nothing.
    good = handler_module.handler({"command": ["run"], "cli_args": ["--select", "good"]}, context)
    assert good["status"] == "success" and received(aws) == []


def test_a_publishing_failure_is_logged_and_dbt_result_still_raised(handler_module, aws, copy_fixture, tmp_path, context,
                                                                    monkeypatch, capsys):
    monkeypatch.setenv("DBT_PROJECT_DIR", str(copy_fixture("failing")))
    monkeypatch.setenv("ENVIRONMENT", "local")
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALERT_TOPIC_ARN", aws["topic"] + "-missing")
    with pytest.raises(DbtRunFailed):
        handler_module.handler({"command": ["build"], "cli_args": ["--select", "broken"]}, context)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines if line["event"].startswith("dbt_alert")] == ["dbt_alert_failed"]
    assert received(aws) == []
    # Local artifacts were still written.
    assert len(run_folders(tmp_path / "artifacts")) == 1


def test_state_aware_build_reads_latest_from_the_bucket(handler_module, aws, tiny, context, monkeypatch):
    aws["s3"].create_bucket(Bucket="dev-artifacts-state", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
    monkeypatch.setenv("ARTIFACTS_BUCKET_NAME", "dev-artifacts-state")
    monkeypatch.setattr(handler_module, "SESSION", DbtSession())
    event = {**STATE_BUILD, "defer": True}

    first = handler_module.handler(event, context)
    assert first["state"] == {"used": False, "source": "s3://dev-artifacts-state/latest/pointer.json",
                              "reason": "no latest/ manifest yet (no successful build): ran the selection as a first build, without state"}
    assert first["counts"] == {"success": 1, "pass": 2}
    latest = run_artifacts.read_latest(run_artifacts.S3Store("dev-artifacts-state", aws["s3"]))
    assert latest.invocation_id == first["invocation_id"]

    second = handler_module.handler(event, context)
    assert second["state"]["used"] is True and second["nodes"] == [] and second["status"] == "success"
    assert "--defer" in second["command"] and "--state" in second["command"]
    # Nothing was written locally: the bucket is the artifacts location.
    assert not (tiny / "artifacts").exists()


def test_source_freshness_keeps_sources_json(handler_module, tiny, context):
    sources = Path(os.environ["DBT_PROJECT_DIR"]) / "models" / "sources.yml"
    text = sources.read_text().replace(
        "      - name: numbers\n",
        "      - name: numbers\n        loaded_at_field: current_timestamp\n"
        "        freshness: {warn_after: {count: 1, period: day}}\n",
    )
    sources.write_text(text)
    summary = handler_module.handler({"command": ["source", "freshness"], "cli_args": ["--select", "source:raw.numbers"]}, context)
    assert summary["status"] == "success" and summary["counts"] == {"pass": 1}
    [folder] = run_folders(tiny / "artifacts")
    stored = json.loads((folder / "sources.json").read_text())
    assert stored["metadata"]["invocation_id"] == summary["invocation_id"] == folder.name
    assert [r["unique_id"] for r in stored["results"]] == ["source.tiny.raw.numbers"]
    assert not (tiny / "artifacts" / "latest").exists()  # freshness is not a build


def test_a_warning_publishes_one_alert_and_the_run_still_succeeds(handler_module, aws, tiny, context, monkeypatch):
    project = Path(os.environ["DBT_PROJECT_DIR"])
    (project / "tests").mkdir(exist_ok=True)
    (project / "tests" / "doubled_is_never_empty.sql").write_text(
        "{{ config(severity='warn') }}\nselect * from {{ ref('doubled') }} where n = 1\n"
    )
    monkeypatch.setenv("ALERT_TOPIC_ARN", aws["topic"])
    received(aws)
    summary = handler_module.handler({"command": ["build"]}, context)
    assert summary["status"] == "success" and summary["counts"] == {"success": 1, "pass": 2, "warn": 1}
    [alert] = received(aws)
    assert alert["Subject"] == "[local] dbt build warned: 1 warned"
    assert "Warning nodes (1):\n- test.tiny.doubled_is_never_empty [warn]: Got 1 result, configured to warn if != 0" in alert["Message"]
    assert f"Artifacts: {summary['artifacts']}" in alert["Message"]


def test_alert_lines_are_first_lines_with_quoted_values_masked():
    from dbt_runner import alerts

    error = "Conversion Error: Could not convert string 'alice@example.com' to INT32\n\nLINE 3: select cast(email as int)"
    assert alerts.first_line(error) == "Conversion Error: Could not convert string '…' to INT32"
    assert alerts.first_line(None) == "(no message)"
    assert len(alerts.first_line("x" * 5000)) == 300
