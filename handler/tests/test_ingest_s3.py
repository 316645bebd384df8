"""Ingestion through S3 against a real moto_server: SQLite object in, raw JSON lines objects out."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from dbt_project_helpers import TABLES, aws_env, ingest_module, moto_server, sample_data

RAW = "test-raw-bucket"
LANDING = "test-landing-bucket"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto_server with a landing bucket holding the sample database and an empty raw bucket."""
    path = tmp_path_factory.mktemp("s3") / "chinook.sqlite"
    counts = sample_data().generate(path, scale=1, seed=42)
    with moto_server() as endpoint, aws_env(endpoint):
        import boto3

        client = boto3.client("s3")
        for bucket in (RAW, LANDING):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
        client.upload_file(str(path), LANDING, "incoming/chinook.sqlite")
        yield client, path, counts


def _keys(client, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


@pytest.fixture
def empty_raw(s3):
    client = s3[0]
    for key in _keys(client, RAW):
        client.delete_object(Bucket=RAW, Key=key)
    return client


def test_lambda_handler_ingests_every_table_into_the_raw_bucket(s3, empty_raw, monkeypatch):
    client, path, counts = s3
    monkeypatch.setenv("RAW_BUCKET_NAME", RAW)
    result = ingest_module().handler(
        {"source": f"s3://{LANDING}/incoming/chinook.sqlite", "ingest_date": "2024-05-06"}, None
    )
    assert result["ingest_date"] == "2024-05-06"
    assert result["elapsed_seconds"] >= 0
    expected_keys = sorted(f"raw/{t}/ingest_date=2024-05-06/part-0000.jsonl" for t in TABLES)
    assert _keys(client, RAW) == expected_keys
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        for table in TABLES:
            key = f"raw/{table}/ingest_date=2024-05-06/part-0000.jsonl"
            assert result["tables"][table] == {"rows": counts[table], "object": f"s3://{RAW}/{key}"}
            body = client.get_object(Bucket=RAW, Key=key)["Body"].read().decode()
            rows = [json.loads(line) for line in body.splitlines()]
            assert rows == [dict(r) for r in db.execute(f"select * from {table}")]


def test_chosen_tables_from_s3_to_s3(s3, empty_raw):
    result = ingest_module().ingest(
        f"s3://{LANDING}/incoming/chinook.sqlite", f"s3://{RAW}", tables=["genres"], ingest_date="2024-05-07"
    )
    assert result["tables"] == {
        "genres": {"rows": 25, "object": f"s3://{RAW}/raw/genres/ingest_date=2024-05-07/part-0000.jsonl"}
    }
    assert _keys(empty_raw, RAW) == ["raw/genres/ingest_date=2024-05-07/part-0000.jsonl"]


def test_local_source_to_s3(s3, empty_raw):
    _, path, counts = s3
    result = ingest_module().ingest(str(path), f"s3://{RAW}/", tables=["artists"], ingest_date="2024-05-08")
    assert result["tables"]["artists"]["rows"] == counts["artists"]
    assert _keys(empty_raw, RAW) == ["raw/artists/ingest_date=2024-05-08/part-0000.jsonl"]


@pytest.mark.parametrize(
    ("source", "destination", "tables", "field", "message"),
    [
        (f"s3://{LANDING}/incoming/missing.sqlite", f"s3://{RAW}", None, "source", "cannot read"),
        (f"s3://{LANDING}/incoming/chinook.sqlite", "s3://no-such-raw-bucket", None, "destination", "not reachable"),
        (f"s3://{LANDING}/incoming/chinook.sqlite", f"s3://{RAW}", ["artists", "nope"], "tables", "unknown table"),
        (f"s3://{LANDING}/incoming/readme.txt", f"s3://{RAW}", None, "source", "not a SQLite database"),
    ],
)
def test_bad_s3_input_uploads_nothing(s3, empty_raw, source, destination, tables, field, message):
    empty_raw.put_object(Bucket=LANDING, Key="incoming/readme.txt", Body=b"not a database")
    module = ingest_module()
    with pytest.raises(module.IngestError, match=message) as raised:
        module.ingest(source, destination, tables=tables, ingest_date="2024-05-09")
    assert raised.value.field == field
    assert _keys(empty_raw, RAW) == []


def test_no_temporary_files_left_behind(s3, empty_raw, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ingest_module().ingest(f"s3://{LANDING}/incoming/chinook.sqlite", f"s3://{RAW}", ingest_date="2024-05-10")
    assert list(Path(tmp_path).iterdir()) == []
