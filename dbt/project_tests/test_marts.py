"""The dbt project: a real build on DuckDB from ingested sample data, checked against figures
computed independently from the raw rows; the Athena targets parse and compile; sources.yml
keeps the shape the stack reads."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml

from scripts.testing.chinook import DBT_DIR, TABLES, folder, ingest_module, raw_rows, run_dbt, sample_data, snake

MARTS = ["album_track_counts", "dim_customers", "dim_tracks", "fct_invoice_lines", "revenue_by_country",
         "revenue_by_genre"]
ATHENA_ENV = {
    "ATHENA_RESULTS_BUCKET": "dev-athena-results-1a2b",
    "PROCESSED_BUCKET_NAME": "dev-processed-1a2b",
    "GLUE_DATABASE_NAME": "dev_data_lake",
    "ATHENA_WORKGROUP": "dev-dbt",
    "AWS_REGION": "ap-southeast-2",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    # Nothing here may reach AWS: an attempted call fails fast instead of hanging.
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
}
ATHENA_TYPE = re.compile(r"^(string|bigint|int|double|boolean|date|timestamp|decimal\(\d+,\d+\))$")
STAGING = [f"stg_raw__{snake(t)}" for t in TABLES]
LITERAL_FILTER = re.compile(r"where ingest_date = '(\d{4}-\d{2}-\d{2})'\s*\)", re.S)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Generate scale 1, ingest it into a fresh LOCAL_DATA_DIR and run `dbt build` (default target) once."""
    work = tmp_path_factory.mktemp("dbt_build")
    data_dir = work / "data"
    db_path = work / "chinook.sqlite"
    counts = sample_data().generate(db_path, scale=1, seed=42)
    ingested = ingest_module().ingest(str(db_path), str(data_dir), ingest_date=dt.date(2024, 1, 15))
    result = run_dbt(["build"], work, env={"LOCAL_DATA_DIR": str(data_dir)})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    run_results = json.loads((work / "target" / "run_results.json").read_text())
    return {"work": work, "data_dir": data_dir, "counts": counts, "ingested": ingested, "run_results": run_results}


def _query(built, sql: str) -> list[tuple]:
    with duckdb.connect(str(built["data_dir"] / "dbt.duckdb"), read_only=True) as db:
        return db.execute(sql).fetchall()


def _mart(built, name: str, order_by: str) -> list[tuple]:
    with duckdb.connect() as db:
        path = built["data_dir"] / "processed" / f"{name}.parquet"
        return db.execute(f"select * from read_parquet('{path}') order by {order_by}").fetchall()


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


# --- the build --------------------------------------------------------------------------------


def test_build_runs_every_model_and_test_successfully(built):
    results = built["run_results"]["results"]
    statuses = Counter(r["status"] for r in results)
    assert set(statuses) <= {"success", "pass"}, statuses
    ran = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    assert ran == {f"stg_raw__{snake(t)}" for t in TABLES} | set(MARTS)
    tests = [r["unique_id"] for r in results if r["unique_id"].startswith("test.")]
    assert any("assert_invoice_totals_match_lines" in t for t in tests)
    assert any("assert_revenue_marts_reconcile" in t for t in tests)
    assert len(tests) >= 60


def test_every_primary_key_is_tested_unique_and_not_null(built):
    manifest = json.loads((built["work"] / "target" / "manifest.json").read_text())
    tested: defaultdict[str, set[str]] = defaultdict(set)
    for node in manifest["nodes"].values():
        if node["resource_type"] == "test" and node.get("test_metadata"):
            model = node["attached_node"].split(".")[-1] if node.get("attached_node") else None
            tested[(model, node.get("column_name"))].add(node["test_metadata"]["name"])
    keys = {f"stg_raw__{snake(t)}": f"{snake(t)}_id" for t in TABLES if t != "PlaylistTrack"}
    keys.update({"dim_tracks": "track_id", "dim_customers": "customer_id", "fct_invoice_lines": "invoice_line_id",
                 "album_track_counts": "album_id", "revenue_by_genre": "genre_id", "revenue_by_country": "country"})
    for model, key in keys.items():
        assert {"unique", "not_null"} <= tested[(model, key)], (model, key)
    # PlaylistTrack's key is the pair (playlist_id, track_id).
    assert "unique_combination" in tested[("stg_raw__playlist_track", None)]
    kinds = {name for names in tested.values() for name in names}
    assert {"relationships", "accepted_values"} <= kinds


def test_source_row_counts_equal_the_ingested_rows(built):
    for table in TABLES:
        rows = built["ingested"]["tables"][table]["rows"]
        assert rows == built["counts"][table]
        assert _query(built, f"select count(*) from main.stg_raw__{snake(table)}")[0][0] == rows, table


def test_marts_are_parquet_files_under_processed(built):
    processed = built["data_dir"] / "processed"
    assert sorted(p.name for p in processed.iterdir()) == sorted(f"{m}.parquet" for m in MARTS)
    for mart in MARTS:
        assert (processed / f"{mart}.parquet").read_bytes()[:4] == b"PAR1"


# --- mart values against the raw rows ------------------------------------------------------


