"""Issue 20 on the ingest side: future dates refused (1), clear errors (11), JSON logs and a
published summary (9)."""

from __future__ import annotations

import datetime as dt
import errno
import json
import sqlite3
from pathlib import Path

import pytest

from scripts.testing.chinook import fixture_database, ingest_module


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


@pytest.fixture
def db(tmp_path) -> Path:
    return fixture_database(tmp_path / "chinook.sqlite")


def test_a_future_ingest_date_is_refused_and_nothing_is_written(tmp_path, db):
    ingest = ingest_module()
    out = tmp_path / "lake"
    tomorrow = _today() + dt.timedelta(days=1)
    with pytest.raises(ingest.IngestError) as raised:
        ingest.ingest(str(db), str(out), ingest_date=tomorrow.isoformat())
    assert raised.value.field == "ingest_date"
    assert "ingest_date" in str(raised.value) and "future" in str(raised.value)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))
    with pytest.raises(ingest.IngestError, match="ingest_date"):
        ingest.write_manifest(str(out), ["Album"], tomorrow)
    # Today is still fine.
    assert ingest.ingest(str(db), str(out), tables=["Genre"], ingest_date=_today())["ingest_date"] == _today().isoformat()


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_ingest_logs_json_at_info_through_the_runners_logger_under_lambdas_text_format(tmp_path, db, capsys):
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # what Lambda's runtime leaves with logFormat: Text
    try:
        result = ingest_module().ingest(str(db), str(tmp_path / "lake"), tables=["Genre", "Album"],
                                        ingest_date="2024-03-01")
    finally:
        root.setLevel(level)
    records = _records(capsys.readouterr().out)
    events = [r["event"] for r in records]
    assert events.count("exported") == 2 and events.count("published") == 2 and "manifest" in events
    assert all({"time", "level", "event"} <= set(r) for r in records)
    assert {r["level"] for r in records} == {"info"}
    # The manifest is the summary object of what the ingest published: every table, its rows and keys.
    manifest = json.loads(Path(result["manifest"]).read_text())
    assert {t["name"]: t["rows"] for t in manifest["tables"]} == {n: t["rows"] for n, t in result["tables"].items()}


def test_an_infinite_float_names_the_table_and_column(tmp_path):
    path = tmp_path / "inf.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("create table Reading (ReadingId integer, Value real)")
        connection.execute("insert into Reading values (1, 1.5), (2, 9e999)")
    ingest = ingest_module()
    out = tmp_path / "lake"
    with pytest.raises(ingest.IngestError) as raised:
        ingest.ingest(str(path), str(out), ingest_date="2024-03-01")
    message = str(raised.value)
    assert "Reading" in message and "Value" in message and "infinite" in message
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_tmp_during_export_says_so_and_publishes_nothing(tmp_path, db, monkeypatch):
    # Simulated: a real full /tmp needs a small tmpfs mount, which the test machines do not give;
    # the OSError is the one the kernel raises (errno ENOSPC), raised where the export writes.
    ingest = ingest_module()
    monkeypatch.setattr(ingest, "_export", _no_space)
    out = tmp_path / "lake"
    with pytest.raises(ingest.IngestError) as raised:
        ingest.ingest(str(db), str(out), ingest_date="2024-03-01")
    message = str(raised.value)
    assert "/tmp is full" in message and "ephemeralStorage" in message
    assert not [p for p in out.rglob("*") if p.is_file()] if out.exists() else True


def test_a_full_tmp_during_the_download_says_so(tmp_path, monkeypatch):
    ingest = ingest_module()

    class Client:
        download_file = staticmethod(_no_space)

    monkeypatch.setattr(ingest, "_s3_client", lambda: Client())
    with pytest.raises(ingest.IngestError, match=r"/tmp is full.*ephemeralStorage"):
        ingest.ingest("s3://landing-bucket/chinook.sqlite", str(tmp_path / "lake"), ingest_date="2024-03-01")
