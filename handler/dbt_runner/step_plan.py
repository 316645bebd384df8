"""The plan of a stepped build: its nodes in dbt build's order, what each is expected to take,
which chunk fits before a deadline, and what a failure skips.

Pure functions over dbt's manifest and plain data, so the state machine's `run` state stays JSON.

Order and skips follow `dbt build`'s own graph: the manifest's dependencies plus dbt's "test
edges" (Linker.add_test_edges): a test on A runs before every model, seed or snapshot whose
ancestors include all of the test's parents, so a failing test skips them, exactly as dbt does.

Estimates: a node's `execution_time` in the last good build (latest/run_results.json) times
SAFETY, else the default (`DBT_STEP_DEFAULT_NODE_SECONDS`, 30 s): a conservative guess for an
Athena model with no history. Once the run has finished MIN_PACED_NODES nodes with history, it
knows its own pace (their time now over their time then, never below 1): estimates become
history x pace x PACED_SAFETY. A slow day (Athena queueing, more data) raises them; a normal
one fills steps better than the blind SAFETY. Each chunk is also charged the dbt invocation's
own overhead (the one measured in this run, else CHUNK_OVERHEAD_SECONDS).
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
SAFETY = 1.25  # before the run knows its pace
PACED_SAFETY = 1.1  # on history x this run's pace
MIN_PACED_NODES = 5
MAX_PACE = 4.0
CHUNK_OVERHEAD_SECONDS = 1.0
# A step's later chunk must carry at least this share of the step's budget (see worth_another_chunk).
TAIL_SHARE = 0.25
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


def estimate(unique_id: str, history: Mapping[str, float], default: float,
             pace: float | None = None) -> tuple[float, bool]:
    """(seconds, whether they come from history) for one node; `pace` as pace_of gives it."""
    if unique_id in history:
        seconds = max(float(history[unique_id]), 0.01)
        return (seconds * SAFETY if pace is None else seconds * pace * PACED_SAFETY), True
    return default, False


def paced(totals: list[float] | None, results: Iterable[Mapping[str, Any]], history: Mapping[str, float]) -> list[float]:
    """[nodes, their seconds in history, their seconds in this run], with a chunk's results added:
    the nodes that succeeded and have history."""
    count, then, now = totals or [0, 0.0, 0.0]
    for result in results:
        uid = result.get("unique_id")
        if uid in history and result.get("status") in ("success", "pass", "warn"):
            count, then, now = count + 1, then + float(history[uid]), now + float(result.get("execution_time") or 0.0)
    return [count, round(then, 3), round(now, 3)]


def pace_of(totals: list[float] | None) -> float | None:
    """This run's pace against its history (1 to MAX_PACE), once MIN_PACED_NODES nodes tell it."""
    if not totals or totals[0] < MIN_PACED_NODES or totals[1] <= 0:
        return None
    return round(min(MAX_PACE, max(1.0, totals[2] / totals[1])), 3)


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
               overhead: float, overlap: float = 1.0, pace: float | None = None) -> Chunk:
    """The longest prefix of `pending` whose estimate fits in time_left: one invocation's overhead
    plus the nodes' summed estimates over `overlap` (parallelism), and never less than the
    chunk's longest node."""
    busy = longest = 0.0
    nodes: list[str] = []
    for uid in pending:
        seconds, _ = estimate(uid, history, default, pace)
        total = overhead + max((busy + seconds) / overlap, longest, seconds)
        if total > time_left:
            break
        busy += seconds
        longest = max(longest, seconds)
        nodes.append(uid)
    return Chunk(nodes, round(overhead + max(busy / overlap, longest), 3))


def worth_another_chunk(chunk: Chunk, pending: int, budget: float | None, overhead: float) -> bool:
    """Whether a step that already ran a chunk should run `chunk` too, in the time it has left.

    A later chunk pays a whole dbt invocation (`overhead`) for what is usually the short tail
    the first chunk's estimates left unused. Left to the next step, those nodes join its first
    chunk at no extra invocation, and cost a step only if the build's last step overflows.
    So a later chunk runs when it finishes the build (that saves a step), or when it carries at
    least TAIL_SHARE of the step's budget and three times its own overhead.
    """
    if not chunk.nodes:
        return False
    if len(chunk.nodes) == pending:
        return True
    return chunk.estimate >= max(3 * overhead, TAIL_SHARE * (budget or 0.0))


def pack(value: Any) -> str:
    """Compact text for the run state (zlib + base64 of JSON): node ids repeat a lot."""
    return base64.b64encode(zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 9)).decode()


def unpack(text: str) -> Any:
    return json.loads(zlib.decompress(base64.b64decode(text)))
