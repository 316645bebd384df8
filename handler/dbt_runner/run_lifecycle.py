"""What happens around a dbt run: state and docs flags before it; artifacts and alerts after it.

`prepare` may refuse a request (EventError, before dbt starts). `begin`, just before dbt starts,
turns stale in-progress records into timed-out runs (sweep_stale) and writes this run's own.
`finish` stores the artifacts (latest/ only for a complete build, pointer last), alerts, and
removes the in-progress record. `begin` and `finish` never raise: a failed upload or publish is
logged, and dbt's own result is what the invocation returns or raises.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from dbt_runner import alerts
from dbt_runner import run_artifacts
from dbt_runner import docs
from dbt_runner import state
from dbt_runner.events import EventError, Request
from dbt_runner.jsonlog import log, mask
from dbt_runner.settings import Settings


@dataclass
class Run:
    request: Request
    store: run_artifacts.Store | None
    started: float  # epoch seconds; dbt files older than this belong to an earlier run
    environment: str
    alert_topic: str | None
    state: state.StateNote | None = None
    in_progress: str | None = None  # this run's in-progress record, once written
    complete: bool = False  # a build that may stand for the whole project (covers_project decides)


# The function's timeout when the Lambda context does not say (local runs, tests): Lambda's 900 s.
TIMEOUT_SETTING = "DBT_RUN_TIMEOUT_SECONDS"
DEFAULT_TIMEOUT_SECONDS = 900.0


def timeout_seconds(context: Any, env: Mapping[str, str] | None = None) -> float:
    """How long this invocation may run: the context's remaining time, else DBT_RUN_TIMEOUT_SECONDS."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        try:
            return max(1.0, float(remaining()) / 1000)
        except (TypeError, ValueError):
            pass
    env = os.environ if env is None else env
    try:
        return float(env.get(TIMEOUT_SETTING) or DEFAULT_TIMEOUT_SECONDS)
    except ValueError:
        return DEFAULT_TIMEOUT_SECONDS


def begin(run: Run, request: Request, config: Settings, shown: list[str], request_id: str | None,
          timeout: float) -> None:
    """Before dbt starts: sweep stale records, then write this run's in-progress record. Never raises."""
    run.complete = run_artifacts.may_be_complete(request.command, request.cli_args)
    if run.store is None:
        return
    sweep_stale(run.store, alert_topic=run.alert_topic, request_id=request_id)
    run_key = request_id or f"local-{uuid.uuid4().hex[:16]}"
    run_key = re.sub(r"[^A-Za-z0-9._-]", "_", run_key)[:128]
    record = run_artifacts.in_progress_record(
        run_key=run_key, command=shown, trigger=request.trigger, target=config.target,
        environment=run.environment, request_id=request_id,
        started=datetime.fromtimestamp(run.started, timezone.utc), timeout_seconds=round(timeout, 3))
    key = run_artifacts.in_progress_key(run_key)
    try:
        run.store.put(key, json.dumps(record, indent=2).encode(), "application/json")
        run.in_progress = key
    except Exception as error:  # noqa: BLE001 - the run goes on; its summary is still stored after
        log("dbt_in_progress_failed", level="error", request_id=request_id, location=run.store.where(key),
            error=f"{type(error).__name__}: {error}"[:1000])


def sweep_stale(store: run_artifacts.Store, *, alert_topic: str | None, request_id: str | None,
                now: datetime | None = None) -> list[str]:
    """Turn in-progress records past their deadline into timed-out runs, one alert each. Never raises.

    Order: the run's summary.json first (skipped when a sweep already wrote it), then the alert
    (only by the sweep that wrote the summary), then the record goes. Returns the run folders written.
    """
    now = now or datetime.now(timezone.utc)
    written: list[str] = []
    try:
        keys = [k for k in store.keys(run_artifacts.IN_PROGRESS_PREFIX) if k.endswith(".json")]
    except Exception as error:  # noqa: BLE001
        log("dbt_in_progress_unlisted", level="error", request_id=request_id, location=store.location,
            error=f"{type(error).__name__}: {error}"[:1000])
        return written
    for key in keys:
        try:
            body = store.get(key)
            if body is None:
                continue
            record = json.loads(body)
            deadline = datetime.fromisoformat(str(record["deadline"]).replace("Z", "+00:00"))
            if now <= deadline:
                continue  # still running, or may be
            prefix, summary = run_artifacts.timed_out_summary(record, now)
            summary["artifacts"] = store.where(prefix)
            if store.get(prefix + "summary.json") is None:
                store.put(prefix + "summary.json", json.dumps(summary, indent=2).encode(), "application/json")
                written.append(prefix)
                log("dbt_run_timed_out", level="error", request_id=request_id, run_request_id=summary["request_id"],
                    started_at=summary["started_at"], command=summary["command"], artifacts=summary["artifacts"])
                alerts.send(summary, topic=alert_topic, environment=str(summary.get("environment") or "?"),
                            request_id=summary.get("request_id"), trigger=str(summary.get("trigger") or "?"))
            store.delete(key)
        except Exception as error:  # noqa: BLE001 - one bad record must not stop the run
            log("dbt_in_progress_unreadable", level="error", request_id=request_id, record=store.where(key),
                error=f"{type(error).__name__}: {mask(str(error))}"[:1000])
    return written


