"""After a deploy: rebuild the models the deployed dbt project changed since the last good build.

  make build-changed ENV=dev [ARGS=--dry-run]     (python -m scripts.operations.build_changed --env dev)

The same entry after `npx cdktf deploy` from a laptop and after deploy.yml's apply. It compares
manifest with manifest: the project in the deployed package (build/function.zip's dbt/, parsed
here on the local DuckDB target: file checksums do not depend on the target) against the last
good build's manifest in the env's artifacts bucket (latest/). When a model, seed, snapshot,
test, source or macro was added or changed, it invokes the runner with

  {"command": ["build"], "cli_args": ["--select", "state:modified+"], "state": "latest", "defer": true}

so dbt builds exactly what changed since that build and what depends on it; with no latest/ yet
that is a first, full build. Nothing changed: nothing is invoked. If the runner is busy
(reserved concurrency 1), the build is queued asynchronously instead, and its result reaches
the alert topic like any other run. The runner comes from the synthesized stack and the bucket
from the env's Terraform outputs (as `make invoke` and `make runs ENV=` find them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from dbt_runner import run_artifacts
from scripts.operations.artifact_source import REPO, S3Source, SourceError, bucket_of

EVENT = {"command": ["build"], "cli_args": ["--select", "state:modified+"], "state": "latest", "defer": True}
FUNCTION_ZIP = REPO / "build" / "function.zip"
#: Manifest sections whose entries a change in makes `state:modified` select something.
COMPARED = ("nodes", "sources", "macros", "seeds", "snapshots")


def read_latest_manifest(source: Any) -> dict | None:
    """The last good build's manifest, or None before the first one: the runner's own reader
    (dbt_runner.run_artifacts.read_latest), which follows latest/pointer.json."""
    latest = run_artifacts.read_latest(source, names=("manifest.json",))
    if latest is None or "manifest.json" not in latest.files:
        return None
    return json.loads(latest.files["manifest.json"])


def fingerprints(manifest: dict) -> dict[str, str]:
    """unique_id -> what a change shows in: the file checksum of a node, a macro's SQL, a source's definition."""
    found: dict[str, str] = {}
    for section in COMPARED:
        for unique_id, entry in (manifest.get(section) or {}).items():
            if unique_id.startswith("macro.") and entry.get("package_name") != manifest.get("metadata", {}).get("project_name", entry.get("package_name")):
                continue  # dbt's and the adapters' own macros come with the layer, not the project
            checksum = (entry.get("checksum") or {}).get("checksum")
            # A source's location and schema differ by target (and locally by folder): its columns do not.
            columns = {name: (c or {}).get("data_type") for name, c in (entry.get("columns") or {}).items()}
            found[unique_id] = checksum or entry.get("macro_sql") or json.dumps(
                {"columns": columns, "identifier": entry.get("identifier")}, sort_keys=True)
    return found


def changed_nodes(deployed: dict, latest: dict | None) -> list[str]:
    """What the deployed project added or changed since `latest` (everything when there is none)."""
    mine = fingerprints(deployed)
    if latest is None:
        return sorted(mine)
    theirs = fingerprints(latest)
    return sorted(uid for uid, value in mine.items() if theirs.get(uid) != value)


def deployed_manifest(function_zip: Path = FUNCTION_ZIP, project_dir: Path | None = None) -> dict:
    """The manifest of the dbt project in the deployed package (or of `project_dir`), parsed on DuckDB."""
    with tempfile.TemporaryDirectory(prefix="build-changed-") as tmp:
        if project_dir is None:
            if not function_zip.is_file():
                raise SourceError(f"no deployed package at {function_zip}; run `make package` (what the deploy uploaded)")
            with zipfile.ZipFile(function_zip) as archive:
                archive.extractall(tmp, [n for n in archive.namelist() if n.startswith("dbt/")])
            project_dir = Path(tmp) / "dbt"
        target = Path(tmp) / "target"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
        env.update(LOCAL_DATA_DIR=str(Path(tmp) / "local"), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        done = subprocess.run(
            [sys.executable, "-m", "dbt.cli.main", "parse", "--project-dir", str(project_dir), "--profiles-dir",
             str(project_dir), "--target", "local", "--target-path", str(target), "--log-path", str(Path(tmp) / "logs"),
             "--no-partial-parse", "--quiet"],
            env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise SourceError(f"dbt parse of the deployed project failed:\n{(done.stdout + done.stderr)[-1500:]}")
        return json.loads((target / "manifest.json").read_text())


def main(argv: list[str] | None = None) -> int:
    from scripts.operations import invoke

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, choices=["dev", "prod"], help="the env that was just deployed")
    parser.add_argument("--bucket", help="its artifacts bucket (default: the artifacts_bucket output of its state)")
    parser.add_argument("--dry-run", action="store_true", help="say what changed and what would be invoked, invoke nothing")
    args = parser.parse_args(argv)
    try:
        runner = invoke.runner_of(args.env)
        source = S3Source(args.bucket or bucket_of(args.env))
        latest = read_latest_manifest(source)
        changed = changed_nodes(deployed_manifest(), latest)
    except (SourceError, invoke.InvokeError) as error:
        print(f"build_changed: {error}", file=sys.stderr)
        return 2
    if not changed:
        print(f"The deployed project matches the last good build ({source.where(run_artifacts.LATEST_POINTER)}): no dbt build needed.")
        return 0
    why = "no last good build yet: a first, full build" if latest is None else \
        f"{len(changed)} changed since the last good build: {', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''}"
    print(f"{runner.function_name}: {why}; invoking {json.dumps(EVENT)}", flush=True)
    return 0 if args.dry_run else _invoke(runner)


def _invoke(runner) -> int:
    """The build through make invoke's synchronous call; queued asynchronously when the runner is busy."""
    from botocore.exceptions import ClientError

    from scripts.operations import invoke

    name = runner.function_name
    try:
        succeeded, body = invoke.invoke(runner, EVENT)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "TooManyRequestsException":
            raise
        import boto3

        extra = {"Qualifier": runner.qualifier} if runner.qualifier else {}
        boto3.client("lambda", region_name=runner.region).invoke(
            FunctionName=name, Payload=json.dumps(EVENT).encode(), InvocationType="Event", **extra)
        print(f"{name} is busy (reserved concurrency): the build is queued; its result goes to the alert topic.")
        return 0
    if not succeeded:
        print(f"{name}: the build failed: {json.dumps(body)[:4000]}", file=sys.stderr)
        return 1
    nodes = body.get("nodes", [])
    print(f"{name}: {body.get('status')} in {body.get('elapsed_seconds')} s, counts {body.get('counts')}, "
          f"{len(nodes)} nodes; state {body.get('state')}; artifacts {body.get('artifacts')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
