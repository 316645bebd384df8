"""The validation corpus: every bad input gets its own error naming the field, and dbt never starts."""

from __future__ import annotations

import json

import pytest
from dbt.cli.main import dbtRunner

from dbt_runner import events
from dbt_runner import settings

OBJECT_CREATED = {
    "version": "0",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "detail": {"bucket": {"name": "raw-bucket"}, "object": {"key": "raw/numbers/ingest_date=2024-01-01/part-0000.jsonl"}},
}


def object_created(**changes):
    event = json.loads(json.dumps(OBJECT_CREATED))
    for path, value in changes.items():
        node = event
        *parents, leaf = path.split(".")
        for name in parents:
            node = node[name]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    return event


def build(*cli_args):
    return {"command": ["build"], "cli_args": list(cli_args)}


# (event, the error's field prefix, words the message must contain)
CORPUS = [
    ([], "event", "expected a JSON object, got list"),
    ("build", "event", "expected a JSON object, got str"),
    ({"command": ["build"], "cli_args": ["x" * 4000] * 5}, "event", "at most 16384 bytes"),
    ({}, "command", "required"),
    ({"cli_args": ["--select", "a"]}, "command", "required"),
    ({"command": "build"}, "command", "expected a list of strings, got str"),
    ({"command": []}, "command", "non-empty list"),
    ({"command": [1]}, "command[0]", "expected a string, got int"),
    ({"command": ["deps"]}, "command", "'deps' is not an allowed dbt command"),
    ({"command": ["clean"]}, "command", "'clean' is not an allowed dbt command"),
    ({"command": ["docs", "serve"]}, "command", "'docs serve' is not an allowed dbt command"),
    ({"command": ["source"]}, "command", "'source' is not an allowed dbt command"),
    ({"command": ["build", "--select", "x"]}, "command", "is not an allowed dbt command"),
    ({"command": ["run-operation"]}, "command", "<macro_name>"),
    ({"command": ["run-operation", "drop table x"]}, "command", "<macro_name>"),
    ({"command": ["run-operation", "dbt.run_query"]}, "command", "<macro_name>"),
    # Only the project's own macros: dbt's run_query would run any SQL.
    ({"command": ["run-operation", "run_query"]}, "command", "'run_query' is not one of the project's own macros"),
    ({"command": ["build"], "extra": True}, "extra", "unexpected key"),
    ({"command": ["build"], "cli_args": "--select x"}, "cli_args", "expected a list of strings, got str"),
    (build("--select", 3), "cli_args[1]", "expected a string, got int"),
    (build(*["--select"] * 65), "cli_args", "at most 64 items"),
    (build("--select", "a" * 5000), "cli_args[1]", "at most 4096 characters"),
    (build("--select", "a\x00b"), "cli_args[1]", "NUL"),
    # Redirecting the project, profile, target or paths, in every spelling click accepts.
    (build("--project-dir", "/etc"), "cli_args[0]", "--project-dir is not allowed"),
    (build("--select", "a", "--project-dir=/etc"), "cli_args[2]", "--project-dir is not allowed"),
    (build("--profiles-dir", "/etc"), "cli_args[0]", "--profiles-dir is not allowed"),
    (build("--profiles-dir=/etc"), "cli_args[0]", "--profiles-dir is not allowed"),
    (build("--profile", "other"), "cli_args[0]", "--profile is not allowed"),
    (build("--profile=other"), "cli_args[0]", "--profile is not allowed"),
    (build("--target", "prod"), "cli_args[0]", "--target/-t is not allowed"),
    (build("--target=prod"), "cli_args[0]", "--target/-t is not allowed"),
    (build("-t", "prod"), "cli_args[0]", "--target/-t is not allowed"),
    (build("-tprod"), "cli_args[0]", "--target/-t is not allowed"),
    (build("-xtprod"), "cli_args[0]", "--target/-t is not allowed"),
    (build("--target-path", "/var/task"), "cli_args[0]", "--target-path is not allowed"),
    (build("--target-path=/var/task"), "cli_args[0]", "--target-path is not allowed"),
    (build("--log-path", "/var/task"), "cli_args[0]", "--log-path is not allowed"),
    (build("--log-path=/var/task"), "cli_args[0]", "--log-path is not allowed"),
    (build("-r", "/var/task/timing"), "cli_args[0]", "--record-timing-info/-r is not allowed"),
    (build("--partial-parse-file-path", "/x"), "cli_args[0]", "--partial-parse-file-path is not allowed"),
    (build("--help"), "cli_args[0]", "is not allowed"),
    ({"command": ["source", "freshness"], "cli_args": ["-o", "/var/task/x.json"]}, "cli_args[0]", "--output/-o is not allowed"),
    # Arbitrary SQL, secrets in debug logs, usage stats, unbounded logs.
    ({"command": ["compile"], "cli_args": ["--inline", "select 1"]}, "cli_args[0]", "--inline is not allowed"),
    (build("--debug"), "cli_args[0]", "--debug/-d is not allowed"),
    (build("-d"), "cli_args[0]", "--debug/-d is not allowed"),
    (build("--log-level", "debug"), "cli_args[0]", "--log-level is not allowed"),
    (build("--log-level-file=debug"), "cli_args[0]", "--log-level-file is not allowed"),
    (build("--send-anonymous-usage-stats"), "cli_args[0]", "--send-anonymous-usage-stats"),
    (build("--log-file-max-bytes", "0"), "cli_args[0]", "--log-file-max-bytes is not allowed"),
    # click accepts no abbreviations; an unknown option is refused by name, before dbt starts.
    (build("--targ", "prod"), "cli_args", "No such option '--targ'"),
    (build("--select"), "cli_args", "requires an argument"),
    (build("--threads", "many"), "cli_args", "'--threads'"),
    (build("stray"), "cli_args", "unexpected argument 'stray' for dbt build"),
    # EventBridge.
    ({"detail-type": "Something Else", "source": "aws.s3"}, "detail-type", "'Scheduled Event' or 'Object Created'"),
    (object_created(source="aws.events"), "source", "expected 'aws.s3'"),
    (object_created(detail=None), "detail", "'bucket' and 'object'"),
    (object_created(**{"detail.bucket": None}), "detail.bucket.name", "raw bucket"),
    (object_created(**{"detail.object": None}), "detail.object.key", "raw/<table>/"),
    (object_created(**{"detail.object.key": 7}), "detail.object.key", "raw/<table>/"),
    (object_created(**{"detail.object.key": "processed/numbers/x.parquet"}), "detail.object.key", "under 'manifests/' or 'raw/<table>/'"),
    (object_created(**{"detail.object.key": "raw/numbers"}), "detail.object.key", "under 'manifests/' or 'raw/<table>/'"),
    (object_created(**{"detail.object.key": "raw/Numbers-2/x.jsonl"}), "detail.object.key", "lower-case table folder"),
    (object_created(**{"detail.object.key": "raw/unknown/x.jsonl"}), "detail.object.key", "raw/unknown/ is not a table of the project's 'raw' source; known folders: numbers"),
    (object_created(**{"detail.object.key": "manifests/x.json"}), "detail.object.key", "manifests/ingest_date=YYYY-MM-DD/<ingest_id>.json"),
    # A table of another source is not a raw table.
    (object_created(**{"detail.object.key": "raw/not_raw/x.jsonl"}), "detail.object.key", "raw/not_raw/ is not a table of the project's 'raw' source"),
]


