"""The dbt_runner Lambda: parse and validate the event, run dbt in-process, report.

Entry point `dbt_runner.handler.handler`. See events.py for the accepted events and settings.py for the
environment variables.
"""

from __future__ import annotations

from dbt_runner import threadlocks

# Before dbt is imported: Lambda has no /dev/shm for multiprocessing's semaphores.
threadlocks.install()

import dataclasses  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from dbt_runner import build_events  # noqa: E402
from dbt_runner import bundles  # noqa: E402
from dbt_runner import ci_build  # noqa: E402
from dbt_runner import ci_credentials  # noqa: E402
from dbt_runner import ci_teardown  # noqa: E402
from dbt_runner import events  # noqa: E402
from dbt_runner import ingest_manifests  # noqa: E402
from dbt_runner import run_lifecycle  # noqa: E402
from dbt_runner import partitions  # noqa: E402
from dbt_runner import project  # noqa: E402
from dbt_runner import settings  # noqa: E402
from dbt_runner import shipped_parse  # noqa: E402
from dbt_runner import steps  # noqa: E402
from dbt_runner.cli_args import plan  # noqa: E402
from dbt_runner.dbt_run import DbtRunFailed, DbtSession, summarise  # noqa: E402
from dbt_runner.jsonlog import log, redact_args  # noqa: E402

# One per container: warm invocations reuse the imports and the parsed manifest.
SESSION = DbtSession()
# "true" (the stack sets it with SnapStart): parse the project while the module loads.
PARSE_AT_INIT = "DBT_PARSE_AT_INIT"

__all__ = ["handler", "DbtRunFailed"]


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    try:
        config = settings.load()
    except settings.ConfigError:
        return _handle(event, context)  # which reports the setting
    with settings.exclusive_scratch(config):  # one process at a time in the project's dbt target/
        return _handle(event, context)


def _handle(event: Any, context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    request_id = getattr(context, "aws_request_id", None)
    if steps.is_step_event(event):  # the <env>-dbt-build state machine (steps.py)
        try:
            return steps.handle(event, context, SESSION, _shipped_parse)
        except (events.EventError, settings.ConfigError) as error:
            log("dbt_request_rejected", level="error", request_id=request_id, error=str(error))
            raise
    try:
        config = settings.load()
        if bundles.is_validation(event):  # make ship-project's dry run: parse a bundle, run nothing
            return bundles.validate(event, config, SESSION, request_id)
        if ci_teardown.is_teardown(event):  # a closed pull request's database and prefixes
            return ci_teardown.handle(event, request_id)
        ci, event = ci_build.split(event)  # a pull request's build: its own names only
        config, project_source = bundles.select(config, ci, request_id)  # the current bundle, or the package's
        ci_build.apply_env(ci)
        request = events.parse(
            event,
            default_command=config.default_command,
            raw_tables=lambda: project.raw_tables(config.project_dir),
            raw_bucket=config.raw_bucket,
            read_object=ingest_manifests.reader_for(config),
        )
        request, run = run_lifecycle.prepare(request, config)  # state and docs flags
        if ci is not None:  # state came from the env's latest/; the records go under ci/pr_<n>/
            request = run.request = dataclasses.replace(request, trigger="ci")
            run.store = ci_build.store_for(ci, run.store, config.local_data_dir)
            run.alert_topic = None  # a PR's failure is reported to the PR, not to the env's on-call
        invocation = plan(request, config, runtime_vars=lambda: partitions.runtime_vars(request, config))
        target_type = ci_credentials.adapter_type(config.project_dir, config.profiles_dir, config.target) if ci else None
        ci_credentials.check(ci, target_type)  # a PR's SQL on AWS runs only with the PR's scoped session
    except (events.EventError, settings.ConfigError) as error:
        log("dbt_request_rejected", level="error", request_id=request_id, error=str(error))
        raise

    settings.apply(config)
    shown = redact_args([*request.command, *request.cli_args])
    key = project.fingerprint(config.project_dir, config.profiles_dir, invocation.cache_inputs)
    log("dbt_run_start", request_id=request_id, trigger=request.trigger, command=shown,
        target=config.target, project=config.project_dir.name)

    run_lifecycle.begin(run, request, config, shown, request_id, run_lifecycle.timeout_seconds(context))
    with ci_credentials.contained(ci, target_type) as session:
        outcome = SESSION.invoke(request.name, invocation.args, invocation.parse_args, key,
                                 shipped=lambda: _shipped_parse(config, invocation.cache_inputs, request_id))
    summary = summarise(shown, outcome, time.perf_counter() - started)
    summary["project"] = project_source
    if ci is not None:
        summary["ci"] = {**ci.as_dict(), **ci_build.names(ci), "session": session}
    run_lifecycle.finish(run, config, summary, request_id)  # artifacts and alerts; never raises
    if request.name in build_events.BUILDING:
        build_events.run_finished(config, run.environment, summary, trigger=request.trigger)  # never raises
    log("dbt_run_finish", level="info" if summary["status"] == "success" else "error",
        request_id=request_id, command=shown, status=summary["status"],
        elapsed_seconds=summary["elapsed_seconds"], manifest_source=summary["manifest_source"],
        counts=summary["counts"], error=summary.get("error"), artifacts=summary.get("artifacts"))
    if summary["status"] != "success":
        raise DbtRunFailed(summary)
    return summary


def _shipped_parse(config: settings.Settings, inputs: list[str], request_id: str | None):
    """The package's parse for this target rebound to this container, or None (then dbt parses)."""
    if config.shipped_parse_dir is None or config.target is None:
        return None
    path = shipped_parse.path_for(config.shipped_parse_dir, config.target)
    started = time.perf_counter()
    parts = shipped_parse.key_parts(config.project_dir, config.profiles_dir, inputs)
    parse_key = shipped_parse.key_of(parts)
    manifest, why = shipped_parse.load(path, parse_key, shipped_parse.container_values(config.project_dir), parts)
    log("dbt_shipped_parse", level="info" if manifest is not None else "warning", request_id=request_id,
        used=manifest is not None, reason=why or None, elapsed_seconds=round(time.perf_counter() - started, 3))
    return manifest


def parse_at_init() -> bool:
    """Parse the project now, in Lambda's init phase, so the first invocation reuses the manifest.

    With SnapStart the snapshot is taken after init, so no invocation pays the parse. Never
    raises: a bad setting or a broken project is logged here and reported again, with the
    invocation, by the handler, which then parses as usual. True when the manifest is primed.
    """
    started = time.perf_counter()
    try:
        config = settings.load()
        request = events.parse({"command": ["parse"]}, default_command=config.default_command,
                               raw_tables=lambda: project.raw_tables(config.project_dir), raw_bucket=config.raw_bucket)
        invocation = plan(request, config)
        settings.apply(config)
        key = project.fingerprint(config.project_dir, config.profiles_dir, invocation.cache_inputs)
        result = SESSION.prime(invocation.parse_args, key)
    except Exception as error:  # noqa: BLE001 - the import must survive; the handler reports it again
        log("dbt_init_parse_failed", level="error", error=f"{type(error).__name__}: {error}"[:1000],
            elapsed_seconds=round(time.perf_counter() - started, 3))
        return False
    failure = None
    if not result.success:
        failure = f"{type(result.exception).__name__}: {result.exception}"[:1000] if result.exception else "dbt parse failed"
    log("dbt_init_parse", level="info" if result.success else "error",
        status="success" if result.success else "error", error=failure,
        elapsed_seconds=round(time.perf_counter() - started, 3))
    return result.success


if os.environ.get(PARSE_AT_INIT, "").strip().lower() == "true":
    parse_at_init()

