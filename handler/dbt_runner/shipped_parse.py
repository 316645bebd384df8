"""The parse a cold container starts from: made with the package, rebound to the deployment.

Parsing the project is most of a cold start, and a container would parse the same files with the
same dbt every time. So make package (scripts/packaging/build_package.py) parses the project for each stack target (dev, prod)
and ships the result. What a package cannot know are the values a deployment sets: the buckets,
the Glue database, the workgroup (DEPLOYMENT_VARIABLES), and where the project and dbt are
installed. The build gives each a placeholder and parses three times, with three different sets
of placeholders (the third in upper case, with '-' and '.', of another length); it ships the parse
only if each equals the first with the placeholders swapped, and otherwise refuses, naming the
model. The environment's name and the region (KEYED) are never rebound: templates compare and
transform them, so their values are in the key and a container with other values parses. Then the parse a container would make is the shipped one with the
placeholders replaced by the container's own values: `load` does that replacement (`rebind`).
A project that uses a deployment value in a way a replacement cannot reproduce (upper-casing it,
hashing it) fails that check, and its package ships no parse.

Everything else a parse reads is in the key, compared exactly: the project's files (by path within
the project), profiles.yml, the values of the other environment variables the project reads and of
dbt's own DBT_* settings, the target, --vars, the Python and the dbt distributions' versions.
A container whose key differs parses as usual, so a shipped parse can be slow to help, never wrong.

Pickle, not dbt's msgpack: reading one takes about 0.02 s, where dbt's reader first builds its
decoders (seconds). A shipped parse is read only from the package, code the function already runs.
The same pickling gives the session its per-invocation copies of a manifest (`dumps`/`loads`).
"""

from __future__ import annotations

import copyreg
import dataclasses
import hashlib
import io
import os
import pickle
import sys
import time
from datetime import datetime, timezone
from importlib import metadata as distributions
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from dbt_runner import project
from dbt_runner.settings import RUNNER_ONLY

FORMAT = 1
SUFFIX = ".pickle"
# What the stack sets on the dbt_runner, plus the Lambda runtime's region: known only once deployed.
DEPLOYMENT_VARIABLES = (
    "RAW_BUCKET_NAME", "PROCESSED_BUCKET_NAME", "ATHENA_RESULTS_BUCKET", "ARTIFACTS_BUCKET_NAME",
    "GLUE_DATABASE_NAME", "ATHENA_WORKGROUP", "AWS_REGION", "ENVIRONMENT", "ALERT_TOPIC_ARN",
)
# Values templates are likely to transform (`env_var('ENVIRONMENT') == 'prod'`, `| upper`, a region
# prefix): never rebound. Their values go into the key, so a container whose values differ from
# the package's parses. The build parses with ENVIRONMENT = the target and the stack's region.
KEYED = ("ENVIRONMENT", "AWS_REGION")
# LOCAL_DATA_DIR is a deployment value of the local target (tests ship a parse for it too).
REBINDABLE = (*(name for name in DEPLOYMENT_VARIABLES if name not in KEYED), "LOCAL_DATA_DIR")
# Where things are installed: the project's folder and the folder holding the `dbt` package.
PROJECT_FOLDER, DBT_FOLDER = "project folder", "dbt folder"
# DBT_* settings the handler exports or reads that do not change what a parse produces.
NOT_PARSE_INPUTS = frozenset({
    "DBT_TARGET_PATH", "DBT_LOG_PATH", "DBT_LOG_FORMAT", "DBT_LOG_LEVEL", "DBT_USE_COLORS",
    "DBT_SEND_ANONYMOUS_USAGE_STATS", "DBT_PARSE_AT_INIT", "DBT_DEFAULT_COMMAND", "DBT_PROJECT_DIR",
    "DBT_PROFILES_DIR", "DBT_TARGET", "DBT_SHIPPED_PARSE_DIR",
}) | RUNNER_ONLY
# Parse-time values that say when, not what: fixed in a shipped parse, set again when it loads.
_EPOCH = datetime(1980, 1, 1)


VARIANTS = ("a", "b", "c")


def placeholders(variant: str) -> dict[str, str]:
    """One placeholder per rebindable value; `variant` ('a', 'b' or 'c') tells the sets apart.

    'a' and 'b': lower-case letters and digits, so each is a valid bucket, database, workgroup and
    folder name. 'c' differs in what templates transform: upper case, '-', '.' and another length,
    so `| lower`, `| replace('-', '_')`, a length test or a comparison parse differently with it
    and the build check refuses the project instead of shipping a parse a rebind would get wrong.
    """
    if variant == "c":
        values = {name: f"ZZ-C.{index:02d}-Ship.Longer-ZZ" for index, name in enumerate(REBINDABLE)}
    else:
        values = {name: f"zz{variant}{index:02d}shipzz" for index, name in enumerate(REBINDABLE)}
    values[PROJECT_FOLDER] = f"/zz{variant}90shipzz/project"
    values[DBT_FOLDER] = f"/zz{variant}91shipzz/site-packages"
    return values