def prepare(request: Request, config: Settings, env: Mapping[str, str] | None = None) -> tuple[Request, Run]:
    env = os.environ if env is None else env
    store = run_artifacts.store_for(config.local_data_dir, env)
    run = Run(
        request=request,
        store=store,
        started=time.time(),
        environment=env.get("ENVIRONMENT") or config.target or "local",
        alert_topic=env.get("ALERT_TOPIC_ARN") or None,
    )
    # Files only this run may write: an earlier run's copy must not pass for this run's.
    for name in ("run_results.json", "sources.json", docs.STATIC_INDEX):
        (config.target_path / name).unlink(missing_ok=True)
    cli_args = request.cli_args
    if request.state:
        cli_args, run.state = _state_args(request, config, store)
    if request.name == "docs generate":
        cli_args = docs.static_args(cli_args)
    return dataclasses.replace(request, cli_args=cli_args), run


def _state_args(request: Request, config: Settings, store: run_artifacts.Store | None):
    if store is None:
        raise EventError("state", "needs an artifacts location: set ARTIFACTS_BUCKET_NAME (or use the local target)")
    source = store.where(run_artifacts.LATEST_POINTER)
    state_dir = config.target_path.parent / "state"
    try:
        found = state.fetch(store, state_dir)
    except Exception as error:  # e.g. S3 unreachable: no silent full build, the run stops here
        log("dbt_state_unavailable", level="error", source=source, error=f"{type(error).__name__}: {error}"[:1000])
        raise
    if found:
        log("dbt_state", source=source, defer=request.defer)
        return state.with_state(request.cli_args, state_dir, request.defer), state.StateNote(True, source)
    reason = "no latest/ manifest yet (no successful build): ran the selection as a first build, without state"
    log("dbt_state_missing", level="warning", source=source, reason=reason)
    return state.without_state(request.cli_args, request.args_field), state.StateNote(False, source, reason)


def finish(run: Run, config: Settings, summary: dict[str, Any], request_id: str | None) -> None:
    """Store the run's artifacts and alert on failures or warnings; adds their locations to `summary`."""
    if run.state is not None:
        summary["state"] = run.state.as_dict()
    try:
        invocation_id = _invocation_id(config.target_path, run.started)
    except Exception as error:  # dbt's record unreadable: the run still gets a folder of its own
        invocation_id = f"unknown-{int(run.started * 1000)}"
        log("dbt_invocation_id_unknown", level="error", request_id=request_id, error=f"{type(error).__name__}: {error}"[:300])
    summary["invocation_id"] = invocation_id
    if run.store is not None:
        try:
            summary["artifacts"] = _store(run, config, summary, request_id, invocation_id)
        except Exception as error:  # an upload failure must never hide dbt's result
            summary["artifacts"] = None
            log("dbt_artifacts_failed", level="error", request_id=request_id, location=run.store.location,
                error=f"{type(error).__name__}: {error}"[:1000])
    alerts.send(summary, topic=run.alert_topic, environment=run.environment, request_id=request_id,
                trigger=run.request.trigger)
    if run.store is not None and run.in_progress is not None:
        try:
            run.store.delete(run.in_progress)
        except Exception as error:  # noqa: BLE001 - then a later sweep reports it as timed out
            log("dbt_in_progress_failed", level="error", request_id=request_id,
                location=run.store.where(run.in_progress), error=f"{type(error).__name__}: {error}"[:1000])


def _store(run: Run, config: Settings, summary: dict[str, Any], request_id: str | None, invocation_id: str) -> str:
    store = run.store
    assert store is not None
    started = datetime.fromtimestamp(run.started, timezone.utc)
    prefix = run_artifacts.run_prefix(started.strftime("%Y-%m-%d"), invocation_id)
    files = {name: body for name in run_artifacts.RUN_FILES if (body := _fresh(config.target_path / name, run.started))}
    if "run_results.json" in files:  # dbt records its args (--vars, --args) and raw error messages there
        files["run_results.json"] = run_artifacts.scrub_run_results(files["run_results.json"])
    record = {
        **summary,
        "artifacts": store.where(prefix),
        "trigger": run.request.trigger,
        "target": config.target,
        "environment": run.environment,
        "request_id": request_id,
        "started_at": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    files["summary.json"] = json.dumps(record, indent=2, default=str).encode()
    for name, body in files.items():  # summary.json last: a run folder with it is complete
        store.put(prefix + name, body, run_artifacts.content_type(name))

    if run.request.name == "docs generate" and summary["status"] == "success":
        page = docs.page(config.target_path)
        if page is not None and _is_fresh(config.target_path / docs.STATIC_INDEX, run.started):
            store.put(docs.DOCS_KEY, page, run_artifacts.content_type(docs.DOCS_KEY))
            summary["docs"] = store.where(docs.DOCS_KEY)
    if (run.complete and summary["status"] == "success" and "manifest.json" in files
            and run_artifacts.covers_project(files["manifest.json"], files.get("run_results.json", b"{}"))):
        latest = {name: files[name] for name in run_artifacts.LATEST_FILES if name in files}
        folder = run_artifacts.write_latest(store, invocation_id, latest)  # the pointer last
        summary["latest"] = store.where(folder)
    return store.where(prefix)


def _invocation_id(target_path: Path, started: float) -> str:
    """dbt's invocation_id of the run just finished (run_results.json, else dbt's own record)."""
    body = _fresh(target_path / "run_results.json", started)
    if body:
        try:
            found = json.loads(body)["metadata"]["invocation_id"]
            if found:
                return str(found)
        except (ValueError, KeyError, TypeError):
            pass
    from dbt_common.invocation import get_invocation_id

    return str(get_invocation_id())


def _is_fresh(path: Path, started: float) -> bool:
    # Whole seconds on some filesystems: a file written in this run's first second still counts.
    return path.is_file() and path.stat().st_mtime >= int(started)


def _fresh(path: Path, started: float) -> bytes | None:
    return path.read_bytes() if _is_fresh(path, started) else None
