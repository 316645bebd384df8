"""Stepped builds: the `<env>-dbt-build` state machine calls the runner until the selection is done.

  {"build_step": {"event": <trigger event>, "run": null | <run state>, "execution": <name>}}
      -> {"event": <same>, "run": <run state>, "done": bool, "status": "running"|"success"|"error", ...}
  {"build_step_failed": {"event", "run", "error": {"Error", "Cause"}, "execution"}}
      -> {"event", "run", "done": true, "status": "timed_out"|"failed"}

The first step plans: the selection's nodes (dbt's own `ls` with the request's --select,
--exclude, --selector ...) in dbt build's order (step_plan.py), from the manifest the container
keeps warm, or the package's parse on a cold one: no step re-parses. Each step then runs chunks
of the remaining nodes, each one `dbt build --select <the chunk's fqns> --indirect-selection
empty --no-write-json` with the request's other arguments (--exclude, --full-refresh, --vars,
state ...), as long as the chunk's estimate fits before the deadline: the invocation's remaining
time (Lambda's context; locally DBT_STEP_SECONDS) minus DBT_STEP_MARGIN_SECONDS. A step never
starts a node it cannot finish by then, so it returns with nothing in flight. A failed node's
dependents in later chunks are skipped, as dbt skips them within one build (step_plan.skipped_by).

The run record is one `dbt build`'s (merge_results.py): runs/<date>/<run id>/ (the run id is the
state machine's execution name) gets, when the last step ends, one merged run_results.json, the
manifest every step planned and ran from (written once), one summary.json with `steps`, at most
one alert and, when the build succeeded, latest/ moves once. Each chunk's run_results.json,
written from dbt's result, stays under steps/<step>-<chunk>/. Before each chunk starts,
in_progress.json records the step, the chunk and the node(s) running (then updated in the
background as dbt starts and finishes nodes); a killed step leaves it behind, and
build_step_failed turns it into a failed or timed-out run with one alert naming those nodes.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from dbt.artifacts.schemas.run import RunExecutionResult

from dbt_runner import alerts, build_events, bundles, events, ingest_manifests, merge_results, partitions, project
from dbt_runner import run_artifacts, run_lifecycle, settings, step_plan
from dbt_runner.cli_args import plan
from dbt_runner.events import EventError
from dbt_runner.jsonlog import log, redact_args

STEP = "build_step"
STEP_FAILED = "build_step_failed"
STEPPED_COMMANDS = {"build", "run", "test", "seed", "snapshot"}
IN_PROGRESS = "in_progress.json"
_EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_SELECT = {"-s", "--select", "-m", "--models", "--model", "--selector"}
_TIMEOUT_CAUSES = ("Sandbox.Timedout", "Task timed out")
# A Lambda step that overran its estimates is interrupted this long before Lambda kills it, so
# dbt stops gracefully and dbt-athena cancels its in-flight queries (see _Watchdog).
_HARD_STOP_BEFORE_KILL = 10.0  # at most; never more than half the margin


class StepTimedOut(RuntimeError):
    """A chunk overran its estimate up to the hard stop; dbt was interrupted and its queries cancelled."""


def is_step_event(event: Any) -> bool:
    return isinstance(event, dict) and len(event) == 1 and (STEP in event or STEP_FAILED in event)


def handle(event: dict, context: Any, session: Any, shipped_for: Callable) -> dict[str, Any]:
    if STEP in event:
        return build_step(event[STEP], context, session, shipped_for)
    return build_step_failed(event[STEP_FAILED], context)


# --- a step ---------------------------------------------------------------------------------


def build_step(payload: Any, context: Any, session: Any, shipped_for: Callable) -> dict[str, Any]:
    began = time.perf_counter()
    config = settings.load()
    request_id = getattr(context, "aws_request_id", None)
    config, _ = bundles.select(config, None, request_id)  # the current bundle, or the package's
    budget, lambda_remaining = _budget(context, config)
    deadline = began + budget if budget is not None else None
    trigger_event, state, execution = _step_input(payload, STEP)

    request = events.parse(trigger_event, default_command=config.default_command,
                           raw_tables=lambda: project.raw_tables(config.project_dir),
                           raw_bucket=config.raw_bucket, read_object=ingest_manifests.reader_for(config))
    if request.name not in STEPPED_COMMANDS:
        raise EventError(f"{STEP}.event", f"a stepped build runs {', '.join(sorted(STEPPED_COMMANDS))}, "
                         f"not {request.name!r}: invoke the runner directly for it")
    request, life = run_lifecycle.prepare(request, config)
    store = life.store
    if store is None:
        raise EventError(STEP, "a stepped build keeps its steps' results between invocations: "
                         "set ARTIFACTS_BUCKET_NAME (or use the local target)")
    first = state is None
    runtime = partitions.runtime_vars(request, config) if first else state.get("vars", {})
    invocation = plan(request, config, runtime_vars=lambda: runtime)
    settings.apply(config)
    key = project.fingerprint(config.project_dir, config.profiles_dir, invocation.cache_inputs)
    shipped = lambda: shipped_for(config, invocation.cache_inputs, request_id)  # noqa: E731
    manifest, source = session.manifest_for(key, invocation.parse_args, shipped)
    graph = _graph_for(key, manifest)

    if first:
        state = _new_run(execution, runtime)
        selected = [uid for uid in _select(session, invocation, key, shipped) if step_plan.executable(manifest, uid)]
        latest = run_artifacts.read_latest(store, names=("run_results.json",))
        last_good = latest.files.get("run_results.json") if latest else None
        history = step_plan.history_of(last_good)
        order = step_plan.order(graph, selected)
        work = {"order": order, "status": {}, "notes": {}, "chunks": [], "overlap": step_plan.parallelism(last_good),
                "history": {uid: history[uid] for uid in order if uid in history}}
    else:
        work = step_plan.unpack(state["plan"])
        gone = [uid for uid in work["order"] if uid not in manifest.nodes and uid not in manifest.unit_tests]
        if gone:
            raise RuntimeError(f"the project changed during the build: {gone[0]} is no longer in it")
    planned = time.perf_counter() - began
    step_no = state["step"] + 1
    prefix = run_artifacts.run_prefix(state["date"], state["run_id"])
    shown = redact_args([*request.command, *request.cli_args])
    log("dbt_step_start", request_id=request_id, run_id=state["run_id"], step=step_no, command=shown,
        nodes=len(work["order"]), done=len(work["status"]), budget_seconds=budget, manifest_source=source)

    order, status, notes = work["order"], work["status"], work["notes"]
    selectors = {}
    chunk_walls: list[float] = []
    ran = 0
    while pending := [uid for uid in order if uid not in status]:
        time_left = deadline - time.perf_counter() if deadline is not None else float("inf")
        overhead = state.get("chunk_overhead", step_plan.CHUNK_OVERHEAD_SECONDS)
        pace = step_plan.pace_of(work.get("paced"))
        chunk = step_plan.next_chunk(pending, work["history"], config.step_default_node_seconds, time_left, overhead,
                                     work.get("overlap", 1.0), pace)
        if ran and not step_plan.worth_another_chunk(chunk, len(pending), budget, overhead):
            break  # the next step's first chunk takes these nodes, at no extra dbt invocation
        if not chunk.nodes:
            head = pending[0]
            seconds, known = step_plan.estimate(head, work["history"], config.step_default_node_seconds, pace)
            whole = (budget or 0) if first else time_left  # what a fresh step has for it
            if ran or (first and seconds <= whole):
                break  # the next step's fresh invocation has room for it
            if seconds <= whole:
                # A fresh step runs it alone even when the chunk's overhead does not fit too:
                # otherwise it would never run.
                chunk = step_plan.Chunk([head], round(seconds + overhead, 3))
            else:
                basis = ("from its last good run" if known
                         else "by default: it has no run history (DBT_STEP_DEFAULT_NODE_SECONDS)")
                message = (f"{head} cannot fit in one step: its estimate is {seconds:.1f} s {basis}, more than a "
                           f"whole step's {whole:.1f} s (the invocation's time minus DBT_STEP_MARGIN_SECONDS)")
                _fail(head, message, status, notes, graph, order)
                log("dbt_step_node_too_long", level="error", run_id=state["run_id"], node=head, message=message)
                continue
        name = f"{step_no:03d}-{len([c for c in work['chunks'] if c.startswith(f'{step_no:03d}-')]) + 1}"
        for uid in chunk.nodes:
            selectors.setdefault(uid, step_plan.selector(manifest, uid))
        args = [*chunk_args(invocation.args, [selectors[uid] for uid in chunk.nodes]), "--no-write-json"]
        progress = _Progress(store, prefix, {
            "run_id": state["run_id"], "execution": execution, "event": trigger_event, "step": step_no,
            "chunk": name, "chunk_nodes": len(chunk.nodes), "chunks_done": work["chunks"],
            "date": state["date"], "started_at": state["started_at"], "chunk_started_at": _now(),
            "estimate_seconds": chunk.estimate, "running": chunk.nodes[:1]})
        started = time.perf_counter()
        stop = (_Watchdog(lambda_remaining, began, config.step_margin_seconds, progress)
                if lambda_remaining is not None else None)
        session.add_callback(progress.on_event)
        try:
            outcome = session.invoke(request.name, args, invocation.parse_args, key, shipped=shipped)
        finally:
            session.remove_callback(progress.on_event)
            if stop is not None:
                stop.cancel()
            progress.close()
        wall = time.perf_counter() - started
        chunk_walls.append(wall)
        if stop is not None and stop.fired:
            raise StepTimedOut(f"step {step_no} overran its deadline while running {', '.join(stop.running) or 'dbt'}; "
                               "dbt was interrupted, which cancels its in-flight queries")
        body = _chunk_results(outcome, config.target_path / "run_results.json")
        if body is None:
            error = outcome.result.exception
            raise RuntimeError(f"dbt {request.name} wrote no run_results.json for chunk {name}: "
                               f"{type(error).__name__ if error else 'no error'}: {str(error)[:500]}")
        store.put(f"{prefix}steps/{name}/run_results.json", body, "application/json")
        results = json.loads(body).get("results", [])
        work["paced"] = step_plan.paced(work.get("paced"), results, work["history"])
        for result in results:
            uid = result["unique_id"]
            status[uid] = result["status"]
            if result["status"] in step_plan.FAILED:
                _skip_dependents(uid, status, notes, graph, order)
        for uid in chunk.nodes:
            if uid not in status:  # dbt did not report it: never leave it pending forever
                _fail(uid, f"dbt reported no result for {uid} in chunk {name}", status, notes, graph, order)
        node_time = sum(float(r.get("execution_time") or 0.0) for r in results) / work.get("overlap", 1.0)
        state["chunk_overhead"] = round(max(0.3, wall - node_time), 3)
        work["chunks"].append(name)
        log("dbt_step_chunk", run_id=state["run_id"], chunk=name, nodes=len(chunk.nodes),
            estimate_seconds=chunk.estimate, seconds=round(wall, 3), pace=pace)
        ran += 1

    state["step"] = step_no
    state["plan"] = step_plan.pack(work)
    step_wall = time.perf_counter() - began
    timing = {"step_seconds": round(step_wall, 3), "planning_seconds": round(planned, 3),
              "dbt_seconds": round(sum(chunk_walls), 3), "chunks": len(chunk_walls)}
    if any(uid not in status for uid in order):
        _check_size(state)
        log("dbt_step_finish", request_id=request_id, run_id=state["run_id"], step=step_no,
            done=len(status), nodes=len(order), **timing)
        return {"event": trigger_event, "run": state, "done": False, "status": "running", "step": step_no,
                "manifest_source": source,
                "run_id": state["run_id"], "remaining_nodes": len(order) - len(status), **timing}

    summary = _finish(state, work, store, config, life, request, shown, execution, request_id, source, manifest)
    _check_size(state)
    return {"event": trigger_event, "run": state, "done": True, "status": summary["status"], "step": step_no,
            "manifest_source": source,
            "steps": step_no, "run_id": state["run_id"], "counts": summary["counts"],
            "artifacts": summary.get("artifacts"), "elapsed_seconds": summary["elapsed_seconds"], **timing}


def _finish(state, work, store, config, life, request, shown, execution, request_id, source,
            manifest: Any) -> dict[str, Any]:
    """The run's one record, one alert, latest/ and the fan-out event, after its last step."""
    prefix = run_artifacts.run_prefix(state["date"], state["run_id"])
    bodies = [store.get(f"{prefix}steps/{name}/run_results.json") for name in work["chunks"]]
    extra = {uid: {"status": work["status"][uid], "message": note} for uid, note in work["notes"].items()}
    elapsed = time.time() - state["started"]
    merged = merge_results.merge([b for b in bodies if b], work["order"], extra, state["run_id"], elapsed)
    nodes = merge_results.node_summaries(merged)
    failed = [n for n in nodes if n["status"] in step_plan.FAILED]
    summary: dict[str, Any] = {
        "status": "error" if failed else "success", "command": shown, "elapsed_seconds": round(elapsed, 3),
        "manifest_reused": True, "manifest_source": source, "steps": state["step"],
        "counts": merge_results.counts(nodes), "nodes": nodes, "invocation_id": state["run_id"],
        "execution": execution,
    }
    # Stored as every run's is: --vars/--args values redacted, messages masked.
    files = {"run_results.json": run_artifacts.scrub_run_results(json.dumps(merged, indent=2, default=str).encode())}
    files["manifest.json"] = _manifest_json(manifest, config.target_path / "manifest.json", state)
    record = _record(summary, store, prefix, life.request.trigger, config, life.environment, request_id, state)
    files["summary.json"] = json.dumps(record, indent=2, default=str).encode()
    for name, body in files.items():  # summary.json last: a run folder with it is complete
        store.put(prefix + name, body, run_artifacts.content_type(name))
    _close_progress(store, prefix, summary["status"])
    summary["artifacts"] = store.where(prefix)
    if (summary["status"] == "success" and run_artifacts.may_be_complete(request.command, request.cli_args)
            and "manifest.json" in files and run_artifacts.covers_project(files["manifest.json"], files["run_results.json"])):
        latest = {name: files[name] for name in run_artifacts.LATEST_FILES if name in files}
        summary["latest"] = store.where(run_artifacts.write_latest(store, state["run_id"], latest))  # the pointer last
    alerts.send(summary, topic=life.alert_topic, environment=life.environment, request_id=request_id,
                trigger=life.request.trigger)
    build_events.run_finished(config, life.environment, summary, trigger=life.request.trigger)
    log("dbt_run_finish", level="info" if summary["status"] == "success" else "error", request_id=request_id,
        command=shown, status=summary["status"], run_id=state["run_id"], steps=state["step"],
        elapsed_seconds=summary["elapsed_seconds"], counts=summary["counts"], artifacts=summary["artifacts"])
    return summary


