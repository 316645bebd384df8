"""The Athena SQL check can fail: constructs DuckDB accepts and Athena (Trino) does not, or computes
differently, planted in a copy of the project, are each reported against the model they broke.

One Trino and one raw zone (with its DuckDB build) serve every test (session fixture).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts.checks.athena_sql import check, compare, glue, install
from scripts.checks.athena_sql.server import TrinoServer

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def session(tmp_path_factory):
    try:
        installation = install.install()
    except install.InstallError as error:
        pytest.fail(str(error))
    stack = glue.load_stack(glue.synth_json(REPO))
    with TrinoServer(installation, tmp_path_factory.mktemp("trino")) as server:
        shared = check.Session(REPO, server, stack)
        shared.prepare_raw_zone()
        yield shared


def plant(project: Path, model: str, old: str, new: str) -> None:
    path = next(project.joinpath("models").rglob(f"{model}.sql"))
    text = path.read_text()
    assert old in text, f"{model}.sql no longer contains {old!r}: update the planted change"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="session")
def broken_report(session, tmp_path_factory) -> check.Report:
    project = tmp_path_factory.mktemp("project") / "dbt"
    shutil.copytree(REPO / "dbt", project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    # DuckDB-only syntax: the `::` cast. Athena (Trino) rejects it at parse time.
    plant(project, "revenue_by_genre", "count(distinct lines.invoice_id) as invoice_count",
          "count(distinct lines.invoice_id)::bigint as invoice_count")
    # Integer division: DuckDB's `/` divides exactly (a double), Trino's truncates. On DuckDB this
    # expression is the column unchanged, so only Athena's result differs.
    plant(project, "stg_raw__track", "cast(Milliseconds as bigint) as duration_ms",
          "cast(cast(Milliseconds as bigint) / 1000 * 1000 as bigint) as duration_ms")
    return check.run(session, project, tmp_path_factory.mktemp("work"))


def test_duckdb_only_syntax_is_reported_against_its_model(broken_report):
    assert not broken_report.ok
    messages = [str(f) for f in broken_report.failures if f.node == "revenue_by_genre"]
    assert any("fails on Trino" in m and "mismatched input ':'" in m for m in messages), messages


def test_integer_division_is_reported_against_its_model_and_column(broken_report):
    failures = [f for f in broken_report.failures if f.node == "stg_raw__track"]
    assert any(f.column == "duration_ms" and "values differ" in f.message for f in failures), failures


def test_the_rest_of_the_project_still_runs(broken_report):
    # Only the planted models and what depends on them fail; the others ran and matched.
    failed = {f.node for f in broken_report.failures}
    assert "album_track_counts" not in failed and "revenue_by_country" not in failed, failed
    assert broken_report.models_ran == broken_report.models - 1  # revenue_by_genre did not run


def test_type_families():
    assert {compare.family(t) for t in ("bigint", "INTEGER", "HUGEINT")} == {"integer"}
    assert compare.family("decimal(18, 2)") == compare.family("DECIMAL(18,2)") == "decimal"
    assert compare.family("DOUBLE") == compare.family("double") == "float"
    assert compare.family("varchar") == compare.family("VARCHAR") == "string"
    assert compare.family("timestamp(3)") == compare.family("TIMESTAMP") == "timestamp"
    assert compare.family("bigint") != compare.family("DOUBLE")


def test_a_missing_java_is_named(tmp_path, monkeypatch):
    old = tmp_path / "java-17"
    (old / "bin").mkdir(parents=True)
    (old / "bin" / "java").write_text("")
    (old / "release").write_text('JAVA_VERSION="17.0.2"\n')
    monkeypatch.setattr(install, "JVM_ROOT", tmp_path)
    for name in ("JAVA_HOME", "TRINO_JAVA_HOME"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(install.InstallError, match=r"needs a JDK >= 24.*java-17 \(Java 17\)"):
        install.find_java()
