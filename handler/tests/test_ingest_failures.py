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