# --- a failed step -------------------------------------------------------------------------


def _lambda_error_message(cause: Any) -> str | None:
    """The message of the error a Lambda task failed with: Step Functions' Cause is Lambda's error
    payload as JSON ({"errorMessage": ..., "errorType": ...}); other causes are kept as they are."""
    if not isinstance(cause, str):
        return None
    try:
        payload = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(payload, dict) and isinstance(payload.get("errorMessage"), str):
        return payload["errorMessage"]
    return cause


def build_step_failed(payload: Any, context: Any) -> dict[str, Any]:
    """Record the run as failed (or timed out) with one alert naming the node(s) that were running."""
    config = settings.load()
    trigger_event, state, execution = _step_input(payload, STEP_FAILED)
    error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
    kind = timed_out_or_failed(error)
    request_id = getattr(context, "aws_request_id", None)
    env = os.environ
    store = run_artifacts.store_for(config.local_data_dir)
    environment = env.get("ENVIRONMENT") or config.target or "local"
    run_id = state["run_id"] if state else (execution or f"unknown-{uuid.uuid4()}")
    date = state["date"] if state else datetime.now(timezone.utc).strftime("%Y-%m-%d")
    prefix = run_artifacts.run_prefix(date, run_id)
    trigger = _trigger_of(trigger_event)

    existing = _json(store.get(prefix + "summary.json")) if store else None
    if existing and existing.get("status") not in (None, "running"):
        log("dbt_step_failed_already_recorded", run_id=run_id, status=existing.get("status"))
        return {"event": trigger_event, "run": state, "done": True, "status": existing["status"]}

    progress = _json(store.get(prefix + IN_PROGRESS)) if store else None
    work = step_plan.unpack(state["plan"]) if state and state.get("plan") else {"order": [], "status": {}, "notes": {}, "chunks": []}
    chunks = (progress or {}).get("chunks_done") or work["chunks"]
    running = (progress or {}).get("running") or []
    step_no = (progress or {}).get("step") or ((state or {}).get("step", 0) + 1)
    cause = alerts.first_line(_lambda_error_message(error.get("Cause")) or error.get("Error") or "no cause given")
    what = "timed out" if kind == "timed_out" else "failed"
    reason = (f"step {step_no} {what} ({error.get('Error') or 'unknown error'}: {cause})"
              + (f" while running {', '.join(running)}" if running else ""))
    extra = {uid: {"status": work["status"][uid], "message": note} for uid, note in work["notes"].items()}
    for uid in running:
        extra[uid] = {"status": "error", "message": f"not finished: {reason}"}
    started = (state or {}).get("started") or time.time()
    bodies = [b for name in chunks if store and (b := store.get(f"{prefix}steps/{name}/run_results.json"))]
    merged = merge_results.merge(bodies, work["order"], extra, run_id, time.time() - started)
    nodes = merge_results.node_summaries(merged)
    command = _command_of(trigger_event, config)
    summary: dict[str, Any] = {
        "status": kind, "command": command, "elapsed_seconds": round(time.time() - started, 3),
        "steps": step_no, "counts": merge_results.counts(nodes), "nodes": nodes, "invocation_id": run_id,
        "execution": execution, "error": reason, "running_nodes": running,
        "not_run": len([uid for uid in work["order"] if uid not in work["status"] and uid not in running]),
    }
    if store is not None:
        record = _record(summary, store, prefix, trigger, config, environment, request_id,
                         state or {"started_at": _now(), "step": step_no})
        try:
            store.put(prefix + "run_results.json", json.dumps(merged, indent=2, default=str).encode(), "application/json")
            store.put(prefix + "summary.json", json.dumps(record, indent=2, default=str).encode(), "application/json")
            _close_progress(store, prefix, kind, running)
            summary["artifacts"] = store.where(prefix)
        except Exception as failure:  # noqa: BLE001 - the alert still goes out
            log("dbt_artifacts_failed", level="error", run_id=run_id, error=f"{type(failure).__name__}: {failure}"[:500])
    alerts.send(summary, topic=env.get("ALERT_TOPIC_ARN") or None, environment=environment, request_id=request_id,
                trigger=trigger)
    build_events.run_finished(config, environment, summary, trigger=trigger)
    log("dbt_run_finish", level="error", request_id=request_id, run_id=run_id, status=kind, steps=step_no,
        error=reason, running=running)
    return {"event": trigger_event, "run": state, "done": True, "status": kind, "run_id": run_id,
            "running_nodes": running, "artifacts": summary.get("artifacts")}


