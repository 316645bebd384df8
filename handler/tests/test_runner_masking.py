"""Issue 20, findings 7 and 8: secrets (--vars, --args) and row values never leave the function,
in logs, the summary, the alert, the exception or the stored copy of dbt's run_results.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbt_runner import alerts
from dbt_runner.dbt_run import DbtRunFailed
from dbt_runner.jsonlog import redact_args

SECRET = "hunter2-s3cr3t"


def test_redact_args_hides_args_like_vars():
    assert redact_args(["run-operation", "grant", "--args", json.dumps({"password": SECRET})]) == [
        "run-operation", "grant", "--args", "<redacted>"]
    assert redact_args(["run-operation", "grant", f"--args={{password: {SECRET}}}"]) == [
        "run-operation", "grant", "--args=<redacted>"]
    assert redact_args(["build", "--vars", "{a: 1}", "--select", "x"]) == ["build", "--vars", "<redacted>", "--select", "x"]


@pytest.fixture
def tiny(tiny):
    """conftest's tiny project with a macro that takes a secret through --args."""
    project, _ = tiny
    (project / "macros").mkdir(exist_ok=True)
    (project / "macros" / "grant.sql").write_text(
        "{% macro grant(password) %}{% do log('granted', info=True) %}{% endmacro %}\n")
    return tiny


def _stored(data: Path) -> dict[str, str]:
    return {str(p.relative_to(data)): p.read_text() for p in (data / "artifacts").rglob("*.json")}


def test_args_and_vars_are_redacted_in_logs_summary_and_the_stored_run_results(handler_module, tiny, context, capsys):
    project, data = tiny
    summary = handler_module.handler(
        {"command": ["run-operation", "grant"], "cli_args": ["--args", json.dumps({"password": SECRET})]}, context)
    assert summary["status"] == "success"
    built = handler_module.handler({"command": ["build"], "cli_args": ["--vars", f"{{api_token: {SECRET}}}"]}, context)
    assert built["status"] == "success"
    out = capsys.readouterr().out
    stored = _stored(data)
    assert any(name.endswith("run_results.json") for name in stored)  # dbt wrote its args there
    assert SECRET not in out
    assert SECRET not in json.dumps(summary) + json.dumps(built)
    leaking = [name for name, body in stored.items() if SECRET in body]
    assert leaking == []
    results = [json.loads(body) for name, body in stored.items() if name.endswith("run_results.json")]
    assert any(r["args"].get("vars") == "<redacted>" for r in results)


@pytest.fixture
def leaky(copy_fixture, tmp_path, monkeypatch):
    """A project whose models fail with DuckDB's own messages, which echo row values."""
    project = copy_fixture("failing")
    models = project / "models"
    for name in ("broken.sql", "after_broken.sql"):
        (models / name).unlink()
    (project / "tests" / "good_has_no_rows.sql").unlink()
    # The values sit in a raw file, as rows do: not in the SQL (the manifest stores the project's code).
    (tmp_path / "rows.jsonl").write_text(json.dumps({"d": "2021-02-30", "e": "jane@example.com", "a": 98765.4321}) + "\n")
    rows = "read_json_auto('{{ env_var(\"LOCAL_DATA_DIR\") }}/rows.jsonl', columns = {d: 'varchar', e: 'varchar', a: 'double'})"
    (models / "bad_date.sql").write_text(f"select cast(d as date) as d from {rows}\n")
    (models / "bad_email.sql").write_text(f"select cast(e as integer) as e from {rows}\n")
    (models / "bad_amount.sql").write_text(f"select cast(a as decimal(4, 2)) as a from {rows}\n")
    monkeypatch.setenv("DBT_PROJECT_DIR", str(project))
    monkeypatch.setenv("DBT_TARGET", "local")
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path))
    return project, tmp_path


ROW_VALUES = ("2021-02-30", "jane@example.com", "98765.4321", "98765")


def test_row_values_in_real_database_errors_are_masked_everywhere(handler_module, leaky, context, capsys):
    project, data = leaky
    with pytest.raises(DbtRunFailed) as raised:
        handler_module.handler({"command": ["build"]}, context)
    summary = raised.value.summary
    failed = {n["unique_id"]: n["message"] for n in summary["nodes"] if n["status"] == "error"}
    assert set(failed) == {"model.failing.bad_date", "model.failing.bad_email", "model.failing.bad_amount"}
    # dbt's own message (not the mask) still names the model and says what kind of error it was.
    for unique_id, message in failed.items():
        assert unique_id.split(".")[-1] in message and "Error" in message
    # dbt's unmasked record kept nothing either (the runner's copy of run_results.json is masked).
    subject, body = alerts.message(summary, environment="dev", artifacts="s3://a/runs/x/", request_id="r",
                                   trigger="invoke")
    leaving = {
        "logs": capsys.readouterr().out,
        "summary": json.dumps(summary),
        "exception": str(raised.value),
        "alert": subject + body,
        **_stored(data),
    }
    leaks = {(where, value) for where, text in leaving.items() for value in ROW_VALUES if value in text}
    assert leaks == set()
    assert "bad_date" in body and "bad_email" in body


def test_the_mask_keeps_the_shape_but_no_values():
    from lambda_logging import mask

    assert mask("cannot be cast to date: 2021-02-30 for customer jane@example.com") == \
        "cannot be cast to date: <value> for customer <email>"
    assert mask("Failure in test not_null_dim_customers_customer_id (models/marts/_marts.yml)\n  Got 3 results, "
                "configured to fail if != 0") == ("Failure in test not_null_dim_customers_customer_id "
                                                  "(models/marts/_marts.yml)\n  Got 3 results, configured to fail if != 0")
    assert mask('Binder Error: Referenced column "Total" not found in "main"."stg_raw__invoice" at line 4') == \
        'Binder Error: Referenced column "Total" not found in "main"."stg_raw__invoice" at line 4'
    assert mask("Conversion Error: Could not convert string 'Jane Doe' to INT32") == \
        "Conversion Error: Could not convert string '…' to INT32"
    assert mask('invalid date field format: "2021 02 x", expected') == 'invalid date field format: "…", expected'
    assert mask(None) is None
