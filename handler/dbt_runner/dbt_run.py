"""Run dbt in-process with one dbtRunner per container, and summarise what it did.

Where a call's manifest comes from (`Outcome.source`):
  package  the parse shipped in the package (shipped_parse.py), when its key matches: a cold
           container then skips the parse;
  reused   this container's earlier parse, for as long as the project fingerprint is the same;
  parsed   dbt parses inside the command, exactly as the CLI does. A cold container with no
           matching package parse does that, and the parse leaves a partial-parse file; later
           calls with a new fingerprint run `dbt parse` first and keep its manifest.
`prime` does that parse ahead of the first call (the handler calls it in Lambda's init phase,
which SnapStart snapshots). Every call hands dbt a fresh copy of the kept manifest, because a run
compiles nodes into the manifest it is given: the session keeps it pickled (shipped_parse.dumps)
and unpickles a copy per call, about 0.02 s where Manifest.deepcopy takes 0.5 s.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass
from typing import Any, Callable

from dbt.cli.main import dbtRunner, dbtRunnerResult
from dbt.contracts.graph.manifest import Manifest

from dbt_runner import shipped_parse
from lambda_logging import MaskedStream, mask

# Commands that run against a parsed manifest (and can therefore reuse one).
_USES_MANIFEST = {"build", "run", "test", "seed", "snapshot", "compile", "ls", "list",
                  "source freshness", "docs generate", "run-operation"}
_MAX_MESSAGE = 1000
_MAX_LISTED = 500


class DbtRunFailed(RuntimeError):
    """dbt ran and failed (a model error, a failing test, a compile error). Carries the summary."""

    def __init__(self, summary: dict[str, Any]):
        self.summary = summary
        shown = dict(summary, nodes=[n for n in summary.get("nodes", []) if n["status"] in _FAILED])
        super().__init__(f"dbt {summary['command'][0]} failed: {_json(shown)}")


_FAILED = {"error", "fail", "runtime error"}


@dataclass
class Outcome:
    result: dbtRunnerResult
    source: str  # "package", "reused" or "parsed": see the module's docstring

    @property
    def manifest_reused(self) -> bool:
        return self.source != "parsed"


# shipped() -> a manifest rebound to this container, or None: the package's parse, when it matches.
Shipped = Callable[[], "Manifest | None"]


class DbtSession:
    def __init__(self) -> None:
        self._runner = dbtRunner()
        self._manifest_key: str | None = None
        self._pickled: bytes | None = None
        self._ran = False

    def invoke(self, command_name: str, args: list[str], parse_args: list[str], key: str,
               shipped: Shipped | None = None) -> Outcome:
        # dbt's console log echoes database errors (row values) to stdout, CloudWatch: masked.
        masked = MaskedStream(sys.stdout)
        try:
            with contextlib.redirect_stdout(masked):
                return self._invoke(command_name, args, parse_args, key, shipped)
        finally:
            masked.flush()

    def _invoke(self, command_name: str, args: list[str], parse_args: list[str], key: str,
                shipped: Shipped | None) -> Outcome:
        try:
            if command_name == "parse":
                return Outcome(self._parse(args, key), "parsed")
            self._runner.manifest = None
            if command_name not in _USES_MANIFEST:
                return Outcome(self._runner.invoke(args), "parsed")
            if self._manifest_key == key and self._pickled is not None:
                self._runner.manifest = shipped_parse.loads(self._pickled)
                return Outcome(self._runner.invoke(args), "reused")
            manifest = shipped() if shipped is not None else None
            if manifest is not None:
                self._keep(manifest, key)
                self._runner.manifest = manifest
                return Outcome(self._runner.invoke(args), "package")
            if not self._ran:
                # Cold container: dbt parses inside the command, exactly as the CLI does, so a
                # cold start costs no more than `dbt build`. That parse leaves a partial-parse
                # file, which makes the next call's own parse cheap.
                return Outcome(self._runner.invoke(args), "parsed")
            parsed = self._parse(parse_args, key)
            if not parsed.success:
                return Outcome(parsed, "parsed")
            self._runner.manifest = shipped_parse.loads(self._pickled)  # type: ignore[arg-type]
            return Outcome(self._runner.invoke(args), "parsed")
        finally:
            self._ran = True
            self._runner.manifest = None
            _release_embedded_databases()

    def prime(self, parse_args: list[str], key: str) -> dbtRunnerResult:
        """Parse before the first call; a call whose fingerprint is `key` then reuses the manifest.

        The container still counts as cold: if the first call has another fingerprint, it runs
        like the CLI (using the partial-parse file this parse left).
        """
        try:
            return self._parse(parse_args, key)
        finally:
            self._runner.manifest = None
            _release_embedded_databases()

    def add_callback(self, callback: Callable[[Any], None]) -> None:
        """Also call `callback` with each of dbt's events (a stepped build tracks running nodes)."""
        self._runner.callbacks.append(callback)

    def remove_callback(self, callback: Callable[[Any], None]) -> None:
        if callback in self._runner.callbacks:
            self._runner.callbacks.remove(callback)

    def manifest_for(self, key: str, parse_args: list[str], shipped: Shipped | None = None) -> tuple[Manifest, str]:
        """(a copy of the manifest for `key`, its source) for planning a stepped build.

        Kept one first ("reused"), else the package's parse ("package"), else a `dbt parse`
        ("parsed", once per container and fingerprint); later `invoke` calls with `key` reuse it.
        """
        if self._manifest_key == key and self._pickled is not None:
            return shipped_parse.loads(self._pickled), "reused"
        manifest = shipped() if shipped is not None else None
        if manifest is not None:
            self._keep(manifest, key)
            return shipped_parse.loads(self._pickled), "package"  # type: ignore[arg-type]
        try:
            result = self._parse(parse_args, key)
        finally:
            self._ran = True
            self._runner.manifest = None
            _release_embedded_databases()
        if not result.success or self._pickled is None:
            raise RuntimeError(f"dbt parse failed: {result.exception}")
        return shipped_parse.loads(self._pickled), "parsed"

    def _parse(self, args: list[str], key: str) -> dbtRunnerResult:
        self._manifest_key = self._pickled = None
        result = self._runner.invoke(args)
        if result.success and isinstance(result.result, Manifest):
            self._keep(result.result, key)
        return result

    def _keep(self, manifest: Manifest, key: str) -> None:
        self._pickled = shipped_parse.dumps(manifest)
        self._manifest_key = key


