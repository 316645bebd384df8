"""The project compiled for the Athena target (dev), without reaching AWS.

`dbt compile` on dbt-athena would list the Glue catalog to fill its relation cache; with
`--no-populate-cache` and `--no-introspect` nothing needs a connection. The AWS endpoint points at a
closed local port, so any call that did slip through fails the compile instead of reaching AWS.
Profile variables get the stack's own names (dummy credentials); `--vars` carries the literal
partition dates the runner passes (dbt_runner.partitions).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


TARGET = "dev"
NO_AWS = "http://127.0.0.1:9"  # discard port: nothing listens


def environment(database: str, buckets: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "DBT_"))}
    env.update({
        "ENVIRONMENT": TARGET,
        "GLUE_DATABASE_NAME": database,
        "PROCESSED_BUCKET_NAME": buckets["processed"],
        "ATHENA_RESULTS_BUCKET": buckets["athena-results"],
        "RAW_BUCKET_NAME": buckets["raw"],
        "ATHENA_WORKGROUP": f"{TARGET}-dbt",
        "AWS_REGION": "ap-southeast-2",
        "AWS_ACCESS_KEY_ID": "athena-sql-check", "AWS_SECRET_ACCESS_KEY": "athena-sql-check",
        "AWS_ENDPOINT_URL": NO_AWS, "AWS_MAX_ATTEMPTS": "1", "AWS_EC2_METADATA_DISABLED": "true",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    })
    return env


def compile_project(project_dir: Path, work: Path, env: dict[str, str], dates: dict[str, str]) -> dict:
    """dbt compile --target dev; the manifest (compiled_code on every model, test and analysis)."""
    target = work / "target"
    command = [
        str(Path(sys.executable).parent / "dbt"), "compile",
        "--project-dir", str(project_dir), "--profiles-dir", str(project_dir), "--target", TARGET,
        "--target-path", str(target), "--log-path", str(work / "logs"),
        "--no-populate-cache", "--no-introspect", "--quiet",
        "--vars", json.dumps({"raw_ingest_dates": dates}),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"dbt compile --target {TARGET} failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}")
    return json.loads((target / "manifest.json").read_text())
