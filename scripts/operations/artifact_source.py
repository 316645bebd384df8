"""Where `make runs` and `make docs` read run artifacts: a local folder or an env's bucket.

With `--env <env>`, the bucket is the `artifacts_bucket` output of the env's Terraform state,
read with `terraform -chdir=cdktf.out/stacks/<env> output` (so the stack must have been
initialised there); `--bucket` names it directly. Without either, the local target's folder:
`--local-dir`, else `$LOCAL_DATA_DIR/artifacts`, else `.local/artifacts`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parents[2]


class SourceError(RuntimeError):
    """No artifacts location could be found; the message says what to do."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--env", help="read the env's artifacts bucket (from terraform outputs of cdktf.out/stacks/<env>)")
    where.add_argument("--bucket", help="read this artifacts bucket")
    where.add_argument("--local-dir", type=Path, help="read this local artifacts folder")


class LocalSource:
    def __init__(self, root: Path):
        self.root = root
        self.location = str(root)

    def children(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def read(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    # The reading half of dbt_runner.run_artifacts.Store, so run_artifacts.read_latest follows
    # latest/pointer.json here exactly as the runner does.
    get = read

    def where(self, key: str) -> str:
        return str(self.root / key)


class S3Source:
    def __init__(self, bucket: str, client: Any = None):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.location = f"s3://{bucket}"
        # SigV4: pre-signed URLs carry their expiry (X-Amz-Expires) and work in every region.
        self.client = client or boto3.client("s3", config=Config(signature_version="s3v4"))

    def children(self, prefix: str) -> list[str]:
        """Names of the 'folders' right under prefix (runs/ -> dates, runs/<date>/ -> invocation ids)."""
        names: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            names += [p["Prefix"][len(prefix):].rstrip("/") for p in page.get("CommonPrefixes", [])]
        return sorted(names)

    def read(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    get = read  # see LocalSource.get

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def resolve(args: argparse.Namespace) -> LocalSource | S3Source:
    if args.bucket:
        return S3Source(args.bucket)
    if args.env:
        return S3Source(bucket_of(args.env))
    root = args.local_dir or Path(os.environ.get("LOCAL_DATA_DIR") or REPO / ".local") / "artifacts"
    return LocalSource(root.resolve())


def bucket_of(env: str, stacks: Path = REPO / "cdktf.out" / "stacks") -> str:
    stack = stacks / env
    if not (stack / "cdk.tf.json").is_file():
        raise SourceError(f"--env {env}: no synthesized stack at {stack}; run `make synth` and `terraform init` there, "
                          "or pass --bucket <artifacts bucket>")
    if shutil.which("terraform") is None:
        raise SourceError(f"--env {env}: terraform is not on PATH; pass --bucket <artifacts bucket> instead")
    result = subprocess.run(["terraform", f"-chdir={stack}", "output", "-no-color", "-json"], capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line.strip(" │╷╵") for line in result.stderr.splitlines() if line.strip(" │╷╵")]
        detail = next((line for line in lines if line.startswith("Error:")), lines[-1] if lines else "no output")
        raise SourceError(f"--env {env}: `terraform output` failed in {stack} ({detail}); run `terraform init` with the "
                          "backend config there first, or pass --bucket <artifacts bucket>")
    outputs = json.loads(result.stdout or "{}")
    bucket = (outputs.get("artifacts_bucket") or {}).get("value")
    if not bucket:
        raise SourceError(f"--env {env}: the state has no artifacts_bucket output (not applied yet?); "
                          "pass --bucket <artifacts bucket>")
    return str(bucket)


def recent_runs(source: LocalSource | S3Source, limit: int) -> Iterator[dict]:
    """The newest runs' summary.json records, newest first, reading only as many dates as needed."""
    found: list[dict] = []
    for date in reversed(source.children("runs/")):
        for invocation in source.children(f"runs/{date}/"):
            body = source.read(f"runs/{date}/{invocation}/summary.json")
            if body is None:  # a run still uploading, or one whose upload failed half-way
                found.append({"invocation_id": invocation, "started_at": f"{date}T??", "status": "incomplete"})
                continue
            found.append(json.loads(body))
        if len(found) >= limit:
            break
    found.sort(key=lambda run: str(run.get("started_at", "")), reverse=True)
    yield from found[:limit]
