"""Parse a dbt project for the package: one shipped parse per target (see handler/dbt_runner/shipped_parse.py).

Usage: python -m scripts.packaging.ship_parse --project DIR --out DIR [--target NAME ...] [--variables NAME,...]

For each target (in a process of its own): copies the project three times, parses each copy with its own set of
placeholders for the deployment values (`--variables`, default the stack's; the third set upper case, with '-' and
'.', of another length), and writes <out>/<target>.pickle only when each parse is the first with the placeholders
swapped; otherwise it refuses, naming the model. ENVIRONMENT (= the target) and AWS_REGION (SHIP_PARSE_REGION,
default ap-southeast-2) are parsed with their values and keyed, never rebound. A target it cannot ship is
reported with its reason and skipped: a container then parses as it would without a package
parse. Exits non-zero only on a bad argument. Run under the project's CPython 3.12 with dbt
installed, in a clean environment, with PYTHONHASHSEED=0 (scripts/packaging/build_package.py does all three).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dbt_runner import shipped_parse


def log(message: str) -> None:
    print(f"[ship-parse] {message}", flush=True)


def parse(project: Path, target: str, values: dict[str, str], variables: list[str], scratch: Path):
    """(manifest, key) of a parse of `project` for `target` with `values` as the deployment."""
    from dbt.cli.main import dbtRunner

    for name in (*shipped_parse.REBINDABLE, *shipped_parse.KEYED):
        os.environ.pop(name, None)
    os.environ.update({name: values[name] for name in variables})
    os.environ.update(keyed_values(target))
    result = dbtRunner().invoke([
        "parse", "--project-dir", str(project), "--profiles-dir", str(project), "--target", target,
        "--target-path", str(scratch / "target"), "--log-path", str(scratch / "logs"),
        "--no-partial-parse", "--quiet",
    ])
    if not result.success:
        raise RuntimeError(f"dbt parse failed: {result.exception or 'see the messages above'}")
    manifest = result.result
    shipped_parse.rebind(manifest, {str(project): values[shipped_parse.PROJECT_FOLDER],
                                    shipped_parse.dbt_folder(): values[shipped_parse.DBT_FOLDER]})
    shipped_parse.normalise(manifest)
    return manifest, shipped_parse.key_parts(project, project, [target])


# The region the stacks deploy to (the stack's default): a container elsewhere misses the key and parses.
DEFAULT_REGION = "ap-southeast-2"


def keyed_values(target: str) -> dict[str, str]:
    """The values of shipped_parse.KEYED a container of this target has: ENVIRONMENT is the target's name."""
    return {"ENVIRONMENT": target, "AWS_REGION": os.environ.get("SHIP_PARSE_REGION", DEFAULT_REGION)}


_NODE = re.compile(r"'((?:model|seed|snapshot|test|source|analysis|operation|unit_test|exposure|metric|semantic_model)\.[^']+)'")


def _refusal(where: str) -> str:
    found = _NODE.search(where)
    named = found.group(1) if found else "a project file (not one node)"
    return (f"refused: {named} uses a deployment value in a way a replacement cannot reproduce "
            f"(a filter, a comparison or a length test of a rebound variable; only plain interpolation "
            f"can be rebound). First difference at {where[:300]}. The package ships no parse for this "
            f"target: containers parse as they would without one")


def ship(source: Path, out: Path, target: str, variables: list[str], scratch: Path) -> str:
    """Writes <out>/<target>.pickle; returns what to report."""
    started = time.perf_counter()
    sets = {variant: shipped_parse.placeholders(variant) for variant in shipped_parse.VARIANTS}
    variables = [name for name in variables if name in shipped_parse.REBINDABLE]  # KEYED: by value
    parsed = {}
    for variant, values in sets.items():
        copy = scratch / variant / "dbt"
        if not copy.exists():
            shutil.copytree(source, copy, symlinks=True)
        parsed[variant] = parse(copy, target, values, variables, scratch / variant)
    first, first_parts = parsed["a"]
    if any(parts != first_parts for _, parts in parsed.values()):
        return "skipped: the parses have different keys (a file changed while parsing?)"
    first_key = shipped_parse.key_of(first_parts)
    data = shipped_parse.dumps(first)
    names = [*variables, shipped_parse.PROJECT_FOLDER, shipped_parse.DBT_FOLDER]
    for variant in shipped_parse.VARIANTS[1:]:
        swapped = shipped_parse.loads(data)
        shipped_parse.rebind(swapped, {sets["a"][name]: sets[variant][name] for name in names})
        where = shipped_parse.first_difference(shipped_parse.plain(swapped), shipped_parse.plain(parsed[variant][0]))
        if where is not None:
            return _refusal(where)
    used = {name: sets["a"][name] for name in names if sets["a"][name].encode() in data}
    path = shipped_parse.path_for(out, target)
    shipped_parse.write(path, first_key, used, data, parts=first_parts)
    return (f"{path.name}: {len(first.nodes)} nodes, {len(first.sources)} sources, {len(first.macros)} macros, "
            f"{path.stat().st_size / 1024:.0f} KiB, rebinds {', '.join(sorted(used)) or 'nothing'} "
            f"({time.perf_counter() - started:.1f} s)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ship_parse.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, required=True, help="the dbt project folder (with profiles.yml)")
    parser.add_argument("--out", type=Path, required=True, help="folder for <target>.pickle")
    parser.add_argument("--target", action="append", default=None, help="a profile target (repeat; default dev, prod)")
    parser.add_argument("--variables", default=",".join(shipped_parse.DEPLOYMENT_VARIABLES),
                        help="the deployment variables, comma-separated (default: what the stack sets)")
    args = parser.parse_args(argv)
    variables = [name for name in args.variables.split(",") if name]
    unknown = sorted(set(variables) - set(shipped_parse.REBINDABLE) - set(shipped_parse.KEYED))
    if unknown:
        parser.error(f"--variables: not rebindable: {', '.join(unknown)} (choose from {', '.join(shipped_parse.REBINDABLE)})")
    if not (args.project / "dbt_project.yml").is_file() or not (args.project / "profiles.yml").is_file():
        parser.error(f"--project: expected a folder with dbt_project.yml and profiles.yml, got {args.project}")
    args.out.mkdir(parents=True, exist_ok=True)
    targets = args.target or ["dev", "prod"]
    if len(targets) > 1:
        # One process per target, side by side: each parse is single-threaded.
        children = [subprocess.Popen([sys.executable, "-m", __spec__.name, "--project", str(args.project), "--out", str(args.out),
                                      "--target", target, "--variables", ",".join(variables)])
                    for target in targets]
        return max(child.wait() for child in children)
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    with tempfile.TemporaryDirectory(prefix="ship-parse-") as scratch:
        try:
            report = ship(args.project.resolve(), args.out, targets[0], variables, Path(scratch))
        except Exception as error:  # noqa: BLE001 - a parse that fails here fails in the container too
            report = f"skipped: {type(error).__name__}: {str(error)[:500]}"
        log(f"{targets[0]}: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
