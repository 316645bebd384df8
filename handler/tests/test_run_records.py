"""Issue 20, findings 4, 5 and 6: every run leaves a record (an in-progress one before dbt starts;
a stale one becomes a timed-out run with one alert), only a complete build moves latest/, and
latest/ moves atomically (a pointer written last)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dbt_runner import alerts, run_artifacts


@pytest.fixture
def tiny(tiny):
    """conftest's tiny project with a second model downstream of the first."""
    project, _ = tiny
    (project / "models" / "tripled.sql").write_text("select n, n * 3 as tripled from {{ ref('doubled') }}\n")
    return tiny


@pytest.fixture
def sent(monkeypatch):
    """Alerts the runner publishes (the SNS call itself is covered by test_operations on moto)."""
    published: list[tuple[str, str]] = []
    monkeypatch.setenv("ALERT_TOPIC_ARN", "arn:aws:sns:ap-southeast-2:123456789012:local-dbt-alerts")
    monkeypatch.setattr(alerts, "publish", lambda topic, subject, body, client=None: published.append((subject, body)) or "m-1")
    return published


def _store(data: Path) -> run_artifacts.LocalStore:
    return run_artifacts.LocalStore(data / "artifacts")


def _summaries(data: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((data / "artifacts" / "runs").glob("*/*/summary.json"))]


def test_a_run_writes_an_in_progress_record_before_dbt_starts_and_removes_it_after(handler_module, tiny, context, monkeypatch):
    project, data = tiny
    seen: list[list[str]] = []
    invoke = handler_module.SESSION.invoke

    def spy(*args, **kwargs):
        seen.append(sorted(p.name for p in (data / "artifacts" / "in_progress").glob("*.json")))
        record = json.loads(next((data / "artifacts" / "in_progress").glob("*.json")).read_text())
        assert record["status"] == "running" and record["command"] == ["build"]
        assert record["started_at"] and record["deadline"] > record["started_at"]
        return invoke(*args, **kwargs)

    monkeypatch.setattr(handler_module.SESSION, "invoke", spy)
    assert handler_module.handler({"command": ["build"]}, context)["status"] == "success"
    assert len(seen) == 1 and len(seen[0]) == 1
    assert not list((data / "artifacts" / "in_progress").glob("*.json"))


def test_a_stale_in_progress_record_becomes_one_timed_out_run_with_one_alert(handler_module, tiny, context, sent, capsys):
    project, data = tiny
    started = datetime.now(timezone.utc) - timedelta(seconds=1000)
    record = run_artifacts.in_progress_record(
        run_key="killed-request-1", command=["build", "--vars", "<redacted>"], trigger="schedule", target="local",
        environment="local", request_id="killed-request-1", started=started, timeout_seconds=900)
    _store(data).put(run_artifacts.in_progress_key("killed-request-1"), json.dumps(record).encode(), "application/json")

    handler_module.handler({"command": ["ls"]}, context)
    handler_module.handler({"command": ["ls"]}, context)  # a second sweep finds nothing more

    timed_out = [s for s in _summaries(data) if s["status"] == "timed_out"]
    assert len(timed_out) == 1
    [run] = timed_out
    assert run["request_id"] == "killed-request-1" and run["trigger"] == "schedule"
    assert run["command"] == ["build", "--vars", "<redacted>"] and run["started_at"].startswith(started.strftime("%Y-%m-%dT%H:%M"))
    assert "900" in run["error"]
    assert len(sent) == 1 and "timed_out" in sent[0][1] and "killed-request-1" in sent[0][1]
    assert "] dbt build timed out" in sent[0][0]
    assert not list((data / "artifacts" / "in_progress").glob("*.json"))
    # `make runs` lists it.
    from scripts.operations import runs

    capsys.readouterr()
    assert runs.main(["--local-dir", str(data / "artifacts")]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if "timed_out" in line]
    assert "schedule" in line and "build --vars <redacted>" in line


def test_a_fresh_in_progress_record_is_left_alone(handler_module, tiny, context, sent):
    project, data = tiny
    record = run_artifacts.in_progress_record(
        run_key="running-1", command=["build"], trigger="schedule", target="local", environment="local",
        request_id="running-1", started=datetime.now(timezone.utc), timeout_seconds=900)
    _store(data).put(run_artifacts.in_progress_key("running-1"), json.dumps(record).encode(), "application/json")
    handler_module.handler({"command": ["ls"]}, context)
    assert [p.name for p in (data / "artifacts" / "in_progress").glob("*.json")] == ["running-1.json"]
    assert sent == []


def _latest_invocation(data: Path) -> str:
    files = run_artifacts.read_latest(_store(data))
    assert files is not None
    assert "manifest.json" in files.files
    ids = {json.loads(files.files["run_results.json"])["metadata"]["invocation_id"],
           json.loads(files.files["summary.json"])["invocation_id"], files.invocation_id}
    assert len(ids) == 1  # every file of one run
    return ids.pop()


