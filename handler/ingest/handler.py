"""Ingestion: copy the tables of a SQLite database into the raw zone as JSON lines, then write
one manifest object that names everything it wrote.

    raw/<folder>/ingest_date=YYYY-MM-DD/part-0000.jsonl       folder = the table name, lower-case
    manifests/ingest_date=YYYY-MM-DD/<ingest_id>.json          written last

Column names stay as the source spells them (the public Chinook database's AlbumId, UnitPrice,
...); folders are lower-case because Glue lower-cases table names and S3 keys are case-sensitive.
The manifest is the one event the dbt_runner builds from (one ingest, one build).

The source is a local path or s3://bucket/key; the destination a local folder or s3://bucket.
Rows are streamed through temporary files, so memory stays flat whatever the size. Every input is
checked, and every table exported, before the first object is published: a bad input writes
nothing. Tables with no rows are reported and skipped (an empty JSON-lines file carries no
columns, and the previous snapshot stays the newest); a source whose chosen tables are all empty
writes nothing. A same-day re-ingest replaces that day's objects of each table it writes.

Lambda entry ingest.handler.handler: `{}` or an EventBridge "Scheduled Event" ingests
s3://$RAW_BUCKET_NAME/$INGEST_SOURCE_KEY (default db/chinook.db), every table, dated today (UTC);
{"source": "s3://...", "tables": [...]?, "ingest_date": "YYYY-MM-DD"?} ingests that source. The
destination is always the RAW_BUCKET_NAME bucket. AWS calls: GetObject on the source, ListBucket
under raw/, PutObject under raw/ and manifests/, DeleteObject under raw/.

Files loaded by other means get their manifest with `--manifest-only DEST --tables ...`.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import math
import os
import re
import sqlite3
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import lambda_logging
import raw_zone

SQLITE_MAGIC = b"SQLite format 3\x00"
FETCH_ROWS = 5_000
BUCKET_RULE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
DATE_RULE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# /tmp's size: the function's ephemeral storage, set in the stack.
EPHEMERAL_STORAGE_SETTING = "constructs/ingest-function.ts ephemeralStorage"


class IngestError(ValueError):
    """Bad input to the ingestion: names the field and the rule it broke."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def folder_of(table: str) -> str:
    """The raw-zone folder (and Glue table) of a source table: its name in lower case."""
    folder = table.lower()
    if not raw_zone.FOLDER_RULE.match(folder):
        raise IngestError("tables", f"table {table!r} cannot be a raw-zone folder: expected letters, digits and _ "
                                    "starting with a letter")
    return folder


def partition_prefix(table: str, ingest_date: dt.date) -> str:
    return raw_zone.partition_prefix(folder_of(table), ingest_date)


def raw_key(table: str, ingest_date: dt.date) -> str:
    return raw_zone.raw_key(folder_of(table), ingest_date)


def manifest_key(ingest_date: dt.date, ingest_id: str) -> str:
    return raw_zone.ingest_manifest_key(ingest_date, ingest_id)


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
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise _tmp_full(f"downloading {source!r}") from None
            raise
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


def _check_table_list(requested: Any) -> list[str]:
    if not isinstance(requested, (list, tuple)) or not requested:
        raise IngestError("tables", "expected a non-empty list of table names")
    for name in requested:
        if not isinstance(name, str) or not name:
            raise IngestError("tables", f"expected table names as strings, got {name!r}")
    return list(dict.fromkeys(requested))


def _choose_tables(requested: list[str] | None, available: list[str]) -> list[str]:
    chosen = available if requested is None else _check_table_list(requested)
    for name in chosen:
        if name not in available:
            raise IngestError("tables", f"unknown table {name!r}; the source has {', '.join(available) or 'no tables'}")
        folder_of(name)  # SQLite table names are case-insensitive, so two never share a folder
    return chosen


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
            try:
                handle.writelines(encode(dict(zip(columns, row))) + "\n" for row in batch)
            except ValueError:  # allow_nan=False: JSON has no Infinity or NaN
                raise IngestError("source", _not_finite(table, columns, batch)) from None
            rows += len(batch)
    return rows


