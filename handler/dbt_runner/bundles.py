"""Project bundles: the dbt project shipped on its own, without a package or an infrastructure deploy.

In the artifacts bucket (`make ship-project`, scripts/operations/ship_project.py, writes them):

  projects/bundles/<sha256>.zip   a bundle: the project's files under dbt/, the package's files and
                                  determinism rules (build_package.dbt_entries, deterministic_zip),
                                  named by the sha256 of the zip's bytes
  projects/current                the env's pointer, {"bundle": "<sha256>", ...}, written last, and
                                  only after the runner parsed that bundle ({"validate_bundle": ...})
  ci/pr_<n>/bundles/<sha256>.zip  a pull request's bundle (the CI event's "bundle")

Which project a run uses (`select`): a CI event's bundle; else, when the runner has an artifacts
bucket and no DBT_PROJECT_DIR, the bundle `projects/current` names; else the packaged project.
The pointer is checked on every invocation with one conditional GET (If-None-Match: the ETag seen
last), so an unchanged pointer costs one 304 and no download; the cost is logged
(`dbt_project`, `pointer_check_ms`). A bundle is downloaded and unpacked once per container
(`/tmp/dbt-runner/bundles/<sha256>/dbt`), its sha256 checked against its name. With no pointer, the
packaged project runs and a warning is logged. Every run's summary says which (`project`).

The warm manifest keys on the project's files and folder, so a new bundle parses once and later
warm calls reuse that parse; the package's shipped parse matches a bundle only if the bundle's files
are the packaged project's (its key is the files' content, not where they sit).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from dbt_runner import settings
from dbt_runner.ci_build import CiBuild, apply_env, bundle_name
from dbt_runner.events import EventError
from dbt_runner.jsonlog import log

BUNDLES_PREFIX = "projects/bundles/"
POINTER_KEY = "projects/current"
PROJECT_FOLDER = "dbt"  # a bundle's files sit under dbt/, as in the function package
MAX_BUNDLE_BYTES = 50 * 1024 * 1024  # zipped; Lambda's /tmp must hold it unpacked too
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_FILES = 20_000


class BundleError(RuntimeError):
    """A bundle cannot be used: missing, altered, unsafe, or it does not parse. Names the file."""


def bundle_key(name: str) -> str:
    return f"{BUNDLES_PREFIX}{name}.zip"


def ci_bundle_key(ci: CiBuild, name: str) -> str:
    return f"{ci.prefix}bundles/{name}.zip"


def pointer_body(name: str, **extra: Any) -> bytes:
    return json.dumps({"bundle": name, **extra}, sort_keys=True).encode()


@dataclass
class _Container:
    """What this container knows of the pointer and of the bundles it unpacked."""

    etag: str | None = None
    current: str | None = None  # the bundle the pointer named at `etag`
    # By the object's key, not only its name: a PR's CI event finds a bundle under its own prefix
    # or not at all, even when this container unpacked the same bundle for another PR.
    unpacked: dict[str, Path] = field(default_factory=dict)


_SEEN = _Container()
_CLIENTS: dict[tuple, Any] = {}


def s3_client() -> Any:
    """One S3 client per endpoint and region for the container's life (creating one costs ~0.1 s)."""
    key = (os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION"), os.environ.get("AWS_ACCESS_KEY_ID"))
    if key not in _CLIENTS:
        import boto3

        _CLIENTS[key] = boto3.client("s3")
    return _CLIENTS[key]


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """Bundles apply to the runner's own project in a deployed env: an artifacts bucket, no DBT_PROJECT_DIR."""
    env = os.environ if env is None else env
    return bool(env.get("ARTIFACTS_BUCKET_NAME")) and not env.get("DBT_PROJECT_DIR")


def select(config: settings.Settings, ci: CiBuild | None, request_id: str | None = None,
           env: Mapping[str, str] | None = None) -> tuple[settings.Settings, dict[str, Any]]:
    """(the settings for the project this run uses, the `project` note for its summary)."""
    env = os.environ if env is None else env
    bucket = env.get("ARTIFACTS_BUCKET_NAME")
    if ci is not None and ci.bundle is not None:
        if not bucket:
            raise EventError("ci.bundle", "this runner has no artifacts bucket to read a pull request's bundle from")
        directory = unpack(bucket, ci_bundle_key(ci, ci.bundle), ci.bundle)
        note = {"source": "bundle", "bundle": ci.bundle, "key": ci_bundle_key(ci, ci.bundle)}
        log("dbt_project", request_id=request_id, **note)
        return for_project(config, directory, env), note
    if not enabled(env):
        return config, {"source": "package" if config.project_dir == settings.DEFAULT_PROJECT_DIR else "directory",
                        "bundle": None}
    s3_client()  # made once per container; the figure below is the request alone
    started = time.perf_counter()
    name = current(bucket)
    check_ms = round((time.perf_counter() - started) * 1000, 1)
    if name is None:
        note = {"source": "package", "bundle": None, "pointer_check_ms": check_ms}
        log("dbt_project_pointer_missing", level="warning", request_id=request_id, pointer=f"s3://{bucket}/{POINTER_KEY}",
            pointer_check_ms=check_ms, reason="no projects/current: running the packaged project")
        return config, note
    directory = unpack(bucket, bundle_key(name), name)
    note = {"source": "bundle", "bundle": name, "pointer_check_ms": check_ms}
    log("dbt_project", request_id=request_id, **note)
    return for_project(config, directory, env), note


def for_project(config: settings.Settings, directory: Path, env: Mapping[str, str]) -> settings.Settings:
    """The settings with the bundle's project (and its profiles.yml, unless DBT_PROFILES_DIR is set)."""
    loaded = settings.load({**env, "DBT_PROJECT_DIR": str(directory)})
    return loaded if env.get("DBT_PROFILES_DIR") else replace(loaded, profiles_dir=directory)


def current(bucket: str) -> str | None:
    """The bundle `projects/current` names: one conditional GET (a 304 when it has not changed)."""
    from botocore.exceptions import ClientError

    client = s3_client()
    kwargs = {"Bucket": bucket, "Key": POINTER_KEY}
    if _SEEN.etag is not None:
        kwargs["IfNoneMatch"] = _SEEN.etag
    try:
        response = client.get_object(**kwargs)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code"))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 304 or code in ("304", "NotModified"):
            return _SEEN.current
        if code in ("NoSuchKey", "404", "AccessDenied", "403"):  # 403: a missing key without s3:ListBucket
            _SEEN.etag = _SEEN.current = None
            return None
        raise
    body = response["Body"].read(64 * 1024)
    try:
        name = json.loads(body)["bundle"]
        bundle_name(name, "projects/current: bundle", required=True)
    except (ValueError, KeyError, TypeError, EventError) as error:
        raise BundleError(f"s3://{bucket}/{POINTER_KEY} is not a bundle pointer ({error})") from None
    _SEEN.etag, _SEEN.current = response.get("ETag"), name
    return name


def unpack(bucket: str, key: str, name: str) -> Path:
    """The bundle's project folder under /tmp, downloaded and checked once per container."""
    known = _SEEN.unpacked.get(key)
    if known is not None and (known / "dbt_project.yml").is_file():
        return known
    from botocore.exceptions import ClientError

    try:
        response = s3_client().get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        raise BundleError(f"s3://{bucket}/{key}: cannot read the bundle "
                          f"({error.response.get('Error', {}).get('Code')})") from None
    data = response["Body"].read(MAX_BUNDLE_BYTES + 1)
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(f"s3://{bucket}/{key}: larger than {MAX_BUNDLE_BYTES} bytes")
    if hashlib.sha256(data).hexdigest() != name:
        raise BundleError(f"s3://{bucket}/{key}: its sha256 is not its name (altered or incomplete)")
    project = _extract(data, name, f"s3://{bucket}/{key}")
    _SEEN.unpacked[key] = project
    return project


def bundles_root() -> Path:
    return Path(tempfile.gettempdir()) / "dbt-runner" / "bundles"


def _extract(data: bytes, name: str, where: str) -> Path:
    root = bundles_root()
    final = root / name
    project = final / PROJECT_FOLDER
    if (project / "dbt_project.yml").is_file():
        return project
    staging = root / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    total = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        if len(members) > MAX_FILES:
            raise BundleError(f"{where}: more than {MAX_FILES} files")
        for member in members:
            path = PurePosixPath(member.filename)
            if (path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] != PROJECT_FOLDER
                    or "\\" in member.filename):
                raise BundleError(f"{where}: {member.filename[:200]!r} is not a file of the project's dbt/ folder")
            total += member.file_size
            if total > MAX_UNPACKED_BYTES:
                raise BundleError(f"{where}: more than {MAX_UNPACKED_BYTES} bytes unpacked")
            if member.is_dir():
                continue
            target = staging.joinpath(*path.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
    if not (staging / PROJECT_FOLDER / "dbt_project.yml").is_file():
        shutil.rmtree(staging, ignore_errors=True)
        raise BundleError(f"{where}: no dbt/dbt_project.yml in the bundle")
    # Keep only what this container may use again: the bundle being unpacked and the one in use.
    for old_key, old in list(_SEEN.unpacked.items()):
        if old.parent.name not in (name, _SEEN.current):
            shutil.rmtree(old.parent, ignore_errors=True)
            del _SEEN.unpacked[old_key]
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return project


# --- the dry run: {"validate_bundle": "<sha256>"} ---------------------------------------------


def is_validation(event: Any) -> bool:
    return isinstance(event, dict) and "validate_bundle" in event


def validate(event: dict, config: settings.Settings, session: Any, request_id: str | None = None) -> dict[str, Any]:
    """Parse projects/bundles/<name>.zip with this env's target; raises BundleError naming the file.

    Runs nothing against the warehouse: `dbt parse` only. The parse is kept as the container's
    warm manifest, so the first run after the pointer moves reuses it.
    """
    from dbt_runner import project
    from dbt_runner.cli_args import plan
    from dbt_runner.events import Request

    unknown = sorted(set(event) - {"validate_bundle"})
    if unknown:
        raise EventError(unknown[0], "unexpected key; a validation event has only 'validate_bundle'")
    name = bundle_name(event["validate_bundle"], "validate_bundle", required=True)
    bucket = os.environ.get("ARTIFACTS_BUCKET_NAME")
    if not bucket:
        raise EventError("validate_bundle", "this runner has no artifacts bucket (ARTIFACTS_BUCKET_NAME) to read bundles from")
    started = time.perf_counter()
    apply_env(None)  # the env's own names, whatever a CI request before this one set
    directory = unpack(bucket, bundle_key(name), name)
    bundle_config = for_project(config, directory, os.environ)
    invocation = plan(Request("invoke", ("parse",), (), "cli_args"), bundle_config)
    settings.apply(bundle_config)
    key = project.fingerprint(bundle_config.project_dir, bundle_config.profiles_dir, invocation.cache_inputs)
    outcome = session.invoke("parse", invocation.args, invocation.parse_args, key)
    result = outcome.result
    elapsed = round(time.perf_counter() - started, 3)
    if not result.success:
        detail = f"{type(result.exception).__name__}: {result.exception}" if result.exception else "dbt parse failed"
        detail = detail.replace(str(directory) + "/", "")  # paths as in the repository's dbt/ folder
        log("dbt_bundle_invalid", level="error", request_id=request_id, bundle=name, error=detail[:1000],
            elapsed_seconds=elapsed)
        raise BundleError(f"bundle {name} does not parse: {detail[:2000]}")
    manifest = result.result
    summary = {"status": "valid", "bundle": name, "elapsed_seconds": elapsed,
               "parsed": {"nodes": len(manifest.nodes), "sources": len(manifest.sources), "macros": len(manifest.macros)}}
    log("dbt_bundle_valid", request_id=request_id, bundle=name, elapsed_seconds=elapsed)
    return summary


def forget() -> None:
    """Drop what this container remembers of the pointer (tests: a new container)."""
    _SEEN.etag = _SEEN.current = None
    _SEEN.unpacked.clear()
    _CLIENTS.clear()