def test_album_track_counts_match_the_raw_rows(built):
    data = built["data_dir"]
    artists = {r["ArtistId"]: r["Name"] for r in raw_rows(data, "Artist")}
    tracks_per_album = Counter(r["AlbumId"] for r in raw_rows(data, "Track"))
    expected = sorted(
        (a["AlbumId"], a["Title"], artists[a["ArtistId"]], tracks_per_album.get(a["AlbumId"], 0))
        for a in raw_rows(data, "Album")
    )
    assert _mart(built, "album_track_counts", "album_id") == expected
    with duckdb.connect() as db:
        columns = [c[0] for c in db.execute(
            f"describe select * from '{data / 'processed' / 'album_track_counts.parquet'}'").fetchall()]
    assert columns == ["album_id", "album_title", "artist_name", "track_count"]


def _line_amounts(data: Path):
    invoices = {r["InvoiceId"]: r for r in raw_rows(data, "Invoice")}
    tracks = {r["TrackId"]: r for r in raw_rows(data, "Track")}
    for line in raw_rows(data, "InvoiceLine"):
        amount = _money(line["UnitPrice"]) * line["Quantity"]
        yield line, invoices[line["InvoiceId"]], tracks[line["TrackId"]], amount


def test_revenue_by_genre_matches_the_raw_rows(built):
    data = built["data_dir"]
    revenue: defaultdict[int, Decimal] = defaultdict(Decimal)
    units: Counter = Counter()
    invoices: defaultdict[int, set] = defaultdict(set)
    for line, _, track, amount in _line_amounts(data):
        revenue[track["GenreId"]] += amount
        units[track["GenreId"]] += line["Quantity"]
        invoices[track["GenreId"]].add(line["InvoiceId"])
    expected = sorted(
        (g["GenreId"], g["Name"], len(invoices[g["GenreId"]]), units[g["GenreId"]], revenue[g["GenreId"]])
        for g in raw_rows(data, "Genre")
    )
    actual = [(gid, name, inv, units_sold, _money(rev))
              for gid, name, inv, units_sold, rev in _mart(built, "revenue_by_genre", "genre_id")]
    assert actual == [(gid, name, inv, u, _money(rev)) for gid, name, inv, u, rev in expected]


def test_revenue_by_country_matches_the_raw_rows(built):
    data = built["data_dir"]
    regions = {}
    with (DBT_DIR / "seeds" / "country_regions.csv").open() as handle:
        next(handle)
        for line in handle:
            country, region = line.strip().split(",")
            regions[country] = region
    revenue: defaultdict[str, Decimal] = defaultdict(Decimal)
    customers: defaultdict[str, set] = defaultdict(set)
    invoices: defaultdict[str, set] = defaultdict(set)
    for _, invoice, _, amount in _line_amounts(data):
        country = invoice["BillingCountry"]
        revenue[country] += amount
        customers[country].add(invoice["CustomerId"])
        invoices[country].add(invoice["InvoiceId"])
    expected = sorted(
        (c, regions[c], len(customers[c]), len(invoices[c]), revenue[c]) for c in revenue
    )
    actual = [(c, r, cust, inv, _money(rev)) for c, r, cust, inv, rev in _mart(built, "revenue_by_country", "country")]
    assert actual == expected
    # Revenue is what was invoiced, to the cent.
    assert sum(revenue.values()) == sum(_money(i["Total"]) for i in raw_rows(data, "Invoice"))


