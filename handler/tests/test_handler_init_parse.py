"""DBT_PARSE_AT_INIT: the project is parsed while the module loads (Lambda's init phase, which
SnapStart snapshots), the first invocation reuses that manifest, and a failed init parse is
logged without breaking the import: the handler then reports the error itself."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scripts.testing.runner_env import env_of, write_numbers

# A cold container: import the handler (init), then invoke it.
COLD_START = textwrap.dedent(
    """
    import json
    from dbt_runner import handler
    print("INIT_DONE", flush=True)
    for event in {events!r}:
        try:
            result = handler.handler(event, None)
            print("RESULT " + json.dumps({{k: result[k] for k in ("status", "manifest_reused", "counts")}}), flush=True)
        except Exception as error:
            print("RAISED " + json.dumps({{"type": type(error).__name__, "message": str(error)[:2000]}}), flush=True)
    """
)


def cold_start(events: list[dict], **env: str) -> tuple[list[dict], list[dict]]:
    """(the handler's log records before INIT_DONE, then one record per event: RESULT or RAISED)."""
    code = COLD_START.format(events=events)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=env_of(DBT_LOG_LEVEL="warn", **env))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "INIT_DONE" in lines, done.stdout[-3000:] + done.stderr[-3000:]
    init = [json.loads(line) for line in lines[: lines.index("INIT_DONE")] if line.startswith('{"time"')]
    outcomes = []
    for line in lines[lines.index("INIT_DONE"):]:
        kind, _, payload = line.partition(" ")
        if kind in ("RESULT", "RAISED"):
            outcomes.append({"kind": kind, **json.loads(payload)})
    return init, outcomes


@pytest.fixture
def tiny(copy_fixture, tmp_path) -> dict[str, str]:
    project = copy_fixture("tiny")
    data = tmp_path / "data"
    write_numbers(data, [1, 2, 3])
    return {"DBT_PROJECT_DIR": str(project), "ENVIRONMENT": "local", "LOCAL_DATA_DIR": str(data), "TMPDIR": str(tmp_path)}


def test_init_parse_primes_the_manifest_the_first_invocation_reuses(tiny):
    init, outcomes = cold_start([{"command": ["build"]}, {"command": ["ls"]}], DBT_PARSE_AT_INIT="true", **tiny)
    events = [record["event"] for record in init]
    assert events == ["dbt_init_parse"], init
    assert init[0]["status"] == "success" and init[0]["elapsed_seconds"] > 0
    assert outcomes[0] == {"kind": "RESULT", "status": "success", "manifest_reused": True,
                           "counts": {"success": 1, "pass": 2}}
    assert outcomes[1]["manifest_reused"] is True
    partial = list(Path(tiny["TMPDIR"]).glob("dbt-runner/*/target/partial_parse.msgpack"))
    assert len(partial) == 1, "the init parse leaves its partial-parse file under /tmp, for the snapshot"


def test_without_the_setting_nothing_is_parsed_at_import(tiny):
    init, outcomes = cold_start([{"command": ["ls"]}], **tiny)
    assert [record["event"] for record in init] == []
    assert outcomes[0]["status"] == "success" and outcomes[0]["manifest_reused"] is False


def test_a_bad_setting_is_logged_at_init_and_reported_by_the_handler(tiny, tmp_path):
    missing = str(tmp_path / "no-such-project")
    init, outcomes = cold_start([{"command": ["ls"]}], DBT_PARSE_AT_INIT="true", **dict(tiny, DBT_PROJECT_DIR=missing))
    assert [(r["event"], r["level"]) for r in init] == [("dbt_init_parse_failed", "error")]
    assert "DBT_PROJECT_DIR" in init[0]["error"] and "ConfigError" in init[0]["error"]
    assert outcomes == [{"kind": "RAISED", "type": "ConfigError", "message": outcomes[0]["message"]}]
    assert "DBT_PROJECT_DIR" in outcomes[0]["message"]


def test_a_project_that_fails_to_parse_at_init_is_parsed_again_by_the_handler(tiny):
    # The model reads an env var that init does not have: a failed parse, not an exception.
    model = Path(tiny["DBT_PROJECT_DIR"]) / "models" / "doubled.sql"
    model.write_text("-- {{ env_var('TINY_REQUIRED') }}\n" + model.read_text())
    init, outcomes = cold_start([{"command": ["build"]}], DBT_PARSE_AT_INIT="true", **tiny)
    assert [(r["event"], r["status"]) for r in init] == [("dbt_init_parse", "error")]
    assert "TINY_REQUIRED" in init[0]["error"]
    assert outcomes[0]["kind"] == "RAISED" and "TINY_REQUIRED" in outcomes[0]["message"]
