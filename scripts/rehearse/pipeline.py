"""The seed pipeline on the deployed stack: the real ingest handler, the deployed trigger rule,
the runner's real event parser. Lambda code does not run on the emulator, so the handlers run
here, with the deployed functions' own environment and the emulator as their AWS.

One ingest of a database in the public Chinook DDL must write every table, then exactly one
object that the deployed raw-trigger rule matches (EventBridge's TestEventPattern), and the
runner must turn that one event into one build of every ingested table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

from dbt_runner import events as runner_events
from dbt_runner import ingest_manifests, project
# The tests' hand-written rows in the public DDL: NULLs, non-ASCII names, dates as text.
from scripts.testing.chinook import fixture_database


class PipelineFailed(RuntimeError):
    pass


def s3_event(bucket: str, key: str, account: str, region: str) -> dict[str, Any]:
    """An S3 `Object Created` event as S3 sends it to EventBridge."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": "2026-12-01T00:00:00Z",
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 1, "etag": "0", "sequencer": "0"},
            "request-id": "0",
            "requester": account,
            "reason": "PutObject",
        },
    }


def run_ingest(function_env: dict[str, str], aws_env: dict[str, str]) -> dict[str, Any]:
    """`ingest.handler.handler({})` in a fresh interpreter with the deployed function's environment."""
    code = "import json; from ingest.handler import handler; print(json.dumps(handler({})))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(function_env)
    env.update(aws_env)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise PipelineFailed(f"ingest.handler failed:\n{done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rehearse_seed_pipeline(client, function_name: str, ingest_name: str, rule_name: str, aws_env: dict[str, str]) -> str:
    s3, events, lam = client("s3"), client("events"), client("lambda")
    ingest_env = lam.get_function_configuration(FunctionName=ingest_name)["Environment"]["Variables"]
    bucket, source_key = ingest_env["RAW_BUCKET_NAME"], ingest_env["INGEST_SOURCE_KEY"]
    with tempfile.TemporaryDirectory() as tmp:
        s3.upload_file(str(fixture_database(Path(tmp) / "chinook.db")), bucket, source_key)
    before = _keys(s3, bucket)
    result = run_ingest(ingest_env, aws_env)
    written = sorted(_keys(s3, bucket) - before)
    if not written:
        raise PipelineFailed("the ingest wrote nothing")

    pattern = events.describe_rule(Name=rule_name)["EventPattern"]
    account, region = client("sts").get_caller_identity()["Account"], s3.meta.region_name
    matched = [key for key in written
               if events.test_event_pattern(EventPattern=pattern, Event=json.dumps(s3_event(bucket, key, account, region)))["Result"]]
    manifest = result["manifest"].removeprefix(f"s3://{bucket}/")
    if matched != [manifest]:
        raise PipelineFailed(f"{len(written)} objects written; the rule matched {matched}, expected only the manifest {manifest!r}")

    request = _parse(s3_event(bucket, matched[0], account, region), client, bucket, lam, function_name)
    selection = list(request.cli_args[request.cli_args.index("--select") + 1:])
    wanted = {f"source:raw.{name}+" for name in result["tables"]}
    if request.command != ("build",) or not wanted <= set(selection):
        raise PipelineFailed(f"the runner would run {request.command} {selection}, not one build of {sorted(wanted)}")
    return (f"{len(result['tables'])} tables, {len(written)} objects; the rule matched 1 (the manifest); "
            f"one build of {len(wanted)} sources")


def _parse(event, client, bucket: str, lam, function_name: str):
    """The runner's own event parser, with the deployed runner's RAW_BUCKET_NAME and our project."""
    runner_env = lam.get_function_configuration(FunctionName=function_name)["Environment"]["Variables"]
    if runner_env["RAW_BUCKET_NAME"] != bucket:
        raise PipelineFailed(f"the runner reads {runner_env['RAW_BUCKET_NAME']}, the ingest writes {bucket}")
    return runner_events.parse(
        event,
        default_command=("build",),
        raw_tables=lambda: project.raw_tables(ROOT / "dbt"),
        raw_bucket=runner_env["RAW_BUCKET_NAME"],
        read_object=ingest_manifests.s3_reader(client("s3")),
    )


def _keys(s3, bucket: str) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}
