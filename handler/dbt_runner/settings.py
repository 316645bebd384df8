"""Where the dbt project, its profiles and its writable folders are, from the environment.

Packaged (Lambda): the project sits next to this file in `dbt/`, and the package's parses in
`shipped-parse/`. In the repository it is `<repo>/dbt`, with no shipped parses. Either way
`DBT_PROJECT_DIR` / `DBT_PROFILES_DIR` / `DBT_TARGET` point the handler at any other project and
target, and `DBT_SHIPPED_PARSE_DIR` at a folder of shipped parses.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shlex
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from dbt_runner.jsonlog import log

# The folder that holds the packages: the task root in the function zip (/var/task), handler/ in
# the repository, whose dbt project and .local/ sit one level up.
HERE = Path(__file__).resolve().parent.parent
PACKAGED = (HERE / "dbt" / "dbt_project.yml").is_file()
DEFAULT_PROJECT_DIR = HERE / "dbt" if PACKAGED else HERE.parent / "dbt"
# Lambda can write only under /tmp; in the repository local data sits next to the code.
DEFAULT_LOCAL_DATA_DIR = Path("/tmp/local") if PACKAGED else HERE.parent / ".local"
# The parses make package (scripts/packaging/build_package.py) ships beside the handler (none in the repository).
DEFAULT_SHIPPED_PARSE_DIR = HERE / "shipped-parse" if PACKAGED else None

_TARGET_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")


class ConfigError(ValueError):
    """A setting of the function (an environment variable) is invalid; names the variable."""


@dataclass(frozen=True)
class Settings:
    project_dir: Path
    profiles_dir: Path
    target: str | None
    default_command: tuple[str, ...]
    target_path: Path
    log_path: Path
    local_data_dir: Path | None
    raw_bucket: str | None
    shipped_parse_dir: Path | None  # the package's parses (shipped_parse.py); None: parse as usual
    # Stepped builds (steps.py): the time a step keeps free before its invocation's end, the step
    # length when there is no Lambda context (local runs; None: no limit), the estimate of a node
    # with no history, and whether a finished run puts its EventBridge event.
    step_margin_seconds: float = 60.0
    step_seconds: float | None = None
    step_default_node_seconds: float = 30.0
    events_enabled: bool = False


def load(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env

    project_dir = _dir(env, "DBT_PROJECT_DIR", DEFAULT_PROJECT_DIR, "dbt_project.yml")
    # A project usually carries its own profiles.yml (ours does); DBT_PROFILES_DIR overrides.
    profiles_dir = _dir(env, "DBT_PROFILES_DIR", project_dir, "profiles.yml")

    target = env.get("DBT_TARGET") or env.get("ENVIRONMENT") or None
    if target is not None and not _TARGET_NAME.match(target):
        source = "DBT_TARGET" if env.get("DBT_TARGET") else "ENVIRONMENT"
        raise ConfigError(f"{source}: expected a dbt target name (letters, digits, _ or -), got {target!r}")

    raw_default = env.get("DBT_DEFAULT_COMMAND", "").strip() or "build"
    try:
        default_command = tuple(shlex.split(raw_default))
    except ValueError as error:
        raise ConfigError(f"DBT_DEFAULT_COMMAND: expected a dbt command such as 'build', got {raw_default!r}: {error}")

    local_data_dir = None
    if target == "local":
        local_data_dir = Path(env.get("LOCAL_DATA_DIR") or DEFAULT_LOCAL_DATA_DIR).resolve()

    # One writable folder per project, so two projects run in one process never share
    # a partial-parse file or a run_results.json.
    key = hashlib.sha256(str(project_dir).encode()).hexdigest()[:12]
    scratch = Path(tempfile.gettempdir()) / "dbt-runner" / f"{project_dir.name}-{key}"

    return Settings(
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target=target,
        default_command=default_command,
        target_path=scratch / "target",
        log_path=scratch / "logs",
        local_data_dir=local_data_dir,
        raw_bucket=env.get("RAW_BUCKET_NAME") or None,
        shipped_parse_dir=_shipped_parse_dir(env),
        **step_settings(env),
    )


# name -> (default, lowest, highest); checked by step_settings.
STEP_MARGIN = "DBT_STEP_MARGIN_SECONDS"
STEP_SECONDS = "DBT_STEP_SECONDS"
STEP_DEFAULT_NODE = "DBT_STEP_DEFAULT_NODE_SECONDS"
EVENTS_ENABLED = "DBT_EVENTS_ENABLED"
# The runner's own DBT_* settings: they change how a build is stepped, never what dbt parses, so
# neither the warm manifest's fingerprint nor the shipped parse's key includes them.
RUNNER_ONLY = frozenset({STEP_MARGIN, STEP_SECONDS, STEP_DEFAULT_NODE, EVENTS_ENABLED})
_STEP_RANGES = {STEP_MARGIN: (60.0, 0.0, 300.0), STEP_SECONDS: (None, 0.1, 86400.0),
                STEP_DEFAULT_NODE: (30.0, 0.01, 900.0)}


def step_settings(env: Mapping[str, str]) -> dict:
    """The stepped build's settings, each checked against its range (ConfigError names the variable)."""
    values = {}
    for name, (default, low, high) in _STEP_RANGES.items():
        raw = (env.get(name) or "").strip()
        if not raw:
            values[name] = default
            continue
        try:
            number = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number of seconds between {low:g} and {high:g}, got {raw[:32]!r}") from None
        if not low <= number <= high:
            raise ConfigError(f"{name}: expected a number of seconds between {low:g} and {high:g}, got {raw[:32]}")
        values[name] = number
    flag = (env.get(EVENTS_ENABLED) or "false").strip().lower()
    if flag not in ("true", "false"):
        raise ConfigError(f"{EVENTS_ENABLED}: expected true or false, got {flag[:16]!r}")
    return {"step_margin_seconds": values[STEP_MARGIN], "step_seconds": values[STEP_SECONDS],
            "step_default_node_seconds": values[STEP_DEFAULT_NODE], "events_enabled": flag == "true"}