@pytest.fixture
def no_dbt(monkeypatch, copy_fixture, tmp_path):
    """Point the handler at the tiny project and make any start of dbt fail the test."""
    calls = []

    def refuse(self, args, **kwargs):
        calls.append(args)
        raise AssertionError(f"dbt was started with {args}")

    monkeypatch.setattr(dbtRunner, "invoke", refuse)
    monkeypatch.setenv("DBT_PROJECT_DIR", str(copy_fixture("tiny")))
    monkeypatch.setenv("ENVIRONMENT", "local")
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path))
    return calls


@pytest.mark.parametrize(("event", "field", "words"), CORPUS, ids=[f"{i:02d}-{c[1]}" for i, c in enumerate(CORPUS)])
def test_bad_event_is_refused_before_dbt_starts(handler_module, no_dbt, context, event, field, words):
    with pytest.raises(events.EventError) as raised:
        handler_module.handler(event, context)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")
    assert words in str(raised.value)
    assert no_dbt == []


def test_object_from_another_bucket_is_refused(handler_module, no_dbt, context, monkeypatch):
    monkeypatch.setenv("RAW_BUCKET_NAME", "the-raw-bucket")
    with pytest.raises(events.EventError, match=r"^detail.bucket.name: expected the raw bucket 'the-raw-bucket', got 'raw-bucket'"):
        handler_module.handler(OBJECT_CREATED, context)
    assert no_dbt == []