def dbt_folder() -> str:
    """The folder that holds the `dbt` package (site-packages, or /opt/python in Lambda)."""
    import dbt.version

    return str(Path(dbt.version.__file__).resolve().parent.parent)


def key(project_dir: Path, profiles_dir: Path, inputs: Iterable[str], env: Mapping[str, str] | None = None) -> str:
    """What a parse depends on besides the rebindable values, the same wherever it is computed."""
    return key_of(key_parts(project_dir, profiles_dir, inputs, env))


def key_of(parts: Mapping[str, str]) -> str:
    """The key of key_parts()."""
    digest = hashlib.sha256(f"shipped parse {FORMAT}".encode())
    for name in sorted(parts):
        digest.update(f"\0{name}={parts[name]}".encode())
    return digest.hexdigest()


def key_parts(project_dir: Path, profiles_dir: Path, inputs: Iterable[str],
              env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The key's inputs by name ("file:models/x.sql", "env:NAME", "dist:dbt-core", ...), each value
    a short digest (never a variable's value: it may be a secret). A shipped parse keeps them, so
    a miss can say which input differed."""
    env = os.environ if env is None else env
    parts = {"python": f"{sys.version_info[0]}.{sys.version_info[1]}"}
    inputs = list(inputs)
    target = inputs[0] if inputs else ""
    for name, version in _dbt_distributions(_adapter_type(project_dir, profiles_dir, target)):
        parts[f"dist:{name}"] = version

    class Files:
        def update(self, chunk: bytes) -> None:
            shown, _, content = chunk.partition(b"\0")
            parts[f"file:{shown.decode(errors='replace')}"] = content.hex()[:16]

    env_names = project.hash_files(Files(), project_dir, profiles_dir, relative=True)  # type: ignore[arg-type]
    env_names.update(name for name in env if name.startswith("DBT_") and name not in NOT_PARSE_INPUTS)
    env_names.update(KEYED)
    for name in sorted(env_names):
        if name in REBINDABLE:
            parts[f"deployment:{name}"] = "set" if env.get(name) is not None else "unset"
        else:
            parts[f"env:{name}"] = _short(repr(env.get(name)))
    for index, item in enumerate(inputs):
        parts[f"input[{index}]"] = _short(item)
    return parts


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differing(shipped: Mapping[str, str], here: Mapping[str, str], limit: int = 5) -> str:
    """The names of the key's inputs that differ, for a miss's reason."""
    names = sorted(name for name in set(shipped) | set(here) if shipped.get(name) != here.get(name))
    shown = ", ".join(names[:limit]) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")
    return shown or "nothing by name (the key's format changed)"


# The distributions whose files a parse reads (dbt-adapters holds the global macros), with the
# target's adapter: other adapters installed beside it (dbt-duckdb in the repository) do not count.
_PARSE_DISTRIBUTIONS = ("dbt-core", "dbt-adapters", "dbt-common", "dbt-extractor", "dbt-semantic-interfaces")


def _dbt_distributions(adapter_type: str | None) -> list[tuple[str, str]]:
    """(name, version) of each distribution a parse reads, looked up by name (a full scan of the
    installed distributions costs a cold start about 0.05 s); the scan only when the adapter's
    distribution has another name than dbt-<type>."""
    found = [(name, _version(name) or "absent") for name in _PARSE_DISTRIBUTIONS]
    adapter = _version(f"dbt-{adapter_type}") if adapter_type is not None else None
    if adapter is not None:
        found.append((f"dbt-{adapter_type}", adapter))
    else:
        for dist in distributions.distributions():
            name = (dist.metadata["Name"] or "").lower().replace("_", "-")
            if name.startswith("dbt-") and name not in _PARSE_DISTRIBUTIONS and (
                    adapter_type is None or name.startswith(f"dbt-{adapter_type}-")):
                found.append((name, dist.version))
    return sorted(set(found))


def _version(name: str) -> str | None:
    try:
        return distributions.version(name)
    except distributions.PackageNotFoundError:
        return None


def _adapter_type(project_dir: Path, profiles_dir: Path, target: str) -> str | None:
    """The `type` of the target's output in profiles.yml; None (every dbt-* counts) when unclear."""
    import yaml

    try:
        profile = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8"))["profile"]
        output = yaml.safe_load((profiles_dir / "profiles.yml").read_text(encoding="utf-8"))[profile]["outputs"][target]
        kind = output["type"]
    except (OSError, yaml.YAMLError, UnicodeDecodeError, KeyError, TypeError):
        return None
    return kind if isinstance(kind, str) and kind.isidentifier() else None


# --- pickling a manifest ---------------------------------------------------------------------


def _restore_manifest(fields: dict[str, Any]):
    from dbt.contracts.graph.manifest import Manifest

    return Manifest(**fields)


def _reduce_manifest(manifest) -> tuple:
    # Manifest.__reduce_ex__ (dbt-core 1.11) passes its private lookups in an order that no longer
    # matches its fields, which breaks ref() after a round trip. Its public fields are the whole
    # parse; the private ones are lookups and a lock that a Manifest rebuilds as it needs them.
    fields = {f.name: getattr(manifest, f.name) for f in dataclasses.fields(manifest) if not f.name.startswith("_")}
    return _restore_manifest, (fields,)


def dumps(manifest) -> bytes:
    from dbt.contracts.graph.manifest import Manifest

    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, Manifest: _reduce_manifest}
    pickler.dump(manifest)
    return buffer.getvalue()


def loads(data: bytes):
    return pickle.loads(data)  # noqa: S301 - only the session's own bytes or the package's file


# --- walking a manifest ------------------------------------------------------------------------


def _attributes(obj: Any) -> dict[str, Any] | None:
    """An object's attributes to walk, or None for a leaf."""
    if isinstance(obj, (str, bytes, int, float, bool, type(None), type)) or callable(obj):
        return None
    attributes = getattr(obj, "__dict__", None)
    if not isinstance(attributes, dict):
        return None
    if type(obj).__name__ == "Manifest":  # its fields; the rest (lookups, maps, a lock) is derived
        return {f.name: attributes[f.name] for f in dataclasses.fields(obj) if not f.name.startswith("_")}
    return attributes


def rebind(obj: Any, values: Mapping[str, str], touch: Callable[[Any], None] | None = None) -> Any:
    """Replace, in place, every occurrence of each key of `values` in every string under `obj`.

    Returns the object itself (a new one for strings and tuples). `touch(o)` runs on every object
    with attributes, once, after its strings are replaced.
    """
    pairs = [(old, new) for old, new in values.items() if old and old != new]
    seen: set[int] = set()

    def swap(text: str) -> str:
        for old, new in pairs:
            if old in text:
                text = text.replace(old, new)
        return text

    def visit(item: Any) -> Any:
        if isinstance(item, str):
            return swap(item)
        if id(item) in seen:
            return item
        if isinstance(item, dict):
            seen.add(id(item))
            for name, value in list(item.items()):
                new_name, new_value = visit(name), visit(value)
                if new_name is not name:
                    del item[name]
                if new_name is not name or new_value is not value:
                    item[new_name] = new_value
            return item
        if isinstance(item, list):
            seen.add(id(item))
            for index, value in enumerate(item):
                new_value = visit(value)
                if new_value is not value:
                    item[index] = new_value
            return item
        if isinstance(item, tuple):
            values_ = [visit(value) for value in item]
            if all(new is old for new, old in zip(values_, item)):
                return item
            return type(item)(*values_) if hasattr(item, "_fields") else tuple(values_)
        if isinstance(item, (set, frozenset)):
            return type(item)(visit(value) for value in item)
        attributes = _attributes(item)
        if attributes is None:
            return item
        seen.add(id(item))
        for name, value in list(attributes.items()):
            new_value = visit(value)
            if new_value is not value:
                object.__setattr__(item, name, new_value)
        if touch is not None:
            touch(item)
        return item

    return visit(obj)


def plain(obj: Any) -> Any:
    """The manifest as nested builtins (dataclasses as {type: fields}), for comparing two parses."""
    seen: set[int] = set()

    def visit(item: Any) -> Any:
        if isinstance(item, (str, bytes, int, float, bool, type(None))):
            return item
        if isinstance(item, dict):
            return {repr(visit(name)): visit(value) for name, value in item.items()}
        if isinstance(item, (list, tuple)):
            return [visit(value) for value in item]
        if isinstance(item, (set, frozenset)):
            return sorted((visit(value) for value in item), key=repr)
        attributes = _attributes(item)
        if attributes is None:
            return repr(item)
        if id(item) in seen:
            return f"<cycle {type(item).__name__}>"
        seen.add(id(item))
        fields = {name: visit(value) for name, value in sorted(attributes.items())}
        seen.discard(id(item))
        return {type(item).__qualname__: fields}

    return visit(obj)


def first_difference(left: Any, right: Any, where: str = "manifest") -> str | None:
    """Where two plain() values first differ, or None."""
    if type(left) is not type(right):
        return where
    if isinstance(left, dict):
        for name in sorted(set(left) | set(right)):
            if name not in left or name not in right:
                return f"{where}.{name}"
            found = first_difference(left[name], right[name], f"{where}.{name}")
            if found:
                return found
        return None
    if isinstance(left, list):
        if len(left) != len(right):
            return f"{where} (length)"
        for index, (a, b) in enumerate(zip(left, right)):
            found = first_difference(a, b, f"{where}[{index}]")
            if found:
                return found
        return None
    return None if left == right else where


def normalise(manifest) -> None:
    """Drop what says when a parse ran, and what a loaded parse rebuilds: for byte-identical builds."""
    from dbt.contracts.graph.manifest import ManifestStateCheck

    def fix(item: Any) -> None:
        if dataclasses.is_dataclass(item):
            names = {f.name for f in dataclasses.fields(item)}
            if "created_at" in names:
                object.__setattr__(item, "created_at", 0.0)
            if "modification_time" in names:
                object.__setattr__(item, "modification_time", 0.0)

    rebind(manifest, {}, touch=fix)
    manifest.flat_graph = {}  # rebuilt when a run compiles
    manifest.state_check = ManifestStateCheck()  # partial parsing's: a shipped parse never seeds one
    meta = manifest.metadata
    meta.generated_at, meta.invocation_id, meta.invocation_started_at = _EPOCH, None, None
    meta.run_started_at = meta.user_id = None


# --- shipping and loading --------------------------------------------------------------------


def path_for(directory: Path, target: str) -> Path:
    return directory / f"{target}{SUFFIX}"


def write(path: Path, parse_key: str, values: Mapping[str, str], pickled_manifest: bytes,
          parts: Mapping[str, str] | None = None) -> None:
    """A shipped parse: its header (format, key, its parts, placeholders), then the manifest from dumps()."""
    header = {"format": FORMAT, "key": parse_key, "parts": dict(parts or {}), "placeholders": dict(values)}
    path.write_bytes(pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL) + pickled_manifest)


