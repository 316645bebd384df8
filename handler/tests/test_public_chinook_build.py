"""The seed's pipeline on the public Chinook DDL, on one machine: a hand-written database with the
public file's quirks (NULLs, non-ASCII names, dates as text) -> ingest -> its manifest event ->
the handler's one build on DuckDB. Then a new day's ingest in the same (warm) process: the parsed
manifest is reused and the build reads the new partition, named as a literal in the SQL."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import duckdb
import pytest

from scripts.testing.chinook import EXPECTED_ALBUMS, TABLES, fixture_database, ingest_module, manifest_event, mart, snake

def _local(env: pytest.MonkeyPatch, root: Path) -> None:
    """The handler on the local target with this module's data folder and its own scratch folder."""
    import tempfile

    env.setenv("ENVIRONMENT", "local")
    env.setenv("LOCAL_DATA_DIR", str(root / "data"))
    env.setattr(tempfile, "tempdir", str(root / "tmp"))
    for name in ("DBT_TARGET", "DBT_PROJECT_DIR", "DBT_PROFILES_DIR", "RAW_BUCKET_NAME"):
        env.delenv(name, raising=False)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, handler_module):
    root = tmp_path_factory.mktemp("public")
    (root / "tmp").mkdir()
    data_dir = root / "data"
    database = fixture_database(root / "chinook.db")
    with pytest.MonkeyPatch.context() as env:
        _local(env, root)
        ingested = ingest_module().ingest(str(database), str(data_dir), ingest_date=dt.date(2024, 6, 1))
        first = handler_module.handler(manifest_event(Path(ingested["manifest"]), data_dir), None)
    return {"root": root, "data_dir": data_dir, "database": database, "first": first, "handler": handler_module,
            "ingested": ingested}


@pytest.fixture(autouse=True)
def local_target(request, monkeypatch):
    if "pipeline" in request.fixturenames:
        _local(monkeypatch, request.getfixturevalue("pipeline")["root"])


def test_one_build_over_every_table_and_every_model_and_test_passes(pipeline):
    summary = pipeline["first"]
    assert summary["status"] == "success"
    assert summary["command"] == ["build", "--select", *(f"source:raw.{t}+" for t in TABLES), "resource_type:seed"]
    assert set(summary["counts"]) == {"success", "pass"}, summary["counts"]
    models = {n["unique_id"].split(".")[-1] for n in summary["nodes"] if n["unique_id"].startswith("model.")}
    assert {f"stg_raw__{snake(t)}" for t in TABLES} <= models
    assert {"album_track_counts", "revenue_by_genre", "revenue_by_country", "dim_tracks", "dim_customers",
            "fct_invoice_lines"} <= models
    assert summary["counts"]["pass"] >= 60


def test_album_track_counts_are_exactly_right(pipeline):
    assert mart(pipeline["data_dir"], "album_track_counts", "album_id") == EXPECTED_ALBUMS


def test_nulls_non_ascii_and_text_dates_come_through(pipeline):
    data_dir = pipeline["data_dir"]
    customers = {row[0]: row for row in mart(data_dir, "dim_customers", "customer_id")}
    # customer_id, customer_name, email, company, city, country, region
    assert customers[1][1:] == ("Luís Gonçalves", "luisg@embraer.com.br",
                                "Embraer - Empresa Brasileira de Aeronáutica S.A.", "São José dos Campos", "Brazil",
                                "South America")
    assert customers[2][3] is None and customers[5][1] == "Hugh O'Reilly"
    tracks = {row[0]: row for row in mart(data_dir, "dim_tracks", "track_id")}
    assert tracks[4][8] is None and tracks[7][1] == "Águas de Março"
    lines = mart(data_dir, "fct_invoice_lines", "invoice_line_id")
    assert [(r[0], r[3], r[4]) for r in lines[:3]] == [
        (1, dt.datetime(2021, 1, 1), dt.date(2021, 1, 1)), (2, dt.datetime(2021, 1, 1), dt.date(2021, 1, 1)),
        (3, dt.datetime(2021, 1, 2), dt.date(2021, 1, 2))]
    by_country = {row[0]: row for row in mart(data_dir, "revenue_by_country", "country")}
    assert str(by_country["Brazil"][4]) == "4.97" and by_country["Ireland"][3] == 1
    with duckdb.connect(str(data_dir / "dbt.duckdb"), read_only=True) as db:
        assert db.execute("select billing_state, billing_postal_code from stg_raw__invoice where invoice_id = 3"
                          ).fetchone() == ("Dublin", None)
        assert db.execute("select reports_to, hired_at from stg_raw__employee where employee_id = 1"
                          ).fetchone() == (None, dt.datetime(2002, 8, 14))
        assert db.execute("select count(*) from stg_raw__playlist_track").fetchone()[0] == 7


