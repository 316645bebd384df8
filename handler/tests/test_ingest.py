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

from scripts.testing.chinook import TABLES, fixture_database, folder, ingest_module, read_jsonl, sample_data

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
            assert db.execute(f"select count(*) from [{table}]").fetchone()[0] == rows
        # Invoice totals are the sums of their lines, to the cent.
        mismatches = db.execute(
            "select count(*) from Invoice i join (select InvoiceId, round(sum(UnitPrice * Quantity), 2) s "
            "from InvoiceLine group by InvoiceId) l using (InvoiceId) where abs(i.Total - l.s) > 0.001"
        ).fetchone()[0]
        assert mismatches == 0
        assert db.execute("pragma foreign_key_check").fetchall() == []
        # NULLs where the public data has them, and the video price on the video media type.
        assert db.execute("select count(*) from Track where Composer is null").fetchone()[0] > 0
        assert db.execute("select count(*) from Customer where Fax is null").fetchone()[0] > 0
        assert db.execute("select count(*) from Employee where ReportsTo is null").fetchone()[0] == 1
        assert db.execute("select distinct MediaTypeId from Track where UnitPrice = 1.99").fetchall() == [(3,)]
    assert 9_000 <= counts["InvoiceLine"] <= 11_000
    assert counts["Genre"] == 25 and counts["MediaType"] == 5
    scale2 = sample_data().generate(tmp_path / "s2.sqlite", scale=2, seed=42)
    assert scale2["Track"] == 2 * counts["Track"]
    assert 18_000 <= scale2["InvoiceLine"] <= 22_000


