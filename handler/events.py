"""Turn a Lambda event into a dbt request, or refuse it with an error that names the field.

Accepted events:
  direct invocation     {"command": ["build"], "cli_args": ["--select", "+my_model"]}
  EventBridge schedule  {"detail-type": "Scheduled Event", ...}  -> DBT_DEFAULT_COMMAND
  EventBridge S3        {"detail-type": "Object Created", "detail": {"bucket": {"name": ...},
                         "object": {"key": "raw/<table>/..."}}}  -> build --select source:raw.<table>+
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

MAX_EVENT_BYTES = 16 * 1024
MAX_CLI_ARGS = 64
MAX_ARG_CHARS = 4096

# Commands that only read the project and write under the target path. Not here: deps and
# clean (they write into the read-only project folder), init, show, retry, clone, docs serve.
ALLOWED_COMMANDS: dict[tuple[str, ...], str] = {
    ("build",): "build",
    ("run",): "run",
    ("test",): "test",
    ("seed",): "seed",
    ("snapshot",): "snapshot",
    ("compile",): "compile",
    ("parse",): "parse",
    ("ls",): "ls",
    ("list",): "list",
    ("source", "freshness"): "source freshness",
    ("docs", "generate"): "docs generate",
    ("run-operation",): "run-operation",
    ("debug",): "debug",
}
_ALLOWED_TEXT = ", ".join(sorted(ALLOWED_COMMANDS.values()))
_MACRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,127}$")


class EventError(ValueError):
    """The event is not one the handler accepts; the message names the field and the rule."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Request:
    trigger: str  # "invoke" | "schedule" | "s3"
    command: tuple[str, ...]  # e.g. ("source", "freshness") or ("run-operation", "my_macro")
    cli_args: tuple[str, ...]
    args_field: str  # where the arguments came from, for error messages
    state: str | None = None  # "latest": compare with the last good build (state.py)
    defer: bool = False  # with state: --defer to the last good build's relations

    @property
    def name(self) -> str:
        """The dbt command without its operands: 'build', 'source freshness', 'run-operation'."""
        return "run-operation" if self.command[0] == "run-operation" else ALLOWED_COMMANDS[self.command]


def parse(
    event: Any,
    *,
    default_command: tuple[str, ...],
    raw_tables: Callable[[], Iterable[str]],
    raw_bucket: str | None = None,
) -> Request:
    if not isinstance(event, dict):
        raise EventError("event", f"expected a JSON object, got {type(event).__name__}")
    try:
        size = len(json.dumps(event, separators=(",", ":")).encode())
    except (TypeError, ValueError):
        raise EventError("event", "expected plain JSON values (objects, lists, strings, numbers)")
    if size > MAX_EVENT_BYTES:
        raise EventError("event", f"expected at most {MAX_EVENT_BYTES} bytes of JSON, got {size}")

    if "detail-type" in event:
        return _eventbridge(event, default_command, raw_tables, raw_bucket)
    return _direct(event)


def _direct(event: dict) -> Request:
    unknown = sorted(set(event) - {"command", "cli_args", "state", "defer"})
    if unknown:
        raise EventError(
            unknown[0],
            "unexpected key; a direct invocation has 'command' and optional 'cli_args' "
            "(or send an EventBridge 'Scheduled Event' / 'Object Created' event)",
        )
    if "command" not in event:
        raise EventError("command", f'required: a list such as ["build"]; one of: {_ALLOWED_TEXT}')
    command = _strings(event["command"], "command", max_items=8)
    cli_args = _strings(event.get("cli_args", []), "cli_args", max_items=MAX_CLI_ARGS)
    return Request("invoke", check_command(command, "command"), cli_args, "cli_args", *_state(event))


def _state(event: dict) -> tuple[str | None, bool]:
    state, defer = event.get("state"), event.get("defer", False)
    if state is not None and state != "latest":
        raise EventError("state", f"expected 'latest' (the last successful build's artifacts), got {str(state)[:64]!r}")
    if not isinstance(defer, bool):
        raise EventError("defer", f"expected true or false, got {type(defer).__name__}")
    if defer and state is None:
        raise EventError("defer", 'needs "state": "latest" (there is nothing to defer to otherwise)')
    return state, defer