def _next_day(pipeline, day: dt.date) -> dict:
    """A new day's snapshot of the source: track 7 (and its invoice line) gone."""
    database = pipeline["root"] / f"chinook-{day}.db"
    database.write_bytes(pipeline["database"].read_bytes())
    with sqlite3.connect(database) as db:
        db.execute("delete from InvoiceLine where TrackId = 7")
        db.execute("delete from PlaylistTrack where TrackId = 7")
        db.execute("delete from Track where TrackId = 7")
        db.execute("update Invoice set Total = 0.99 where InvoiceId = 2")
    return ingest_module().ingest(str(database), str(pipeline["data_dir"]), ingest_date=day)


def test_a_warm_invocation_with_a_new_day_reuses_the_manifest_and_reads_the_new_partition(pipeline):
    handler = pipeline["handler"]
    data_dir = pipeline["data_dir"]
    # A second build of the same day parses (if this process has not yet cached a manifest for this key).
    second = handler.handler(manifest_event(Path(pipeline["ingested"]["manifest"]), data_dir), None)
    assert second["status"] == "success"

    ingested = _next_day(pipeline, dt.date(2024, 6, 2))
    third = handler.handler(manifest_event(Path(ingested["manifest"]), data_dir), None)
    assert third["status"] == "success"
    assert third["manifest_reused"] is True  # the new dates did not invalidate the parsed manifest
    albums = mart(data_dir, "album_track_counts", "album_id")
    assert albums[2] == (3, "Chill: Brasil (Disc 2)", "Antônio Carlos Jobim", 3)
    # The SQL dbt ran names the new day as a literal (what lets Athena and DuckDB prune).
    from dbt_runner import settings

    compiled = settings.load().target_path / "run" / "dbt_lambda" / "models" / "staging"
    for table in TABLES:
        sql = (compiled / f"stg_raw__{snake(table)}.sql").read_text()
        assert "where ingest_date = '2024-06-02'" in sql, table
    with duckdb.connect(str(data_dir / "dbt.duckdb"), read_only=True) as db:
        assert db.execute("select distinct ingest_date from stg_raw__track").fetchall() == [("2024-06-02",)]


def test_a_partial_ingest_builds_only_its_tables_and_what_depends_on_them(pipeline):
    handler = pipeline["handler"]
    ingested = ingest_module().ingest(str(pipeline["database"]), str(pipeline["data_dir"]), tables=["Genre"],
                                      ingest_date=dt.date(2024, 6, 3))
    summary = handler.handler(manifest_event(Path(ingested["manifest"]), pipeline["data_dir"]), None)
    models = {n["unique_id"].split(".")[-1] for n in summary["nodes"] if n["unique_id"].startswith("model.")}
    assert models == {"stg_raw__genre", "dim_tracks", "revenue_by_genre"}
    assert summary["manifest_reused"] is True


def test_newest_local_partition_ignores_folders_without_a_part_file(tmp_path):
    from dbt_runner import partitions
    from scripts.testing.runner_env import write_manifest

    for day, part in (("2024-01-01", True), ("2024-01-03", True), ("2024-01-09", False)):
        folder = tmp_path / "raw" / "album" / f"ingest_date={day}"
        folder.mkdir(parents=True)
        if part:
            (folder / "part-0000.jsonl").write_text("{}\n")
        write_manifest(tmp_path, day, {"album": None}, ingest_id=f"i{day}")
    (tmp_path / "raw" / "album" / "notes").mkdir()
    assert partitions.newest_local(tmp_path, {"Album": "album", "Track": "track"}) == {"Album": "2024-01-03"}