def timed_out_or_failed(error: dict) -> str:
    """'timed_out' for Step Functions' States.Timeout, Lambda's Sandbox.Timedout or our hard stop."""
    name, cause = str(error.get("Error") or ""), str(error.get("Cause") or "")
    if name in ("States.Timeout", "Sandbox.Timedout", "StepTimedOut") or any(c in cause for c in _TIMEOUT_CAUSES):
        return "timed_out"
    if "StepTimedOut" in cause:
        return "timed_out"
    return "failed"


# --- helpers --------------------------------------------------------------------------------


def chunk_args(args: list[str], terms: list[str]) -> list[str]:
    """The request's dbt arguments with its selection replaced by exactly `terms`.

    `--indirect-selection empty`: the chunk's tests are in the plan and selected by name, so dbt
    must not add the tests of its models (they may belong to a later chunk).
    """
    out: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        name = token.split("=", 1)[0]
        if name in _SELECT or name == "--indirect-selection":
            index += 1
            if "=" not in token:
                while index < len(args) and not args[index].startswith("-"):
                    index += 1
                    if name == "--indirect-selection" or name == "--selector":
                        break
            continue
        out.append(token)
        index += 1
    return [*out, "--select", *terms, "--indirect-selection", "empty"]


def _select(session: Any, invocation: Any, key: str, shipped: Callable) -> list[str]:
    """The unique ids the request selects, by dbt's own `ls` on the kept manifest."""
    from dbt.cli.main import cli

    build = cli.commands[invocation.args[0]]
    listing = cli.commands["list"]
    kinds = {opt: p for p in build.params for opt in [*p.opts, *p.secondary_opts]}
    accepted = {opt for p in listing.params for opt in [*p.opts, *p.secondary_opts]}
    args, tokens, index = ["ls"], invocation.args[1:], 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        name, eq, _ = token.partition("=")
        param = kinds.get(name)
        values: list[str] = []
        if param is not None and not eq and not getattr(param, "is_flag", False):
            while index < len(tokens) and not tokens[index].startswith("-"):
                values.append(tokens[index])
                index += 1
                if not getattr(param, "multiple", False):
                    break
        if name in accepted and name not in ("--output", "-o", "--output-keys"):
            args += [token, *values]
    args += ["--output", "json", "--output-keys", "unique_id", "--quiet", "--log-level", "none"]
    outcome = session.invoke("list", args, invocation.parse_args, key, shipped=shipped)
    if not outcome.result.success:
        raise RuntimeError(f"dbt ls could not plan the build: {outcome.result.exception}")
    return [json.loads(line)["unique_id"] for line in outcome.result.result or []]


