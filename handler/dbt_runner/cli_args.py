"""Check a request's arguments against dbt's own command-line definition, then pin the paths.

Parsing with dbt's click command (not a hand-made list of spellings) catches every form click
accepts: `--target dev`, `--target=dev`, `-t dev`, `-tdev`, and `-xtdev` (a cluster of short flags).
Arguments that would move dbt off its project, profile, target or /tmp paths are refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import click
import yaml
from dbt.cli.main import cli

from dbt_runner import project
from dbt_runner.events import EventError, Request
from dbt_runner.settings import Settings

# Parameter name -> why it is refused.
REFUSED = {
    "project_dir": "the project comes from DBT_PROJECT_DIR",
    "profiles_dir": "profiles come from DBT_PROFILES_DIR",
    "profile": "the profile is the project's own",
    "target": "the target comes from DBT_TARGET or ENVIRONMENT",
    "target_path": "dbt writes its target folder under /tmp",
    "log_path": "dbt writes its logs under /tmp",
    "record_timing_info": "it writes a file outside /tmp",
    "partial_parse_file_path": "the partial-parse file lives in the target folder under /tmp",
    "help": "it prints usage instead of running dbt",
    "version": "it prints the version instead of running dbt",
    "inline": "only the project's own SQL runs: select its models instead",
    "debug": "debug logs print --vars values, which may hold secrets",
    "log_level": "debug logs print --vars values; the log level is the function's setting (DBT_LOG_LEVEL)",
    "log_level_file": "debug logs print --vars values; the log level is the function's setting",
    "send_anonymous_usage_stats": "usage stats stay off (and would write .user.yml outside /tmp)",
    "log_file_max_bytes": "log rotation keeps dbt's log under /tmp bounded across warm invocations",
}
# Parameters whose values may carry credentials: never echoed in an error.
SECRET_VALUES = {"vars", "args"}
# `source freshness --output PATH` writes a file; for `ls`, --output is only a format.
REFUSED_BY_COMMAND = {"freshness": {"output": "dbt writes its artifacts under /tmp"}}


@dataclass(frozen=True)
class Invocation:
    args: list[str]  # the dbt command line for the request
    parse_args: list[str]  # `dbt parse` with the same project, target, paths and --vars
    cache_inputs: list[str]  # what, besides the files, keys the parsed manifest


def plan(
    request: Request, settings: Settings, runtime_vars: Callable[[], dict[str, Any]] | None = None
) -> Invocation:
    """The dbt argument lists for the request; raises EventError before dbt starts.

    runtime_vars() gives variables the project reads only when it compiles (the raw partition
    dates); it is called once the request has passed every check. They
    they reach the command, merged under the request's own --vars (which win), but neither the
    parse nor the manifest's cache key, so a warm container keeps its parsed manifest when they change.
    """
    command = _click_command(request.command)
    if request.name == "run-operation":
        _check_macro(request, settings)
    operands = list(request.command[len(_path(request.command)):])  # the run-operation macro
    user_args = [*operands, *request.cli_args]
    opts = _refuse(command, request, user_args)
    args = [*user_args, *_pinned(command, settings)]

    # A full click parse converts and checks every value (integers, YAML for --vars, choices).
    try:
        command.make_context(command.name, list(args))
    except click.UsageError as error:
        raise _usage_error(request, error) from None

    # --vars is the one argument that changes what a parse produces.
    vars_args = ["--vars", opts["vars"]] if opts.get("vars") else []
    extra = runtime_vars() if runtime_vars is not None and "vars" in {p.name for p in command.params} else {}
    if extra:
        own = yaml.safe_load(opts["vars"]) if opts.get("vars") else {}
        if isinstance(own, dict):
            # Given twice, click keeps the last --vars: the merged one.
            args += ["--vars", json.dumps({**extra, **own}, sort_keys=True, default=str)]
    parse = cli.commands["parse"]
    return Invocation(
        args=[*_path(request.command), *args],
        parse_args=["parse", *vars_args, *_pinned(parse, settings)],
        cache_inputs=[settings.target or "", *vars_args],
    )


def _pinned(command: click.Command, settings: Settings) -> list[str]:
    pinned = {
        "project_dir": ["--project-dir", str(settings.project_dir)],
        "profiles_dir": ["--profiles-dir", str(settings.profiles_dir)],
        "target_path": ["--target-path", str(settings.target_path)],
        "log_path": ["--log-path", str(settings.log_path)],
    }
    if settings.target:
        pinned["target"] = ["--target", settings.target]
    accepted = {param.name for param in command.params}
    return [token for name, tokens in pinned.items() if name in accepted for token in tokens]


def _refuse(command: click.Command, request: Request, args: list[str]) -> dict:
    refused = {**REFUSED, **REFUSED_BY_COMMAND.get(command.name, {})}
    try:
        opts, leftovers, _ = _raw_parse(command, args)
    except click.UsageError as error:
        raise _usage_error(request, error) from None
    for param in command.get_params(click.Context(command, info_name=command.name)):
        name = "help" if "--help" in param.opts else param.name  # click names it internally
        if param.name in opts and name in refused:
            index = _index_of(param, request.cli_args)
            indexed = index is not None and request.args_field == "cli_args"
            field = f"cli_args[{index}]" if indexed else request.args_field
            spelling = "/".join(param.opts)
            raise EventError(field, f"{spelling} is not allowed: {refused[name]}")
    if leftovers:
        raise EventError(request.args_field, f"unexpected argument {leftovers[0][:64]!r} for dbt {request.name}")
    return opts


def _check_macro(request: Request, settings: Settings) -> None:
    """run-operation runs only macros the project defines, never dbt's or a package's (run_query)."""
    macro = request.command[1]
    known = project.macro_names(settings.project_dir)
    if macro not in known:
        field = "command" if request.trigger == "invoke" else request.args_field
        raise EventError(
            field,
            f"macro {macro!r} is not one of the project's own macros; run-operation runs only those "
            f"({', '.join(sorted(known)) or 'none defined'})",
        )


def _usage_error(request: Request, error: click.UsageError) -> EventError:
    param = getattr(error, "param", None)
    if param is not None and param.name in SECRET_VALUES:
        # click quotes the rejected value, and --vars/--args may carry credentials.
        return EventError(request.args_field, f"invalid value for {'/'.join(param.opts)} (not shown: it may hold secrets)")
    return EventError(request.args_field, error.format_message())


def _raw_parse(command: click.Command, args: list[str]):
    """click's own tokenizer, without defaults, environment variables or conversions."""
    ctx = click.Context(command, info_name=command.name)
    return command.make_parser(ctx).parse_args(list(args))


def _index_of(param: click.Parameter, args: tuple[str, ...]) -> int | None:
    longs = [opt for opt in param.opts if opt.startswith("--")]
    shorts = [opt[1] for opt in param.opts if len(opt) == 2 and opt[0] == "-"]
    for index, token in enumerate(args):
        if any(token == opt or token.startswith(opt + "=") for opt in longs):
            return index
        if token.startswith("-") and not token.startswith("--") and any(c in token[1:] for c in shorts):
            return index
    return None


def _path(command: tuple[str, ...]) -> tuple[str, ...]:
    """The click command path: ('source', 'freshness'), ('build',), ('run-operation',)."""
    return command[:2] if command[0] in ("source", "docs") else command[:1]


def _click_command(command: tuple[str, ...]) -> click.Command:
    found: click.Command = cli
    for name in _path(command):
        found = found.commands[name]  # type: ignore[attr-defined]
    return found