def _not_finite(table: str, columns: list[str], batch: list[tuple]) -> str:
    for row in batch:
        for column, value in zip(columns, row):
            if isinstance(value, float) and not math.isfinite(value):
                kind = "NaN" if math.isnan(value) else "infinite"
                return (f"table {table!r} column {column!r} holds an {kind} float, which JSON (and Athena's "
                        "JSON reader) cannot carry; fix or null it in the source")
    return f"table {table!r} holds a value that cannot be written as JSON"


def _tmp_full(action: str) -> IngestError:
    return IngestError("tmp", f"/tmp is full (No space left on device) while {action}: the source database and "
                              f"every table's export sit in /tmp at once. Raise the function's ephemeral storage "
                              f"({EPHEMERAL_STORAGE_SETTING}); nothing was published")


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


def _list_keys(client, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def _check_bucket(client, bucket: str) -> None:
    # A listing under raw/ rather than HeadBucket: the ingest role may list only that prefix.
    from botocore.exceptions import ClientError

    try:
        client.list_objects_v2(Bucket=bucket, Prefix=raw_zone.RAW_PREFIX, MaxKeys=1)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise IngestError("destination", f"bucket {bucket!r} is not reachable ({code or error})") from None


def _parse_date(value: Any) -> dt.date:
    today = dt.datetime.now(dt.timezone.utc).date()
    if value is None:
        return today
    if isinstance(value, dt.datetime):
        raise IngestError("ingest_date", "expected a date, not a datetime")
    day = None
    if isinstance(value, dt.date):
        day = value
    elif isinstance(value, str) and DATE_RULE.match(value):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            pass
    if day is None:
        raise IngestError("ingest_date", f"expected a date as YYYY-MM-DD, got {value!r}")
    if day > today:
        # Athena's partition projection covers start..NOW: a future day would read as empty.
        raise IngestError("ingest_date", f"{day.isoformat()} is in the future (today is {today.isoformat()}, UTC); "
                                         "a future partition is invisible to Athena and would empty every mart")
    return day


def _new_ingest_id() -> str:
    # Sorts by time; the random part keeps two ingests in the same second apart.
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:12]


def build_manifest(ingest_id: str, day: dt.date, source: str | None, tables: list[dict]) -> dict:
    """The manifest document: what one ingest wrote, for the build it triggers."""
    return {
        "format": raw_zone.INGEST_MANIFEST_FORMAT,
        "version": raw_zone.INGEST_MANIFEST_VERSION,
        "ingest_id": ingest_id,
        "ingest_date": day.isoformat(),
        "source": source,
        "created_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tables": tables,
    }


class _Destination:
    """Publishing into a local folder or an S3 bucket, with the same keys."""

    def __init__(self, bucket: str | None, folder: Path | None):
        self.bucket, self.folder = bucket, folder
        self.client = _s3_client() if bucket is not None else None

    def show(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}" if self.client is not None else str((self.folder / key).resolve())

    def check(self) -> None:
        if self.client is not None:
            _check_bucket(self.client, self.bucket)

    def put_file(self, path: Path, key: str) -> None:
        if self.client is not None:
            self.client.upload_file(str(path), self.bucket, key)
        else:
            target = self.folder / key
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)  # same filesystem: readers see the whole file or none

    def put_json(self, document: dict, key: str, scratch: Path) -> None:
        path = scratch / "manifest.json"
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if self.client is not None:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=path.read_bytes(),
                                   ContentType="application/json")
        else:
            self.put_file(path, key)

    def keys_under(self, prefix: str) -> list[str]:
        if self.client is not None:
            return sorted(_list_keys(self.client, self.bucket, prefix))
        root = self.folder / prefix
        if not root.is_dir():
            return []
        return sorted(str(p.relative_to(self.folder)) for p in root.rglob("*")
                      if p.is_file() and not p.name.startswith("."))

    def delete(self, key: str) -> None:
        if self.client is not None:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        else:
            (self.folder / key).unlink(missing_ok=True)


