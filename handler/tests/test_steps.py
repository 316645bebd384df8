"""Stepped builds (issue 18): real dbt on DuckDB, forced into several steps, equal to one `dbt build`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from dbt_runner import run_artifacts, settings, steps
from dbt_runner.dbt_run import DbtSession
from scripts.testing.runner_env import env_of
from scripts.testing.stepping import run_steps

FORCED = {"DBT_STEP_SECONDS": "3", "DBT_STEP_MARGIN_SECONDS": "0", "DBT_STEP_DEFAULT_NODE_SECONDS": "0.2"}


def run_results(artifacts: Path, run_id: str) -> dict:
    return json.loads(next(artifacts.glob(f"runs/*/{run_id}/run_results.json")).read_text())


def statuses(document: dict) -> dict[str, str]:
    return {r["unique_id"]: r["status"] for r in document["results"]}


def mart_rows(processed: Path) -> dict[str, list]:
    with duckdb.connect() as connection:
        return {path.stem: sorted(connection.execute("select * from read_parquet(?)", [str(path)]).fetchall(), key=repr)
                for path in sorted(processed.glob("*.parquet"))}


def test_settings_check_the_step_margin_range():
    assert settings.step_settings({})["step_margin_seconds"] == 60.0
    assert settings.step_settings({"DBT_STEP_MARGIN_SECONDS": "0"})["step_margin_seconds"] == 0.0
    for bad in ("301", "-1", "soon"):
        with pytest.raises(settings.ConfigError, match="DBT_STEP_MARGIN_SECONDS"):
            settings.step_settings({"DBT_STEP_MARGIN_SECONDS": bad})
    with pytest.raises(settings.ConfigError, match="DBT_EVENTS_ENABLED"):
        settings.step_settings({"DBT_EVENTS_ENABLED": "maybe"})


def test_chunk_args_replace_the_selection_and_keep_the_rest():
    args = ["build", "--select", "source:raw.Album+", "resource_type:seed", "--exclude", "x", "--full-refresh",
            "--indirect-selection", "cautious", "--vars", '{"a": 1}', "--project-dir", "/p"]
    assert steps.chunk_args(args, ["fqn:p.a", "fqn:p.b"]) == [
        "build", "--exclude", "x", "--full-refresh", "--vars", '{"a": 1}', "--project-dir", "/p",
        "--select", "fqn:p.a", "fqn:p.b", "--indirect-selection", "empty"]


def test_a_chunk_takes_what_fits_by_history_overlap_and_default():
    from dbt_runner import step_plan

    history = {"a": 4.0, "b": 4.0, "c": 4.0}  # x1.25 = 5 s each
    assert step_plan.next_chunk(["a", "b", "c", "d"], history, 30.0, 12.0, 1.0).nodes == ["a", "b"]
    # Run two at a time in the last good build: three fit, never less than the longest node.
    chunk = step_plan.next_chunk(["a", "b", "c", "d"], history, 30.0, 12.0, 1.0, overlap=2.0)
    assert chunk.nodes == ["a", "b", "c"] and chunk.estimate == 8.5
    assert step_plan.next_chunk(["d"], history, 30.0, 12.0, 1.0).nodes == []  # no history: 30 s
    assert step_plan.parallelism(json.dumps({"elapsed_time": 10, "results": [{"execution_time": 15}]}).encode()) == 1.5


def test_a_run_paces_its_estimates_once_enough_nodes_have_run():
    from dbt_runner import step_plan

    history = {f"n{i}": 2.0 for i in range(8)}
    assert step_plan.pace_of(None) is None and step_plan.estimate("n0", history, 30.0) == (2.5, True)
    four = step_plan.paced(None, [{"unique_id": f"n{i}", "status": "success", "execution_time": 3.0} for i in range(4)]
                           + [{"unique_id": "new", "status": "success", "execution_time": 9.0},  # no history
                              {"unique_id": "n7", "status": "error", "execution_time": 0.1}], history)
    assert four == [4, 8.0, 12.0] and step_plan.pace_of(four) is None  # four nodes tell nothing yet
    slow = step_plan.paced(four, [{"unique_id": "n5", "status": "pass", "execution_time": 3.0}], history)
    assert step_plan.pace_of(slow) == 1.5  # a slow day: 2 s x 1.5 x 1.1
    assert step_plan.estimate("n0", history, 30.0, step_plan.pace_of(slow)) == (pytest.approx(3.3), True)
    fast = step_plan.paced(None, [{"unique_id": f"n{i}", "status": "success", "execution_time": 1.0} for i in range(6)], history)
    assert step_plan.pace_of(fast) == 1.0  # never below history: 2 s x 1.1
    assert step_plan.estimate("unknown", history, 30.0, 1.0) == (30.0, False)


def test_a_later_chunk_in_a_step_must_carry_a_quarter_of_the_step_or_finish_the_build():
    from dbt_runner.step_plan import Chunk, worth_another_chunk

    tail = Chunk(["a", "b"], 2.5)
    assert not worth_another_chunk(tail, 10, 12.0, 0.8)  # < 3 s, a quarter of 12 s: the next step takes it
    assert worth_another_chunk(tail, 2, 12.0, 0.8)  # the build's last nodes: saves a whole step
    assert worth_another_chunk(Chunk(["a", "b"], 3.0), 10, 12.0, 0.8)
    assert not worth_another_chunk(Chunk(["a", "b"], 3.0), 10, 12.0, 1.1)  # three times its overhead: 3.3 s
    assert not worth_another_chunk(Chunk([], 0.0), 10, 12.0, 0.8)
    assert worth_another_chunk(Chunk(["a"], 300.0), 10, 840.0, 1.5)  # Lambda: 900 s minus the margin


def test_progress_notes_never_wait_on_the_store_and_the_newest_is_stored(tmp_path):
    """dbt's threads note node starts and finishes; a writer thread puts the newest record."""
    from types import SimpleNamespace

    local = run_artifacts.LocalStore(tmp_path)
    puts = []

    class SlowStore:  # an S3 PUT's latency, on the real local store
        def put(self, key, body, content_type):
            time.sleep(0.2)
            puts.append(json.loads(body)["running"])
            local.put(key, body, content_type)

    def event(name, uid):
        return SimpleNamespace(info=SimpleNamespace(name=name), data=SimpleNamespace(node_info=SimpleNamespace(unique_id=uid)))

    progress = steps._Progress(SlowStore(), "runs/d/r/", {"step": 1, "running": ["model.p.a"]})
    assert puts == [["model.p.a"]]  # stored before dbt starts
    started = time.perf_counter()
    for name, uid in [("NodeStart", "model.p.a"), ("NodeStart", "model.p.b"), ("MainReportVersion", None),
                      ("NodeFinished", "model.p.a"), ("NodeStart", "model.p.c")]:
        progress.on_event(event(name, uid))
    assert time.perf_counter() - started < 0.1, "a node waited on the store"
    assert progress.running() == ["model.p.b", "model.p.c"]
    progress.close()
    assert json.loads(local.get("runs/d/r/in_progress.json"))["running"] == ["model.p.b", "model.p.c"]
    assert puts[-1] == ["model.p.b", "model.p.c"] and len(puts) <= 3  # stale records are skipped


