"""What happens around a dbt run: state and docs flags before it; artifacts and alerts after it.

`prepare` may refuse a request (EventError, before dbt starts). `finish` never raises: a failed
upload or publish is logged, and dbt's own result is what the invocation returns or raises.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from dbt_runner import alerts
from dbt_runner import run_artifacts
from dbt_runner import docs
from dbt_runner import state
from dbt_runner.events import EventError, Request
from dbt_runner.jsonlog import log
from dbt_runner.settings import Settings


@dataclass
class Run:
    request: Request
    store: run_artifacts.Store | None
    started: float  # epoch seconds; dbt files older than this belong to an earlier run
    environment: str
    alert_topic: str | None
    state: state.StateNote | None = None


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
    source = store.where("latest/manifest.json")
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
    if run.alert_topic and alerts.needs_alert(summary):
        try:
            subject, body = alerts.message(summary, environment=run.environment, artifacts=summary.get("artifacts"),
                                           request_id=request_id, trigger=run.request.trigger)
            message_id = alerts.publish(run.alert_topic, subject, body)
            log("dbt_alert_sent", request_id=request_id, topic=run.alert_topic, message_id=message_id)
        except Exception as error:  # nor a publishing failure
            log("dbt_alert_failed", level="error", request_id=request_id, topic=run.alert_topic,
                error=f"{type(error).__name__}: {error}"[:1000])


def _store(run: Run, config: Settings, summary: dict[str, Any], request_id: str | None, invocation_id: str) -> str:
    store = run.store
    assert store is not None
    started = datetime.fromtimestamp(run.started, timezone.utc)
    prefix = run_artifacts.run_prefix(started.strftime("%Y-%m-%d"), invocation_id)
    files = {name: body for name in run_artifacts.RUN_FILES if (body := _fresh(config.target_path / name, run.started))}
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
    if (run.request.name in run_artifacts.BUILDING_COMMANDS and summary["status"] == "success"
            and "manifest.json" in files):
        for name, body in files.items():
            store.put(f"latest/{name}", body, run_artifacts.content_type(name))
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


def move_latest(store: run_artifacts.Store, files: Mapping[str, bytes]) -> None:
    """Copy a successful build's files to latest/ (a stepped build calls it once, at its end)."""
    for name, body in files.items():
        store.put(f"latest/{name}", body, run_artifacts.content_type(name))
