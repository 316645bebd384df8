"""Real dbt runs through the handler on small fixture projects (DuckDB)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from dbt_runner import settings
from dbt_runner.dbt_run import DbtRunFailed, DbtSession
from scripts.testing.runner_env import write_numbers


def query(database: Path, sql: str):
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_build_reports_every_node_and_writes_only_under_tmp(handler_module, tiny, context):
    project, data = tiny
    summary = handler_module.handler({"command": ["build"]}, context)

    assert summary["status"] == "success"
    assert summary["command"] == ["build"]
    assert 0 < summary["elapsed_seconds"] < 120
    assert summary["counts"] == {"success": 1, "pass": 2}
    by_id = {node["unique_id"]: node for node in summary["nodes"]}
    assert set(by_id) == {
        "model.tiny.doubled",
        "test.tiny.unique_doubled_n.99a5e0d485",
        "test.tiny.not_null_doubled_n.cdac221e6b",
    }
    assert by_id["model.tiny.doubled"]["status"] == "success"
    assert all(node["execution_time"] >= 0 for node in summary["nodes"])
    assert query(data / "tiny.duckdb", "select n, doubled from doubled order by n") == [(1, 2), (2, 4), (3, 6)]

    # Nothing written into the (read-only in Lambda) project; artifacts land in the /tmp scratch.
    assert not (project / "target").exists() and not (project / "logs").exists()
    config = settings.load()
    run_results = json.loads((config.target_path / "run_results.json").read_text())
    assert {result["unique_id"] for result in run_results["results"]} == set(by_id)
    assert (config.log_path / "dbt.log").is_file()


def test_two_invocations_in_one_process_reuse_the_manifest_until_the_project_changes(handler_module, tiny, context, monkeypatch):
    project, data = tiny
    # A new container: the first call runs like the CLI, the second parses once, later ones reuse.
    monkeypatch.setattr(handler_module, "SESSION", DbtSession())
    first = handler_module.handler({"command": ["build"]}, context)
    second = handler_module.handler({"command": ["build"]}, context)
    again = handler_module.handler({"command": ["build"]}, context)
    assert (first["status"], first["manifest_reused"]) == ("success", False)
    assert (second["status"], second["manifest_reused"]) == ("success", False)
    assert (again["status"], again["manifest_reused"]) == ("success", True)
    assert first["counts"] == second["counts"] == again["counts"] == {"success": 1, "pass": 2}

    # New raw rows need no re-parse, and the warm run sees them (no stale data).
    write_numbers(data, [1, 2, 3, 4])
    third = handler_module.handler({"command": ["run"]}, context)
    assert third["manifest_reused"] is True
    assert query(data / "tiny.duckdb", "select count(*), sum(doubled) from doubled") == [(4, 20)]

    # A changed model file is re-parsed and its new SQL runs.
    model = project / "models" / "doubled.sql"
    model.write_text(model.read_text().replace("n * 2 as doubled", "n * 3 as doubled"))
    fourth = handler_module.handler({"command": ["run"]}, context)
    assert (fourth["status"], fourth["manifest_reused"]) == ("success", False)
    assert query(data / "tiny.duckdb", "select sum(doubled) from doubled") == [(30,)]

    # --vars change what a parse produces, so they key the manifest too.
    fifth = handler_module.handler({"command": ["run"], "cli_args": ["--vars", "{label: tagged}"]}, context)
    assert fifth["manifest_reused"] is False
    assert query(data / "tiny.duckdb", "select distinct label from doubled") == [("tagged",)]
    sixth = handler_module.handler({"command": ["run"]}, context)
    assert query(data / "tiny.duckdb", "select distinct label from doubled") == [("plain",)]
    assert sixth["manifest_reused"] is False


def test_object_created_builds_only_what_depends_on_the_table(handler_module, tiny, context):
    event = {
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": "raw"}, "object": {"key": "raw/numbers/ingest_date=2024-01-01/part-0000.jsonl"}},
    }
    summary = handler_module.handler(event, context)
    assert summary["command"] == ["build", "--select", "source:raw.numbers+", "resource_type:seed"]
    assert summary["counts"] == {"success": 1, "pass": 2}


def test_ls_returns_its_output(handler_module, tiny, context):
    summary = handler_module.handler({"command": ["ls"], "cli_args": ["--resource-type", "model", "--output", "name"]}, context)
    assert summary["status"] == "success"
    assert summary["output"] == ["doubled"]


def test_failing_project_fails_the_invocation_with_the_summary(handler_module, copy_fixture, tmp_path, monkeypatch, context):
    monkeypatch.setenv("DBT_PROJECT_DIR", str(copy_fixture("failing")))
    monkeypatch.setenv("DBT_TARGET", "local")
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path))

    with pytest.raises(DbtRunFailed) as raised:
        handler_module.handler({"command": ["build"]}, context)

    summary = raised.value.summary
    assert summary["status"] == "error"
    assert summary["counts"] == {"success": 1, "error": 1, "skipped": 1, "fail": 1}
    status = {node["unique_id"]: node["status"] for node in summary["nodes"]}
    assert status == {
        "model.failing.good": "success",
        "model.failing.broken": "error",
        "model.failing.after_broken": "skipped",
        "test.failing.good_has_no_rows": "fail",
    }
    broken = next(node for node in summary["nodes"] if node["unique_id"] == "model.failing.broken")
    assert "no_such_table" in broken["message"]
    # The exception text (Lambda's errorMessage) carries the counts and the failing nodes.
    message = str(raised.value)
    assert message.startswith("dbt build failed: {")
    carried = json.loads(message.removeprefix("dbt build failed: "))
    assert carried["counts"] == summary["counts"]
    assert {node["unique_id"] for node in carried["nodes"]} == {"model.failing.broken", "test.failing.good_has_no_rows"}


def test_a_project_it_has_never_seen_on_another_target(handler_module, copy_fixture, tmp_path, monkeypatch, context):
    project = copy_fixture("tiny")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.move(project / "profiles.yml", profiles / "profiles.yml")
    data = tmp_path / "data"
    write_numbers(data, [5, 6])
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))
    monkeypatch.setenv("DBT_PROFILES_DIR", str(profiles))
    monkeypatch.setenv("DBT_TARGET", "alt")
    monkeypatch.setenv("ENVIRONMENT", "dev")  # DBT_TARGET wins
    monkeypatch.setenv("LOCAL_DATA_DIR", str(data))

    summary = handler_module.handler({"command": ["build"]}, context)

    assert summary["counts"] == {"success": 1, "pass": 2}
    assert query(data / "tiny_alt.duckdb", "select sum(doubled) from doubled") == [(22,)]
    assert not (data / "tiny.duckdb").exists()


def test_run_is_logged_as_json_lines_without_secrets(handler_module, tiny, context, capsys):
    secret = "s3cr3t-token"
    handler_module.handler({"command": ["run"], "cli_args": ["--vars", f"{{label: {secret}}}"]}, context)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"time"')]
    assert [record["event"] for record in records] == ["dbt_run_start", "dbt_run_finish"]
    start, finish = records
    assert start["command"] == ["run", "--vars", "<redacted>"]
    assert (start["target"], start["trigger"], start["request_id"]) == ("local", "invoke", "test-request-0001")
    assert finish["status"] == "success" and finish["counts"] == {"success": 1}
    assert secret not in json.dumps(records)