def summarise(command: list[str], outcome: Outcome, elapsed: float) -> dict[str, Any]:
    result = outcome.result
    nodes = [_node(item) for item in getattr(result.result, "results", None) or []]
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node["status"]] = counts.get(node["status"], 0) + 1
    summary: dict[str, Any] = {
        "status": "success" if result.success else "error",
        "command": command,
        "elapsed_seconds": round(elapsed, 3),
        "manifest_reused": outcome.manifest_reused,
        "manifest_source": outcome.source,
        "counts": counts,
        "nodes": nodes,
    }
    if result.exception is not None:
        summary["error"] = _clip(mask(f"{type(result.exception).__name__}: {result.exception}"))
    elif isinstance(result.result, Manifest):  # parse
        summary["parsed"] = {"nodes": len(result.result.nodes), "sources": len(result.result.sources),
                             "macros": len(result.result.macros)}
    elif isinstance(result.result, list):  # ls/list
        summary["output"] = [str(line) for line in result.result[:_MAX_LISTED]]
        summary["output_truncated"] = len(result.result) > _MAX_LISTED
    return summary


def _node(item: Any) -> dict[str, Any]:
    node = getattr(item, "node", None)
    message = getattr(item, "message", None)
    failures = getattr(item, "failures", None)
    return {
        "unique_id": getattr(node, "unique_id", None) or str(getattr(item, "unique_id", "")),
        "status": str(getattr(item.status, "value", item.status)),
        "execution_time": round(float(getattr(item, "execution_time", 0.0) or 0.0), 3),
        "message": _clip(mask(str(message))) if message is not None else None,
        **({"failures": failures} if failures else {}),
    }


def _release_embedded_databases() -> None:
    """Close dbt-duckdb's process-wide database handle after each invocation.

    dbt-duckdb keeps its DuckDB instance open for the life of the process; that would keep the
    database file locked between invocations and could carry one run's connection settings
    into the next.
    """
    module = sys.modules.get("dbt.adapters.duckdb.connections")
    manager = getattr(module, "DuckDBConnectionManager", None)
    if manager is None:
        return
    with manager._LOCK:
        if manager._ENV is not None:
            try:
                manager._ENV.close()
            finally:
                manager._ENV = None


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _json(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))
