"""Slim CI: a pull request's build of what it changed, contained to the pull request's own names.

The CI event (the PR workflow sends it to the dev runner; `make ci-build` calls the handler with it):

    {"ci": {"pr": 7, "bundle": null | "<sha256 of the PR's bundle>"}, "command": ["build"]}

becomes `build --select state:modified+ --state <latest/> --defer`: the nodes the pull request
changed and their children are built; their unchanged parents are read from the env's last good
build. Where it writes, all derived from the PR number and nothing else in the event:

  warehouse   DuckDB schema `main_pr_<n>`; Athena: Glue database `<GLUE_DATABASE_NAME>_pr_<n>`
  data        DuckDB: `$LOCAL_DATA_DIR/ci/pr_<n>/processed/`; Athena: `ci/pr_<n>/dbt/` of the
              processed bucket (query results under `dbt/<env>/ci/pr_<n>/` of the results bucket)
  run records `ci/pr_<n>/runs/...` of the artifacts bucket; locally `$LOCAL_DATA_DIR/ci/pr_<n>/artifacts/`

The profile reads the PR number from `DBT_CI_PR` (dbt/profiles.yml), which the handler sets for a
CI request and removes for every other one, so a warm container never carries one PR's names
into the next request. Being a `DBT_*` variable, it is part of the warm manifest's fingerprint
and of the shipped parse's key: a CI build never reuses the env's parse, nor the other way round.

A CI build never moves the env's `latest/`: its run records go to a store rooted at the PR's
prefix (whose own `latest/` is the PR's last good build, read by nobody else).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from dbt_runner import run_artifacts
from dbt_runner.events import EventError

CI_PR_VARIABLE = "DBT_CI_PR"
MAX_PR = 999_999
# A bundle is named by the sha256 of its zip (bundles.py): 64 lower-case hex digits, nothing else.
BUNDLE_NAME = re.compile(r"^[0-9a-f]{64}$")
CI_KEYS = {"pr", "bundle"}
EVENT_KEYS = {"ci", "command"}
SELECTION = ("--select", "state:modified+")


@dataclass(frozen=True)
class CiBuild:
    pr: int
    bundle: str | None = None

    @property
    def prefix(self) -> str:
        """The PR's folder in every bucket (and under $LOCAL_DATA_DIR): `ci/pr_<n>/`."""
        return f"ci/pr_{self.pr}/"

    @property
    def suffix(self) -> str:
        return f"_pr_{self.pr}"

    def database(self, base: str) -> str:
        """`<base>_pr_<n>`: the PR's DuckDB schema (base `main`) or Glue database."""
        return f"{base}{self.suffix}"

    def as_dict(self) -> dict[str, Any]:
        return {"pr": self.pr, "bundle": self.bundle, "prefix": self.prefix}


def is_ci(event: Any) -> bool:
    return isinstance(event, dict) and "ci" in event


def split(event: Any) -> tuple[CiBuild | None, Any]:
    """(the CI build, the direct event the runner runs for it); (None, event) for other events.

    Raises EventError naming the field for anything but a well-formed CI event.
    """
    if not is_ci(event):
        return None, event
    unknown = sorted(set(event) - EVENT_KEYS)
    if unknown:
        raise EventError(unknown[0], "unexpected key in a CI event; it has 'ci' and optional 'command' "
                         "(the selection, state and deferral are the runner's: state:modified+ against latest/)")
    command = event.get("command", ["build"])
    if command != ["build"]:
        raise EventError("command", f'a CI event runs ["build"], got {str(command)[:64]}')
    block = event["ci"]
    if not isinstance(block, dict):
        raise EventError("ci", f"expected an object with 'pr' and optional 'bundle', got {type(block).__name__}")
    unknown = sorted(set(block) - CI_KEYS)
    if unknown:
        raise EventError(f"ci.{str(unknown[0])[:32]}", "unexpected key; a CI event's 'ci' has 'pr' and optional 'bundle'")
    ci = CiBuild(pr_number(block.get("pr"), "ci.pr"), bundle_name(block.get("bundle"), "ci.bundle"))
    direct = {"command": ["build"], "cli_args": list(SELECTION), "state": "latest", "defer": True}
    return ci, direct


def pr_number(value: Any, field: str) -> int:
    """A pull request's number: an integer 1..999999 (never a string, which could carry a path)."""
    if type(value) is not int:
        raise EventError(field, f"expected the pull request's number as an integer 1..{MAX_PR}, got {_shown(value)}")
    if not 1 <= value <= MAX_PR:
        raise EventError(field, f"expected a pull request number 1..{MAX_PR}, got {value}")
    return value


def bundle_name(value: Any, field: str, *, required: bool = False) -> str | None:
    """None (the runner's current project), or a bundle's name: 64 lower-case hex digits."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or not BUNDLE_NAME.match(value):
        raise EventError(field, f"expected a bundle's name (64 lower-case hex digits, its sha256), got {_shown(value)}")
    return value


def apply_env(ci: CiBuild | None, env: os._Environ | dict | None = None) -> None:
    """Set DBT_CI_PR for a CI build, and remove it for any other request (warm containers)."""
    env = os.environ if env is None else env
    if ci is None:
        env.pop(CI_PR_VARIABLE, None)
    else:
        env[CI_PR_VARIABLE] = str(ci.pr)


class PrefixedStore:
    """A store whose every key is under `prefix` of another: the PR's run records in the env's bucket."""

    def __init__(self, inner: run_artifacts.Store, prefix: str):
        self.inner = inner
        self.prefix = prefix
        self.location = inner.where(prefix).rstrip("/")

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.inner.put(self.prefix + key, body, content_type)

    def get(self, key: str) -> bytes | None:
        return self.inner.get(self.prefix + key)

    def where(self, key: str) -> str:
        return self.inner.where(self.prefix + key)


def store_for(ci: CiBuild, store: run_artifacts.Store | None, local_data_dir: Path | None) -> run_artifacts.Store | None:
    """Where a CI build's run records go: under the PR's prefix, never the env's runs/ or latest/."""
    if local_data_dir is not None:
        # The local target: everything the PR writes sits in one folder, which `make ci-teardown`
        # deletes. Made here: DuckDB creates the external root's last folder
        # (ensure_external_root), not its parents.
        folder = local_pr_dir(local_data_dir, ci)
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(store, run_artifacts.LocalStore):
            return run_artifacts.LocalStore(folder / "artifacts")
    if store is None:
        return None
    return PrefixedStore(store, ci.prefix)


def local_pr_dir(local_data_dir: Path, ci: CiBuild) -> Path:
    return local_data_dir / ci.prefix.rstrip("/")


def names(ci: CiBuild, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the PR's build writes, for the response and the job summary."""
    env = os.environ if env is None else env
    base = env.get("GLUE_DATABASE_NAME") or "main"
    return {"database": ci.database(base), "prefix": ci.prefix}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 64 else text[:61] + "..."
