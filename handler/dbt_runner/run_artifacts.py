"""Where every dbt run leaves its artifacts: the artifacts bucket in AWS, a local folder otherwise.

Layout (the same in both):
  runs/<YYYY-MM-DD>/<invocation_id>/{run_results,manifest,sources,summary}.json   every run
  runs/<YYYY-MM-DD>/timed-out-<run_key>/summary.json   a run that ended without a record
  in_progress/<run_key>.json                   a run under way (written before dbt starts)
  latest/pointer.json                          names the folder of the last complete build:
  latest/<invocation_id>/{run_results,manifest,summary}.json   written first, the pointer last
  docs/index.html                              the last `docs generate` (one self-contained file)

latest/ moves atomically: a reader follows the pointer (read_latest), so a kill or a failed
upload midway leaves the previous build's files in place and consistent. Only a complete build
(a `build` without --empty that ran every model, seed, snapshot and test: covers_project) moves
it: a partial build's manifest would hide, from state:modified, the models it did not build.

In-progress records: before dbt starts, a run writes in_progress/<run_key>.json (status
"running", started_at, deadline = start + the function's timeout) and removes it once its
summary is stored. A record whose deadline has passed belongs to a run that was killed (the
timeout, out of memory, SIGKILL); the next invocation turns it into a timed-out run (a
summary.json under runs/, which `make runs` lists) and one alert (sweep_stale in run_lifecycle).

`ARTIFACTS_BUCKET_NAME` selects the bucket; without it, the `local` target writes under
`$LOCAL_DATA_DIR/artifacts/`, and any other target keeps no artifacts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping, Protocol

from lambda_logging import REDACTED, mask

# dbt's artifacts copied from the target folder, when the run wrote them.
RUN_FILES = ("run_results.json", "manifest.json", "sources.json")
# What state-aware runs read back from latest/.
STATE_FILES = ("manifest.json", "run_results.json")
LATEST_PREFIX = "latest/"
LATEST_POINTER = "latest/pointer.json"
LATEST_FILES = ("run_results.json", "manifest.json", "summary.json")
IN_PROGRESS_PREFIX = "in_progress/"
# A `build` with any of these never stands for the project: its tables are empty.
NEVER_COMPLETE_OPTIONS = {"--empty"}
# What `dbt build` runs; a complete build has a result for every one of them.
BUILT_RESOURCE_TYPES = {"model", "seed", "snapshot", "test"}


class Store(Protocol):
    location: str

    def put(self, key: str, body: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""

    def where(self, key: str) -> str: ...

    def keys(self, prefix: str) -> list[str]:
        """The keys under prefix, sorted."""

    def delete(self, key: str) -> None: ...


class LocalStore:
    def __init__(self, root: Path):
        self.root = root
        self.location = str(root)

    def put(self, key: str, body: bytes, content_type: str) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(body)
        partial.replace(path)  # readers never see half a file

    def get(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    def where(self, key: str) -> str:
        return str(self.root / key)

    def keys(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in folder.rglob("*")
                      if p.is_file() and not p.name.endswith(".partial"))

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


class S3Store:
    def __init__(self, bucket: str, client: Any = None):
        self.bucket = bucket
        self.location = f"s3://{bucket}"
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # the runtime's (and the layer's); imported only when a bucket is set

            self._client = boto3.client("s3")
        return self._client

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def get(self, key: str) -> bytes | None:
        # List first: the runner may list only latest/ (an s3:prefix condition), and without a
        # list permission S3 answers a GetObject of a missing key with 403, not 404.
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1).get("Contents", [])
        if not any(item["Key"] == key for item in listed):
            return None
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(found)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)


def store_for(local_data_dir: Path | None, env: Mapping[str, str] | None = None) -> Store | None:
    env = os.environ if env is None else env
    bucket = env.get("ARTIFACTS_BUCKET_NAME") or None
    if bucket:
        return S3Store(bucket)
    if local_data_dir is not None:
        return LocalStore(local_data_dir / "artifacts")
    return None


def run_prefix(started_date: str, invocation_id: str) -> str:
    return f"runs/{started_date}/{invocation_id}/"


def may_be_complete(command: list[str] | tuple[str, ...], cli_args: list[str] | tuple[str, ...]) -> bool:
    """A `build` that may stand for the whole project; covers_project() decides from its results."""
    if list(command) != ["build"]:
        return False
    return not any(arg.split("=", 1)[0] in NEVER_COMPLETE_OPTIONS for arg in cli_args)


def covers_project(manifest: bytes, run_results: bytes) -> bool:
    """True when the run built every model, seed and snapshot and ran every test of the project.

    Judged on what ran, not on how it was selected: an ingest's `source:raw.<t>+` build over every
    table is the whole project, a build of one table or with an `--exclude` is not. Ephemeral models
    never run on their own, so they are not asked for.
    """
    try:
        nodes = json.loads(manifest).get("nodes") or {}
        ran = {result.get("unique_id") for result in json.loads(run_results).get("results") or []}
    except (ValueError, AttributeError):
        return False
    wanted = {unique_id for unique_id, node in nodes.items()
              if node.get("resource_type") in BUILT_RESOURCE_TYPES
              and (node.get("config") or {}).get("materialized") != "ephemeral"}
    return bool(wanted) and wanted <= ran


@dataclass(frozen=True)
class Latest:
    folder: str  # e.g. latest/<invocation_id>/ (or latest/ for a layout from before the pointer)
    invocation_id: str | None
    files: dict[str, bytes]


def read_latest(store: Store, names: tuple[str, ...] = LATEST_FILES) -> Latest | None:
    """The last complete build's files, following latest/pointer.json; None when there is none.

    The one reader of latest/: state.py and the operations scripts use it. Without a pointer
    (artifacts written before it existed) the flat latest/ files are read, as they were.
    """
    pointer = store.get(LATEST_POINTER)
    if pointer is not None:
        target = json.loads(pointer)
        folder = str(target["folder"])
        if not folder.startswith(LATEST_PREFIX) or ".." in folder:
            raise ValueError(f"{store.where(LATEST_POINTER)} names {folder!r}, not a folder under latest/")
        invocation_id = target.get("invocation_id")
    else:
        folder, invocation_id = LATEST_PREFIX, None
    files = {name: body for name in names if (body := store.get(folder + name)) is not None}
    # A build is known by its manifest; a reader that asks only for other files (a stepped build's
    # run history) gets them when they are there.
    if not files or ("manifest.json" in names and "manifest.json" not in files):
        return None
    return Latest(folder, invocation_id, files)


def write_latest(store: Store, invocation_id: str, files: Mapping[str, bytes]) -> str:
    """Make these files the latest/ build: the run's folder first, the pointer last. Returns the folder."""
    folder = f"{LATEST_PREFIX}{invocation_id}/"
    previous = store.get(LATEST_POINTER)
    for name, body in files.items():
        store.put(folder + name, body, content_type(name))
    pointer = {"folder": folder, "invocation_id": invocation_id, "files": sorted(files),
               "written_at": _now_iso()}
    store.put(LATEST_POINTER, json.dumps(pointer, indent=2).encode(), "application/json")
    # Older builds' folders go; the one the pointer named until now stays one more build, for a
    # reader that followed the old pointer a moment ago.
    keep = {folder, json.loads(previous).get("folder") if previous else None}
    for key in store.keys(LATEST_PREFIX):
        parts = key.split("/")
        if len(parts) == 3 and f"{parts[0]}/{parts[1]}/" not in keep:
            store.delete(key)
    return folder


