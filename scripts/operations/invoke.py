"""Run dbt in a deployed env's runner, synchronously, and print the summary: status, counts, run folder.

  invoke.py --env dev                                   dbt build (the handler's default command)
  invoke.py --env dev --command "build --select +album_track_counts"
  invoke.py --env dev --command "source freshness"

The function (and its `live` alias with SnapStart) and its region are read from the synthesized
stack, cdktf.out/stacks/<env>/cdk.tf.json (`make synth`); AWS credentials from the usual sources.
The call waits for the run (up to the function's 900 s), is never retried (a retry would run dbt
twice) and exits 1 when the run failed, 2 when it could not be made.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
STACKS = REPO / "cdktf.out" / "stacks"
#: Above Lambda's 900 s maximum, so the client never gives up on a run still going.
READ_TIMEOUT_SECONDS = 960


class InvokeError(RuntimeError):
    """The invocation could not be made; the message says what to do."""


@dataclass(frozen=True)
class Runner:
    function_name: str
    region: str | None  # None: the SDK's own default region
    #: The `live` alias a SnapStart runner is invoked through, else None.
    qualifier: str | None = None


_REF = re.compile(r"^\$\{aws_lambda_function\.([^.]+)\.function_name\}$")


def runner_of(env: str, stacks: Path = STACKS) -> Runner:
    """The dbt runner of an env's synthesized stack: its `function_name` output, resolved to the function."""
    path = stacks / env / "cdk.tf.json"
    if not path.is_file():
        raise InvokeError(f"--env {env}: no synthesized stack at {path}; run `make synth` (or `npx cdktf synth`) first")
    stack = json.loads(path.read_text())
    value = str(stack.get("output", {}).get("function_name", {}).get("value", ""))
    functions = stack.get("resource", {}).get("aws_lambda_function", {})
    match = _REF.match(value)
    if not match or match.group(1) not in functions:
        raise InvokeError(f"--env {env}: the stack's function_name output ({value or 'missing'}) names no function")
    resource_id = match.group(1)
    aliases = stack.get("resource", {}).get("aws_lambda_alias", {}).values()
    qualifier = next((a["name"] for a in aliases if resource_id in str(a.get("function_name", ""))), None)
    return Runner(functions[resource_id]["function_name"], stack["provider"]["aws"][0]["region"], qualifier)


def payload(command: str | None) -> dict[str, Any]:
    """The handler event for a dbt command line: leading words are the command, the rest its arguments."""
    words = shlex.split(command or "build")
    if not words:
        raise InvokeError("--command is empty; e.g. --command \"build --select +album_track_counts\"")
    first_option = next((i for i, w in enumerate(words) if w.startswith("-")), len(words))
    if first_option == 0:
        raise InvokeError(f"--command {command!r} starts with an option; name the dbt command first, e.g. build")
    event: dict[str, Any] = {"command": words[:first_option]}
    if words[first_option:]:
        event["cli_args"] = words[first_option:]
    return event


def invoke(runner: Runner, event: dict[str, Any], client: Any = None) -> tuple[bool, dict[str, Any]]:
    """(succeeded, body): the handler's response, or Lambda's error body ({errorType, errorMessage})."""
    if client is None:
        import boto3
        from botocore.config import Config

        client = boto3.client("lambda", region_name=runner.region, config=Config(
            read_timeout=READ_TIMEOUT_SECONDS, connect_timeout=10, retries={"total_max_attempts": 1}))
    extra = {"Qualifier": runner.qualifier} if runner.qualifier else {}
    answer = client.invoke(FunctionName=runner.function_name, InvocationType="RequestResponse",
                           Payload=json.dumps(event).encode(), **extra)
    raw = answer["Payload"].read().decode(errors="replace")
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:  # Lambda answers JSON; anything else is passed on as the error's message
        body = {"errorType": answer.get("FunctionError", "NotJSON"), "errorMessage": raw}
    return "FunctionError" not in answer, body if isinstance(body, dict) else {"response": body}


def summary_lines(function: str, succeeded: bool, body: dict[str, Any]) -> list[str]:
    """What `make invoke` prints: status, time, counts, failing nodes and the run folder."""
    summary = body
    if not succeeded:
        # DbtRunFailed's message is "dbt <command> failed: <summary as JSON>"; other errors are one line.
        message = str(body.get("errorMessage", ""))
        found = re.match(r"^dbt [\w-]+ failed: (\{.*\})$", message, re.S)
        if not found:
            return [f"{function}: FAILED ({body.get('errorType', 'error')}): {message.splitlines()[0] if message else body}"]
        summary = json.loads(found.group(1))
    status = summary.get("status", "?")
    elapsed = summary.get("elapsed_seconds")
    took = f" in {elapsed:.1f} s" if isinstance(elapsed, (int, float)) else ""
    lines = [f"{function}: {status}{took}  ({' '.join(summary.get('command', []))})"]
    counts = summary.get("counts") or {}
    lines.append("  counts    " + ("  ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"))
    failing = [n["unique_id"] for n in summary.get("nodes", []) if n.get("status") in ("error", "fail", "runtime error")]
    if failing:
        lines.append("  failing   " + ", ".join(failing))
    if summary.get("error"):
        lines.append("  error     " + str(summary["error"]).splitlines()[0])
    lines.append("  run       " + (str(summary["artifacts"]) if summary.get("artifacts") else "(no artifacts stored)"))
    if summary.get("docs"):
        lines.append("  docs      " + str(summary["docs"]))
    if summary.get("invocation_id"):
        lines.append("  dbt id    " + str(summary["invocation_id"]))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, choices=["dev", "prod"], help="the deployed env whose runner to invoke")
    parser.add_argument("--command", help='the dbt command line, e.g. "build --select +album_track_counts" (default: build)')
    parser.add_argument("--json", action="store_true", help="print the handler's whole response as JSON instead")
    args = parser.parse_args(argv)
    try:
        runner = runner_of(args.env)
        event = payload(args.command)
    except InvokeError as error:
        print(f"invoke: {error}", file=sys.stderr)
        return 2
    name = runner.function_name + (f":{runner.qualifier}" if runner.qualifier else "")
    print(f"Invoking {name} in {runner.region} with {json.dumps(event)} (waits for the run) ...", flush=True)
    try:
        succeeded, body = invoke(runner, event)
    except Exception as error:  # credentials, network, a function not deployed yet: say which, exit 2
        print(f"invoke: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        print("\n".join(summary_lines(name, succeeded, body)))
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
