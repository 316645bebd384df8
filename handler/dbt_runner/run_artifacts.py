"""Where every dbt run leaves its artifacts: the artifacts bucket in AWS, a local folder otherwise.

Layout (the same in both):
  runs/<YYYY-MM-DD>/<invocation_id>/{run_results,manifest,sources,summary}.json   every run
  latest/{run_results,manifest,summary}.json   the last successful build/run/seed/snapshot
  docs/index.html                              the last `docs generate` (one self-contained file)

`ARTIFACTS_BUCKET_NAME` selects the bucket; without it, the `local` target writes under
`$LOCAL_DATA_DIR/artifacts/`, and any other target keeps no artifacts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Protocol

from lambda_logging import REDACTED, mask

# dbt's artifacts copied from the target folder, when the run wrote them.
RUN_FILES = ("run_results.json", "manifest.json", "sources.json")
# What state-aware runs read back from latest/.
STATE_FILES = ("manifest.json", "run_results.json")
BUILDING_COMMANDS = {"build", "run", "seed", "snapshot"}


class Store(Protocol):
    location: str

    def put(self, key: str, body: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""

    def where(self, key: str) -> str: ...


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
