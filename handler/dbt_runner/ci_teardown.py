"""Remove what pull requests built: the close workflow's teardown and the scheduled sweeper.

  {"ci_teardown": {"pr": 7}}
      drop Glue database `<GLUE_DATABASE_NAME>_pr_7` (with its tables) and delete every object
      version under `ci/pr_7/` of the processed and artifacts buckets and under
      `dbt/<env>/ci/pr_7/` of the Athena results bucket. Dropping a Glue database drops metadata
      only, so the data is deleted here too.
  {"ci_sweep": {"older_than_days": 7, "open_prs": [12, 15]}}
      the same for every pull request whose database or prefix exists, is older than that, and
      is not open (the workflow lists the open pull requests; a PR number it did not list is closed).

Only names derived from a validated PR number are touched (`<database>_pr_<n>`, `ci/pr_<n>/`), so
neither event can reach the env's own database or prefixes. The runner does this, not the CI
workflow: the CI role may only invoke the runner and put bundles (scripts/bootstrap/ci-policy.ts).
Locally, `make ci-teardown` does the same for DuckDB (scripts/operations/pr_build.py).
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from dbt_runner.ci_build import CiBuild, pr_number
from dbt_runner.events import EventError
from dbt_runner.jsonlog import log

MAX_DAYS = 3650
MAX_OPEN = 10_000
_PR_PREFIX = re.compile(r"^ci/pr_([1-9][0-9]{0,5})/$")


def is_teardown(event: Any) -> bool:
    return isinstance(event, dict) and ("ci_teardown" in event or "ci_sweep" in event)


def handle(event: dict, request_id: str | None = None, env: Mapping[str, str] | None = None,
           clients: tuple[Any, Any] | None = None) -> dict[str, Any]:
    env = os.environ if env is None else env
    if len(event) != 1:
        raise EventError(sorted(set(event) - {"ci_teardown", "ci_sweep"} or {"ci_sweep"})[0],
                         "a teardown event has only 'ci_teardown' or only 'ci_sweep'")
    glue, s3 = clients or _clients()
    names = _names(env)
    if "ci_teardown" in event:
        block = _block(event["ci_teardown"], "ci_teardown", {"pr"})
        ci = CiBuild(pr_number(block.get("pr"), "ci_teardown.pr"))
        removed = teardown(ci, names, glue, s3)
        log("dbt_ci_teardown", request_id=request_id, pr=ci.pr, **removed)
        return {"status": "success", "teardown": [{"pr": ci.pr, **removed}]}
    block = _block(event["ci_sweep"], "ci_sweep", {"older_than_days", "open_prs"})
    days = block.get("older_than_days")
    if type(days) is not int or not 0 <= days <= MAX_DAYS:
        raise EventError("ci_sweep.older_than_days", f"expected an integer 0..{MAX_DAYS}, got {str(days)[:32]!r}")
    open_prs = block.get("open_prs")
    if not isinstance(open_prs, list) or len(open_prs) > MAX_OPEN:
        raise EventError("ci_sweep.open_prs", f"expected a list of at most {MAX_OPEN} open pull request numbers")
    keep = {pr_number(value, f"ci_sweep.open_prs[{index}]") for index, value in enumerate(open_prs)}
    cutoff = datetime.now(timezone.utc) - timedelta(days=days)
    swept = []
    for pr, newest in sorted(found_prs(names, glue, s3).items()):
        if pr in keep or newest > cutoff:
            continue
        removed = teardown(CiBuild(pr), names, glue, s3)
        swept.append({"pr": pr, **removed})
    log("dbt_ci_sweep", request_id=request_id, older_than_days=days, open=len(keep), swept=[s["pr"] for s in swept])
    return {"status": "success", "teardown": swept}


def _block(value: Any, field: str, keys: set[str]) -> dict:
    if not isinstance(value, dict):
        raise EventError(field, f"expected an object with {', '.join(sorted(keys))}")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise EventError(f"{field}.{str(unknown[0])[:32]}", f"unexpected key; expected {', '.join(sorted(keys))}")
    return value


def _names(env: Mapping[str, str]) -> dict[str, Any]:
    database = env.get("GLUE_DATABASE_NAME")
    if not database:
        raise EventError("ci_teardown", "this runner has no Glue database (GLUE_DATABASE_NAME); locally use make ci-teardown")
    return {
        "database": database,
        "environment": env.get("ENVIRONMENT", "dev"),
        "buckets": [b for b in (env.get("PROCESSED_BUCKET_NAME"), env.get("ARTIFACTS_BUCKET_NAME")) if b],
        "results": env.get("ATHENA_RESULTS_BUCKET"),
    }


def _clients() -> tuple[Any, Any]:
    import boto3

    return boto3.client("glue"), boto3.client("s3")


def _prefixes(ci: CiBuild, names: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = [(bucket, ci.prefix) for bucket in names["buckets"]]
    if names["results"]:
        pairs.append((names["results"], f"dbt/{names['environment']}/{ci.prefix}"))
    return pairs


def teardown(ci: CiBuild, names: dict[str, Any], glue: Any, s3: Any) -> dict[str, Any]:
    """Drop the PR's Glue database and delete its prefixes; safe to re-run."""
    database = ci.database(names["database"])
    try:
        glue.delete_database(Name=database)
        dropped = True
    except glue.exceptions.EntityNotFoundException:
        dropped = False
    deleted = 0
    for bucket, prefix in _prefixes(ci, names):
        deleted += _delete_prefix(s3, bucket, prefix)
    return {"database": database, "database_dropped": dropped, "objects_deleted": deleted}


def _delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Every version and delete marker under prefix (the buckets are versioned)."""
    count = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        items = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in (*page.get("Versions", []), *page.get("DeleteMarkers", []))]
        for start in range(0, len(items), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": items[start:start + 1000], "Quiet": True})
            count += len(items[start:start + 1000])
    return count


def found_prs(names: dict[str, Any], glue: Any, s3: Any) -> dict[int, datetime]:
    """{PR number: when it last wrote} for every PR database or ci/pr_<n>/ prefix there is."""
    newest: dict[int, datetime] = {}

    def seen(pr: int, when: datetime) -> None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        newest[pr] = max(newest.get(pr, when), when)

    pattern = re.compile(rf"^{re.escape(names['database'])}_pr_([1-9][0-9]{{0,5}})$")
    for page in glue.get_paginator("get_databases").paginate():
        for database in page.get("DatabaseList", []):
            match = pattern.match(database["Name"])
            if match:
                seen(int(match.group(1)), database.get("CreateTime") or datetime.now(timezone.utc))
    for bucket in names["buckets"]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="ci/", Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                match = _PR_PREFIX.match(common["Prefix"])
                if not match:
                    continue
                for objects in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=common["Prefix"]):
                    for item in objects.get("Contents", []):
                        seen(int(match.group(1)), item["LastModified"])
    return newest
