"""Ingestion: copy the tables of a SQLite database into the raw zone as JSON lines.

    raw/<table>/ingest_date=YYYY-MM-DD/part-0000.jsonl

The source is a local path or s3://bucket/key; the destination a local folder or
s3://bucket. Rows are streamed through temporary files, so memory stays flat
whatever the size. Every input is checked, and every table exported, before the
first object is published: a bad input writes nothing.

Lambda entry: ingest.handler, event {"source": "s3://...", "tables": [...]?,
"ingest_date": "YYYY-MM-DD"?}; the destination is the RAW_BUCKET_NAME bucket.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sqlite3
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

SQLITE_MAGIC = b"SQLite format 3\x00"
FETCH_ROWS = 5_000
PART_NAME = "part-0000.jsonl"
BUCKET_RULE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
DATE_RULE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

logger = logging.getLogger("ingest")


class IngestError(ValueError):
    """Bad input to the ingestion: names the field and the rule it broke."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def raw_key(table: str, ingest_date: dt.date) -> str:
    return f"raw/{table}/ingest_date={ingest_date.isoformat()}/{PART_NAME}"


def _split_s3(uri: str, field: str, want_key: bool) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not BUCKET_RULE.match(bucket):
        raise IngestError(field, f"{uri!r} does not name a valid S3 bucket (3-63 chars: a-z, 0-9, '.', '-')")
    if want_key and not key:
        raise IngestError(field, f"{uri!r} has no object key; expected s3://bucket/key")
    if not want_key and key.strip("/"):
        raise IngestError(field, f"{uri!r} has a key; expected just s3://bucket (keys are raw/<table>/...)")
    return bucket, key


def _s3_client():
    import boto3  # imported here so local runs need neither boto3 nor AWS settings

    return boto3.client("s3")


def _fetch_source(source: str, workdir: Path) -> Path:
    if not isinstance(source, str) or not source:
        raise IngestError("source", "expected a local path or s3://bucket/key string")
    if source.startswith("s3://"):
        bucket, key = _split_s3(source, "source", want_key=True)
        local = workdir / "source.sqlite"
        from botocore.exceptions import ClientError

        try:
            _s3_client().download_file(bucket, key, str(local))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            raise IngestError("source", f"cannot read {source!r} ({code or error})") from None
        return local
    path = Path(source)
    if not path.is_file():
        raise IngestError("source", f"no such file: {source!r}")
    return path


def _open_sqlite(path: Path, source: str) -> tuple[sqlite3.Connection, list[str]]:
    """Open the database read-only and list its tables."""
    with path.open("rb") as handle:
        if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise IngestError("source", f"{source!r} is not a SQLite database")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
    except sqlite3.DatabaseError as error:
        db.close()
        raise IngestError("source", f"{source!r} is not a readable SQLite database ({error})") from None
    return db, [name for (name,) in rows]


def _choose_tables(requested: list[str] | None, available: list[str]) -> list[str]:
    if requested is None:
        return available
    if not isinstance(requested, (list, tuple)) or not requested:
        raise IngestError("tables", "expected a non-empty list of table names")
    for name in requested:
        if not isinstance(name, str):
            raise IngestError("tables", f"expected table names as strings, got {name!r}")
        if name not in available:
            raise IngestError("tables", f"unknown table {name!r}; the source has {', '.join(available)}")
    return list(dict.fromkeys(requested))


def _json_default(value: Any) -> Any:
    # SQLite hands back int, float, str, None or bytes; dates are already ISO text. Blobs become hex.
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _export(db: sqlite3.Connection, table: str, out: Path) -> int:
    quoted = '"' + table.replace('"', '""') + '"'
    cursor = db.execute(f"SELECT * FROM {quoted}")
    columns = [description[0] for description in cursor.description]
    encode = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default
    ).encode
    rows = 0
    with out.open("w", encoding="utf-8", newline="\n") as handle:
        while batch := cursor.fetchmany(FETCH_ROWS):
            handle.writelines(encode(dict(zip(columns, row))) + "\n" for row in batch)
            rows += len(batch)
    return rows


def _check_destination(destination: str) -> tuple[str | None, Path | None]:
    if not isinstance(destination, str) or not destination:
        raise IngestError("destination", "expected a local folder or s3://bucket string")
    if destination.startswith("s3://"):
        bucket, _ = _split_s3(destination.rstrip("/"), "destination", want_key=False)
        return bucket, None
    if "://" in destination:
        raise IngestError("destination", f"{destination!r}: only local folders and s3://bucket are supported")
    folder = Path(destination)
    if folder.exists() and not folder.is_dir():
        raise IngestError("destination", f"{destination!r} exists and is not a folder")
    return None, folder