def test_timeouts_are_told_from_failures():
    assert steps.timed_out_or_failed({"Error": "States.Timeout"}) == "timed_out"
    assert steps.timed_out_or_failed({"Error": "Sandbox.Timedout", "Cause": "{}"}) == "timed_out"
    assert steps.timed_out_or_failed({"Error": "States.TaskFailed", "Cause": "... Task timed out after 900.00 seconds"}) == "timed_out"
    assert steps.timed_out_or_failed({"Error": "RuntimeError", "Cause": "boom"}) == "failed"


def test_stepped_chinook_build_equals_one_build(handler_module, sample_local_dir, tmp_path, monkeypatch, context):
    """The real project, scale 1: >= 3 steps, the same node ids and statuses, equal marts, one record."""
    one, stepped = tmp_path / "one", tmp_path / "stepped"
    for where in (one, stepped):
        shutil.copytree(sample_local_dir / "raw", where / "raw")
    monkeypatch.setenv("ENVIRONMENT", "local")
    monkeypatch.setattr(handler_module, "SESSION", DbtSession())

    monkeypatch.setenv("LOCAL_DATA_DIR", str(one))
    once = handler_module.handler({"command": ["build"]}, context)
    assert once["status"] == "success"

    monkeypatch.setenv("LOCAL_DATA_DIR", str(stepped))
    for name, value in FORCED.items():
        monkeypatch.setenv(name, value)
    answers = run_steps(handler_module.handler, {"command": ["build"]}, "chinook-steps", context)
    last = answers[-1]
    assert (last["done"], last["status"], last["steps"]) == (True, "success", len(answers))
    assert len(answers) >= 3
    assert all(a["status"] == "running" and not a["done"] for a in answers[:-1])
    assert all(a["planning_seconds"] < 1.0 for a in answers[1:]), "later steps reuse the warm manifest"

    merged = run_results(stepped / "artifacts", "chinook-steps")
    assert statuses(merged) == {n["unique_id"]: n["status"] for n in once["nodes"]}
    assert merged["metadata"]["invocation_id"] == "chinook-steps"
    assert mart_rows(stepped / "processed") == mart_rows(one / "processed")

    run = next((stepped / "artifacts").glob("runs/*/chinook-steps"))
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["status"], summary["steps"]) == ("success", len(answers))
    assert summary["counts"] == once["counts"]
    assert len(list((run / "steps").iterdir())) >= 2  # each chunk's own run_results.json
    latest = run_artifacts.read_latest(run_artifacts.LocalStore(stepped / "artifacts"))
    assert latest is not None and json.loads(latest.files["summary.json"])["invocation_id"] == "chinook-steps"


