"""State-aware runs: `"state": "latest"` compares the project with the last good build.

The handler copies the last complete build's manifest.json (and its run_results.json), found
through latest/pointer.json (run_artifacts.read_latest), from the artifacts location into its scratch folder and passes `--state <dir>` (and `--defer` when asked), so
`--select state:modified+` picks what changed since the last successful build.

With no `latest/` yet there is nothing to compare with: every node is new. dbt itself would
stop ("no comparison manifest"), so the handler runs the selection as a first build would:
a `--select` term that is a `state:modified...` or `state:new` selector matches every node
(the term, or its part of an intersection, is dropped; a selection left with a term that
matches everything builds everything), and `--defer` is dropped (there is nothing to defer
to). Selectors that would match nothing without a baseline (`state:unmodified`, `state:old`)
and state selectors in `--exclude` are refused, naming the field, so a run never silently
does the opposite of what was asked.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from dbt_runner.run_artifacts import STATE_FILES, Store, read_latest
from dbt_runner.events import EventError

_SELECT = {"--select", "-s", "--models", "-m"}
_EXCLUDE = {"--exclude"}
_STATE_TERM = re.compile(r"^(?:@|\d*\+)?state:(?P<method>[A-Za-z_][\w.]*)(?:\+\d*)?$")
_EVERYTHING = {"modified", "new"}  # also modified.body, modified.configs, ...


@dataclass(frozen=True)
class StateNote:
    used: bool
    source: str  # where the comparison manifest came from (or would have)
    reason: str | None = None

    def as_dict(self) -> dict:
        return {"used": self.used, "source": self.source, **({"reason": self.reason} if self.reason else {})}


def fetch(store: Store | None, into: Path) -> bool:
    """Copy the last complete build (run_artifacts.read_latest) into `into`; False when there is none."""
    if into.exists():
        shutil.rmtree(into)
    if store is None:
        return False
    latest = read_latest(store, STATE_FILES)
    if latest is None:
        return False
    into.mkdir(parents=True)
    for name, body in latest.files.items():
        (into / name).write_bytes(body)
    return True


def with_state(cli_args: tuple[str, ...], state_dir: Path, defer: bool) -> tuple[str, ...]:
    return (*cli_args, "--state", str(state_dir), *(("--defer",) if defer else ()))


def without_state(cli_args: tuple[str, ...], field: str = "cli_args") -> tuple[str, ...]:
    """The arguments a first build runs when there is no baseline (see the module docstring)."""
    out: list[str] = []
    index = 0
    args = list(cli_args)
    while index < len(args):
        token = args[index]
        name, eq, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        if name in _SELECT | _EXCLUDE:
            values = [inline] if eq else []
            index += 1
            if not eq:
                while index < len(args) and not args[index].startswith("-"):
                    values.append(args[index])
                    index += 1
            kept = _rewrite(values, exclude=name in _EXCLUDE, field=field)
            if kept is None:  # a term matches every node: no --select at all
                continue
            if kept:
                out.extend([name, *kept])
            continue
        out.append(token)
        index += 1
    return tuple(out)


def _rewrite(values: list[str], *, exclude: bool, field: str) -> list[str] | None:
    terms = [term for value in values for term in value.split()]
    kept: list[str] = []
    for term in terms:
        parts = term.split(",")
        plain = []
        for part in parts:
            match = _STATE_TERM.match(part)
            if match is None:
                plain.append(part)
                continue
            method = match["method"].split(".")[0]
            if exclude or method not in _EVERYTHING:
                where = "--exclude" if exclude else "--select"
                raise EventError(
                    field,
                    f"{part!r} in {where} needs a baseline, and there is no latest/ manifest yet "
                    "(no successful build has run): run a build first, or select without it",
                )
        if not plain:
            return None  # this term selects everything, so the union does
        kept.append(",".join(plain))
    return kept