def _check_bucket(bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        _s3_client().head_bucket(Bucket=bucket)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise IngestError("destination", f"bucket {bucket!r} is not reachable ({code or error})") from None


def _parse_date(value: Any) -> dt.date:
    if value is None:
        return dt.datetime.now(dt.timezone.utc).date()
    if isinstance(value, dt.datetime):
        raise IngestError("ingest_date", "expected a date, not a datetime")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and DATE_RULE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise IngestError("ingest_date", f"expected a date as YYYY-MM-DD, got {value!r}")


def ingest(
    source: str,
    destination: str,
    tables: list[str] | None = None,
    ingest_date: dt.date | None = None,
) -> dict:
    """Copy tables from the SQLite source into destination's raw zone.

    Returns {"tables": {name: {"rows": int, "object": str}}, "ingest_date": "YYYY-MM-DD"}.
    """
    day = _parse_date(ingest_date)
    bucket, folder = _check_destination(destination)
    started = time.monotonic()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ingest-")))
        db_file = _fetch_source(source, workdir)
        db, available = _open_sqlite(db_file, source)
        stack.callback(db.close)
        chosen = _choose_tables(tables, available)
        if bucket is not None:
            _check_bucket(bucket)

        # Export everything to scratch first; publishing starts only once all tables are out.
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=".ingest-", dir=folder)))
        else:
            scratch = workdir
        exported: dict[str, tuple[Path, int]] = {}
        for table in chosen:
            part = scratch / f"{table}.jsonl"
            try:
                rows = _export(db, table, part)
            except sqlite3.DatabaseError as error:
                raise IngestError("source", f"cannot read table {table!r} of {source!r} ({error})") from None
            exported[table] = (part, rows)
            _log("exported", table=table, rows=rows, seconds=round(time.monotonic() - started, 2))

        result: dict[str, dict[str, Any]] = {}
        client = _s3_client() if bucket is not None else None
        for table, (part, rows) in exported.items():
            key = raw_key(table, day)
            if client is not None:
                client.upload_file(str(part), bucket, key)
                where = f"s3://{bucket}/{key}"
            else:
                target = folder / key
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(part, target)  # same filesystem: readers see the whole file or none
                where = str(target.resolve())
            result[table] = {"rows": rows, "object": where}
            _log("published", table=table, object=where)
    return {"tables": result, "ingest_date": day.isoformat()}


def _log(event: str, **fields: Any) -> None:
    logger.info(json.dumps({"event": event, **fields}))


def handler(event: dict, context: Any = None) -> dict:
    """Lambda entry: ingest event["source"] into the RAW_BUCKET_NAME bucket."""
    if not isinstance(event, dict):
        raise IngestError("event", "expected a JSON object with 'source'")
    unknown = sorted(set(event) - {"source", "tables", "ingest_date"})
    if unknown:
        raise IngestError("event", f"unexpected keys {unknown}; allowed: source, tables, ingest_date")
    if "source" not in event:
        raise IngestError("source", "required: s3://bucket/key of the SQLite database")
    bucket = os.environ.get("RAW_BUCKET_NAME", "")
    if not bucket:
        raise IngestError("RAW_BUCKET_NAME", "environment variable is not set")
    started = time.monotonic()
    result = ingest(
        event["source"],
        f"s3://{bucket}",
        tables=event.get("tables"),
        ingest_date=_parse_date(event.get("ingest_date")),
    )
    result["elapsed_seconds"] = round(time.monotonic() - started, 3)
    _log("ingested", tables=len(result["tables"]), rows=sum(t["rows"] for t in result["tables"].values()),
         ingest_date=result["ingest_date"], elapsed_seconds=result["elapsed_seconds"])
    return result


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Copy a SQLite database's tables into the raw zone as JSON lines.")
    parser.add_argument("source", help="SQLite file: local path or s3://bucket/key")
    parser.add_argument("destination", help="local folder or s3://bucket")
    parser.add_argument("--tables", nargs="+", help="tables to copy (default: all)")
    parser.add_argument("--ingest-date", help="partition date YYYY-MM-DD (default: today, UTC)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        summary = ingest(args.source, args.destination, args.tables, args.ingest_date)
    except IngestError as error:
        parser.exit(2, f"error: {error}\n")
    print(json.dumps(summary, indent=2))