@pytest.fixture
def stepped_project(copy_fixture, tmp_path, monkeypatch):
    project = copy_fixture("stepped")
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))
    monkeypatch.setenv("ENVIRONMENT", "local")
    return project


def test_a_failing_test_skips_its_descendants_across_steps(handler_module, stepped_project, tmp_path, monkeypatch, context):
    monkeypatch.setattr(handler_module, "SESSION", DbtSession())
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path / "one"))
    with pytest.raises(handler_module.DbtRunFailed) as failure:
        handler_module.handler({"command": ["build"]}, context)
    once = {n["unique_id"]: n["status"] for n in failure.value.summary["nodes"]}
    assert [s for uid, s in once.items() if uid.startswith("test.stepped.unique_base_id.")] == ["fail"]
    assert once["model.stepped.child"] == once["model.stepped.grandchild"] == "skipped"

    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path / "stepped"))
    # One node per chunk: two never fit (2 x 0.7 s plus a chunk's overhead, at least 0.3 s, is over
    # 1.5 s), so every skip crosses a chunk boundary, however fast dbt starts here.
    for name, value in {"DBT_STEP_SECONDS": "1.5", "DBT_STEP_MARGIN_SECONDS": "0", "DBT_STEP_DEFAULT_NODE_SECONDS": "0.7"}.items():
        monkeypatch.setenv(name, value)
    answers = run_steps(handler_module.handler, {"command": ["build"]}, "failing-steps", context)
    assert (answers[-1]["done"], answers[-1]["status"]) == (True, "error")
    assert len(answers) >= 3
    artifacts = tmp_path / "stepped" / "artifacts"
    merged = statuses(run_results(artifacts, "failing-steps"))
    assert merged == once
    run = next(artifacts.glob("runs/*/failing-steps"))
    ran = {r["unique_id"] for chunk in (run / "steps").iterdir()
           for r in json.loads((chunk / "run_results.json").read_text())["results"]}
    assert "model.stepped.child" not in ran and "model.stepped.grandchild" not in ran  # skipped by the runner, not dbt
    assert not (artifacts / "latest").exists()  # only a complete successful build moves latest/


def test_a_node_that_cannot_fit_in_a_step_fails_by_name_and_skips_its_dependents(handler_module, stepped_project,
                                                                                 tmp_path, monkeypatch, context):
    monkeypatch.setattr(handler_module, "SESSION", DbtSession())
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path / "data"))
    # No run history: each node is estimated at the default, 4 s, and a whole step has 3 s.
    for name, value in {"DBT_STEP_SECONDS": "3", "DBT_STEP_MARGIN_SECONDS": "0", "DBT_STEP_DEFAULT_NODE_SECONDS": "4"}.items():
        monkeypatch.setenv(name, value)
    [answer] = run_steps(handler_module.handler, {"command": ["build"], "cli_args": ["--select", "other+"]},
                         "too-long", context)
    assert (answer["done"], answer["status"], answer["chunks"]) == (True, "error", 0)  # dbt never started it
    run = next((tmp_path / "data" / "artifacts").glob("runs/*/too-long"))
    nodes = {n["unique_id"]: n for n in json.loads((run / "summary.json").read_text())["nodes"]}
    assert nodes["model.stepped.other"]["status"] == "error"
    assert nodes["model.stepped.other"]["message"].startswith(
        "model.stepped.other cannot fit in one step: its estimate is 4.0 s by default: it has no run history")
    assert "more than a whole step's 3.0 s" in nodes["model.stepped.other"]["message"]
    assert {uid: n["status"] for uid, n in nodes.items() if uid != "model.stepped.other"} == {
        "model.stepped.other_too": "skipped", **{uid: "skipped" for uid in nodes if uid.startswith("test.stepped.not_null_other_")}}


