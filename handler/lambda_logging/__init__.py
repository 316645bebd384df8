"""The one logger of both Lambdas: one JSON object per line, and the masks for what leaves them.

Standard library only (the ingest function ships no layer). `log` writes straight to the stream
(stdout by default), never through the `logging` module: under Lambda's Text log format the
runtime leaves the root logger at WARNING, which dropped every INFO line of the ingest function.

What leaves a function (logs, summaries, alerts, exception messages, stored dbt artifacts) goes
through two masks:
  redact_args   the values of --vars and --args (dbt's secret-bearing options) become <redacted>
  mask          row values in a message become placeholders; the message keeps its shape, the
                model and column names, so it still says what failed and where
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import Any, TextIO

# dbt options whose values may carry credentials (cli_args.SECRET_VALUES).
SECRET_OPTIONS = ("--vars", "--args")
REDACTED = "<redacted>"

_stream: TextIO | None = None  # None: sys.stdout as it is at the time of the call


def set_stream(stream: TextIO | None) -> None:
    """Where log lines go (the ingest CLI sends them to stderr, keeping stdout for its summary)."""
    global _stream
    _stream = stream


def log(event: str, level: str = "info", **fields: Any) -> None:
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": level, "event": event}
    record.update({key: value for key, value in fields.items() if value is not None})
    stream = _stream or sys.stdout
    stream = getattr(stream, "unmasked", stream)  # our own records are already safe, and JSON
    stream.write(json.dumps(record, default=str, ensure_ascii=False, separators=(",", ":")) + "\n")
    stream.flush()


def redact_args(args: list[str] | tuple[str, ...]) -> list[str]:
    """Arguments safe to log: the values of --vars and --args may carry credentials."""
    shown: list[str] = []
    hide_next = False
    for arg in args:
        arg = str(arg)
        if hide_next:
            shown.append(REDACTED)
            hide_next = False
        elif arg in SECRET_OPTIONS:
            shown.append(arg)
            hide_next = True
        elif any(arg.startswith(option + "=") for option in SECRET_OPTIONS):
            shown.append(arg.split("=", 1)[0] + "=" + REDACTED)
        else:
            shown.append(arg)
    return shown


# --- the row-value mask -------------------------------------------------------------------------
# Order matters: quoted text first (it may hold anything), then the shapes a value takes bare.
_SINGLE_QUOTED = re.compile(r"'(?:[^'\\]|\\.|'')*'")
_DOUBLE_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,127}(?:\.[A-Za-z_][A-Za-z0-9_$]{0,127}){0,3}$")
# A quoted name dbt or Jinja reports ('TINY_REQUIRED', 'dict object' is not one): upper-case
# snake or a dotted/underscored identifier. Plain words ('jane') and anything with a space, a
# digit-only part or punctuation are masked.
_NAME_LIKE = re.compile(r"^(?:[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[a-z_][a-z0-9]*(?:[._][a-z0-9_]+)+)$")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_UUID_OR_HEX = re.compile(r"\b(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,})\b")
# A number, date, time or timestamp standing alone (not part of a name such as stg_v2 or a path).
_NUMBERISH = re.compile(r"(?<![\w$.])[-+]?\d[\d,]*(?:[.:/-]\d+)*(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?![\w$])")
# After a colon, a bare token holding digits or symbols is a value ("to date: x17-b").
_AFTER_COLON = re.compile(r"(:\s+)(?=\S*[\d@#%+])([^\s,;()]+)")
# Numbers that describe the run, not a row: dbt's test tallies and source positions.
# (dbt's console lines too: their time of day, "2 of 4 WARN 1 ... in 0.04s".)
_KEEP = re.compile(
    r"\b(?:Got \d+ results?|configured to \w+ if [!=<>]+ \d+|line \d+|LINE \d+|[Cc]olumn \d+|position \d+"
    r"|\d+ of \d+|(?:WARN|ERROR|FAIL|PASS|OK|SKIP) \d+|\d+(?:\.\d+)?s(?![\w$]))"
    r"|(?m:^(?:\x1b\[\d+m)?\d{2}:\d{2}:\d{2}(?!\S))")
_MARK = "\ue000"  # private-use: no digit, letter or quote a mask could touch


def mask(text: Any) -> Any:
    """The message with row values replaced: '…' for quoted literals, <email>, <value>, <n>.

    Keeps: dbt's node and relation names, double-quoted identifiers, single-quoted names in
    UPPER_SNAKE or dotted/underscored lower case (variable and node names), test tallies ("Got 3 results"),
    line and column positions. None and non-strings come back unchanged (so summaries can be masked
    field by field).
    """
    if not isinstance(text, str) or not text:
        return text
    kept: list[str] = []

    def keep(match: re.Match) -> str:
        kept.append(match.group(0))
        return _MARK + chr(0xE100 + len(kept) - 1) + _MARK

    out = _KEEP.sub(keep, text)
    out = _SINGLE_QUOTED.sub(lambda m: m.group(0) if _NAME_LIKE.match(m.group(0)[1:-1]) else "'…'", out)
    out = _DOUBLE_QUOTED.sub(lambda m: m.group(0) if _IDENTIFIER.match(m.group(1)) else '"…"', out)
    out = _EMAIL.sub("<email>", out)
    out = _UUID_OR_HEX.sub("<value>", out)
    out = _AFTER_COLON.sub(lambda m: m.group(1) + "<value>", out)
    out = _NUMBERISH.sub("<n>", out)
    return re.sub(_MARK + "(.)" + _MARK, lambda m: kept[ord(m.group(1)) - 0xE100], out)


class MaskedStream:
    """A text stream that masks each line before passing it on (dbt's console log, while dbt runs).

    dbt prints the database's error messages, row values included, to stdout: CloudWatch. The
    runner puts this in front of stdout for the duration of a dbt invocation.
    """

    def __init__(self, inner: TextIO):
        self.unmasked = inner
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self.unmasked.write(mask(line) + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self.unmasked.write(mask(self._pending))
            self._pending = ""
        self.unmasked.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.unmasked, name)