def load(path: Path, parse_key: str, values: Mapping[str, str],
         parts: Mapping[str, str] | None = None) -> tuple[Any, str]:
    """(manifest rebound to `values`, "") when the parse at `path` matches `parse_key`; else (None, why).

    `values` maps each name in REBINDABLE, PROJECT_FOLDER and DBT_FOLDER to this container's value;
    `parts` (key_parts) lets a miss name the inputs that differ. Never raises: whatever goes wrong
    (a truncated file, a header of another shape, a manifest dbt cannot rebuild) is a miss, and
    the container parses.
    """
    try:
        return _load(path, parse_key, values, parts)
    except Exception as error:  # noqa: BLE001 - a shipped parse may only ever save time
        return None, f"{path.name} could not be loaded: {type(error).__name__}: {str(error)[:200]}"


def _load(path: Path, parse_key: str, values: Mapping[str, str], parts: Mapping[str, str] | None) -> tuple[Any, str]:
    try:
        with path.open("rb") as stream:
            header = pickle.load(stream)  # noqa: S301 - the package's own file
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                return None, f"{path.name} has another format"
            if header.get("key") != parse_key:
                why = "the project, its profile, the settings or dbt differ from the package's parse"
                if parts is not None and isinstance(header.get("parts"), dict):
                    why += f": {differing(header['parts'], parts)}"
                return None, why
            placeholders_ = header.get("placeholders")
            if not isinstance(placeholders_, dict):
                return None, f"{path.name} has no placeholders in its header"
            manifest = pickle.load(stream)  # noqa: S301
    except FileNotFoundError:
        return None, f"no {path.name} in the package"
    if type(manifest).__name__ != "Manifest":
        return None, f"{path.name} holds a {type(manifest).__name__}, not a Manifest"
    now = time.time()
    mapping = {}
    for name, placeholder in placeholders_.items():
        value = values.get(name)
        if value is None:
            return None, f"{name} is unset here but had a value when the package was parsed"
        mapping[placeholder] = value

    def stamp(item: Any) -> None:
        if getattr(item, "created_at", None) == 0.0:
            object.__setattr__(item, "created_at", now)

    rebind(manifest, mapping, touch=stamp)
    manifest.metadata.generated_at = datetime.now(timezone.utc).replace(tzinfo=None)
    # normalise() emptied the `graph` context variable; templates that walk it (the marts' test
    # not_empty_when_sources_have_rows) need it as a parse leaves it.
    manifest.build_flat_graph()
    return manifest, ""


def container_values(project_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This container's value of each rebindable name (unset variables are left out)."""
    env = os.environ if env is None else env
    values = {name: env[name] for name in REBINDABLE if env.get(name) is not None}
    values[PROJECT_FOLDER] = str(project_dir)
    values[DBT_FOLDER] = dbt_folder()
    return values