def _ddl(db: sqlite3.Connection) -> dict:
    tables = [name for (name,) in db.execute(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name")]
    return {
        table: {
            "columns": [tuple(row[1:]) for row in db.execute(f"pragma table_info([{table}])")],
            "foreign_keys": sorted(tuple(row[2:5]) for row in db.execute(f"pragma foreign_key_list([{table}])")),
        }
        for table in tables
    }


def test_generator_writes_the_public_chinook_ddl(tmp_path, sample_db):
    """Names, types, NOT NULL, keys and foreign keys equal the hand-written public schema's."""
    reference = fixture_database(tmp_path / "public.sqlite")
    with sqlite3.connect(reference) as public, sqlite3.connect(sample_db[0]) as generated:
        assert _ddl(generated) == _ddl(public)
    assert sorted(_ddl(sqlite3.connect(reference))) == TABLES


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_generator_rejects_bad_scale(tmp_path, bad):
    with pytest.raises(ValueError, match="scale"):
        sample_data().generate(tmp_path / "x.sqlite", scale=bad)
    assert not (tmp_path / "x.sqlite").exists()


def test_cli_prints_progress_and_writes_the_file(tmp_path):
    out = tmp_path / "cli.sqlite"
    result = subprocess.run(
        [sys.executable, "-m", "scripts.demo.sample_data", "--scale", "1", "--seed", "42", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "InvoiceLine" in result.stderr and "wrote" in result.stderr
    sample_data().generate(tmp_path / "api.sqlite", scale=1, seed=42)
    assert out.read_bytes() == (tmp_path / "api.sqlite").read_bytes()
    bad = subprocess.run(
        [sys.executable, "-m", "scripts.demo.sample_data", "--scale", "0", "--out", str(tmp_path / "n")],
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
            part = tmp_path / "raw" / folder(table) / "ingest_date=2024-03-01" / "part-0000.jsonl"
            assert result["tables"][table] == {"rows": counts[table], "object": str(part.resolve())}
            rows = read_jsonl(part)
            expected = [dict(r) for r in db.execute(f"select * from [{table}]")]
            assert rows == expected
    # Only the raw zone and the manifest remain: no scratch files next to them.
    assert {p.name for p in tmp_path.iterdir()} == {"raw", "manifests"}


def test_json_values_are_typed(tmp_path, sample_db):
    ingest_module().ingest(str(sample_db[0]), str(tmp_path), tables=["Invoice"], ingest_date=DAY)
    first = (tmp_path / "raw/invoice/ingest_date=2024-03-01/part-0000.jsonl").read_text().splitlines()[0]
    row = json.loads(first, parse_float=Decimal)
    assert isinstance(row["InvoiceId"], int)
    assert isinstance(row["Total"], Decimal) and row["Total"] == row["Total"].quantize(Decimal("0.01"))
    assert dt.datetime.strptime(row["InvoiceDate"], "%Y-%m-%d %H:%M:%S")
    assert list(row) == ["InvoiceId", "CustomerId", "InvoiceDate", "BillingAddress", "BillingCity",
                         "BillingState", "BillingCountry", "BillingPostalCode", "Total"]


def test_chosen_tables_only_and_reingest_replaces(tmp_path, sample_db):
    ingest = ingest_module().ingest
    result = ingest(str(sample_db[0]), str(tmp_path), tables=["Genre", "Artist"], ingest_date="2024-03-02")
    assert sorted(result["tables"]) == ["Artist", "Genre"]
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["artist", "genre"]
    # A leftover of an earlier load of the same day is replaced, not read beside the new part.
    stale = tmp_path / "raw/genre/ingest_date=2024-03-02/part-0001.jsonl"
    stale.write_text('{"GenreId": 99, "Name": "Stale"}\n')
    again = ingest(str(sample_db[0]), str(tmp_path), tables=["Genre"], ingest_date="2024-03-02")
    part = Path(again["tables"]["Genre"]["object"])
    assert len(part.read_text().splitlines()) == 25
    assert sorted(p.name for p in part.parent.iterdir()) == ["part-0000.jsonl"]


def test_default_ingest_date_is_today_utc(tmp_path, sample_db):
    result = ingest_module().ingest(str(sample_db[0]), str(tmp_path), tables=["Genre"])
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
        kwargs["tables"] = ["Artist", "media_types"]
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
        ({"tables": ["Artist"]}, {"RAW_BUCKET_NAME": "raw-bucket"}, "source"),
        ({"source": "s3://b/k.sqlite", "extra": 1}, {"RAW_BUCKET_NAME": "raw-bucket"}, "extra"),
        ({}, {}, "RAW_BUCKET_NAME"),
        ({"detail-type": "Scheduled Event", "source": "aws.events"}, {}, "RAW_BUCKET_NAME"),
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
        [sys.executable, "-m", "ingest", str(tmp_path / "nope.sqlite"), str(tmp_path / "out")],
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
    assert result["tables"]["media_files"]["object"].endswith("raw/media_files/ingest_date=2024-03-01/part-0000.jsonl")
    rows = read_jsonl(Path(result["tables"]["media_files"]["object"]))
    assert rows == [{"media_id": 1, "payload": "00ff10", "note": "ünïcode"},
                    {"media_id": 2, "payload": None, "note": None}]


# --- the manifest, empty and unusual tables ---------------------------------------------------


def _manifests(root: Path) -> list[Path]:
    return sorted((root / "manifests").glob("ingest_date=*/*.json"))


def test_manifest_names_every_table_written_and_comes_last(tmp_path, sample_db):
    path, counts = sample_db
    result = ingest_module().ingest(str(path), str(tmp_path), ingest_date=DAY)
    [manifest_path] = _manifests(tmp_path)
    assert manifest_path.parent.name == "ingest_date=2024-03-01"
    assert manifest_path.name == f"{result['ingest_id']}.json"
    assert result["manifest"] == str(manifest_path.resolve())
    manifest = json.loads(manifest_path.read_text())
    assert manifest["format"] == "dbt-lambda/ingest-manifest" and manifest["version"] == 1
    assert manifest["ingest_date"] == "2024-03-01" and manifest["ingest_id"] == result["ingest_id"]
    assert manifest["source"] == path.name  # a local path is not recorded
    assert [t["name"] for t in manifest["tables"]] == TABLES
    for entry in manifest["tables"]:
        assert entry["rows"] == counts[entry["name"]]
        assert entry["folder"] == folder(entry["name"])
        assert entry["keys"] == [f"raw/{entry['folder']}/ingest_date=2024-03-01/part-0000.jsonl"]
        assert (tmp_path / entry["keys"][0]).is_file()
    # Written last: no part file is newer than the manifest.
    newest_part = max(p.stat().st_mtime_ns for p in (tmp_path / "raw").rglob("*.jsonl"))
    assert manifest_path.stat().st_mtime_ns >= newest_part
    # Each ingest has its own manifest.
    ingest_module().ingest(str(path), str(tmp_path), tables=["Genre"], ingest_date=DAY)
    assert len(_manifests(tmp_path)) == 2


def test_empty_tables_are_reported_and_skipped(tmp_path):
    source = tmp_path / "chinook.db"
    fixture_database(source)
    with sqlite3.connect(source) as db:
        db.execute("delete from PlaylistTrack")
    out = tmp_path / "out"
    result = ingest_module().ingest(str(source), str(out), ingest_date=DAY)
    assert result["skipped"] == {"PlaylistTrack": "no rows"}
    assert "PlaylistTrack" not in result["tables"] and len(result["tables"]) == 10
    assert not (out / "raw" / "playlisttrack").exists()
    manifest = json.loads(_manifests(out)[0].read_text())
    assert "PlaylistTrack" not in [t["name"] for t in manifest["tables"]]
    # Only empty tables chosen: nothing at all is written, not even a manifest.
    with pytest.raises(ingest_module().IngestError, match="every chosen table is empty") as raised:
        ingest_module().ingest(str(source), str(tmp_path / "none"), tables=["PlaylistTrack"], ingest_date=DAY)
    assert raised.value.field == "tables"
    assert _files(tmp_path / "none") == []


def test_a_table_without_a_legal_folder_name_is_refused(tmp_path):
    module = ingest_module()
    source = tmp_path / "odd.sqlite"
    with sqlite3.connect(source) as db:
        for table in ("Album", "My Table"):
            db.execute(f'create table "{table}" (id integer)')
            db.execute(f'insert into "{table}" values (1)')
    with pytest.raises(module.IngestError, match="'My Table' cannot be a raw-zone folder") as raised:
        module.ingest(str(source), str(tmp_path / "out"), ingest_date=DAY)
    assert raised.value.field == "tables"
    assert _files(tmp_path / "out") == []


def test_manifest_only_cli_for_files_loaded_by_other_means(tmp_path):
    out = tmp_path / "lake"
    for table in ("album", "track"):
        part = out / "raw" / table / "ingest_date=2024-03-05" / "part-0000.jsonl"
        part.parent.mkdir(parents=True)
        part.write_text('{"x": 1}\n')
    command = [sys.executable, "-m", "ingest", "--manifest-only", str(out),
               "--tables", "Album", "Track", "--ingest-date", "2024-03-05"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [manifest_path] = _manifests(out)
    manifest = json.loads(manifest_path.read_text())
    assert manifest["ingest_date"] == "2024-03-05" and manifest["source"] is None
    assert [(t["name"], t["rows"], t["keys"]) for t in manifest["tables"]] == [
        ("Album", None, ["raw/album/ingest_date=2024-03-05/part-0000.jsonl"]),
        ("Track", None, ["raw/track/ingest_date=2024-03-05/part-0000.jsonl"]),
    ]
    # A table with no files for that day is refused, and no manifest is written.
    missing = subprocess.run([*command[:5], "--tables", "Genre", "--ingest-date", "2024-03-05"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "tables: table 'Genre' has no objects" in missing.stderr
    assert len(_manifests(out)) == 1
    no_date = subprocess.run(command[:-2], capture_output=True, text=True, timeout=60)
    assert no_date.returncode == 2 and "--ingest-date" in no_date.stderr
    helped = subprocess.run([*command[:3], "--help"], capture_output=True, text=True, timeout=60)
    assert "--manifest-only" in helped.stdout and "manifests/ingest_date=" in helped.stdout
