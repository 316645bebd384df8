"""Fault injection (issue 20): each test injects one fault, checks that nothing is lost and nothing
false is reported, and records a row of `make faults`' table (scripts/testing/faults.py, which also
says how each fault is injected and what is simulated)."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbt_runner import alerts, events, partitions, run_artifacts
from dbt_runner.dbt_run import DbtSession
from scripts.testing.chinook import aws_env, fixture_database, ingest_module, manifest_event, moto_server
from scripts.testing.faults import record
from scripts.testing.runner_env import REPO, env_of

RAW = "faults-raw"
ARTIFACTS = "faults-artifacts"
TABLES = {"Album": "album", "Genre": "genre"}


# --- S3 faults through botocore's event hooks ---------------------------------------------------


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_kwargs):
        yield self.body


def faulty_s3(match, status: int, code: str, times: int):
    """A boto3 S3 client (on moto) whose matching requests get `status`/`code` for the first `times` tries."""
    import boto3
    from botocore.awsrequest import AWSResponse

    client = boto3.client("s3")
    state = {"left": times, "injected": 0}

    def hook(request, **_kwargs):
        if state["left"] > 0 and match(request):
            state["left"] -= 1
            state["injected"] += 1
            body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                    f"<Message>injected by the fault suite</Message></Error>").encode()
            return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Raw(body))
        return None

    client.meta.events.register("before-send.s3", hook)
    return client, state


def put_of(fragment: str):
    return lambda request: request.method == "PUT" and fragment in request.url


@pytest.fixture(scope="module")
def s3():
    with moto_server() as endpoint, aws_env(endpoint):
        import boto3

        client = boto3.client("s3")
        for bucket in (RAW, ARTIFACTS):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
        yield client


@pytest.fixture
def empty_buckets(s3):
    for bucket in (RAW, ARTIFACTS):
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
    return s3


def _lost_tables(client, result: dict) -> int:
    """Tables the ingest reports as published whose object is missing."""
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=RAW).get("Contents", [])}
    return sum(1 for table in result["tables"].values() if table["object"].removeprefix(f"s3://{RAW}/") not in keys)


@pytest.mark.parametrize("status, code, label", [(500, "InternalError", "S3 5xx"), (503, "SlowDown", "S3 throttling")])
def test_transient_s3_errors_while_ingest_publishes_are_retried(empty_buckets, tmp_path, monkeypatch, status, code, label):
    ingest = ingest_module()
    client, state = faulty_s3(put_of("/raw/"), status, code, times=2)
    monkeypatch.setattr(ingest, "_s3_client", lambda: client)
    result = ingest.ingest(str(fixture_database(tmp_path / "c.db")), f"s3://{RAW}", tables=list(TABLES),
                           ingest_date="2024-03-01")
    assert state["injected"] == 2
    lost = _lost_tables(empty_buckets, result)
    assert lost == 0
    assert partitions.newest_s3(empty_buckets, RAW, TABLES) == {t: "2024-03-01" for t in TABLES}
    record(f"{label} ({status} {code}) x2 on ingest PutObject", "retried by botocore; every table and the manifest published", lost)


def test_a_persistent_s3_error_on_the_manifest_leaves_the_day_unread(empty_buckets, tmp_path, monkeypatch, capsys):
    ingest = ingest_module()
    database = str(fixture_database(tmp_path / "c.db"))
    day1 = ingest.ingest(database, f"s3://{RAW}", tables=list(TABLES), ingest_date="2024-03-01")
    client, state = faulty_s3(put_of("/manifests/"), 500, "InternalError", times=100)
    monkeypatch.setattr(ingest, "_s3_client", lambda: client)
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError):
        ingest.ingest(database, f"s3://{RAW}", tables=list(TABLES), ingest_date="2024-03-02")
    assert state["injected"] >= 2  # botocore retried before giving up
    capsys.readouterr()
    # The runner still reads the last complete day and says it skipped the half-published one.
    assert partitions.newest_s3(empty_buckets, RAW, TABLES) == {t: "2024-03-01" for t in TABLES}
    assert "raw_partitions_skipped" in capsys.readouterr().out
    lost = _lost_tables(empty_buckets, day1)
    assert lost == 0
    record("S3 5xx (persistent) on the ingest manifest", "ingest fails; day not read (skipped, logged); last complete day stays", lost)


# --- the runner's artifacts under S3 faults -----------------------------------------------------


def _run_summaries(client) -> list[dict]:
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=ARTIFACTS, Prefix="runs/").get("Contents", [])]
    return [json.loads(client.get_object(Bucket=ARTIFACTS, Key=k)["Body"].read()) for k in keys if k.endswith("summary.json")]


@pytest.mark.parametrize("status, code, times, label", [
    (500, "InternalError", 100, "S3 5xx (persistent) on latest/pointer.json"),
    (503, "SlowDown", 2, "S3 throttling x2 on every artifact upload"),
])
def test_artifact_upload_faults_never_lose_the_run_or_mix_latest(handler_module, empty_buckets, tiny, context, monkeypatch,
                                                                   status, code, times, label):
    monkeypatch.setenv("ARTIFACTS_BUCKET_NAME", ARTIFACTS)
    monkeypatch.setattr(handler_module, "SESSION", DbtSession())
    first = handler_module.handler({"command": ["build"]}, context)
    match = put_of("latest/pointer.json") if times > 2 else (lambda request: request.method == "PUT")
    client, state = faulty_s3(match, status, code, times)
    monkeypatch.setattr(run_artifacts, "store_for", lambda local, env=None: run_artifacts.S3Store(ARTIFACTS, client))
    second = handler_module.handler({"command": ["build"]}, context)
    assert second["status"] == "success" and state["injected"] >= 2
    latest = run_artifacts.read_latest(run_artifacts.S3Store(ARTIFACTS, empty_buckets))
    ids = {s["invocation_id"] for s in _run_summaries(empty_buckets)}
    lost = len({first["invocation_id"], second["invocation_id"]} - ids)
    assert lost == 0
    leftover = empty_buckets.list_objects_v2(Bucket=ARTIFACTS, Prefix="in_progress/").get("Contents", [])
    assert leftover == []
    if times > 2:
        assert latest.invocation_id == first["invocation_id"]  # the pointer never moved: no mixed latest/
        outcome = "run returned; its record stored; latest/ stays the previous build (pointer not moved)"
    else:
        assert latest.invocation_id == second["invocation_id"]
        outcome = "retried by botocore; run record and latest/ stored"
    record(label, outcome, lost)


# --- SIGKILL mid-build ---------------------------------------------------------------------------

SLOW_MODEL = '''
import time


def model(dbt, session):
    dbt.config(materialized="table")
    time.sleep(120)  # killed long before this ends
    return session.sql("select 1 as n")
'''


def test_sigkill_mid_build_becomes_one_timed_out_run_with_one_alert(handler_module, tiny, context, monkeypatch):
    project, data = tiny
    (project / "models" / "slow.py").write_text(SLOW_MODEL)
    env = env_of(DBT_PROJECT_DIR=str(project), LOCAL_DATA_DIR=str(data), ENVIRONMENT="local",
                 DBT_RUN_TIMEOUT_SECONDS="3", DBT_LOG_LEVEL="warn")
    runner = subprocess.Popen(
        [sys.executable, "-c", "from dbt_runner import handler; handler.handler({'command': ['build']}, None)"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    records = data / "artifacts" / "in_progress"
    try:
        deadline = time.monotonic() + 180
        while not list(records.glob("*.json")):
            assert runner.poll() is None, "the runner ended before it was killed"
            assert time.monotonic() < deadline, "no in-progress record"
            time.sleep(0.2)
        time.sleep(3)  # dbt is under way (the slow model sleeps)
        assert runner.poll() is None
    finally:
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(timeout=30)
    assert runner.returncode == -signal.SIGKILL
    assert not list((data / "artifacts").glob("runs/*/*/summary.json"))  # the killed run stored nothing itself

    sent: list[str] = []
    monkeypatch.setenv("ALERT_TOPIC_ARN", "arn:aws:sns:ap-southeast-2:123456789012:local-dbt-alerts")
    monkeypatch.setattr(alerts, "publish", lambda topic, subject, body, client=None: sent.append(body) or "m")
    (project / "models" / "slow.py").unlink()
    handler_module.handler({"command": ["ls"]}, context)  # the next invocation
    handler_module.handler({"command": ["ls"]}, context)  # and the one after: no second alert
    summaries = [json.loads(p.read_text()) for p in (data / "artifacts").glob("runs/*/*/summary.json")]
    timed_out = [s for s in summaries if s["status"] == "timed_out"]
    assert len(timed_out) == 1 and timed_out[0]["command"] == ["build"] and len(sent) == 1
    assert not list(records.glob("*.json"))
    lost = 1 - len(timed_out)
    record("SIGKILL of the runner mid-build", "next invocation records a timed-out run; one alert", lost)


# --- ingest inputs and /tmp -----------------------------------------------------------------------


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_full_tmp_publishes_nothing_and_says_which_limit_to_raise(tmp_path, monkeypatch):
    ingest = ingest_module()
    lake = tmp_path / "lake"
    database = str(fixture_database(tmp_path / "c.db"))
    ingest.ingest(database, str(lake), tables=["Album"], ingest_date="2024-03-01")
    before = {p: p.read_bytes() for p in _files(lake)}

    def no_space(*_args, **_kwargs):  # simulated: see scripts/testing/faults.py
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ingest, "_export", no_space)
    with pytest.raises(ingest.IngestError, match="ephemeralStorage"):
        ingest.ingest(database, str(lake), tables=["Album"], ingest_date="2024-03-02")
    after = {p: p.read_bytes() for p in _files(lake)}
    lost = sum(1 for p, body in before.items() if after.get(p) != body)
    assert after == before and lost == 0
    record("full /tmp (ENOSPC, simulated) during export", "IngestError: /tmp is full, raise ephemeralStorage; nothing published", lost)


def test_a_malformed_manifest_is_refused_and_never_counts(tmp_path, capsys):
    ingest = ingest_module()
    lake = tmp_path / "lake"
    ingest.ingest(str(fixture_database(tmp_path / "c.db")), str(lake), tables=["Album"], ingest_date="2024-03-01")
    part = lake / "raw" / "album" / "ingest_date=2024-03-02" / "part-0000.jsonl"
    part.parent.mkdir(parents=True)
    part.write_text('{"AlbumId": 1}\n')
    bad = lake / "manifests" / "ingest_date=2024-03-02" / "20240302T000000Z-0a1b2c3d4e5f.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"format": "dbt-lambda/ingest-manifest", "tables": [{"folder": "album", ')
    from dbt_runner import ingest_manifests

    with pytest.raises(events.EventError):
        events.parse(manifest_event(bad, lake), default_command=("build",), raw_tables=lambda: TABLES,
                     raw_bucket="local", read_object=ingest_manifests.local_reader(lake))
    capsys.readouterr()
    assert partitions.newest_local(lake, {"Album": "album"}) == {"Album": "2024-03-01"}
    assert "ingest_manifest_unreadable" in capsys.readouterr().out
    record("malformed ingest manifest", "its event is refused (EventError); its day never counts; logged", 0)


def test_a_future_date_is_refused(tmp_path):
    ingest = ingest_module()
    lake = tmp_path / "lake"
    future = (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=2)).isoformat()
    with pytest.raises(ingest.IngestError, match="ingest_date"):
        ingest.ingest(str(fixture_database(tmp_path / "c.db")), str(lake), ingest_date=future)
    assert _files(lake) == []
    record("future ingest_date", "IngestError naming ingest_date; nothing written", 0)


def test_a_half_written_day_is_skipped(tmp_path, capsys):
    ingest = ingest_module()
    lake = tmp_path / "lake"
    database = str(fixture_database(tmp_path / "c.db"))
    ingest.ingest(database, str(lake), tables=list(TABLES), ingest_date="2024-03-01")
    # The ingest of the 2nd died after publishing Album, before its manifest.
    part = lake / "raw" / "album" / "ingest_date=2024-03-02" / "part-0000.jsonl"
    part.parent.mkdir(parents=True)
    part.write_text('{"AlbumId": 1}\n')
    capsys.readouterr()
    assert partitions.newest_local(lake, TABLES) == {t: "2024-03-01" for t in TABLES}
    assert "raw_partitions_skipped" in capsys.readouterr().out
    record("half-written day (no manifest)", "runner reads the last complete day; skipped day logged", 0)


def test_an_empty_source_publishes_nothing_and_the_previous_snapshot_stays(tmp_path):
    import sqlite3

    ingest = ingest_module()
    lake = tmp_path / "lake"
    database = fixture_database(tmp_path / "c.db")
    ingest.ingest(str(database), str(lake), tables=["Genre"], ingest_date="2024-03-01")
    before = _files(lake)
    with sqlite3.connect(database) as connection:
        connection.execute("delete from Genre")
    with pytest.raises(ingest.IngestError, match="empty"):
        ingest.ingest(str(database), str(lake), tables=["Genre"], ingest_date="2024-03-02")
    assert _files(lake) == before
    assert partitions.newest_local(lake, {"Genre": "genre"}) == {"Genre": "2024-03-01"}
    record("empty source table", "IngestError (every chosen table empty); previous snapshot stays the newest", 0)


def test_a_template_that_breaks_the_shipped_parse_check_ships_no_parse(tmp_path):
    project = tmp_path / "dbt"
    files = {
        "dbt_project.yml": "name: tiny\nversion: '1.0.0'\nconfig-version: 2\nprofile: tiny\n",
        "profiles.yml": ("tiny:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n"
                         "      path: \"{{ env_var('LOCAL_DATA_DIR') }}/tiny.duckdb\"\n"),
        "models/schema_named.sql": "{{ config(schema=env_var('GLUE_DATABASE_NAME') | replace('-', '_')) }}\nselect 1 as n\n",
    }
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    done = subprocess.run([sys.executable, "-m", "scripts.packaging.ship_parse", "--project", str(project),
                           "--out", str(tmp_path / "out"), "--target", "local",
                           "--variables", "LOCAL_DATA_DIR,GLUE_DATABASE_NAME"],
                          cwd=REPO, env=env_of(PYTHONHASHSEED="0"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "local: refused: model.tiny.schema_named" in done.stdout
    assert list((tmp_path / "out").glob("*.pickle")) == []
    record("template transforming a rebound variable (| replace)", "ship_parse refuses, naming the model; no parse shipped", 0)
