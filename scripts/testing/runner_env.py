"""The runner's environment in tests: the settings it reads, subprocess environments, tiny raw tables."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Settings the handler reads, or writes for dbt; every test starts without them and gets them back.
HANDLER_ENV = (
    "DBT_PROJECT_DIR", "DBT_PROFILES_DIR", "DBT_TARGET", "ENVIRONMENT", "DBT_DEFAULT_COMMAND",
    "LOCAL_DATA_DIR", "RAW_BUCKET_NAME", "DBT_TARGET_PATH", "DBT_LOG_PATH",
    "DBT_SEND_ANONYMOUS_USAGE_STATS", "ARTIFACTS_BUCKET_NAME", "ALERT_TOPIC_ARN", "DBT_PARSE_AT_INIT",
    "DBT_SHIPPED_PARSE_DIR", "DBT_STEP_MARGIN_SECONDS", "DBT_STEP_SECONDS", "DBT_STEP_DEFAULT_NODE_SECONDS",
    "DBT_EVENTS_ENABLED",
)


def write_numbers(data_dir: Path, numbers: list[int]) -> None:
    """The tiny fixture project's raw table, in the raw-zone layout."""
    part = data_dir / "raw" / "numbers" / "ingest_date=2024-01-01" / "part-0000.jsonl"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_text("".join(f'{{"n": {n}}}\n' for n in numbers))


def env_of(**values: str) -> dict[str, str]:
    """os.environ plus values, for subprocesses."""
    env = {k: v for k, v in os.environ.items() if k not in HANDLER_ENV}
    env.update(values)
    return env
