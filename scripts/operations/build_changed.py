"""After `terraform apply`: rebuild the models the deployed code changed.

Reads the applied plan (`terraform show -json tfplan`); when it changed the runner's package
(the function's source_code_hash: handler code or the dbt project), invokes the runner with

  {"command": ["build"], "cli_args": ["--select", "state:modified+"], "state": "latest", "defer": true}

so only what changed since the last good build (and what depends on it) is built; with no
latest/ yet that is a first, full build. Nothing changed in the package: nothing is invoked.
If the runner is busy (reserved concurrency 1), the build is queued asynchronously instead,
and its result reaches the alert topic like any other run.

  python -m scripts.operations.build_changed --stack-dir cdktf.out/stacks/dev [--plan tfplan] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

EVENT = {"command": ["build"], "cli_args": ["--select", "state:modified+"], "state": "latest", "defer": True}
RUNNER_SUFFIX = "-dbt-runner"


def changed_functions(plan: dict) -> list[str]:
    """Names of dbt runner functions the plan creates or whose package it replaces."""
    names = []
    for change in plan.get("resource_changes", []):
        if change.get("type") != "aws_lambda_function":
            continue
        actions = change.get("change", {}).get("actions", [])
        before = change["change"].get("before") or {}
        after = change["change"].get("after") or {}
        name = after.get("function_name") or before.get("function_name") or ""
        if not name.endswith(RUNNER_SUFFIX) or ("delete" in actions and "create" not in actions):
            continue
        if "create" in actions or before.get("source_code_hash") != after.get("source_code_hash"):
            names.append(name)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack-dir", type=Path, required=True, help="the synthesized stack (holds the applied tfplan)")
    parser.add_argument("--plan", default="tfplan", help="the plan file that was applied (default tfplan)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be invoked, invoke nothing")
    args = parser.parse_args(argv)

    shown = subprocess.run(["terraform", f"-chdir={args.stack_dir}", "show", "-json", args.plan],
                           capture_output=True, text=True)
    if shown.returncode != 0:
        print(f"build_changed: terraform show -json {args.plan} failed in {args.stack_dir}: {shown.stderr.strip()}", file=sys.stderr)
        return 2
    functions = changed_functions(json.loads(shown.stdout))
    if not functions:
        print("The apply did not change the runner's package: no dbt build needed.")
        return 0
    status = 0
    for name in functions:
        print(f"{name}: package changed, invoking {json.dumps(EVENT)}", flush=True)
        if not args.dry_run:
            status = max(status, _invoke(name))
    return status


def _invoke(name: str) -> int:
    import boto3
    from botocore.config import Config

    # A build may take the function's whole timeout (900 s): wait for it, do not retry it.
    client = boto3.client("lambda", config=Config(read_timeout=960, retries={"max_attempts": 1}))
    payload = json.dumps(EVENT).encode()
    try:
        response = client.invoke(FunctionName=name, Payload=payload, LogType="None")
    except client.exceptions.TooManyRequestsException:
        client.invoke(FunctionName=name, Payload=payload, InvocationType="Event")
        print(f"{name} is busy (reserved concurrency): the build is queued; its result goes to the alert topic.")
        return 0
    body = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        print(f"{name}: the build failed: {json.dumps(body)[:4000]}", file=sys.stderr)
        return 1
    nodes = body.get("nodes", []) if isinstance(body, dict) else []
    print(f"{name}: {body.get('status')} in {body.get('elapsed_seconds')} s, counts {body.get('counts')}, "
          f"{len(nodes)} nodes; state {body.get('state')}; artifacts {body.get('artifacts')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