def _eventbridge(event: dict, default_command, raw_tables, raw_bucket) -> Request:
    kind = event["detail-type"]
    if kind == "Scheduled Event":
        command, cli_args = split_command(default_command, "DBT_DEFAULT_COMMAND")
        return Request("schedule", command, cli_args, "DBT_DEFAULT_COMMAND")
    if kind == "Object Created":
        table = _raw_table(event, raw_tables, raw_bucket)
        return Request("s3", ("build",), ("--select", f"source:raw.{table}+"), "detail.object.key")
    raise EventError("detail-type", f"expected 'Scheduled Event' or 'Object Created', got {str(kind)[:64]!r}")


def _raw_table(event: dict, raw_tables, raw_bucket) -> str:
    if event.get("source") != "aws.s3":
        raise EventError("source", f"expected 'aws.s3' for an 'Object Created' event, got {str(event.get('source'))[:64]!r}")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise EventError("detail", "expected an object with 'bucket' and 'object'")
    bucket = (detail.get("bucket") or {}).get("name") if isinstance(detail.get("bucket"), dict) else None
    if not isinstance(bucket, str) or not bucket:
        raise EventError("detail.bucket.name", "expected the name of the raw bucket")
    if raw_bucket and bucket != raw_bucket:
        raise EventError("detail.bucket.name", f"expected the raw bucket {raw_bucket!r}, got {bucket[:64]!r}")
    key = (detail.get("object") or {}).get("key") if isinstance(detail.get("object"), dict) else None
    if not isinstance(key, str) or not key:
        raise EventError("detail.object.key", "expected an object key such as 'raw/<table>/ingest_date=YYYY-MM-DD/part-0000.jsonl'")
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != "raw" or not parts[-1]:
        raise EventError("detail.object.key", f"expected a key under 'raw/<table>/', got {key[:128]!r}")
    table = parts[1]
    if not _TABLE_NAME.match(table):
        raise EventError("detail.object.key", f"expected a lowercase snake_case table name after 'raw/', got {table[:64]!r}")
    known = sorted(set(raw_tables()))
    if table not in known:
        raise EventError(
            "detail.object.key",
            f"table {table!r} is not in the project's 'raw' source; known tables: {', '.join(known) or '(none)'}",
        )
    return table


def split_command(tokens: tuple[str, ...], field: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split 'build --select x' style tokens into the dbt command and its arguments."""
    size = 2 if tuple(tokens[:2]) in ALLOWED_COMMANDS else 1
    if tuple(tokens[:size]) == ("run-operation",):
        size = 2
    command = check_command(tuple(tokens[:size]), field)
    rest = tuple(tokens[size:])
    if len(rest) > MAX_CLI_ARGS:
        raise EventError(field, f"expected at most {MAX_CLI_ARGS} arguments, got {len(rest)}")
    return command, rest


def check_command(command: tuple[str, ...], field: str) -> tuple[str, ...]:
    if command in ALLOWED_COMMANDS and command != ("run-operation",):
        return command
    if command[:1] == ("run-operation",):
        if len(command) != 2 or not _MACRO_NAME.match(command[1]):
            raise EventError(field, 'expected ["run-operation", "<macro_name>"] with a macro name of letters, digits and _')
        return command
    shown = " ".join(command)[:64]
    raise EventError(field, f"{shown!r} is not an allowed dbt command; expected one of: {_ALLOWED_TEXT}")


def _strings(value: Any, field: str, *, max_items: int) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise EventError(field, f"expected a list of strings, got {type(value).__name__}")
    if field == "command" and not value:
        raise EventError(field, 'expected a non-empty list such as ["build"]')
    if len(value) > max_items:
        raise EventError(field, f"expected at most {max_items} items, got {len(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise EventError(f"{field}[{index}]", f"expected a string, got {type(item).__name__}")
        if len(item) > MAX_ARG_CHARS:
            raise EventError(f"{field}[{index}]", f"expected at most {MAX_ARG_CHARS} characters, got {len(item)}")
        if "\x00" in item:
            raise EventError(f"{field}[{index}]", "expected no NUL characters")
    return tuple(value)