def _step_input(payload: Any, field: str) -> tuple[dict, dict | None, str | None]:
    if not isinstance(payload, dict):
        raise EventError(field, "expected an object with 'event', 'run' and 'execution'")
    trigger_event = payload.get("event")
    if not isinstance(trigger_event, dict):
        raise EventError(f"{field}.event", "expected the event that started the build (an object)")
    state = payload.get("run")
    if state is not None and (not isinstance(state, dict) or not {"run_id", "date", "step"} <= set(state)):
        raise EventError(f"{field}.run", "expected null (the first step) or the run state an earlier step returned")
    execution = payload.get("execution")
    if execution is not None and (not isinstance(execution, str) or not _EXECUTION_NAME.match(execution)):
        raise EventError(f"{field}.execution", "expected the execution's name (1-80 letters, digits, - or _)")
    return trigger_event, state, execution


def _new_run(execution: str | None, runtime_vars: dict) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    return {"v": 1, "run_id": execution or str(uuid.uuid4()), "date": now.strftime("%Y-%m-%d"),
            "started_at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "started": time.time(), "step": 0, "vars": runtime_vars}


def _budget(context: Any, config: settings.Settings) -> tuple[float | None, float | None]:
    """(seconds this step may use, Lambda's remaining seconds or None)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        seconds = remaining() / 1000.0
        return max(0.0, seconds - config.step_margin_seconds), seconds
    if config.step_seconds is not None:
        return max(0.0, config.step_seconds - config.step_margin_seconds), None
    return None, None


def _fail(uid, message, status, notes, graph, order) -> None:
    status[uid] = "error"
    notes[uid] = message
    _skip_dependents(uid, status, notes, graph, order)


def _skip_dependents(uid, status, notes, graph, order) -> None:
    for child in step_plan.skipped_by(graph, uid, order):
        if child not in status:
            status[child] = "skipped"
            notes[child] = None  # dbt's skipped results carry no message either


def _record(summary, store, prefix, trigger, config, environment, request_id, state) -> dict[str, Any]:
    return {**summary, "artifacts": store.where(prefix), "trigger": trigger, "target": config.target,
            "environment": environment, "request_id": request_id, "started_at": state.get("started_at"),
            "finished_at": _now(), "steps": summary.get("steps", state.get("step"))}


def _trigger_of(event: dict) -> str:
    kind = event.get("detail-type")
    if kind == "Scheduled Event":
        return "schedule"
    if kind == "Object Created":
        key = str(((event.get("detail") or {}).get("object") or {}).get("key", ""))
        return "manifest" if key.startswith("manifests/") else "s3"
    return "invoke"


def _command_of(event: dict, config: settings.Settings) -> list[str]:
    if "command" in event and isinstance(event["command"], list):
        return redact_args([*map(str, event["command"]), *map(str, event.get("cli_args") or [])])
    return redact_args(list(config.default_command)) if event.get("detail-type") == "Scheduled Event" else ["build"]


def _check_size(state: dict) -> None:
    size = len(json.dumps(state, separators=(",", ":")))
    if size > step_plan.MAX_RUN_STATE_BYTES:
        raise RuntimeError(f"the run state is {size} bytes, over the {step_plan.MAX_RUN_STATE_BYTES} the state machine carries")


def _chunk_results(outcome: Any, path: Path) -> bytes | None:
    """The chunk's run_results.json, written where dbt writes it, from dbt's own result.

    Chunks run with --no-write-json: dbt would otherwise also write the whole manifest.json after
    every chunk (a quarter of a second for 400 nodes, and growing with the project). The run's
    manifest is written once, by its last step (_manifest_json).
    """
    result = getattr(outcome.result, "result", None)
    if not isinstance(result, RunExecutionResult):
        return None
    result.write(str(path))
    return path.read_bytes()


def _manifest_json(manifest: Any, path: Path, state: dict[str, Any]) -> bytes:
    """The run's manifest.json: the manifest every step planned and ran from, stamped with the run."""
    manifest.metadata.invocation_id = state["run_id"]
    manifest.metadata.generated_at = datetime.now(timezone.utc).replace(tzinfo=None)
    manifest.write(str(path))
    return path.read_bytes()


_GRAPHS: dict[str, Any] = {}


def _graph_for(key: str, manifest: Any) -> Any:
    """dbt build's graph of the manifest with fingerprint `key`, built once per warm container."""
    if key not in _GRAPHS:
        _GRAPHS.clear()
        _GRAPHS[key] = step_plan.build_graph(manifest)
    return _GRAPHS[key]


def _close_progress(store: Any, prefix: str, status: str, running: list[str] | None = None) -> None:
    """The in-progress record, once summary.json stands: no reader takes the run for a live or stale one."""
    record = {"status": status, "finished_at": _now(), "running": [], **({"was_running": running} if running else {})}
    store.put(prefix + IN_PROGRESS, json.dumps(record).encode(), "application/json")


def _json(body: bytes | None) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Progress:
    """in_progress.json: which node(s) the step is running.

    Written before dbt starts, then rewritten as dbt starts and finishes nodes. dbt's threads only
    note the change (its event callbacks run on them): a writer thread puts the newest record,
    skipping any that a later change made stale, so no node waits on an S3 PUT. `close` returns
    once the newest record is stored.
    """

    def __init__(self, store: Any, prefix: str, record: dict[str, Any]):
        self._store, self._key, self._record = store, prefix + IN_PROGRESS, record
        self._changed = threading.Condition()
        self._running: list[str] = []
        self._version = self._stored = 0
        self._closed = False
        self._put(self._body())  # before dbt starts
        self._writer = threading.Thread(target=self._write_changes, name="dbt-progress", daemon=True)
        self._writer.start()

    def running(self) -> list[str]:
        with self._changed:
            return list(self._running)

    def on_event(self, msg: Any) -> None:
        name = msg.info.name
        if name not in ("NodeStart", "NodeFinished"):
            return
        uid = getattr(getattr(msg.data, "node_info", None), "unique_id", None)
        if not uid:
            return
        with self._changed:
            if name == "NodeStart":
                self._running.append(uid)
            elif uid in self._running:
                self._running.remove(uid)
            self._version += 1
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._writer.join()

    def _write_changes(self) -> None:
        while True:
            with self._changed:
                while self._version == self._stored and not self._closed:
                    self._changed.wait()
                if self._version == self._stored:
                    return  # closed, and the newest record is stored
                version, body = self._version, self._body()
            self._put(body)
            with self._changed:
                self._stored = version

    def _body(self) -> bytes:
        # Every start and finish: a node worth naming runs for seconds (an Athena query), and
        # the record must name what was running when Lambda killed the step.
        if self._running:
            self._record["running"] = list(self._running)
        return json.dumps(self._record, default=str).encode()

    def _put(self, body: bytes) -> None:
        try:
            self._store.put(self._key, body, "application/json")
        except Exception as error:  # noqa: BLE001 - a lost progress note must not stop the build
            log("dbt_progress_failed", level="warning", error=f"{type(error).__name__}: {error}"[:300])


class _Watchdog:
    """Stops dbt shortly before Lambda would kill the step: cancels its open queries and interrupts
    the step's thread (KeyboardInterrupt), as Ctrl-C does.

    Only a chunk that overran its estimates by the whole margin gets here. dbt handles the
    interrupt as Ctrl-C: it stops starting nodes and cancels its adapter's open connections
    (dbt-athena's cursor calls Athena's StopQueryExecution) before returning, so no query
    outlives the step.
    """

    def __init__(self, lambda_remaining: float, began: float, margin: float, progress: "_Progress"):
        self.fired = False
        self.running: list[str] = []  # what was running when it fired
        self._progress = progress
        self._thread = threading.get_ident()
        before_kill = min(_HARD_STOP_BEFORE_KILL, margin / 2)  # always after the step's deadline
        delay = lambda_remaining - before_kill - (time.perf_counter() - began)
        self._timer = threading.Timer(max(0.0, delay), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        self.running = self._progress.running()
        # The step's thread waits in a lock until a node finishes, and an async exception lands
        # only when it runs Python again: so also cancel the open queries here, as dbt's Ctrl-C
        # handler does (dbt-athena: StopQueryExecution), which ends the running nodes now.
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread), ctypes.py_object(KeyboardInterrupt))
        try:
            from dbt.adapters.factory import FACTORY

            for adapter in list(FACTORY.adapters.values()):
                cancelled = adapter.cancel_open_connections()
                log("dbt_step_hard_stop", adapter=adapter.type(), cancelled=list(cancelled or [])[:50])
        except Exception as error:  # noqa: BLE001 - the interrupt above still stops dbt
            log("dbt_step_hard_stop_failed", level="error", error=f"{type(error).__name__}: {error}"[:300])

    def cancel(self) -> None:
        self._timer.cancel()
