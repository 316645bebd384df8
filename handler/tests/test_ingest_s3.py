"""Ingestion through S3 against a real moto_server: SQLite object in, raw JSON lines objects and one
manifest out; the runner's event parser turns that manifest's event into one build."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from scripts.testing.chinook import DBT_DIR, TABLES, aws_env, fixture_database, folder, ingest_module, moto_server, sample_data

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


def _keys(client, bucket: str, prefix: str = "raw/") -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


@pytest.fixture
def empty_raw(s3):
    client = s3[0]
    for key in _keys(client, RAW, prefix=""):
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
    expected_keys = sorted(f"raw/{folder(t)}/ingest_date=2024-05-06/part-0000.jsonl" for t in TABLES)
    assert _keys(client, RAW) == expected_keys
    assert _keys(client, RAW, "manifests/") == [f"manifests/ingest_date=2024-05-06/{result['ingest_id']}.json"]
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        for table in TABLES:
            key = f"raw/{folder(table)}/ingest_date=2024-05-06/part-0000.jsonl"
            assert result["tables"][table] == {"rows": counts[table], "object": f"s3://{RAW}/{key}"}
            body = client.get_object(Bucket=RAW, Key=key)["Body"].read().decode()
            rows = [json.loads(line) for line in body.splitlines()]
            assert rows == [dict(r) for r in db.execute(f"select * from [{table}]")]


def test_chosen_tables_from_s3_to_s3(s3, empty_raw):
    result = ingest_module().ingest(
        f"s3://{LANDING}/incoming/chinook.sqlite", f"s3://{RAW}", tables=["Genre"], ingest_date="2024-05-07"
    )
    assert result["tables"] == {
        "Genre": {"rows": 25, "object": f"s3://{RAW}/raw/genre/ingest_date=2024-05-07/part-0000.jsonl"}
    }
    assert _keys(empty_raw, RAW) == ["raw/genre/ingest_date=2024-05-07/part-0000.jsonl"]


def test_local_source_to_s3(s3, empty_raw):
    _, path, counts = s3
    result = ingest_module().ingest(str(path), f"s3://{RAW}/", tables=["Artist"], ingest_date="2024-05-08")
    assert result["tables"]["Artist"]["rows"] == counts["Artist"]
    assert _keys(empty_raw, RAW) == ["raw/artist/ingest_date=2024-05-08/part-0000.jsonl"]


@pytest.mark.parametrize(
    ("source", "destination", "tables", "field", "message"),
    [
        (f"s3://{LANDING}/incoming/missing.sqlite", f"s3://{RAW}", None, "source", "cannot read"),
        (f"s3://{LANDING}/incoming/chinook.sqlite", "s3://no-such-raw-bucket", None, "destination", "not reachable"),
        (f"s3://{LANDING}/incoming/chinook.sqlite", f"s3://{RAW}", ["Artist", "nope"], "tables", "unknown table"),
        (f"s3://{LANDING}/incoming/readme.txt", f"s3://{RAW}", None, "source", "not a SQLite database"),
    ],
)
def test_bad_s3_input_uploads_nothing(s3, empty_raw, source, destination, tables, field, message):
    empty_raw.put_object(Bucket=LANDING, Key="incoming/readme.txt", Body=b"not a database")
    module = ingest_module()
    with pytest.raises(module.IngestError, match=message) as raised:
        module.ingest(source, destination, tables=tables, ingest_date="2024-05-09")
    assert raised.value.field == field
    assert _keys(empty_raw, RAW, prefix="") == []


def test_no_temporary_files_left_behind(s3, empty_raw, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ingest_module().ingest(f"s3://{LANDING}/incoming/chinook.sqlite", f"s3://{RAW}", ingest_date="2024-05-10")
    assert list(Path(tmp_path).iterdir()) == []


# --- the seed's pipeline: the default source, the manifest, the runner's parse ------------------


def _manifest_event(key: str) -> dict:
    return {"version": "0", "id": "4d1f2a", "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": "2024-05-11T01:02:03Z", "region": "ap-southeast-2",
            "resources": [f"arn:aws:s3:::{RAW}"],
            "detail": {"version": "0", "bucket": {"name": RAW}, "object": {"key": key, "size": 1200},
                       "reason": "PutObject"}}


@pytest.mark.parametrize("event", [{}, {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}])
def test_default_source_to_one_manifest_to_one_build_over_every_table(s3, empty_raw, tmp_path, monkeypatch, event):
    """db/chinook.db in the raw bucket (public DDL) -> ingest.handler -> manifest -> the runner's event parser."""
    from dbt_runner import events
    from dbt_runner import ingest_manifests
    from dbt_runner import partitions
    from dbt_runner import project

    client = empty_raw
    database = fixture_database(tmp_path / "chinook.db")
    client.upload_file(str(database), RAW, "db/chinook.db")
    monkeypatch.setenv("RAW_BUCKET_NAME", RAW)
    monkeypatch.delenv("INGEST_SOURCE_KEY", raising=False)
    result = ingest_module().handler(event, None)
    assert sorted(result["tables"]) == TABLES and result["skipped"] == {}

    [key] = _keys(client, RAW, "manifests/")
    assert key == f"manifests/ingest_date={result['ingest_date']}/{result['ingest_id']}.json"
    manifest = json.loads(client.get_object(Bucket=RAW, Key=key)["Body"].read())
    assert manifest["source"] == f"s3://{RAW}/db/chinook.db"
    for entry in manifest["tables"]:
        assert _keys(client, RAW, f"raw/{entry['folder']}/") == entry["keys"]

    request = events.parse(_manifest_event(key), default_command=("build",),
                           raw_tables=lambda: project.raw_tables(DBT_DIR), raw_bucket=RAW,
                           read_object=ingest_manifests.s3_reader(client))
    assert request.command == ("build",) and request.trigger == "manifest"
    assert request.cli_args == ("--select", *(f"source:raw.{t}+" for t in TABLES), "resource_type:seed")
    # What the runner passes dbt as the partitions to read: the day just ingested, for every table.
    assert partitions.newest_s3(client, RAW, project.raw_tables(DBT_DIR)) == {t: result["ingest_date"] for t in TABLES}


