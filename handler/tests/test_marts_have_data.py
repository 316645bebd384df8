"""Issue 20, "success means data": a mart published empty while its raw sources have rows fails
the build (generic test not_empty_when_sources_have_rows on every mart)."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from dbt_runner.dbt_run import DbtRunFailed, DbtSession
from scripts.testing.chinook import DBT_DIR, TABLES

MARTS = {"album_track_counts", "revenue_by_genre", "revenue_by_country", "fct_invoice_lines", "dim_tracks", "dim_customers"}


def test_every_mart_declares_the_test_where_an_analyst_sees_it():
    marts = yaml.safe_load((DBT_DIR / "models" / "marts" / "_marts.yml").read_text())["models"]
    declared = {m["name"] for m in marts if "not_empty_when_sources_have_rows" in (m.get("data_tests") or [])}
    assert declared == MARTS == {p.stem for p in (DBT_DIR / "models" / "marts").glob("*.sql")}


def test_marts_built_from_a_partition_with_no_rows_fail_the_build(handler_module, sample_local_dir, tmp_path,
                                                                   monkeypatch, context):
    # staging reads a day nothing was ingested for: what a future ingest_date outside Athena's
    # partition projection did (every staging view empty, every mart empty, unique/not_null pass).
    local = tmp_path / "local"
    shutil.copytree(sample_local_dir / "raw", local / "raw")
    shutil.copytree(sample_local_dir / "manifests", local / "manifests")
    monkeypatch.setenv("ENVIRONMENT", "local")
    monkeypatch.setenv("LOCAL_DATA_DIR", str(local))
    monkeypatch.setattr(handler_module, "SESSION", DbtSession())
    nowhere = json.dumps({"raw_ingest_dates": {table: "2099-01-01" for table in TABLES}})
    with pytest.raises(DbtRunFailed) as raised:
        handler_module.handler({"command": ["build"], "cli_args": ["--vars", nowhere]}, context)
    summary = raised.value.summary
    failing = {n["unique_id"].split(".")[2].rstrip("_") for n in summary["nodes"] if n["status"] == "fail"}
    skipped = {n["unique_id"].split(".")[2] for n in summary["nodes"] if n["status"] == "skipped"}
    # Each mart is caught: its own test fails, or a parent's failure stopped it from being published.
    assert all(f"not_empty_when_sources_have_rows_{mart}" in failing or mart in skipped for mart in MARTS), failing
    assert len([f for f in failing if f.startswith("not_empty_when_sources_have_rows_")]) >= 3
    assert summary["status"] == "error"
    # latest/ stays as it was (there was none): a failed build is never the baseline.
    assert not (local / "artifacts" / "latest").exists()
