"""How the runner reads an ingest manifest: S3 GetObject in AWS, a file under LOCAL_DATA_DIR locally.

Each reader is a `read_object(bucket, key) -> bytes` for events.parse; it raises KeyError when
the object cannot be read. The S3 reader takes a client, so tests (and other callers) can hand
it one pointed at any endpoint.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from dbt_runner.events import MAX_MANIFEST_BYTES, ReadObject
from dbt_runner.settings import Settings


def s3_reader(client: Any = None) -> ReadObject:
    """Read objects with boto3's GetObject (the container's client, created on first use, when not given)."""

    def read_object(bucket: str, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = (client or _default_client()).get_object(Bucket=bucket, Key=key)
            # One byte over the limit is enough for the parser to refuse the object.
            return response["Body"].read(MAX_MANIFEST_BYTES + 1)
        except ClientError as error:
            raise KeyError(error.response.get("Error", {}).get("Code") or "GetObject failed") from None
        except BotoCoreError as error:
            raise KeyError(type(error).__name__) from None

    return read_object


def local_reader(data_dir: Path) -> ReadObject:
    """Read `<data_dir>/<key>`: the local raw zone has the bucket's layout (the bucket name is unused)."""

    def read_object(bucket: str, key: str) -> bytes:
        path = Path(data_dir) / key
        try:
            with path.open("rb") as handle:
                return handle.read(MAX_MANIFEST_BYTES + 1)
        except OSError as error:
            raise KeyError(f"{error.strerror or error} at {path}") from None

    return read_object


@functools.lru_cache(maxsize=1)
def _default_client() -> Any:
    import boto3

    return boto3.client("s3")


def reader_for(settings: Settings) -> ReadObject:
    """The local folder on the local target, S3 everywhere else."""
    if settings.local_data_dir is not None:
        return local_reader(settings.local_data_dir)
    return s3_reader()