STEP_SCRIPT = """
import json, os, sys
from dbt_runner import handler
out = sys.argv[1]
state = None
# Step 1 only plans (planning leaves less than one 34 s estimate of its 35 s); step 2, unlimited,
# runs everything and is killed.
os.environ["DBT_STEP_SECONDS"] = "35"
os.environ["DBT_STEP_DEFAULT_NODE_SECONDS"] = "34"
first = handler.handler({"build_step": {"event": {"command": ["build"], "cli_args": ["--vars", "{slow_rows: 200000}"]},
                                        "run": None, "execution": "killed-run"}}, None)
open(out, "w").write(json.dumps(first))
assert first["step"] == 1 and not first["done"] and first["chunks"] == 0, first
del os.environ["DBT_STEP_SECONDS"]
handler.handler({"build_step": {"event": first["event"], "run": first["run"], "execution": "killed-run"}}, None)
"""


def test_a_killed_step_becomes_a_timed_out_run_with_one_alert(handler_module, stepped_project, tmp_path, monkeypatch, context):
    data = tmp_path / "data"
    first_answer = tmp_path / "first.json"
    env = env_of(DBT_PROJECT_DIR=str(stepped_project), ENVIRONMENT="local", LOCAL_DATA_DIR=str(data),
                 DBT_STEP_MARGIN_SECONDS="0", DBT_LOG_LEVEL="warn")
    child = subprocess.Popen([sys.executable, "-c", STEP_SCRIPT, str(first_answer)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        progress = None
        while time.monotonic() < deadline and child.poll() is None:
            found = list(data.glob("artifacts/runs/*/killed-run/in_progress.json"))
            if found:
                progress = json.loads(found[0].read_text())
                if progress.get("running") == ["model.stepped.slow"]:
                    break
            time.sleep(0.1)
        assert child.poll() is None, "the step ended before the slow node ran"
        assert progress and "model.stepped.slow" in progress["running"]
        os.kill(child.pid, signal.SIGKILL)  # as Lambda ends a timed-out invocation: no cleanup runs
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    run = next(data.glob("artifacts/runs/*/killed-run"))
    assert not (run / "summary.json").exists() and (run / "in_progress.json").exists()

    sent = []
    monkeypatch.setattr("dbt_runner.alerts.publish", lambda topic, subject, body: sent.append((subject, body)) or "m-1")
    monkeypatch.setenv("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:local-dbt-alerts")
    monkeypatch.setenv("LOCAL_DATA_DIR", str(data))
    first = json.loads(first_answer.read_text())
    error = {"Error": "Sandbox.Timedout",
             "Cause": json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: r Error: Task timed out after 900.00 seconds"})}
    payload = {"event": first["event"], "run": first["run"], "error": error, "execution": "killed-run"}
    answer = handler_module.handler({"build_step_failed": payload}, context)
    assert (answer["done"], answer["status"], answer["running_nodes"]) == (True, "timed_out", ["model.stepped.slow"])

    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "timed_out" and summary["steps"] == 2
    assert "model.stepped.slow" in summary["error"] and "timed out" in summary["error"]
    assert json.loads((run / "in_progress.json").read_text())["status"] == "timed_out"
    assert len(sent) == 1
    subject, body = sent[0]
    assert "timed out" in subject and "model.stepped.slow" in body and "Steps: 2" in body
    # Called again (a retried RecordFailure): the record stands, no second alert.
    again = handler_module.handler({"build_step_failed": payload}, context)
    assert again["status"] == "timed_out" and len(sent) == 1

    from scripts.operations import runs

    monkeypatch.setattr(sys, "argv", ["runs"])
    assert runs.main(["--local-dir", str(data / "artifacts")]) == 0


def test_the_definition_runs_on_the_interpreter_with_the_real_handler(handler_module, stepped_project, tmp_path, monkeypatch):
    from scripts.demo import state_machine

    monkeypatch.setattr(handler_module, "SESSION", DbtSession())
    monkeypatch.setenv("DBT_STEP_DEFAULT_NODE_SECONDS", "0.45")
    body, _ = state_machine.definition()
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path / "good"))
    with state_machine.interpreter(step_seconds=2) as run:
        good = run({"command": ["build"], "cli_args": ["--vars", "{base_ok: true}"]}, body, name="good")
        assert good.status == "SUCCEEDED", (good.error, good.cause)
        assert good.steps >= 2 and good.calls == ["build_step"] * good.steps
        assert (good.output["done"], good.output["status"], good.output["steps"]) == (True, "success", good.steps)

        monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path / "bad"))
        failed = run({"command": ["build"]}, body, name="failing")
        assert (failed.status, failed.error) == ("FAILED", "DbtBuildFailed")
        assert "build_step_failed" not in failed.calls  # a failing test is a status, not an error

        refused = run({"command": ["build"], "cli_args": ["--target", "prod"]}, body, name="refused")
        assert (refused.status, refused.error) == ("FAILED", "DbtBuildFailed")
        assert refused.calls == ["build_step", "build_step_failed"]  # Catch -> RecordFailure
    record = json.loads(next((tmp_path / "bad").glob(f"artifacts/runs/*/{refused.name}/summary.json")).read_text())
    # The record names the refused field and option (the Lambda error's message, masked as every message is).
    assert record["status"] == "failed" and "EventError: cli_args[" in record["error"] and "--target" in record["error"]