def apply(settings: Settings) -> None:
    """Export what dbt reads from the environment: writable paths under /tmp, no usage stats."""
    os.environ["DBT_TARGET_PATH"] = str(settings.target_path)
    os.environ["DBT_LOG_PATH"] = str(settings.log_path)
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        # CloudWatch: dbt's own lines as JSON too, and no terminal colour codes.
        os.environ.setdefault("DBT_LOG_FORMAT", "json")
        os.environ.setdefault("DBT_USE_COLORS", "false")
    if settings.local_data_dir is not None:
        os.environ["LOCAL_DATA_DIR"] = str(settings.local_data_dir)
        settings.local_data_dir.mkdir(parents=True, exist_ok=True)
    settings.target_path.mkdir(parents=True, exist_ok=True)
    settings.log_path.mkdir(parents=True, exist_ok=True)


_SCRATCH_GUARD = threading.RLock()
_SCRATCH_HELD: dict[Path, int] = {}


@contextlib.contextmanager
def exclusive_scratch(settings: Settings) -> Iterator[None]:
    """Hold the project's scratch folder for one handler call.

    dbt writes its target/ there (run_results.json, manifest.json, the partial-parse file) and
    the runner reads them back after the run. Two processes running one project at once (two
    local runs, or make test's two lanes) would read each other's files: the later one waits
    here, and says so. In Lambda one process owns /tmp, so the lock is never contended. A call
    made inside a call of the same process does not wait for itself.
    """
    scratch = settings.target_path.parent
    with _SCRATCH_GUARD:
        if scratch in _SCRATCH_HELD:
            _SCRATCH_HELD[scratch] += 1
            try:
                yield
            finally:
                _SCRATCH_HELD[scratch] -= 1
            return
        scratch.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(scratch / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                started = time.perf_counter()
                log("dbt_scratch_busy", scratch=str(scratch), reason="another process is running this project")
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                log("dbt_scratch_acquired", scratch=str(scratch), waited_seconds=round(time.perf_counter() - started, 3))
            _SCRATCH_HELD[scratch] = 1
            try:
                yield
            finally:
                del _SCRATCH_HELD[scratch]
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            os.close(descriptor)


def _shipped_parse_dir(env: Mapping[str, str]) -> Path | None:
    value = env.get("DBT_SHIPPED_PARSE_DIR")
    if not value:
        return DEFAULT_SHIPPED_PARSE_DIR
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"DBT_SHIPPED_PARSE_DIR={value!r}: expected a folder of shipped parses (<target>.pickle)")
    return path


def _dir(env: Mapping[str, str], name: str, default: Path, marker: str) -> Path:
    value = env.get(name)
    path = Path(value).expanduser().resolve() if value else default
    if not (path / marker).is_file():
        where = f"{name}={value!r}" if value else f"{name} (unset, default {str(default)!r})"
        raise ConfigError(f"{where}: expected a folder containing {marker}")
    return path
