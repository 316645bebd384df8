"""Ship the dbt project to an env without a package or a deploy: `make ship-project ENV=<env> [BUNDLE=<sha256>]`.

  1. pack dbt/ into a bundle: the function package's dbt/ files and determinism rules
     (build_package.dbt_entries, deterministic_zip), named by the sha256 of the zip;
  2. upload it to the env's artifacts bucket as projects/bundles/<sha256>.zip, SSE-KMS with the
     bucket's own key (skipped when that object is already there: same content, same name);
  3. ask the runner to parse it, in a dry-run invocation ({"validate_bundle": "<sha256>"});
  4. only then write the env's pointer projects/current ({"bundle": ..., "previous": ...}), last.

A bundle that does not parse never becomes current: the command fails with dbt's error, which
names the file. `--bundle <sha256>` (BUNDLE=) skips 1-2 and re-points to a bundle already
uploaded, validated again: that is the rollback. `--ci-pr <n>` uploads the bundle under the pull
request's prefix (ci/pr_<n>/bundles/) for the CI event instead, and moves no pointer.

The runner is invoked through one function, `invoke_runner(function_name, payload)`; the tests
replace it with the handler called in-process, because moto runs no Lambda code (the one gap).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
BUNDLES_PREFIX = "projects/bundles/"
POINTER_KEY = "projects/current"
# What changed since the last good build, deferring to it (as build_changed.py after an apply).
BUILD_CHANGED = {"command": ["build"], "cli_args": ["--select", "state:modified+"], "state": "latest", "defer": True}


class ShipError(RuntimeError):
    """Shipping stopped; the pointer was not moved. The message says why."""


# invoke_runner(function_name, payload) -> the runner's response; raises ShipError when the
# function failed (its error message in the exception).
InvokeRunner = Callable[[str, dict], dict]


def lambda_invoke(function_name: str, payload: dict) -> dict:
    """Invoke the deployed runner synchronously (make invoke's call) and return its response."""
    import boto3

    from scripts.operations import invoke

    runner = invoke.Runner(function_name, boto3.session.Session().region_name)
    succeeded, body = invoke.invoke(runner, payload)
    if not succeeded:
        raise ShipError(f"{function_name} refused the bundle: {body.get('errorMessage', body)}")
    return body


@dataclass(frozen=True)
class Bundle:
    name: str
    path: Path
    files: int
    size: int


def pack(dbt_dir: Path, out_dir: Path) -> Bundle:
    """The project as a deterministic zip named by its sha256: the package's dbt/ files, byte for byte."""
    from scripts.packaging import build_package, deterministic_zip

    entries = build_package.dbt_entries(dbt_dir.resolve())
    scratch = out_dir / "bundle.zip"
    summary = deterministic_zip.write(scratch, entries)
    path = out_dir / f"{summary.sha256}.zip"
    scratch.replace(path)
    return Bundle(summary.sha256, path, summary.files, summary.zipped_bytes)


def bucket_key(s3: Any, bucket: str) -> str | None:
    """The bucket's default KMS key (uploads name it, so they never fall back to aws/s3's key)."""
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    for rule in rules:
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse") and default.get("KMSMasterKeyID"):
            return default["KMSMasterKeyID"]
    return None


def exists(s3: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def read_pointer(s3: Any, bucket: str) -> dict | None:
    from botocore.exceptions import ClientError

    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=POINTER_KEY)["Body"].read())
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return None
        raise


def upload(s3: Any, bucket: str, key: str, path: Path, *, ci: bool = False) -> bool:
    """Put the bundle (SSE-KMS, the bucket's key); False when it was already there.

    `ci`: the CI role may only put under ci/ (no read, no bucket configuration), so the bundle is
    put as it is and the bucket's default encryption (its KMS key) applies.
    """
    if ci:
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType="application/zip")
        return True
    if exists(s3, bucket, key):
        return False
    kms = bucket_key(s3, bucket)
    extra = {"ServerSideEncryption": "aws:kms", **({"SSEKMSKeyId": kms} if kms else {})}
    s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType="application/zip", **extra)
    return True


