"""One run_results.json for a stepped build, as one `dbt build` would have written it.

Each chunk of each step left its own run_results.json (kept under the run's `steps/`); the
merged file has every planned node once, in build order: the chunk's result where dbt ran it,
else a `skipped` result for a node a failure in an earlier chunk skipped (dbt writes skipped
nodes the same way: no timing, no adapter response), or an `error` for a node that could not
fit in one invocation.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping


def merge(chunk_results: Iterable[bytes], order: list[str], extra: Mapping[str, dict[str, Any]],
          run_id: str, elapsed: float) -> dict[str, Any]:
    """The merged run_results document.

    chunk_results: each chunk's run_results.json, in the order they ran; extra: {unique_id:
    {"status", "message"}} for nodes no chunk ran (skipped across steps, or failed to fit).
    """
    by_id: dict[str, dict[str, Any]] = {}
    metadata: dict[str, Any] | None = None
    args: dict[str, Any] = {}
    for body in chunk_results:
        document = json.loads(body)
        metadata = metadata or document.get("metadata")
        args = args or document.get("args", {})
        for result in document.get("results", []):
            by_id[result["unique_id"]] = result
    for uid, note in extra.items():
        by_id.setdefault(uid, _synthetic(uid, note["status"], note.get("message")))
    results = [by_id[uid] for uid in order if uid in by_id]
    results += [r for uid, r in by_id.items() if uid not in set(order)]
    return {
        "metadata": {**(metadata or {}), "invocation_id": run_id},
        "results": results,
        "elapsed_time": round(elapsed, 3),
        "args": args,
    }


def node_summaries(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The handler's per-node summary (dbt_run.summarise's shape) of a merged document."""
    nodes = []
    for result in document.get("results", []):
        message = result.get("message")
        nodes.append({
            "unique_id": result["unique_id"],
            "status": result["status"],
            "execution_time": round(float(result.get("execution_time") or 0.0), 3),
            "message": str(message)[:1000] if message is not None else None,
            **({"failures": result["failures"]} if result.get("failures") else {}),
        })
    return nodes


def counts(nodes: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    tally: dict[str, int] = {}
    for node in nodes:
        tally[node["status"]] = tally.get(node["status"], 0) + 1
    return tally


def _synthetic(unique_id: str, status: str, message: str | None) -> dict[str, Any]:
    return {"status": status, "timing": [], "thread_id": None, "execution_time": 0.0, "adapter_response": {},
            "message": message, "failures": None, "unique_id": unique_id, "compiled": None,
            "compiled_code": None, "relation_name": None, "batch_results": None}
