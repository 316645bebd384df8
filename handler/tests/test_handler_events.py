"""Event mapping: which dbt command line each accepted event becomes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import events
import project
import settings
from cli_args import plan
from runner_helpers import HANDLER_ENV, REPO

RAW_TABLES = {"artists", "albums", "genres", "tracks", "customers", "invoices", "invoice_lines"}


def parse(event, default_command=("build",), tables=RAW_TABLES, raw_bucket=None):
    return events.parse(event, default_command=default_command, raw_tables=lambda: tables, raw_bucket=raw_bucket)


def test_direct_invocation_keeps_command_and_arguments():
    request = parse({"command": ["build"], "cli_args": ["--select", "+album_track_counts"]})
    assert request == events.Request("invoke", ("build",), ("--select", "+album_track_counts"), "cli_args")
    assert request.name == "build"


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["run"], "run"), (["test"], "test"), (["seed"], "seed"), (["snapshot"], "snapshot"),
        (["compile"], "compile"), (["parse"], "parse"), (["ls"], "ls"), (["list"], "list"),
        (["source", "freshness"], "source freshness"), (["docs", "generate"], "docs generate"),
        (["run-operation", "grant_select"], "run-operation"), (["debug"], "debug"),
    ],
)
def test_every_allowed_command_is_accepted(command, name):
    request = parse({"command": command})
    assert request.command == tuple(command)
    assert request.cli_args == ()
    assert request.name == name


def test_schedule_runs_the_default_command():
    request = parse({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
    assert request == events.Request("schedule", ("build",), (), "DBT_DEFAULT_COMMAND")


def test_default_command_may_carry_arguments():
    request = parse(
        {"detail-type": "Scheduled Event", "source": "aws.events"},
        default_command=("source", "freshness", "--select", "source:raw"),
    )
    assert request.command == ("source", "freshness")
    assert request.cli_args == ("--select", "source:raw")


def test_object_created_builds_the_table_and_everything_downstream():
    request = parse(
        {
            "detail-type": "Object Created",
            "source": "aws.s3",
            "detail": {"bucket": {"name": "p-raw-1a2b"}, "object": {"key": "raw/invoice_lines/ingest_date=2024-05-01/part-0000.jsonl"}},
        },
        raw_bucket="p-raw-1a2b",
    )
    assert request == events.Request("s3", ("build",), ("--select", "source:raw.invoice_lines+"), "detail.object.key")


def test_raw_tables_are_read_from_the_real_projects_raw_source():
    assert project.raw_tables(REPO / "dbt") == RAW_TABLES


def test_plan_pins_project_profiles_target_and_tmp_paths(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "dev")
    config = settings.load()
    request = parse({"command": ["build"], "cli_args": ["--select", "tag:daily", "--vars", "{day: 1}"]})
    invocation = plan(request, config)

    scratch = Path(tempfile.gettempdir())
    assert config.project_dir == REPO / "dbt" and config.profiles_dir == REPO / "dbt"
    assert config.target_path.is_relative_to(scratch) and config.log_path.is_relative_to(scratch)
    assert invocation.args == [
        "build", "--select", "tag:daily", "--vars", "{day: 1}",
        "--project-dir", str(REPO / "dbt"), "--profiles-dir", str(REPO / "dbt"),
        "--target-path", str(config.target_path), "--log-path", str(config.log_path), "--target", "dev",
    ]
    # The manifest depends on --vars and the target, so both key the cache and reach the parse.
    assert invocation.parse_args[:3] == ["parse", "--vars", "{day: 1}"]
    assert "--target" in invocation.parse_args and "--target-path" in invocation.parse_args
    assert invocation.cache_inputs == ["dev", "--vars", "{day: 1}"]


def test_plan_places_the_run_operation_macro_before_its_arguments(monkeypatch):
    monkeypatch.setenv("DBT_TARGET", "local")
    request = parse({"command": ["run-operation", "ensure_external_root"], "cli_args": ["--args", "{role: reader}"]})
    invocation = plan(request, settings.load())
    assert invocation.args[:4] == ["run-operation", "ensure_external_root", "--args", "{role: reader}"]


def test_macro_names_are_the_projects_own():
    assert project.macro_names(REPO / "dbt") == {
        "cast_timestamp", "default__cast_timestamp", "athena__cast_timestamp",
        "ensure_external_root", "latest_snapshot", "money",
    }


def test_fingerprint_sees_a_model_in_a_folder_named_like_dbts_own(tmp_path):
    # Only the project's top-level target/ and logs/ are dbt's output; models/logs/ is a model folder.
    (tmp_path / "models" / "logs").mkdir(parents=True)
    (tmp_path / "target").mkdir()
    model = tmp_path / "models" / "logs" / "audit.sql"
    model.write_text("select 1")
    before = project.fingerprint(tmp_path, tmp_path, [])
    (tmp_path / "target" / "manifest.json").write_text("{}")
    assert project.fingerprint(tmp_path, tmp_path, []) == before
    model.write_text("select 2")
    assert project.fingerprint(tmp_path, tmp_path, []) != before


def test_ls_output_format_is_allowed_but_freshness_output_path_is_not(monkeypatch):
    config = settings.load()
    assert plan(parse({"command": ["ls"], "cli_args": ["--output", "json"]}), config).args[:3] == ["ls", "--output", "json"]
    with pytest.raises(events.EventError, match=r"^cli_args\[0\]: --output/-o is not allowed"):
        plan(parse({"command": ["source", "freshness"], "cli_args": ["--output", "/var/task/sources.json"]}), config)


def test_local_target_defaults_local_data_dir_to_the_repo(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "local")
    assert settings.load().local_data_dir == REPO / ".local"
    monkeypatch.setenv("LOCAL_DATA_DIR", "relative/data")
    assert settings.load().local_data_dir == Path("relative/data").resolve()
    monkeypatch.setenv("ENVIRONMENT", "dev")
    assert settings.load().local_data_dir is None


def test_packaged_layout_finds_the_project_next_to_the_handler(tmp_path):
    """In the function zip the modules and dbt/ share the task root; local data then goes to /tmp."""
    task_root = tmp_path / "task"
    task_root.mkdir()
    for module in (REPO / "handler").glob("*.py"):
        shutil.copy(module, task_root)
    shutil.copytree(REPO / "dbt", task_root / "dbt", ignore=shutil.ignore_patterns("target", "logs"))
    probe = (
        "import json, settings; c = settings.load();"
        "print(json.dumps([str(c.project_dir), str(c.profiles_dir), str(c.local_data_dir), settings.PACKAGED]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in HANDLER_ENV} | {"ENVIRONMENT": "local"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=task_root, env=env, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == [str(task_root / "dbt"), str(task_root / "dbt"), "/tmp/local", True]