def test_another_source_key_and_a_newer_day_are_what_the_runner_lists(s3, empty_raw, tmp_path, monkeypatch):
    from dbt_runner import partitions

    client = empty_raw
    client.upload_file(str(fixture_database(tmp_path / "c.db")), RAW, "landing/other.db")
    monkeypatch.setenv("RAW_BUCKET_NAME", RAW)
    monkeypatch.setenv("INGEST_SOURCE_KEY", "landing/other.db")
    module = ingest_module()
    module.handler({"tables": ["Album"], "source": f"s3://{RAW}/landing/other.db", "ingest_date": "2024-05-12"}, None)
    module.handler({"tables": ["Album"], "source": f"s3://{RAW}/landing/other.db", "ingest_date": "2024-05-11"}, None)
    # A late backfill of an older day does not move staging back.
    assert partitions.newest_s3(client, RAW, {"Album": "album", "Track": "track"}) == {"Album": "2024-05-12"}
    # The default source follows INGEST_SOURCE_KEY.
    result = module.handler({}, None)
    assert len(result["tables"]) == len(TABLES)


def test_same_day_reingest_replaces_that_days_objects_in_s3(s3, empty_raw, tmp_path):
    client = empty_raw
    client.put_object(Bucket=RAW, Key="raw/genre/ingest_date=2024-05-13/part-0001.jsonl", Body=b'{"GenreId": 99}\n')
    client.put_object(Bucket=RAW, Key="raw/genre/ingest_date=2024-05-12/part-0000.jsonl", Body=b'{"GenreId": 98}\n')
    ingest_module().ingest(str(fixture_database(tmp_path / "c.db")), f"s3://{RAW}", tables=["Genre"],
                           ingest_date="2024-05-13")
    assert _keys(client, RAW) == ["raw/genre/ingest_date=2024-05-12/part-0000.jsonl",
                                  "raw/genre/ingest_date=2024-05-13/part-0000.jsonl"]