@pytest.mark.parametrize(
    ("default_command", "message"),
    [
        ("deps", "DBT_DEFAULT_COMMAND: 'deps' is not an allowed dbt command"),
        ("build --target prod", "DBT_DEFAULT_COMMAND: --target/-t is not allowed"),
        ("build --select 'unclosed", "DBT_DEFAULT_COMMAND: expected a dbt command"),
    ],
)
def test_bad_default_command_is_refused_on_schedule(handler_module, no_dbt, context, monkeypatch, default_command, message):
    monkeypatch.setenv("DBT_DEFAULT_COMMAND", default_command)
    with pytest.raises((events.EventError, settings.ConfigError)) as raised:
        handler_module.handler({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}, context)
    assert str(raised.value).startswith(message)
    assert no_dbt == []


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DBT_PROJECT_DIR", "/nonexistent/project", "DBT_PROJECT_DIR='/nonexistent/project': expected a folder containing dbt_project.yml"),
        ("DBT_PROFILES_DIR", "/tmp", "DBT_PROFILES_DIR='/tmp': expected a folder containing profiles.yml"),
        ("DBT_TARGET", "prod; rm -rf /", "DBT_TARGET: expected a dbt target name"),
        ("ENVIRONMENT", "dev prod", "ENVIRONMENT: expected a dbt target name"),
    ],
)
def test_bad_setting_is_named(handler_module, no_dbt, context, monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    if variable == "ENVIRONMENT":
        monkeypatch.delenv("DBT_TARGET", raising=False)
    with pytest.raises(settings.ConfigError) as raised:
        handler_module.handler({"command": ["build"]}, context)
    assert str(raised.value).startswith(message)
    assert no_dbt == []


def test_invalid_vars_are_refused_without_echoing_their_value(handler_module, no_dbt, context, capsys):
    secret = "hunter2-secret-value"
    with pytest.raises(events.EventError) as raised:
        handler_module.handler(build("--vars", f"{{password: {secret}, x: [}}"), context)
    assert str(raised.value) == "cli_args: invalid value for --vars (not shown: it may hold secrets)"
    assert secret not in capsys.readouterr().out
    assert no_dbt == []


def test_rejection_is_logged_as_one_json_line_without_the_payload(handler_module, no_dbt, context, capsys):
    secret = "hunter2-secret-value"
    with pytest.raises(events.EventError):
        handler_module.handler(build("--vars", f"{{password: {secret}}}", "--target", "prod"), context)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines] == ["dbt_request_rejected"]
    assert lines[0]["request_id"] == "test-request-0001"
    assert lines[0]["level"] == "error"
    assert "--target/-t is not allowed" in lines[0]["error"]
    assert secret not in json.dumps(lines)