def in_progress_key(run_key: str) -> str:
    return f"{IN_PROGRESS_PREFIX}{run_key}.json"


def in_progress_record(*, run_key: str, command: list[str], trigger: str, target: str | None,
                       environment: str, request_id: str | None, started: datetime,
                       timeout_seconds: float) -> dict[str, Any]:
    """The record a run writes before dbt starts (command already redacted)."""
    return {
        "status": "running",
        "run_key": run_key,
        "command": list(command),
        "trigger": trigger,
        "target": target,
        "environment": environment,
        "request_id": request_id,
        "started_at": _iso(started),
        "timeout_seconds": timeout_seconds,
        "deadline": _iso(started + timedelta(seconds=timeout_seconds)),
    }


def timed_out_summary(record: Mapping[str, Any], found_at: datetime) -> tuple[str, dict[str, Any]]:
    """(run folder, summary.json) of a run whose in-progress record outlived its deadline."""
    run_key = str(record["run_key"])
    started = _parse_iso(str(record["started_at"]))
    invocation_id = f"timed-out-{run_key}"
    prefix = run_prefix(started.strftime("%Y-%m-%d"), invocation_id)
    summary = {
        "status": "timed_out",
        "command": list(record.get("command") or []),
        "elapsed_seconds": record.get("timeout_seconds"),
        "counts": {},
        "nodes": [],
        "error": (f"the run ended without a record: no summary by its deadline {record.get('deadline')} "
                  f"(function timeout {record.get('timeout_seconds')} s). Killed at the timeout, out of "
                  "memory or by the runtime; its Athena queries may have run on"),
        "invocation_id": invocation_id,
        "trigger": record.get("trigger"),
        "target": record.get("target"),
        "environment": record.get("environment"),
        "request_id": record.get("request_id"),
        "started_at": record.get("started_at"),
        "finished_at": None,
        "found_at": _iso(found_at),
    }
    return prefix, summary


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _now_iso() -> str:
    return _iso(datetime.now(timezone.utc))


def content_type(name: str) -> str:
    return "text/html; charset=utf-8" if name.endswith(".html") else "application/json"


# dbt's args that may carry credentials (cli_args.SECRET_VALUES), as run_results.json names them.
_SECRET_ARGS = ("vars", "args")


def scrub_run_results(body: bytes) -> bytes:
    """dbt's run_results.json as the runner stores it: --vars/--args values redacted, messages masked.

    dbt writes the invocation's args (with the --vars and --args values) and the database's error
    messages (which may echo row values) into the file; the stored copy keeps neither. A body that
    is not dbt's JSON is replaced by a note rather than stored as it is.
    """
    try:
        document = json.loads(body)
    except ValueError:
        return json.dumps({"unreadable": "run_results.json was not valid JSON; not stored"}).encode()
    args = document.get("args")
    if isinstance(args, dict):
        for name in _SECRET_ARGS:
            if args.get(name) not in (None, {}, ""):
                args[name] = REDACTED
    for result in document.get("results") or []:
        if isinstance(result, dict) and isinstance(result.get("message"), str):
            result["message"] = mask(result["message"])
    return json.dumps(document, indent=2).encode()