def ingest(
    source: str,
    destination: str,
    tables: list[str] | None = None,
    ingest_date: dt.date | str | None = None,
) -> dict:
    """Copy tables from the SQLite source into destination's raw zone, then write the manifest.

    Returns {"tables": {name: {"rows": int, "object": str}}, "skipped": {name: reason},
    "ingest_date": "YYYY-MM-DD", "ingest_id": str, "manifest": str}.
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
        target = _Destination(bucket, folder)
        target.check()

        # Export everything to scratch first; publishing starts only once all tables are out.
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=".ingest-", dir=folder)))
        else:
            scratch = workdir
        exported: dict[str, tuple[Path, int]] = {}
        skipped: dict[str, str] = {}
        for index, table in enumerate(chosen, start=1):
            part = scratch / f"{folder_of(table)}.jsonl"
            try:
                rows = _export(db, table, part)
            except sqlite3.DatabaseError as error:
                raise IngestError("source", f"cannot read table {table!r} of {source!r} ({error})") from None
            except OSError as error:
                if error.errno == errno.ENOSPC:
                    raise _tmp_full(f"exporting table {table!r}") from None
                raise
            if rows == 0:
                skipped[table] = "no rows"
                _log("skipped", level="warning", table=table, reason="no rows; the previous snapshot stays")
                continue
            exported[table] = (part, rows)
            _log("exported", table=table, rows=rows, progress=f"{index}/{len(chosen)}",
                 seconds=round(time.monotonic() - started, 2))
        if not exported:
            raise IngestError("tables", f"every chosen table is empty ({', '.join(chosen)}); nothing to ingest")

        result: dict[str, dict[str, Any]] = {}
        entries: list[dict] = []
        for table, (part, rows) in exported.items():
            key = raw_key(table, day)
            target.put_file(part, key)
            result[table] = {"rows": rows, "object": target.show(key)}
            entries.append({"name": table, "folder": folder_of(table), "rows": rows, "keys": [key]})
            _log("published", table=table, object=target.show(key))
        # A same-day re-ingest replaces the day: objects of an earlier run that this one did not write go.
        for entry in entries:
            for stale in target.keys_under(partition_prefix(entry["name"], day)):
                if stale not in entry["keys"]:
                    target.delete(stale)
                    _log("replaced", object=target.show(stale))

        ingest_id = _new_ingest_id()
        manifest = build_manifest(ingest_id, day, _describe(source), entries)
        key = manifest_key(day, ingest_id)
        target.put_json(manifest, key, scratch)  # last: its event starts the build
        _log("manifest", object=target.show(key), tables=len(entries))
    return {"tables": result, "skipped": skipped, "ingest_date": day.isoformat(), "ingest_id": ingest_id,
            "manifest": target.show(key)}


def write_manifest(
    destination: str,
    tables: list[str],
    ingest_date: dt.date | str,
    source: str | None = None,
) -> dict:
    """Write only the manifest, for raw files loaded by other means into raw/<table>/ingest_date=<day>/.

    Every table must have at least one object in that partition; rows are not counted (null).
    Returns the manifest document with "manifest": where it was written.
    """
    if ingest_date is None:
        raise IngestError("ingest_date", "required with --manifest-only: the partition the files were loaded into")
    day = _parse_date(ingest_date)
    chosen = _check_table_list(tables)
    bucket, folder = _check_destination(destination)
    target = _Destination(bucket, folder)
    target.check()
    entries = []
    for table in chosen:
        prefix = partition_prefix(table, day)
        keys = [key for key in target.keys_under(prefix) if not key.rsplit("/", 1)[-1].startswith(".")]
        if not keys:
            raise IngestError("tables", f"table {table!r} has no objects under {target.show(prefix)}")
        entries.append({"name": table, "folder": folder_of(table), "rows": None, "keys": keys})
    ingest_id = _new_ingest_id()
    manifest = build_manifest(ingest_id, day, source, entries)
    key = manifest_key(day, ingest_id)
    with tempfile.TemporaryDirectory(prefix="ingest-") as scratch:
        target.put_json(manifest, key, Path(scratch))
    _log("manifest", object=target.show(key), tables=len(entries))
    return {**manifest, "manifest": target.show(key)}


def _describe(source: str) -> str:
    """The source as recorded in the manifest: an S3 URI, or a local file's name (no local paths)."""
    return source if source.startswith("s3://") else Path(source).name


