"""The runner's environment in tests: the settings it reads, subprocess environments, tiny raw tables."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Settings the handler reads, or writes for dbt; every test starts without them and gets them back.
HANDLER_ENV = (
    "DBT_PROJECT_DIR", "DBT_PROFILES_DIR", "DBT_TARGET", "ENVIRONMENT", "DBT_DEFAULT_COMMAND",
    "LOCAL_DATA_DIR", "RAW_BUCKET_NAME", "DBT_TARGET_PATH", "DBT_LOG_PATH",
    "DBT_SEND_ANONYMOUS_USAGE_STATS", "ARTIFACTS_BUCKET_NAME", "ALERT_TOPIC_ARN", "DBT_PARSE_AT_INIT",
    "DBT_SHIPPED_PARSE_DIR", "DBT_RUN_TIMEOUT_SECONDS", "DBT_STEP_MARGIN_SECONDS", "DBT_STEP_SECONDS",
    "DBT_STEP_DEFAULT_NODE_SECONDS", "DBT_EVENTS_ENABLED",
)


def write_numbers(data_dir: Path, numbers: list[int], day: str = "2024-01-01") -> None:
    """The tiny fixture project's raw table, in the raw-zone layout, with its ingest manifest
    (the runner reads only partitions an ingest manifest lists)."""
    part = data_dir / "raw" / "numbers" / f"ingest_date={day}" / "part-0000.jsonl"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_text("".join(f'{{"n": {n}}}\n' for n in numbers))
    write_manifest(data_dir, day, {"numbers": len(numbers)})


def write_manifest(data_dir: Path, day: str, tables: dict[str, int | None], ingest_id: str = "fixture") -> Path:
    """manifests/ingest_date=<day>/<ingest_id>.json listing `tables` (folder: rows), as ingest writes it."""
    import json

    import raw_zone

    path = data_dir / "manifests" / f"ingest_date={day}" / f"{ingest_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "format": raw_zone.INGEST_MANIFEST_FORMAT, "version": raw_zone.INGEST_MANIFEST_VERSION,
        "ingest_id": ingest_id, "ingest_date": day, "source": "fixture", "created_at": f"{day}T00:00:00Z",
        "tables": [{"name": name, "folder": name, "rows": rows,
                    "keys": [raw_zone.raw_key(name, dt.date.fromisoformat(day))]}
                   for name, rows in tables.items()],
    }, indent=2))
    return path


def env_of(**values: str) -> dict[str, str]:
    """os.environ plus values, for subprocesses."""
    env = {k: v for k, v in os.environ.items() if k not in HANDLER_ENV}
    env.update(values)
    return env
