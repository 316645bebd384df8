"""A readable SNS message when a dbt run fails or warns (`ALERT_TOPIC_ARN`).

The message names the environment, the status, each failing or warning node with the first
line of its message, the counts and where the run's artifacts are. It never carries `--vars`
or `--args` values (the command shown is the redacted one) or row data: every message goes
through lambda_logging.mask (quoted literals, emails, numbers and dates become placeholders).
"""

from __future__ import annotations

from typing import Any

from dbt_runner.jsonlog import log
from lambda_logging import mask

_FAILED = {"error", "fail", "runtime error"}
_WARNED = {"warn"}
_SUBJECT_MAX = 100  # SNS's limit for email subjects
_LINE_MAX = 300
_MAX_NODES = 50


def needs_alert(summary: dict[str, Any]) -> bool:
    return summary.get("status") != "success" or any(status in _WARNED for status in summary.get("counts", {}))


def message(summary: dict[str, Any], *, environment: str, artifacts: str | None, request_id: str | None,
            trigger: str) -> tuple[str, str]:
    """(subject, body) of the alert for a run's summary."""
    failed = [n for n in summary.get("nodes", []) if n.get("status") in _FAILED]
    warned = [n for n in summary.get("nodes", []) if n.get("status") in _WARNED]
    command = " ".join(summary.get("command", []))
    status = summary.get("status")
    verb = {"success": "warned", "timed_out": "timed out"}.get(str(status), "failed")
    tally = ", ".join(part for part in (
        f"{len(failed)} failed" if failed else "",
        f"{len(warned)} warned" if warned else "",
    ) if part)
    subject = _ascii(f"[{environment}] dbt {summary.get('command', ['?'])[0]} {verb}" + (f": {tally}" if tally else ""))

    lines = [
        f"Environment: {environment}",
        f"Status: {status}" + ("" if verb.replace(" ", "_") == status else f" ({verb})"),
        f"Command: dbt {command}",
        f"Trigger: {trigger}",
        *([f"Steps: {summary['steps']}"] if summary.get("steps") else []),  # a stepped build's
        f"Elapsed: {summary.get('elapsed_seconds')} s",
        "Counts: " + (", ".join(f"{k} {v}" for k, v in sorted(summary.get("counts", {}).items())) or "none"),
    ]
    if summary.get("error"):
        lines.append(f"Error: {first_line(summary['error'])}")
    for title, nodes in (("Failing nodes", failed), ("Warning nodes", warned)):
        if nodes:
            lines.append("")
            lines.append(f"{title} ({len(nodes)}):")
            for node in nodes[:_MAX_NODES]:
                lines.append(f"- {node.get('unique_id')} [{node.get('status')}]: {first_line(node.get('message'))}")
            if len(nodes) > _MAX_NODES:
                lines.append(f"- ... and {len(nodes) - _MAX_NODES} more (see run_results.json)")
    lines.append("")
    lines.append(f"Artifacts: {artifacts or 'not kept (no artifacts location configured)'}")
    if request_id:
        lines.append(f"Lambda request id: {request_id}")
    return subject[:_SUBJECT_MAX], "\n".join(lines) + "\n"


def send(summary: dict[str, Any], *, topic: str | None, environment: str, request_id: str | None,
         trigger: str) -> None:
    """Publish the run's alert when it needs one; a publishing failure is logged, never raised."""
    if not topic or not needs_alert(summary):
        return
    try:
        subject, body = message(summary, environment=environment, artifacts=summary.get("artifacts"),
                                request_id=request_id, trigger=trigger)
        message_id = publish(topic, subject, body)
        log("dbt_alert_sent", request_id=request_id, topic=topic, message_id=message_id)
    except Exception as error:  # noqa: BLE001 - never replaces the run's result
        log("dbt_alert_failed", level="error", request_id=request_id, topic=topic,
            error=f"{type(error).__name__}: {error}"[:1000])


def first_line(text: Any) -> str:
    if not text:
        return "(no message)"
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    line = mask(line)
    return line if len(line) <= _LINE_MAX else line[: _LINE_MAX - 3] + "..."


def publish(topic_arn: str, subject: str, body: str, client: Any = None) -> str:
    """Publish to the topic; returns the SNS message id."""
    if client is None:
        import boto3

        client = boto3.client("sns", region_name=_region_of(topic_arn))
    return client.publish(TopicArn=topic_arn, Subject=subject, Message=body)["MessageId"]


def _region_of(topic_arn: str) -> str | None:
    parts = topic_arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None


def _ascii(text: str) -> str:
    # SNS subjects: ASCII, no line breaks.
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
