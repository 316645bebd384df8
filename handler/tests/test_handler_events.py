"""Event mapping: which dbt command line each accepted event becomes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dbt_runner import events
from dbt_runner import project
from dbt_runner import settings
from dbt_runner.cli_args import plan
from scripts.testing.runner_env import HANDLER_ENV, REPO

RAW_TABLES = {name: name.lower() for name in (
    "Album", "Artist", "Customer", "Employee", "Genre", "Invoice", "InvoiceLine", "MediaType", "Playlist",
    "PlaylistTrack", "Track")}
BUCKET = "p-raw-1a2b"
SEEDS = "resource_type:seed"


def parse(event, default_command=("build",), tables=RAW_TABLES, raw_bucket=None, read_object=None):
    return events.parse(event, default_command=default_command, raw_tables=lambda: tables, raw_bucket=raw_bucket,
                        read_object=read_object)


def created(key: str, bucket: str = BUCKET) -> dict:
    return {"version": "0", "detail-type": "Object Created", "source": "aws.s3", "region": "ap-southeast-2",
            "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}}}


MANIFEST_KEY = "manifests/ingest_date=2024-05-01/20240501T010203Z-0a1b2c3d4e5f.json"


def manifest(**changes) -> dict:
    document = {
        "format": "dbt-lambda/ingest-manifest", "version": 1, "ingest_id": "20240501T010203Z-0a1b2c3d4e5f",
        "ingest_date": "2024-05-01", "source": "s3://p-raw-1a2b/db/chinook.db", "created_at": "2024-05-01T01:02:03Z",
        "tables": [{"name": "Track", "folder": "track", "rows": 3, "keys": ["raw/track/ingest_date=2024-05-01/part-0000.jsonl"]},
                   {"name": "Album", "folder": "album", "rows": 2, "keys": ["raw/album/ingest_date=2024-05-01/part-0000.jsonl"]}],
    }
    document.update(changes)
    return document


def reader(objects: dict[tuple[str, str], bytes]):
    calls = []

    def read_object(bucket, key):
        calls.append((bucket, key))
        return objects[(bucket, key)]

    read_object.calls = calls
    return read_object


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
    request = parse(created("raw/invoiceline/ingest_date=2024-05-01/part-0000.jsonl"), raw_bucket=BUCKET)
    assert request == events.Request("s3", ("build",), ("--select", "source:raw.InvoiceLine+", SEEDS), "detail.object.key")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("raw/invoice_lines/ingest_date=2024-05-01/part-0000.jsonl", "folder raw/invoice_lines/ is not a table"),
        ("raw/InvoiceLine/ingest_date=2024-05-01/part-0000.jsonl", "expected a lower-case table folder"),
        ("landing/chinook.db", "expected a key under 'manifests/' or 'raw/<table>/'"),
    ],
)
def test_object_created_for_an_unknown_folder_is_refused(key, message):
    with pytest.raises(events.EventError, match=message) as raised:
        parse(created(key))
    assert raised.value.field == "detail.object.key"


def test_manifest_event_is_one_build_over_every_table_it_names():
    read = reader({(BUCKET, MANIFEST_KEY): json.dumps(manifest()).encode()})
    request = parse(created(MANIFEST_KEY), raw_bucket=BUCKET, read_object=read)
    assert request == events.Request(
        "manifest", ("build",), ("--select", "source:raw.Track+", "source:raw.Album+", SEEDS), "manifest.tables")
    assert read.calls == [(BUCKET, MANIFEST_KEY)]


def test_manifest_tables_the_project_does_not_declare_are_logged_and_skipped(capsys):
    tables = [{"name": "Album", "keys": []}, {"name": "Audit", "folder": "audit", "rows": 1, "keys": []}]
    read = reader({(BUCKET, MANIFEST_KEY): json.dumps(manifest(tables=tables)).encode()})
    request = parse(created(MANIFEST_KEY), read_object=read)
    assert request.cli_args == ("--select", "source:raw.Album+", SEEDS)
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["event"], r["tables"]) for r in logged] == [("manifest_tables_skipped", ["Audit"])]


def _broken(field_value):
    return json.dumps(manifest(**field_value)).encode()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (b"not json {", "manifest", "not JSON"),
        (b"[1, 2]", "manifest", "expected a JSON object"),
        (_broken({"format": "something-else"}), "manifest.format", "expected 'dbt-lambda/ingest-manifest'"),
        (json.dumps({k: v for k, v in manifest().items() if k != "format"}).encode(), "manifest.format", "got 'None'"),
        (_broken({"version": 2}), "manifest.version", "expected one of [1]"),
        (_broken({"version": "1"}), "manifest.version", "expected one of [1]"),
        (_broken({"ingest_date": "2024-05-02"}), "manifest.ingest_date", "as in the object key"),
        (json.dumps({k: v for k, v in manifest().items() if k != "tables"}).encode(), "manifest.tables", "non-empty list"),
        (_broken({"tables": []}), "manifest.tables", "non-empty list"),
        (_broken({"tables": [{"name": "Album"}, {"rows": 1}]}), "manifest.tables[1].name", "expected the table's name"),
        (_broken({"tables": [{"name": "Album", "folder": 7}]}), "manifest.tables[0].folder", "raw-zone folder"),
        (_broken({"tables": [{"name": "Audit"}]}), "manifest.tables", "none of the manifest's tables (Audit)"),
        (b" " * (events.MAX_MANIFEST_BYTES + 1), "manifest", "at most"),
    ],
)
def test_bad_manifests_are_refused_naming_the_field(body, field, message):
    with pytest.raises(events.EventError, match=re.escape(message)) as raised:
        parse(created(MANIFEST_KEY), read_object=reader({(BUCKET, MANIFEST_KEY): body}))
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("key", "read_object", "message"),
    [
        ("manifests/latest.json", None, "expected 'manifests/ingest_date=YYYY-MM-DD/<ingest_id>.json'"),
        ("manifests/ingest_date=2024-05-01/../../raw/x.json", None, "expected 'manifests/ingest_date="),
        (MANIFEST_KEY, reader({}), "cannot read the manifest"),
        (MANIFEST_KEY, None, "no way to read manifest objects"),
    ],
)
def test_manifest_keys_that_cannot_be_read_are_refused(key, read_object, message):
    with pytest.raises(events.EventError, match=re.escape(message)) as raised:
        parse(created(key), read_object=read_object)
    assert raised.value.field == "detail.object.key"


def test_manifest_in_another_bucket_is_refused_before_it_is_read():
    read = reader({})
    with pytest.raises(events.EventError, match="expected the raw bucket") as raised:
        parse(created(MANIFEST_KEY, bucket="someone-elses"), raw_bucket=BUCKET, read_object=read)
    assert raised.value.field == "detail.bucket.name" and read.calls == []


def test_local_manifest_reader_reads_under_the_data_folder(tmp_path):
    from dbt_runner import ingest_manifests

    path = tmp_path / MANIFEST_KEY
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(manifest()))
    request = parse(created(MANIFEST_KEY, bucket="local"), read_object=ingest_manifests.local_reader(tmp_path))
    assert request.cli_args[1:3] == ("source:raw.Track+", "source:raw.Album+")
    with pytest.raises(events.EventError, match="cannot read the manifest"):
        parse(created(MANIFEST_KEY.replace("0a1b", "ffff")), read_object=ingest_manifests.local_reader(tmp_path))


def test_raw_tables_are_read_from_the_real_projects_raw_source():
    assert project.raw_tables(REPO / "dbt") == RAW_TABLES


def test_runtime_vars_reach_the_command_but_neither_the_parse_nor_the_cache_key(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "dev")
    config = settings.load()
    request = parse({"command": ["build"], "cli_args": ["--vars", "{day: 1}"]})
    dates = {"raw_ingest_dates": {"Album": "2024-05-01"}}
    with_dates = plan(request, config, runtime_vars=lambda: dates)
    without = plan(request, config)
    assert with_dates.args[-2:] == ["--vars", json.dumps({"day": 1, "raw_ingest_dates": {"Album": "2024-05-01"}}, sort_keys=True)]
    assert with_dates.parse_args == without.parse_args
    assert with_dates.cache_inputs == without.cache_inputs == ["dev", "--vars", "{day: 1}"]
    # The request's own value wins over the handler's.
    own = parse({"command": ["build"], "cli_args": ["--vars", '{"raw_ingest_dates": {"Album": "2020-01-01"}}']})
    assert json.loads(plan(own, config, runtime_vars=lambda: dates).args[-1]) == {"raw_ingest_dates": {"Album": "2020-01-01"}}


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
    """In the function zip the packages and dbt/ share the task root; local data then goes to /tmp."""
    task_root = tmp_path / "task"
    for package in ("dbt_runner", "raw_zone"):
        shutil.copytree(REPO / "handler" / package, task_root / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "dbt", task_root / "dbt", ignore=shutil.ignore_patterns("target", "logs"))
    probe = (
        "import json; from dbt_runner import settings; c = settings.load();"
        "print(json.dumps([str(c.project_dir), str(c.profiles_dir), str(c.local_data_dir), settings.PACKAGED]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in HANDLER_ENV} | {"ENVIRONMENT": "local"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=task_root, env=env, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == [str(task_root / "dbt"), str(task_root / "dbt"), "/tmp/local", True]