def test_only_a_complete_build_moves_latest_and_state_finds_every_modified_model(handler_module, tiny, context):
    project, data = tiny
    full = handler_module.handler({"command": ["build"]}, context)
    assert _latest_invocation(data) == full["invocation_id"]
    for name, old, new in (("doubled.sql", "n * 2", "n * 20"), ("tripled.sql", "n * 3", "n * 30")):
        path = project / "models" / name
        path.write_text(path.read_text().replace(old, new))
    for partial in (["--select", "doubled"], ["--empty"], ["--exclude", "tripled"]):
        summary = handler_module.handler({"command": ["build"], "cli_args": partial}, context)
        assert summary["status"] == "success"
        assert _latest_invocation(data) == full["invocation_id"], partial
    changed = handler_module.handler({"command": ["build"], "cli_args": ["--select", "state:modified"],
                                      "state": "latest"}, context)
    models = {n["unique_id"] for n in changed["nodes"] if n["unique_id"].startswith("model.")}
    assert models == {"model.tiny.doubled", "model.tiny.tripled"}
    # Completeness is what ran, not how it was selected: a selection that reaches every node (as an
    # ingest's build over every table does) moves it too.
    everything = handler_module.handler({"command": ["build"], "cli_args": ["--select", "doubled+", "tripled+"]}, context)
    assert _latest_invocation(data) == everything["invocation_id"] != full["invocation_id"]
    again = handler_module.handler({"command": ["build"]}, context)  # so does a plain complete build
    assert _latest_invocation(data) == again["invocation_id"]


def test_latest_moves_atomically_when_an_upload_fails_midway(handler_module, tiny, context, monkeypatch):
    project, data = tiny
    first = handler_module.handler({"command": ["build"]}, context)
    put = run_artifacts.LocalStore.put
    calls: list[str] = []

    def flaky(self, key, body, content_type):
        calls.append(key)
        if key.startswith("latest/") and key.endswith("manifest.json"):
            raise OSError("simulated S3 500 on the second latest/ file")
        return put(self, key, body, content_type)

    monkeypatch.setattr(run_artifacts.LocalStore, "put", flaky)
    second = handler_module.handler({"command": ["build"]}, context)
    assert second["status"] == "success" and second["artifacts"] is None
    assert any(k.startswith("latest/") and k.endswith("run_results.json") for k in calls)  # it got that far
    monkeypatch.setattr(run_artifacts.LocalStore, "put", put)
    assert _latest_invocation(data) == first["invocation_id"]


def test_a_reader_of_the_run_history_alone_gets_it(handler_module, tiny, context):
    """A stepped build reads only latest/'s run_results.json (its nodes' times), not the manifest."""
    _, data = tiny
    handler_module.handler({"command": ["build"]}, context)
    latest = run_artifacts.read_latest(_store(data), names=("run_results.json",))
    assert latest is not None and list(latest.files) == ["run_results.json"]
    assert json.loads(latest.files["run_results.json"])["results"]
    assert run_artifacts.read_latest(_store(data / "nothing-here"), names=("run_results.json",)) is None


HOLD_SCRATCH = """
import sys, time
from dbt_runner import settings
with settings.exclusive_scratch(settings.load()):
    print("HELD", flush=True)
    time.sleep(float(sys.argv[1]))
"""


def test_a_second_process_on_the_same_project_waits_for_the_first(handler_module, tiny, context, capsys):
    """dbt's target/ is the project's scratch folder: two processes running one project at once
    (make test's lanes did) would read each other's run_results.json. The later one waits."""
    import os
    import subprocess
    import sys
    import time

    from scripts.testing.runner_env import env_of

    project, data = tiny
    holder = subprocess.Popen([sys.executable, "-c", HOLD_SCRATCH, "3"], stdout=subprocess.PIPE, text=True,
                              env=env_of(DBT_PROJECT_DIR=str(project), ENVIRONMENT="local", TMPDIR=os.environ.get("TMPDIR", "/tmp")))
    try:
        assert holder.stdout.readline().strip() == "HELD"
        started = time.perf_counter()
        result = handler_module.handler({"command": ["build"]}, context)
        waited = time.perf_counter() - started
    finally:
        holder.wait(timeout=60)
    assert result["status"] == "success" and waited > 2.0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"time"')]
    events = [line["event"] for line in lines]
    assert events.index("dbt_scratch_busy") < events.index("dbt_scratch_acquired") < events.index("dbt_run_start")
    [acquired] = [line for line in lines if line["event"] == "dbt_scratch_acquired"]
    assert acquired["waited_seconds"] > 1.0
    # Once free, a call does not wait (and says nothing about it).
    handler_module.handler({"command": ["ls"]}, context)
    assert "dbt_scratch_busy" not in capsys.readouterr().out