def test_a_finished_build_puts_one_event_on_the_default_bus(handler_module, copy_fixture, tmp_path, monkeypatch, context):
    """moto_server: a rule for successful builds of one model, an SQS target, the event read back."""
    from scripts.testing.chinook import moto_server
    from scripts.testing.runner_env import write_numbers

    project = copy_fixture("tiny")
    write_numbers(tmp_path / "data", [1, 2, 3])
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))
    monkeypatch.setenv("ENVIRONMENT", "local")
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DBT_EVENTS_ENABLED", "true")
    with moto_server() as endpoint:
        for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(name, value)
        import boto3

        sqs, events = boto3.client("sqs"), boto3.client("events")
        queue = sqs.create_queue(QueueName="consumer")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="doubled-refreshed", EventPattern=json.dumps({
            "source": ["dbt-lambda.local"], "detail-type": ["dbt build finished"],
            "detail": {"status": ["success"], "models": ["doubled"]}}))
        events.put_targets(Rule="doubled-refreshed", Targets=[{"Id": "consumer", "Arn": queue_arn}])

        summary = handler_module.handler({"command": ["build"]}, context)
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    assert len(messages) == 1
    event = json.loads(messages[0]["Body"])
    assert (event["source"], event["detail-type"]) == ("dbt-lambda.local", "dbt build finished")
    detail = event["detail"]
    assert detail["run_id"] == summary["invocation_id"] and detail["status"] == "success"
    assert detail["models"] == ["doubled"] and detail["counts"] == {"success": 1, "pass": 2}


def test_a_chunk_overrunning_the_hard_stop_is_interrupted_and_its_query_cancelled(handler_module, stepped_project, tmp_path,
                                                                                 monkeypatch):
    """Lambda's context says 14 s are left, the margin is 8 s: the slow node (hours of work) is
    cancelled 4 s before the end (min(10, margin / 2)), and the step fails as StepTimedOut."""
    monkeypatch.setattr(handler_module, "SESSION", DbtSession())
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DBT_STEP_MARGIN_SECONDS", "8")
    monkeypatch.setenv("DBT_STEP_DEFAULT_NODE_SECONDS", "0.01")
    # A warm container: the kept manifest is the one for these vars (they are part of its key), so
    # the step only plans (dbt ls) before its chunk, even on a loaded machine.
    handler_module.handler({"command": ["parse"], "cli_args": ["--vars", "{slow_rows: 300000}"]}, None)
    end = time.monotonic() + 14

    class LambdaContext:
        aws_request_id = "r-hard-stop"

        def get_remaining_time_in_millis(self):
            return int(max(0.0, end - time.monotonic()) * 1000)

    event = {"command": ["build"], "cli_args": ["--select", "slow", "--vars", "{slow_rows: 300000}"]}
    started = time.monotonic()
    with pytest.raises(steps.StepTimedOut, match="model.stepped.slow"):
        handler_module.handler({"build_step": {"event": event, "run": None, "execution": "hard-stop"}}, LambdaContext())
    assert time.monotonic() - started < 14 + 5, "the query was not cancelled"
    assert steps.timed_out_or_failed({"Error": "StepTimedOut", "Cause": "..."}) == "timed_out"
