"""The plan of a stepped build: its nodes in dbt build's order, what each is expected to take,
which chunk fits before a deadline, and what a failure skips.

Pure functions over dbt's manifest and plain data, so the state machine's `run` state stays JSON.

Order and skips follow `dbt build`'s own graph: the manifest's dependencies plus dbt's "test
edges" (Linker.add_test_edges): a test on A runs before every model, seed or snapshot whose
ancestors include all of the test's parents, so a failing test skips them, exactly as dbt does.

Estimates: a node's `execution_time` in the last good build (latest/run_results.json) times
SAFETY, else the default (`DBT_STEP_DEFAULT_NODE_SECONDS`, 30 s): a conservative guess for an
Athena model with no history. Each chunk is also charged the dbt invocation's own overhead
(the one measured in this run, else CHUNK_OVERHEAD_SECONDS).
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import networkx as nx

EXECUTED = {"model", "seed", "snapshot", "test", "unit_test"}
BUILT = {"model", "seed", "snapshot"}
FAILED = {"error", "fail"}  # statuses whose descendants dbt skips
SAFETY = 1.25
CHUNK_OVERHEAD_SECONDS = 1.0
MAX_RUN_STATE_BYTES = 200 * 1024


@dataclass(frozen=True)
class Chunk:
    nodes: list[str]
    estimate: float


def build_graph(manifest: Any) -> nx.DiGraph:
    """dbt build's graph: parent -> child for every dependency, plus the test edges."""
    graph = nx.DiGraph()
    kinds: dict[str, str] = {}
    members = [*manifest.nodes.values(), *getattr(manifest, "unit_tests", {}).values()]
    for source in manifest.sources.values():
        graph.add_node(source.unique_id)
    for node in members:
        graph.add_node(node.unique_id)
        kinds[node.unique_id] = str(node.resource_type)
        for parent in getattr(node.depends_on, "nodes", None) or []:
            graph.add_edge(parent, node.unique_id)
    below: dict[str, set[str]] = {}

    def descendants(uid: str) -> set[str]:
        if uid not in below:
            below[uid] = nx.descendants(graph, uid) if uid in graph else set()
        return below[uid]

    edges = []
    for node in members:
        if kinds[node.unique_id] != "test":
            continue
        parents = [p for p in getattr(node.depends_on, "nodes", None) or [] if p in graph]
        if not parents:
            continue
        common = set.intersection(*(descendants(p) for p in parents))
        edges += [(node.unique_id, x) for x in common if kinds.get(x) in BUILT and x not in parents]
    graph.add_edges_from(edges)
    nx.set_node_attributes(graph, kinds, "kind")
    return graph


def executable(manifest: Any, unique_id: str) -> bool:
    """Nodes a build runs: not ephemeral models, not sources, exposures or metrics."""
    node = manifest.nodes.get(unique_id) or getattr(manifest, "unit_tests", {}).get(unique_id)
    if node is None or str(node.resource_type) not in EXECUTED:
        return False
    return getattr(node.config, "materialized", None) != "ephemeral"


def order(graph: nx.DiGraph, selected: Iterable[str]) -> list[str]:
    """The selected nodes in a topological order of the whole build graph (stable by id)."""
    chosen = set(selected)
    return [uid for uid in nx.lexicographical_topological_sort(graph) if uid in chosen]


def skipped_by(graph: nx.DiGraph, failed: str, selected: Iterable[str]) -> set[str]:
    """What dbt build skips when `failed` errors or fails: its selected descendants."""
    return nx.descendants(graph, failed) & set(selected) if failed in graph else set()


def selector(manifest: Any, unique_id: str) -> str:
    """A selection term for exactly this node (its fully qualified name)."""
    node = manifest.nodes.get(unique_id) or manifest.unit_tests[unique_id]
    return "fqn:" + ".".join(node.fqn)


def estimate(unique_id: str, history: Mapping[str, float], default: float) -> tuple[float, bool]:
    """(seconds, whether they come from history) for one node."""
    if unique_id in history:
        return max(float(history[unique_id]), 0.01) * SAFETY, True
    return default, False


def history_of(run_results: bytes | None) -> dict[str, float]:
    """{unique_id: execution_time} of the nodes that succeeded in a run_results.json."""
    if not run_results:
        return {}
    try:
        results = json.loads(run_results).get("results", [])
    except (ValueError, AttributeError):
        return {}
    return {r["unique_id"]: round(float(r.get("execution_time") or 0.0), 3) for r in results
            if isinstance(r, dict) and r.get("unique_id") and r.get("status") in ("success", "pass", "warn")}


def parallelism(run_results: bytes | None) -> float:
    """How many nodes dbt ran at once in the last good build: its summed node times over its wall
    time (1 to 16; 1 without history). A chunk's nodes overlap as much as the whole build's did."""
    if not run_results:
        return 1.0
    try:
        document = json.loads(run_results)
        busy = sum(float(r.get("execution_time") or 0.0) for r in document.get("results", []))
        wall = float(document.get("elapsed_time") or 0.0)
    except (ValueError, AttributeError, TypeError):
        return 1.0
    return round(min(16.0, max(1.0, busy / wall)), 3) if wall > 0 else 1.0


def next_chunk(pending: list[str], history: Mapping[str, float], default: float, time_left: float,
               overhead: float, overlap: float = 1.0) -> Chunk:
    """The longest prefix of `pending` whose estimate fits in time_left: one invocation's overhead
    plus the nodes' summed estimates over `overlap` (parallelism), and never less than the
    chunk's longest node."""
    busy = longest = 0.0
    nodes: list[str] = []
    for uid in pending:
        seconds, _ = estimate(uid, history, default)
        total = overhead + max((busy + seconds) / overlap, longest, seconds)
        if total > time_left:
            break
        busy += seconds
        longest = max(longest, seconds)
        nodes.append(uid)
    return Chunk(nodes, round(overhead + max(busy / overlap, longest), 3))


def pack(value: Any) -> str:
    """Compact text for the run state (zlib + base64 of JSON): node ids repeat a lot."""
    return base64.b64encode(zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 9)).decode()


def unpack(text: str) -> Any:
    return json.loads(zlib.decompress(base64.b64decode(text)))
