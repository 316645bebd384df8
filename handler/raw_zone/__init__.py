"""The raw zone's contract between the ingest function, the dbt_runner and the stack.

    raw/<folder>/ingest_date=YYYY-MM-DD/part-0000.jsonl     one table's snapshot of one day
    manifests/ingest_date=YYYY-MM-DD/<ingest_id>.json       the ingest manifest, written last

The values live in contract.json beside this file, which the stack (constructs/raw-zone-contract.ts)
reads too, so Python and TypeScript cannot disagree. Standard library only: the ingest function
ships no layer.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

_CONTRACT = json.loads((Path(__file__).parent / "contract.json").read_text(encoding="utf-8"))

RAW_PREFIX: str = _CONTRACT["rawPrefix"]
INGEST_MANIFEST_PREFIX: str = _CONTRACT["ingestManifestPrefix"]
PARTITION_COLUMN: str = _CONTRACT["partitionColumn"]
PART_NAME: str = _CONTRACT["partName"]
INGEST_MANIFEST_FORMAT: str = _CONTRACT["ingestManifestFormat"]
INGEST_MANIFEST_VERSIONS: tuple[int, ...] = tuple(_CONTRACT["ingestManifestVersions"])
INGEST_MANIFEST_VERSION: int = max(INGEST_MANIFEST_VERSIONS)  # what the ingest function writes
DEFAULT_SOURCE_KEY: str = _CONTRACT["defaultSourceKey"]
# A raw-zone folder (and Glue table name): the source table's name in lower case.
FOLDER_RULE = re.compile(_CONTRACT["folderPattern"])
INGEST_ID_RULE = re.compile(_CONTRACT["ingestIdPattern"])
# manifests/ingest_date=YYYY-MM-DD/<ingest_id>.json; group 1 is the date.
INGEST_MANIFEST_KEY_RULE = re.compile(
    "^" + re.escape(INGEST_MANIFEST_PREFIX) + re.escape(PARTITION_COLUMN) + r"=(\d{4}-\d{2}-\d{2})/"
    + INGEST_ID_RULE.pattern.strip("^$") + r"\.json$"
)


def partition_prefix(folder: str, ingest_date: dt.date) -> str:
    """raw/<folder>/ingest_date=YYYY-MM-DD/"""
    return f"{RAW_PREFIX}{folder}/{PARTITION_COLUMN}={ingest_date.isoformat()}/"


def raw_key(folder: str, ingest_date: dt.date) -> str:
    """The one part file of a table's snapshot of a day."""
    return partition_prefix(folder, ingest_date) + PART_NAME


def ingest_manifest_key(ingest_date: dt.date, ingest_id: str) -> str:
    """manifests/ingest_date=YYYY-MM-DD/<ingest_id>.json"""
    return f"{INGEST_MANIFEST_PREFIX}{PARTITION_COLUMN}={ingest_date.isoformat()}/{ingest_id}.json"