def ship(*, bucket: str, function_name: str, dbt_dir: Path = REPO / "dbt", bundle: str | None = None,
         ci_pr: int | None = None, invoke_runner: InvokeRunner = lambda_invoke, s3: Any = None,
         say: Callable[[str], None] = print) -> dict:
    """Ship (or, with `bundle`, re-point to) a bundle. Returns what was done; raises ShipError."""
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ship-project-") as scratch:
        if bundle is None:
            packed = pack(dbt_dir, Path(scratch))
            name = packed.name
            timings["pack"] = time.perf_counter() - started
            say(f"bundle {name}: {packed.files} files, {packed.size:,} bytes")
            prefix = f"ci/pr_{ci_pr}/bundles/" if ci_pr is not None else BUNDLES_PREFIX
            key = f"{prefix}{name}.zip"
            fresh = upload(s3, bucket, key, packed.path, ci=ci_pr is not None)
            timings["upload"] = time.perf_counter() - started - timings["pack"]
            say(f"{'uploaded' if fresh else 'already there'}: s3://{bucket}/{key}")
            if ci_pr is not None:
                return {"bundle": name, "key": key, "pointer_moved": False, "timings": timings}
        else:
            name = bundle
            key = f"{BUNDLES_PREFIX}{name}.zip"
            if not exists(s3, bucket, key):
                raise ShipError(f"no bundle s3://{bucket}/{key} to roll back to; `make runs` and the pointer's "
                                "'previous' name the bundles that were current")
            say(f"re-pointing to the uploaded bundle s3://{bucket}/{key}")
    mark = time.perf_counter()
    try:
        result = invoke_runner(function_name, {"validate_bundle": name})
    except ShipError:
        raise
    except Exception as error:  # the in-process runner raises its own errors: the same outcome
        raise ShipError(f"{function_name} refused the bundle: {type(error).__name__}: {error}") from None
    timings["validate"] = time.perf_counter() - mark
    if not isinstance(result, dict) or result.get("status") != "valid" or result.get("bundle") != name:
        raise ShipError(f"{function_name} did not validate bundle {name}: {str(result)[:500]}")
    say(f"validated by {function_name}: {result.get('parsed')}")
    previous = read_pointer(s3, bucket)
    previous_name = (previous or {}).get("bundle")
    body = json.dumps({"bundle": name, "previous": previous_name,
                       "shipped_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}, sort_keys=True).encode()
    kms = bucket_key(s3, bucket)
    s3.put_object(Bucket=bucket, Key=POINTER_KEY, Body=body, ContentType="application/json",
                  ServerSideEncryption="aws:kms", **({"SSEKMSKeyId": kms} if kms else {}))
    timings["total"] = time.perf_counter() - started
    say(f"s3://{bucket}/{POINTER_KEY} -> {name} (was {previous_name or 'none: the packaged project'})")
    return {"bundle": name, "previous": previous_name, "pointer_moved": True, "key": key, "timings": timings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--env", help="the env: its artifacts bucket from terraform outputs, its runner <env>-dbt-runner")
    where.add_argument("--bucket", help="the artifacts bucket (then --function-name too)")
    parser.add_argument("--function-name", help="the runner (default <env>-dbt-runner)")
    parser.add_argument("--bundle", help="re-point to this uploaded bundle (rollback); nothing is packed")
    parser.add_argument("--ci-pr", type=int, help="upload under ci/pr_<n>/bundles/ for a pull request's CI build; no pointer")
    parser.add_argument("--dbt-dir", type=Path, default=REPO / "dbt")
    parser.add_argument("--build", action="store_true",
                        help="then build what changed: state:modified+ against latest/, deferring (deploy.yml)")
    args = parser.parse_args(argv)

    from dbt_runner.ci_build import bundle_name, pr_number
    from dbt_runner.events import EventError

    try:
        if args.bundle:
            bundle_name(args.bundle, "BUNDLE", required=True)
        if args.ci_pr is not None:
            pr_number(args.ci_pr, "--ci-pr")
    except EventError as error:
        print(f"ship-project: {error}", file=sys.stderr)
        return 2
    function_name = args.function_name or (f"{args.env}-dbt-runner" if args.env else None)
    if function_name is None and args.ci_pr is None:
        parser.error("--bucket needs --function-name")
    try:
        if args.env:
            from scripts.operations.artifact_source import SourceError, bucket_of

            try:
                bucket = bucket_of(args.env)
            except SourceError as error:
                raise ShipError(str(error)) from None
        else:
            bucket = args.bucket
        result = ship(bucket=bucket, function_name=function_name or "", dbt_dir=args.dbt_dir,
                      bundle=args.bundle, ci_pr=args.ci_pr)
    except ShipError as error:
        print(f"ship-project: {error}\nship-project: the pointer was not moved", file=sys.stderr)
        return 1
    if args.ci_pr is not None:
        print(json.dumps({"bundle": result["bundle"], "key": result["key"]}))
        return 0
    if args.build:
        try:
            built = lambda_invoke(function_name or "", BUILD_CHANGED)
        except ShipError as error:
            print(f"ship-project: the bundle is current, and the build of what changed failed: {error}", file=sys.stderr)
            return 1
        print(f"built what changed: {built.get('status')} {built.get('counts')} -> {built.get('artifacts')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
