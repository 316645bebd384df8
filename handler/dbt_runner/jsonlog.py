"""One JSON object per line on stdout: what CloudWatch Logs Insights can query field by field."""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def log(event: str, level: str = "info", **fields: Any) -> None:
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": level, "event": event}
    record.update({key: value for key, value in fields.items() if value is not None})
    sys.stdout.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def redact_args(args: list[str] | tuple[str, ...]) -> list[str]:
    """Arguments safe to log: --vars values may carry credentials, so they are replaced."""
    shown: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            shown.append("<redacted>")
            hide_next = False
        elif arg == "--vars":
            shown.append(arg)
            hide_next = True
        elif arg.startswith("--vars="):
            shown.append("--vars=<redacted>")
        else:
            shown.append(arg)
    return shown
