"""Sample data generator and local ingestion: determinism, shape, round trip, bad inputs."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from dbt_project_helpers import REPO, TABLES, ingest_module, read_jsonl, sample_data

DAY = dt.date(2024, 3, 1)


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("sample") / "chinook.sqlite"
    return path, sample_data().generate(path, scale=1, seed=42)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- the generator --------------------------------------------------------------------------


def test_same_seed_and_scale_give_identical_bytes(tmp_path, sample_db):
    again = tmp_path / "again.sqlite"
    counts = sample_data().generate(again, scale=1, seed=42)
    assert again.read_bytes() == sample_db[0].read_bytes()
    assert counts == sample_db[1]


def test_another_seed_gives_other_data(tmp_path, sample_db):
    other = tmp_path / "other.sqlite"
    sample_data().generate(other, scale=1, seed=7)
    assert other.read_bytes() != sample_db[0].read_bytes()


def test_counts_match_the_database_and_scale(tmp_path, sample_db):
    path, counts = sample_db
    assert list(counts) == TABLES
    with sqlite3.connect(path) as db:
        for table, rows in counts.items():
            assert db.execute(f"select count(*) from {table}").fetchone()[0] == rows
        # Invoice totals are the sums of their lines, to the cent.
        mismatches = db.execute(
            "select count(*) from invoices i join (select invoice_id, round(sum(unit_price * quantity), 2) s "
            "from invoice_lines group by invoice_id) l using (invoice_id) where abs(i.total - l.s) > 0.001"
        ).fetchone()[0]
        assert mismatches == 0
        orphans = db.execute(
            "select count(*) from invoice_lines l left join tracks t using (track_id) where t.track_id is null"
        ).fetchone()[0]
        assert orphans == 0
    assert 9_000 <= counts["invoice_lines"] <= 11_000
    assert counts["genres"] == 25
    scale2 = sample_data().generate(tmp_path / "s2.sqlite", scale=2, seed=42)
    assert scale2["tracks"] == 2 * counts["tracks"]
    assert 18_000 <= scale2["invoice_lines"] <= 22_000


def test_columns_are_snake_case(sample_db):
    with sqlite3.connect(sample_db[0]) as db:
        for table in TABLES:
            for _, column, *_ in db.execute(f"pragma table_info({table})"):
                assert column == column.lower() and " " not in column, (table, column)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_generator_rejects_bad_scale(tmp_path, bad):
    with pytest.raises(ValueError, match="scale"):
        sample_data().generate(tmp_path / "x.sqlite", scale=bad)
    assert not (tmp_path / "x.sqlite").exists()


def test_cli_prints_progress_and_writes_the_file(tmp_path):
    out = tmp_path / "cli.sqlite"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "sample_data.py"), "--scale", "1", "--seed", "42", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "invoice_lines" in result.stderr and "wrote" in result.stderr
    sample_data().generate(tmp_path / "api.sqlite", scale=1, seed=42)
    assert out.read_bytes() == (tmp_path / "api.sqlite").read_bytes()
    bad = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "sample_data.py"), "--scale", "0", "--out", str(tmp_path / "n")],
        capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode == 2 and "--scale" in bad.stderr


# --- local ingestion ------------------------------------------------------------------------


def test_ingest_writes_every_table_as_json_lines(tmp_path, sample_db):
    path, counts = sample_db
    result = ingest_module().ingest(str(path), str(tmp_path), ingest_date=DAY)
    assert result["ingest_date"] == "2024-03-01"
    assert sorted(result["tables"]) == sorted(TABLES)
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        for table in TABLES:
            part = tmp_path / "raw" / table / "ingest_date=2024-03-01" / "part-0000.jsonl"
            assert result["tables"][table] == {"rows": counts[table], "object": str(part.resolve())}
            rows = read_jsonl(part)
            expected = [dict(r) for r in db.execute(f"select * from {table}")]
            assert rows == expected
    # Only the raw zone remains: no scratch files next to it.
    assert {p.name for p in tmp_path.iterdir()} == {"raw"}


def test_json_values_are_typed(tmp_path, sample_db):
    ingest_module().ingest(str(sample_db[0]), str(tmp_path), tables=["invoices"], ingest_date=DAY)
    first = (tmp_path / "raw/invoices/ingest_date=2024-03-01/part-0000.jsonl").read_text().splitlines()[0]
    row = json.loads(first, parse_float=Decimal)
    assert isinstance(row["invoice_id"], int)
    assert isinstance(row["total"], Decimal) and row["total"] == row["total"].quantize(Decimal("0.01"))
    assert dt.datetime.strptime(row["invoice_date"], "%Y-%m-%d %H:%M:%S")
    assert list(row) == ["invoice_id", "customer_id", "invoice_date", "billing_address", "billing_city",
                         "billing_state", "billing_country", "billing_postal_code", "total"]


def test_chosen_tables_only_and_reingest_replaces(tmp_path, sample_db):
    ingest = ingest_module().ingest
    result = ingest(str(sample_db[0]), str(tmp_path), tables=["genres", "artists"], ingest_date="2024-03-02")
    assert sorted(result["tables"]) == ["artists", "genres"]
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["artists", "genres"]
    again = ingest(str(sample_db[0]), str(tmp_path), tables=["genres"], ingest_date="2024-03-02")
    part = Path(again["tables"]["genres"]["object"])
    assert len(part.read_text().splitlines()) == 25


def test_default_ingest_date_is_today_utc(tmp_path, sample_db):
    result = ingest_module().ingest(str(sample_db[0]), str(tmp_path), tables=["genres"])
    assert result["ingest_date"] == dt.datetime.now(dt.timezone.utc).date().isoformat()


@pytest.mark.parametrize(
    ("case", "field", "message"),
    [
        ("missing", "source", "no such file"),
        ("not_sqlite", "source", "not a SQLite database"),
        ("unknown_table", "tables", "unknown table 'media_types'"),
        ("empty_tables", "tables", "non-empty list"),
        ("bad_date", "ingest_date", "YYYY-MM-DD"),
        ("impossible_date", "ingest_date", "YYYY-MM-DD"),
        ("dest_is_file", "destination", "not a folder"),
        ("dest_bad_bucket", "destination", "valid S3 bucket"),
        ("dest_with_key", "destination", "has a key"),
        ("dest_other_scheme", "destination", "only local folders"),
        ("source_s3_no_key", "source", "no object key"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(tmp_path, sample_db, case, field, message):
    module = ingest_module()
    out = tmp_path / "out"
    out.mkdir()
    source, destination, kwargs = str(sample_db[0]), str(out), {"ingest_date": DAY}
    if case == "missing":
        source = str(tmp_path / "nope.sqlite")
    elif case == "not_sqlite":
        (tmp_path / "fake.sqlite").write_text("id,name\n1,x\n")
        source = str(tmp_path / "fake.sqlite")
    elif case == "unknown_table":
        kwargs["tables"] = ["artists", "media_types"]
    elif case == "empty_tables":
        kwargs["tables"] = []
    elif case == "bad_date":
        kwargs["ingest_date"] = "01/03/2024"
    elif case == "impossible_date":
        kwargs["ingest_date"] = "2024-02-30"
    elif case == "dest_is_file":
        destination = str(tmp_path / "file.txt")
        Path(destination).write_text("x")
    elif case == "dest_bad_bucket":
        destination = "s3://Not_A_Bucket"
    elif case == "dest_with_key":
        destination = "s3://my-bucket/some/prefix"
    elif case == "dest_other_scheme":
        destination = "gs://my-bucket"
    elif case == "source_s3_no_key":
        source = "s3://my-bucket"
    with pytest.raises(module.IngestError, match=message) as raised:
        module.ingest(source, destination, **kwargs)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")
    assert _files(out) == []


def test_truncated_database_is_rejected_cleanly(tmp_path, sample_db):
    module = ingest_module()
    broken = tmp_path / "broken.sqlite"
    data = sample_db[0].read_bytes()
    broken.write_bytes(data[:100] + b"\x00" * 4000)  # header intact, pages gone
    out = tmp_path / "out"
    with pytest.raises(module.IngestError) as raised:
        module.ingest(str(broken), str(out), ingest_date=DAY)
    assert raised.value.field == "source"
    assert _files(out) == []


@pytest.mark.parametrize(
    ("event", "env", "field"),
    [
        ({"tables": ["artists"]}, {"RAW_BUCKET_NAME": "raw-bucket"}, "source"),
        ({"source": "s3://b/k.sqlite", "extra": 1}, {"RAW_BUCKET_NAME": "raw-bucket"}, "event"),
        ("not a dict", {"RAW_BUCKET_NAME": "raw-bucket"}, "event"),
        ({"source": "s3://b/k.sqlite"}, {}, "RAW_BUCKET_NAME"),
        ({"source": "s3://b/k.sqlite", "ingest_date": "yesterday"}, {"RAW_BUCKET_NAME": "raw-bucket"}, "ingest_date"),
    ],
)
def test_lambda_event_validation(monkeypatch, event, env, field):
    module = ingest_module()
    monkeypatch.delenv("RAW_BUCKET_NAME", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(module.IngestError) as raised:
        module.handler(event, None)
    assert raised.value.field == field


def test_cli_reports_bad_input_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "handler" / "ingest.py"), str(tmp_path / "nope.sqlite"), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "source: no such file" in result.stderr and "Traceback" not in result.stderr


def test_any_sqlite_database_is_ingested_with_blobs_as_hex(tmp_path):
    source = tmp_path / "other.sqlite"
    with sqlite3.connect(source) as db:
        db.execute("create table media_files (media_id integer primary key, payload blob, note text)")
        db.execute("insert into media_files values (1, x'00ff10', 'ünïcode'), (2, null, null)")
    result = ingest_module().ingest(str(source), str(tmp_path / "out"), ingest_date=DAY)
    assert result["tables"]["media_files"]["rows"] == 2
    rows = read_jsonl(Path(result["tables"]["media_files"]["object"]))
    assert rows == [{"media_id": 1, "payload": "00ff10", "note": "ünïcode"},
                    {"media_id": 2, "payload": None, "note": None}]