def test_staging_reads_only_the_newest_ingest_date(built):
    """A newer partition replaces, not adds to, the previous one."""
    newer = built["data_dir"] / "raw" / "artist" / "ingest_date=2024-02-01"
    newer.mkdir()
    try:
        rows = raw_rows(built["data_dir"], "Artist")[:5]
        (newer / "part-0000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        assert _query(built, "select count(*), max(ingest_date) from main.stg_raw__artist")[0] == (5, "2024-02-01")
    finally:
        shutil.rmtree(newer)
    assert _query(built, "select count(*) from main.stg_raw__artist")[0][0] == built["counts"]["Artist"]


# --- the Athena targets and the contract with the stack ------------------------------------


def test_athena_target_parses_and_compiles_for_athena(tmp_path):
    result = run_dbt(["compile", "--target", "dev", "--no-populate-cache", "--no-introspect"], tmp_path,
                     env=ATHENA_ENV)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    compiled = tmp_path / "target" / "compiled" / "dbt_lambda" / "models"
    invoices = (compiled / "staging" / "stg_raw__invoice.sql").read_text()
    assert '"awsdatacatalog"."dev_data_lake"."invoice"' in invoices
    assert "cast(InvoiceDate as timestamp(3))" in invoices
    assert "read_json_auto" not in invoices
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    fact = manifest["nodes"]["model.dbt_lambda.fct_invoice_lines"]["config"]
    assert fact["materialized"] == "table" and fact["format"] == "parquet"
    assert fact["partitioned_by"] == ["invoice_year"]
    staging = manifest["nodes"]["model.dbt_lambda.stg_raw__track"]["config"]
    assert staging["materialized"] == "view"


def test_athena_target_without_its_environment_fails_naming_the_variable(tmp_path):
    env = {k: v for k, v in ATHENA_ENV.items() if k != "GLUE_DATABASE_NAME"}
    result = run_dbt(["parse", "--target", "prod"], tmp_path, env=env)
    assert result.returncode != 0
    assert "GLUE_DATABASE_NAME" in result.stdout + result.stderr


def test_local_is_the_default_target_with_external_parquet_marts(built):
    """The fixture's build passed no --target: it ran on DuckDB with marts as external Parquet."""
    manifest = json.loads((built["work"] / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "duckdb"
    nodes = manifest["nodes"]
    assert {nodes[f"model.dbt_lambda.{m}"]["config"]["materialized"] for m in MARTS} == {"external"}
    assert {nodes[f"model.dbt_lambda.stg_raw__{snake(t)}"]["config"]["materialized"] for t in TABLES} == {"view"}


def test_sources_yml_keeps_the_shape_the_stack_reads():
    sources = yaml.safe_load((DBT_DIR / "models" / "sources.yml").read_text())
    assert sources["version"] == 2
    raw = [s for s in sources["sources"] if s["name"] == "raw"]
    assert len(raw) == 1
    assert raw[0]["schema"] == "{{ env_var('GLUE_DATABASE_NAME', 'raw') }}"
    assert "/raw/{identifier}/" in raw[0]["meta"]["external_location"]
    assert [t["name"] for t in raw[0]["tables"]] == TABLES
    # The folder (and Glue table) is the lower-case name, as the ingestion writes it.
    assert [t["identifier"] for t in raw[0]["tables"]] == [folder(t) for t in TABLES]


def test_sources_yml_columns_match_the_sample_database(tmp_path):
    import sqlite3

    db_path = tmp_path / "chinook.sqlite"
    sample_data().generate(db_path, scale=1, seed=1)
    sources = yaml.safe_load((DBT_DIR / "models" / "sources.yml").read_text())
    tables = {t["name"]: t for t in sources["sources"][0]["tables"]}
    with sqlite3.connect(db_path) as db:
        for name, table in tables.items():
            assert table["description"]
            declared = [c["name"] for c in table["columns"]]
            actual = [row[1] for row in db.execute(f"pragma table_info([{name}])")]
            assert declared == actual, name
            assert "ingest_date" not in declared
            for column in table["columns"]:
                assert ATHENA_TYPE.match(column["data_type"]), (name, column)
                assert column["description"]
                if column["name"].endswith("Id") or column["name"] in ("ReportsTo", "SupportRepId"):
                    assert column["data_type"] == "bigint", (name, column["name"])


# --- partition pruning: a literal filter per staging model ------------------------------------


@pytest.mark.parametrize("target", ["local", "dev"])
def test_staging_filters_a_literal_partition_when_the_dates_are_given(tmp_path, target):
    """Compiled offline for DuckDB and Athena: each staging model reads exactly its table's given day."""
    dates = {table: f"2024-0{1 + index % 9}-{10 + index:02d}" for index, table in enumerate(TABLES)}
    (tmp_path / "data").mkdir()
    env = ATHENA_ENV if target == "dev" else {"LOCAL_DATA_DIR": str(tmp_path / "data")}
    args = ["compile", "--target", target, "--select", "staging", "--vars", json.dumps({"raw_ingest_dates": dates})]
    if target == "dev":
        args += ["--no-populate-cache", "--no-introspect"]
    result = run_dbt(args, tmp_path, env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    compiled = tmp_path / "target" / "compiled" / "dbt_lambda" / "models" / "staging"
    for table in TABLES:
        sql = (compiled / f"stg_raw__{snake(table)}.sql").read_text()
        assert LITERAL_FILTER.findall(sql) == [dates[table]], (table, sql)
        assert "max(ingest_date)" not in sql
        if target == "dev":
            assert f'"awsdatacatalog"."dev_data_lake"."{folder(table)}"' in sql
        else:
            assert f"/raw/{folder(table)}/*/*.jsonl" in sql


def test_without_the_dates_staging_falls_back_to_the_newest_partition_query(tmp_path):
    result = run_dbt(["compile", "--target", "dev", "--select", "staging", "--no-populate-cache", "--no-introspect"],
                     tmp_path, env=ATHENA_ENV)
    assert result.returncode == 0, result.stdout[-4000:]
    sql = (tmp_path / "target/compiled/dbt_lambda/models/staging/stg_raw__album.sql").read_text()
    assert 'where ingest_date = (select max(ingest_date) from "awsdatacatalog"."dev_data_lake"."album")' in sql


def test_a_malformed_date_variable_is_refused_at_compile(tmp_path):
    bad = json.dumps({"raw_ingest_dates": {"Album": "2024-01-01' or 1=1 --"}})
    result = run_dbt(["compile", "--target", "dev", "--select", "stg_raw__album", "--vars", bad,
                      "--no-populate-cache", "--no-introspect"], tmp_path, env=ATHENA_ENV)
    assert result.returncode != 0
    assert "raw_ingest_dates.Album: expected a date as YYYY-MM-DD" in result.stdout
