"""Issue 20, finding 2: the runner reads only partitions whose ingest finished (wrote its manifest),
and logs the newer ones it skipped. Locally and on S3 (moto)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbt_runner import partitions
from scripts.testing.chinook import aws_env, fixture_database, ingest_module, moto_server

TABLES = {"Album": "album", "Genre": "genre"}


def _half_written(root: Path, day: str, folder: str) -> None:
    """A partition an ingest published before it failed (no manifest lists it)."""
    part = root / "raw" / folder / f"ingest_date={day}" / "part-0000.jsonl"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_text('{"x": 1}\n')


def _skipped(out: str) -> list[dict]:
    return [r for r in map(json.loads, filter(None, out.splitlines())) if r["event"] == "raw_partitions_skipped"]


def test_local_listing_takes_the_newest_manifested_day_and_logs_the_half_written_one(tmp_path, capsys):
    database = fixture_database(tmp_path / "c.db")
    lake = tmp_path / "lake"
    ingest_module().ingest(str(database), str(lake), tables=["Album", "Genre"], ingest_date="2024-03-01")
    ingest_module().ingest(str(database), str(lake), tables=["Genre"], ingest_date="2024-03-02")
    _half_written(lake, "2024-03-03", "album")  # the ingest of the 3rd died after Album
    capsys.readouterr()
    assert partitions.newest_local(lake, TABLES) == {"Album": "2024-03-01", "Genre": "2024-03-02"}
    [skipped] = _skipped(capsys.readouterr().out)
    assert skipped["partitions"] == {"Album": ["2024-03-03"]}


def test_a_malformed_manifest_does_not_make_its_day_complete(tmp_path, capsys):
    database = fixture_database(tmp_path / "c.db")
    lake = tmp_path / "lake"
    ingest_module().ingest(str(database), str(lake), tables=["Album"], ingest_date="2024-03-01")
    _half_written(lake, "2024-03-02", "album")
    bad = lake / "manifests" / "ingest_date=2024-03-02" / "20240302T000000Z-bad.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"format": "dbt-lambda/ingest-manifest", "tables": [{"folder": "album"')
    capsys.readouterr()
    assert partitions.newest_local(lake, {"Album": "album"}) == {"Album": "2024-03-01"}
    events = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    assert "ingest_manifest_unreadable" in events and "raw_partitions_skipped" in events


@pytest.fixture(scope="module")
def s3():
    with moto_server() as endpoint, aws_env(endpoint):
        import boto3

        client = boto3.client("s3")
        client.create_bucket(Bucket="raw-bucket", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
        yield client


def test_s3_listing_skips_a_half_written_day(s3, tmp_path, capsys):
    database = fixture_database(tmp_path / "c.db")
    ingest_module().ingest(str(database), "s3://raw-bucket", tables=["Album", "Genre"], ingest_date="2024-03-01")
    s3.put_object(Bucket="raw-bucket", Key="raw/album/ingest_date=2024-03-04/part-0000.jsonl", Body=b'{"x": 1}\n')
    capsys.readouterr()
    assert partitions.newest_s3(s3, "raw-bucket", TABLES) == {"Album": "2024-03-01", "Genre": "2024-03-01"}
    [skipped] = _skipped(capsys.readouterr().out)
    assert skipped["partitions"] == {"Album": ["2024-03-04"]}
