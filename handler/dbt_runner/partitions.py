"""The newest ingest_date partition of each raw table, found cheaply, for dbt to read as literals.

Staging reads one partition per table (macro latest_snapshot). When the handler knows the dates,
it passes them as `--vars {"raw_ingest_dates": {"<table>": "YYYY-MM-DD"}}`, the filter is a
constant at compile time and Athena (partition projection) and DuckDB (hive partitioning) read
one folder per table, however many days of history the raw zone holds.

How the dates are found:
  local target   a directory listing of $LOCAL_DATA_DIR/raw/<folder>/ingest_date=*/ (with a part file)
  other targets  S3 ListObjectsV2 of raw/<folder>/ with Delimiter "/" in RAW_BUCKET_NAME: the
                 partition prefixes only, never the objects, one small call per 1,000 days

The listing, not an event's own date, decides: a late backfill of an older day never moves
staging back. The variable is read at compile time only, so it is not part of the parsed
manifest's cache key (cli_args.plan) and a new day does not cost a re-parse.
A failed listing is logged and the build falls back to the max(ingest_date) query: correct, but
it scans every partition.
"""

from __future__ import annotations

import functools
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping

import raw_zone
from dbt_runner import project
from dbt_runner.events import Request
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
    dates: dict[str, str] = {}
    for name, folder in tables.items():
        root = Path(data_dir) / "raw" / folder
        days = [match.group(1) for child in (root.iterdir() if root.is_dir() else ())
                if (match := _PARTITION.match(child.name)) and any(child.glob("*.jsonl"))]
        if days:
            dates[name] = max(days)
    return dates


def newest_s3(client: Any, bucket: str, tables: Mapping[str, str]) -> dict[str, str]:
    def newest(item: tuple[str, str]) -> tuple[str, str | None]:
        name, folder = item
        prefix = f"{raw_zone.RAW_PREFIX}{folder}/"
        days: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                match = _PARTITION.match(common["Prefix"][len(prefix):].rstrip("/"))
                if match:
                    days.append(match.group(1))
        return name, max(days, default=None)

    with ThreadPoolExecutor(max_workers=_LIST_THREADS) as pool:
        return {name: day for name, day in pool.map(newest, sorted(tables.items())) if day is not None}


@functools.lru_cache(maxsize=1)
def _s3_client():
    # One client per container: warm invocations skip boto3's client set-up.
    import boto3

    return boto3.client("s3")