def test_manifest_only_in_s3_lists_the_loaded_files(s3, empty_raw):
    client = empty_raw
    client.put_object(Bucket=RAW, Key="raw/album/ingest_date=2024-05-14/part-0000.jsonl", Body=b'{"AlbumId": 1}\n')
    client.put_object(Bucket=RAW, Key="raw/album/ingest_date=2024-05-14/part-0001.jsonl", Body=b'{"AlbumId": 2}\n')
    written = ingest_module().write_manifest(f"s3://{RAW}", ["Album"], "2024-05-14")
    [key] = _keys(client, RAW, "manifests/ingest_date=2024-05-14/")
    assert written["manifest"] == f"s3://{RAW}/{key}"
    assert json.loads(client.get_object(Bucket=RAW, Key=key)["Body"].read())["tables"] == [
        {"name": "Album", "folder": "album", "rows": None,
         "keys": ["raw/album/ingest_date=2024-05-14/part-0000.jsonl", "raw/album/ingest_date=2024-05-14/part-0001.jsonl"]}]


def test_runner_lists_partitions_in_the_raw_bucket_and_falls_back_when_it_cannot(s3, empty_raw, monkeypatch, capsys):
    from dbt_runner import events
    from dbt_runner import partitions
    from dbt_runner import settings

    client = empty_raw
    client.put_object(Bucket=RAW, Key="raw/album/ingest_date=2024-05-15/part-0000.jsonl", Body=b'{"AlbumId": 1}\n')
    # Only a partition an ingest manifest lists counts (issue 20): files loaded by other means get one.
    monkeypatch.setenv("RAW_BUCKET_NAME", RAW)
    ingest_module().write_manifest(f"s3://{RAW}", ["album"], "2024-05-15")
    monkeypatch.setenv("ENVIRONMENT", "dev")
    monkeypatch.setenv("RAW_BUCKET_NAME", RAW)
    build = events.Request("invoke", ("build",), (), "cli_args")
    assert partitions.runtime_vars(build, settings.load(), s3_client=client) == {
        "raw_ingest_dates": {"Album": "2024-05-15"}}
    # Commands that compile nothing need no listing.
    assert partitions.runtime_vars(events.Request("invoke", ("test",), (), "cli_args"), settings.load(), client) == {}
    # A bucket the runner cannot list: a warning, and staging's max() fallback (no dates).
    monkeypatch.setenv("RAW_BUCKET_NAME", "no-such-raw-bucket")
    capsys.readouterr()
    assert partitions.runtime_vars(build, settings.load(), s3_client=client) == {}
    [line] = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert line["event"] == "raw_partitions_unknown" and "NoSuchBucket" in line["error"]


def test_the_ingest_function_needs_only_the_calls_its_role_grants(s3, empty_raw, tmp_path, monkeypatch):
    """GetObject on the source key; ListBucket under raw/; PutObject under raw/ and manifests/;
    DeleteObject under raw/ (HeadObject, made by the download, is authorised by s3:GetObject)."""
    import boto3

    client = empty_raw
    client.upload_file(str(fixture_database(tmp_path / "c.db")), RAW, "db/chinook.db")
    client.put_object(Bucket=RAW, Key="raw/album/ingest_date=2024-05-16/part-0009.jsonl", Body=b"{}\n")
    calls: list[tuple[str, str, str]] = []
    recorder = boto3.client("s3")

    def record(params, model, **_):
        key = params.get("Key") or params.get("Prefix") or ""
        calls.append((model.name, params.get("Bucket"), key))

    recorder.meta.events.register("before-parameter-build.s3.*", record)
    module = ingest_module()
    monkeypatch.setattr(module, "_s3_client", lambda: recorder)
    monkeypatch.setenv("RAW_BUCKET_NAME", RAW)
    monkeypatch.delenv("INGEST_SOURCE_KEY", raising=False)
    module.handler({"ingest_date": "2024-05-16", "source": f"s3://{RAW}/db/chinook.db"}, None)

    allowed = {
        "HeadObject": lambda key: key == "db/chinook.db",
        "GetObject": lambda key: key == "db/chinook.db",
        "ListObjectsV2": lambda key: key.startswith("raw/"),
        "PutObject": lambda key: key.startswith(("raw/", "manifests/")),
        "DeleteObject": lambda key: key.startswith("raw/"),
    }
    assert calls, "no S3 calls were recorded"
    for operation, bucket, key in calls:
        assert bucket == RAW and operation in allowed and allowed[operation](key), (operation, key)
    assert ("DeleteObject", RAW, "raw/album/ingest_date=2024-05-16/part-0009.jsonl") in calls
    assert calls[-1][0] == "PutObject" and calls[-1][2].startswith("manifests/ingest_date=2024-05-16/")
