"""Turn a Lambda event into a dbt request, or refuse it with an error that names the field.

Accepted events:
  direct invocation     {"command": ["build"], "cli_args": ["--select", "+my_model"]}
  EventBridge schedule  {"detail-type": "Scheduled Event", ...}  -> DBT_DEFAULT_COMMAND
  EventBridge S3        {"detail-type": "Object Created", "detail": {"bucket": {"name": ...},
                         "object": {"key": ...}}} for
     an ingest manifest   manifests/ingest_date=YYYY-MM-DD/<ingest_id>.json  -> the manifest is read
                          (read_object), ONE build --select source:raw.<t1>+ source:raw.<t2>+ ...
     one raw object       raw/<folder>/...  -> build --select source:raw.<table>+ (the per-object trigger)

raw_tables() gives the project's raw tables as {name: folder} (project.raw_tables); a folder is
the table's lower-case name, as the ingestion writes it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import raw_zone
from dbt_runner.jsonlog import log

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
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_MANIFEST_TABLES = 500

# read_object(bucket, key) -> bytes: how the runner reads a manifest (S3 GetObject in AWS, a file
# under LOCAL_DATA_DIR locally; see ingest_manifests.py). Raises KeyError or OSError when it cannot.
ReadObject = Callable[[str, str], bytes]


class EventError(ValueError):
    """The event is not one the handler accepts; the message names the field and the rule."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Request:
    trigger: str  # "invoke" | "schedule" | "s3" | "manifest"
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
    read_object: ReadObject | None = None,
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
        return _eventbridge(event, default_command, raw_tables, raw_bucket, read_object)
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


def _eventbridge(event: dict, default_command, raw_tables, raw_bucket, read_object) -> Request:
    kind = event["detail-type"]
    if kind == "Scheduled Event":
        command, cli_args = split_command(default_command, "DBT_DEFAULT_COMMAND")
        return Request("schedule", command, cli_args, "DBT_DEFAULT_COMMAND")
    if kind == "Object Created":
        bucket, key = _s3_object(event, raw_bucket)
        if key.startswith(raw_zone.INGEST_MANIFEST_PREFIX):
            tables = _manifest_tables(bucket, key, raw_tables, read_object)
            return Request("manifest", ("build",), ("--select", *build_selection(tables)), "manifest.tables")
        table = _raw_table(key, raw_tables)
        return Request("s3", ("build",), ("--select", *build_selection([table])), "detail.object.key")
    raise EventError("detail-type", f"expected 'Scheduled Event' or 'Object Created', got {str(kind)[:64]!r}")


def build_selection(tables: Iterable[str]) -> list[str]:
    """`source:raw.<t>+` for every table, and the project's seeds.

    The seeds are small static CSVs the models and tests join to (country_regions); loading them
    in the same build means a first build into an empty warehouse needs no separate `dbt seed`.
    """
    return [*(f"source:raw.{t}+" for t in dict.fromkeys(tables)), "resource_type:seed"]


def _s3_object(event: dict, raw_bucket) -> tuple[str, str]:
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
        raise EventError("detail.object.key", "expected an object key such as "
                         "'manifests/ingest_date=YYYY-MM-DD/<ingest_id>.json' or 'raw/<table>/ingest_date=YYYY-MM-DD/part-0000.jsonl'")
    return bucket, key


def _folders(raw_tables) -> dict[str, str]:
    """{folder: table name} of the project's raw tables."""
    tables = raw_tables()
    pairs = tables.items() if isinstance(tables, Mapping) else ((name, name.lower()) for name in tables)
    return {folder: name for name, folder in pairs}


def _raw_table(key: str, raw_tables) -> str:
    parts = key.split("/")
    if len(parts) < 3 or parts[0] + "/" != raw_zone.RAW_PREFIX or not parts[-1]:
        raise EventError("detail.object.key", f"expected a key under 'manifests/' or 'raw/<table>/', got {key[:128]!r}")
    folder = parts[1]
    if not raw_zone.FOLDER_RULE.match(folder):
        raise EventError("detail.object.key", f"expected a lower-case table folder after 'raw/', got {folder[:64]!r}")
    folders = _folders(raw_tables)
    if folder not in folders:
        raise EventError(
            "detail.object.key",
            f"folder raw/{folder}/ is not a table of the project's 'raw' source; known folders: "
            f"{', '.join(sorted(folders)) or '(none)'}",
        )
    return folders[folder]


def _manifest_tables(bucket: str, key: str, raw_tables, read_object: ReadObject | None) -> list[str]:
    """The project's raw tables an ingest manifest names, in the manifest's order."""
    match = raw_zone.INGEST_MANIFEST_KEY_RULE.match(key)
    if not match:
        raise EventError("detail.object.key", f"expected 'manifests/ingest_date=YYYY-MM-DD/<ingest_id>.json', got {key[:128]!r}")
    if read_object is None:
        raise EventError("detail.object.key", "this runner has no way to read manifest objects")
    try:
        body = read_object(bucket, key)
    except (KeyError, OSError) as error:
        raise EventError("detail.object.key", f"cannot read the manifest {key[:128]!r} of bucket {bucket[:64]!r} ({error})") from None
    if len(body) > MAX_MANIFEST_BYTES:
        raise EventError("manifest", f"expected at most {MAX_MANIFEST_BYTES} bytes, got {len(body)}")
    try:
        manifest = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise EventError("manifest", "expected a JSON object (an ingest manifest); the object is not JSON") from None
    if not isinstance(manifest, dict):
        raise EventError("manifest", f"expected a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != raw_zone.INGEST_MANIFEST_FORMAT:
        raise EventError("manifest.format", f"expected {raw_zone.INGEST_MANIFEST_FORMAT!r}, got {str(manifest.get('format'))[:64]!r}")
    version = manifest.get("version")
    if type(version) is not int or version not in raw_zone.INGEST_MANIFEST_VERSIONS:
        raise EventError("manifest.version", f"expected one of {list(raw_zone.INGEST_MANIFEST_VERSIONS)}, got {str(version)[:16]!r}")
    if manifest.get("ingest_date") != match.group(1):
        raise EventError("manifest.ingest_date",
                         f"expected {match.group(1)!r} as in the object key, got {str(manifest.get('ingest_date'))[:32]!r}")
    entries = manifest.get("tables")
    if not isinstance(entries, list) or not entries:
        raise EventError("manifest.tables", "expected a non-empty list of the tables the ingest wrote")
    if len(entries) > MAX_MANIFEST_TABLES:
        raise EventError("manifest.tables", f"expected at most {MAX_MANIFEST_TABLES} tables, got {len(entries)}")
    folders = _folders(raw_tables)
    chosen: list[str] = []
    unknown: list[str] = []
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name or len(name) > 128:
            raise EventError(f"manifest.tables[{index}].name", "expected the table's name as a string")
        folder = entry.get("folder", name.lower())
        if not isinstance(folder, str) or not folder:
            raise EventError(f"manifest.tables[{index}].folder", "expected the table's raw-zone folder as a string")
        table = folders.get(folder.lower())
        if table is None:
            unknown.append(name)
        elif table not in chosen:
            chosen.append(table)
    if unknown:
        # Not fatal: an ingest may copy more tables than this project declares.
        log("manifest_tables_skipped", level="warning", manifest=key, tables=unknown[:50],
            reason="not in the project's raw source")
    if not chosen:
        raise EventError("manifest.tables", f"none of the manifest's tables ({', '.join(unknown[:20])}) is in the "
                         f"project's 'raw' source; known tables: {', '.join(sorted(folders.values())) or '(none)'}")
    return chosen


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