def _log(event: str, level: str = "info", **fields: Any) -> None:
    # The runner's logger: JSON on stdout whatever the runtime's log level (Text format leaves
    # the root logger at WARNING, which dropped every INFO line here).
    lambda_logging.log(event, level=level, **fields)


def handler(event: dict, context: Any = None) -> dict:
    """Lambda entry: ingest a SQLite database into the RAW_BUCKET_NAME bucket and write its manifest."""
    if not isinstance(event, dict):
        raise IngestError("event", "expected a JSON object: {}, a Scheduled Event, or {'source': ...}")
    bucket = os.environ.get("RAW_BUCKET_NAME", "")
    if not bucket:
        raise IngestError("RAW_BUCKET_NAME", "environment variable is not set")
    if event.get("detail-type") == "Scheduled Event" or not event:
        source_key = os.environ.get("INGEST_SOURCE_KEY") or raw_zone.DEFAULT_SOURCE_KEY
        request = {"source": f"s3://{bucket}/{source_key.lstrip('/')}"}
    else:
        unknown = sorted(set(event) - {"source", "tables", "ingest_date"})
        if unknown:
            raise IngestError(unknown[0], "unexpected key; allowed: source, tables, ingest_date "
                                          "(or send {} / a Scheduled Event for the default source)")
        if "source" not in event:
            raise IngestError("source", "required: s3://bucket/key of the SQLite database")
        request = event
    started = time.monotonic()
    result = ingest(
        request["source"],
        f"s3://{bucket}",
        tables=request.get("tables"),
        ingest_date=_parse_date(request.get("ingest_date")),
    )
    result["elapsed_seconds"] = round(time.monotonic() - started, 3)
    _log("ingested", tables=len(result["tables"]), skipped=sorted(result["skipped"]),
         rows=sum(t["rows"] for t in result["tables"].values()), ingest_date=result["ingest_date"],
         manifest=result["manifest"], elapsed_seconds=result["elapsed_seconds"])
    return result


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description="Copy a SQLite database's tables into the raw zone as JSON lines "
        "(raw/<table name in lower case>/ingest_date=YYYY-MM-DD/), then write the ingest's manifest "
        "(manifests/ingest_date=YYYY-MM-DD/<ingest_id>.json), whose arrival starts one dbt build.",
        epilog="Files loaded by other means: write just their manifest with "
        "`python -m ingest --manifest-only DEST --tables Album Track --ingest-date 2024-05-06`.",
    )
    parser.add_argument("source", nargs="?", help="SQLite file: local path or s3://bucket/key")
    parser.add_argument("destination", nargs="?", help="local folder or s3://bucket")
    parser.add_argument("--tables", nargs="+", help="tables to copy (default: all)")
    parser.add_argument("--ingest-date", help="partition date YYYY-MM-DD (default: today, UTC)")
    parser.add_argument(
        "--manifest-only", metavar="DEST",
        help="write only the manifest for files already under DEST/raw/<table in lower case>/ingest_date=<--ingest-date>/ "
        "(local folder or s3://bucket); needs --tables and --ingest-date",
    )
    args = parser.parse_args(argv)
    lambda_logging.set_stream(sys.stderr)  # stdout carries the summary
    try:
        if args.manifest_only is not None:
            if args.source or args.destination:
                parser.error("--manifest-only takes the destination as its value and no SOURCE/DESTINATION")
            if not args.tables or not args.ingest_date:
                parser.error("--manifest-only needs --tables and --ingest-date")
            summary = write_manifest(args.manifest_only, args.tables, args.ingest_date)
        else:
            if not args.source or not args.destination:
                parser.error("expected SOURCE and DESTINATION (or --manifest-only DEST)")
            summary = ingest(args.source, args.destination, args.tables, args.ingest_date)
    except IngestError as error:
        parser.exit(2, f"error: {error}\n")
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0
