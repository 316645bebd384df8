"""Downstream fan-out: one EventBridge event on the default bus when a build ends.

  source       dbt-lambda.<ENVIRONMENT>
  detail-type  dbt build finished
  detail       {"run_id", "status", "command", "counts", "models": [the models it refreshed],
                "steps", "trigger", "artifacts"}

Put once per run: by a one-shot building command when it ends, by a stepped build at its last
step (or by build_step_failed). Only when DBT_EVENTS_ENABLED=true (the stack sets it; locally
off). A put that fails is logged (`dbt_event_failed`) and never changes the run's result.
"""

from __future__ import annotations

from typing import Any

from dbt_runner.jsonlog import log

DETAIL_TYPE = "dbt build finished"
BUILDING = {"build", "run", "seed", "snapshot"}
_MAX_MODELS = 500  # EventBridge entries are at most 256 KB


def source_for(environment: str) -> str:
    return f"dbt-lambda.{environment}"


def detail(summary: dict[str, Any], trigger: str | None = None) -> dict[str, Any]:
    models = [n["unique_id"].split(".")[-1] for n in summary.get("nodes", [])
              if n.get("unique_id", "").startswith("model.") and n.get("status") == "success"]
    return {
        "run_id": summary.get("invocation_id"),
        "status": summary.get("status"),
        "command": summary.get("command", [])[:1],
        "counts": summary.get("counts", {}),
        "models": models[:_MAX_MODELS],
        "models_truncated": len(models) > _MAX_MODELS,
        "steps": summary.get("steps", 1),
        "trigger": trigger,
        "artifacts": summary.get("artifacts"),
    }


def run_finished(config: Any, environment: str, summary: dict[str, Any], *, trigger: str | None = None,
                 client: Any = None) -> str | None:
    """Put the run's event when enabled; returns its event id (None when off or it failed)."""
    if not getattr(config, "events_enabled", False):
        return None
    try:
        import json

        if client is None:
            import boto3

            client = boto3.client("events")
        answer = client.put_events(Entries=[{
            "Source": source_for(environment),
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(detail(summary, trigger), default=str),
        }])
        entry = answer["Entries"][0]
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
        log("dbt_event_sent", run_id=summary.get("invocation_id"), event_id=entry.get("EventId"))
        return entry.get("EventId")
    except Exception as error:  # noqa: BLE001 - the fan-out never hides dbt's result
        log("dbt_event_failed", level="error", run_id=summary.get("invocation_id"),
            error=f"{type(error).__name__}: {error}"[:500])
        return None
