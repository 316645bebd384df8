"""The newest ingest_date partition of each raw table, found cheaply, for dbt to read as literals.

Staging reads one partition per table (macro latest_snapshot). When the handler knows the dates,
it passes them as `--vars {"raw_ingest_dates": {"<table>": "YYYY-MM-DD"}}`, the filter is a
constant at compile time and Athena (partition projection) and DuckDB (hive partitioning) read
one folder per table, however many days of history the raw zone holds.

How the dates are found:
  local target   a directory listing of $LOCAL_DATA_DIR/raw/<folder>/ingest_date=*/ (with a part file)
                 and of $LOCAL_DATA_DIR/manifests/ingest_date=<day>/
  other targets  S3 ListObjectsV2 of raw/<folder>/ with Delimiter "/" in RAW_BUCKET_NAME: the
                 partition prefixes only, never the objects, one small call per 1,000 days; then
                 the manifests of the newest days, newest first (usually one day's: one or two GETs)

Only complete partitions count: a day whose ingest manifest (manifests/ingest_date=<day>/*.json,
written last) lists the table. A newer partition without one (an ingest still publishing, or one
that failed) is skipped and logged (raw_partitions_skipped); a malformed manifest is logged
(ingest_manifest_unreadable) and lists nothing.

The listing, not an event's own date, decides: a late backfill of an older day never moves
staging back. The variable is read at compile time only, so it is not part of the parsed
manifest's cache key (cli_args.plan) and a new day does not cost a re-parse.
A failed listing is logged and the build falls back to the max(ingest_date) query: correct, but
it scans every partition.
"""

from __future__ import annotations

import functools
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping

import raw_zone
from dbt_runner import project
from dbt_runner.events import MAX_MANIFEST_BYTES, Request
from dbt_runner.jsonlog import log
from dbt_runner.settings import Settings

VAR_NAME = "raw_ingest_dates"
# Commands that compile staging SQL; the others never read the variable.
COMPILING = {"build", "run", "compile", "docs generate"}
_PARTITION = re.compile(r"^ingest_date=(\d{4}-\d{2}-\d{2})$")
_LIST_THREADS = 8


def runtime_vars(request: Request, settings: Settings, s3_client: Any = None) -> dict[str, Any]:
    """{"raw_ingest_dates": {...}} for a compiling command, else {}."""
    if request.name not in COMPILING:
        return {}
    tables = project.raw_tables(settings.project_dir)
    if not tables:
        return {}
    try:
        if settings.local_data_dir is not None:
            dates = newest_local(settings.local_data_dir, tables)
        elif settings.raw_bucket:
            dates = newest_s3(s3_client or _s3_client(), settings.raw_bucket, tables)
        else:
            return {}
    except Exception as error:  # noqa: BLE001 - any listing failure falls back to the scanning query
        log("raw_partitions_unknown", level="warning", error=f"{type(error).__name__}: {str(error)[:300]}",
            fallback="max(ingest_date) per table: every partition is scanned")
        return {}
    return {VAR_NAME: dates} if dates else {}


def newest_local(data_dir: Path, tables: Mapping[str, str]) -> dict[str, str]:
    root = Path(data_dir)
    found: dict[str, list[str]] = {}
    for name, folder in tables.items():
        table_root = root / raw_zone.RAW_PREFIX / folder
        found[name] = [match.group(1) for child in (table_root.iterdir() if table_root.is_dir() else ())
                       if (match := _PARTITION.match(child.name)) and any(child.glob("*.jsonl"))]

    def listed(day: str) -> set[str]:
        folder = root / raw_zone.INGEST_MANIFEST_PREFIX / f"{raw_zone.PARTITION_COLUMN}={day}"
        documents = [(str(path), path.read_bytes()) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []
        return _folders_listed(day, documents)

    return _newest_complete(tables, found, listed)


def newest_s3(client: Any, bucket: str, tables: Mapping[str, str]) -> dict[str, str]:
    def days_of(item: tuple[str, str]) -> tuple[str, list[str]]:
        name, folder = item
        prefix = f"{raw_zone.RAW_PREFIX}{folder}/"
        days: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                match = _PARTITION.match(common["Prefix"][len(prefix):].rstrip("/"))
                if match:
                    days.append(match.group(1))
        return name, days

    with ThreadPoolExecutor(max_workers=_LIST_THREADS) as pool:
        found = dict(pool.map(days_of, sorted(tables.items())))

    def listed(day: str) -> set[str]:
        prefix = f"{raw_zone.INGEST_MANIFEST_PREFIX}{raw_zone.PARTITION_COLUMN}={day}/"
        documents = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Key"].endswith(".json") and item.get("Size", 0) <= MAX_MANIFEST_BYTES:
                    body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                    documents.append((f"s3://{bucket}/{item['Key']}", body))
        return _folders_listed(day, documents)

    return _newest_complete(tables, found, listed)


def _newest_complete(tables: Mapping[str, str], found: Mapping[str, list[str]],
                     listed: Callable[[str], set[str]]) -> dict[str, str]:
    """Per table, the newest day that has a partition and an ingest manifest listing the table.

    Newer partitions without one (an ingest still publishing, or one that failed before its
    manifest) are skipped and logged. Manifests are read newest day first, each day once.
    """
    cache: dict[str, set[str]] = {}
    dates: dict[str, str] = {}
    skipped: dict[str, list[str]] = {}
    for name in sorted(found):
        folder = tables[name]
        for day in sorted(set(found[name]), reverse=True):
            if day not in cache:
                cache[day] = listed(day)
            if folder in cache[day]:
                dates[name] = day
                break
            skipped.setdefault(name, []).append(day)
    if skipped:
        log("raw_partitions_skipped", level="warning", partitions={k: sorted(v) for k, v in skipped.items()},
            reason="no ingest manifest lists the table for that day: an ingest still running or one that failed",
            using=dates)
    return dates


def _folders_listed(day: str, documents: list[tuple[str, bytes]]) -> set[str]:
    """The raw-zone folders the day's ingest manifests list; unreadable manifests are logged and ignored."""
    folders: set[str] = set()
    for where, body in documents:
        try:
            document = json.loads(body)
            if document.get("format") != raw_zone.INGEST_MANIFEST_FORMAT or document.get("ingest_date") != day:
                raise ValueError("not an ingest manifest of this day (format, ingest_date)")
            entries = document["tables"]
            names = {entry["folder"] for entry in entries}
            if not all(isinstance(n, str) and raw_zone.FOLDER_RULE.match(n) for n in names):
                raise ValueError("a table entry has no valid folder")
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log("ingest_manifest_unreadable", level="warning", manifest=where,
                error=f"{type(error).__name__}: {str(error)[:200]}", effect="its tables do not count as ingested")
            continue
        folders |= names
    return folders


@functools.lru_cache(maxsize=1)
def _s3_client():
    # One client per container: warm invocations skip boto3's client set-up.
    import boto3

    return boto3.client("s3")
