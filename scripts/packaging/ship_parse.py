"""Parse a dbt project for the package: one shipped parse per target (see handler/dbt_runner/shipped_parse.py).

Usage: python -m scripts.packaging.ship_parse --project DIR --out DIR [--target NAME ...] [--variables NAME,...]

For each target (in a process of its own): copies the project twice, parses each copy with its own set of placeholders for
the deployment values (`--variables`, default the stack's), and writes <out>/<target>.pickle only
when the second parse is the first with the placeholders swapped. A target it cannot ship is
reported with its reason and skipped: a container then parses as it would without a package
parse. Exits non-zero only on a bad argument. Run under the project's CPython 3.12 with dbt
installed, in a clean environment, with PYTHONHASHSEED=0 (scripts/packaging/build_package.py does all three).
"""

from __future__ import annotations

import argparse
import os
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

    for name in shipped_parse.REBINDABLE:
        os.environ.pop(name, None)
    os.environ.update({name: values[name] for name in variables})
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
    return manifest, shipped_parse.key(project, project, [target])


def ship(source: Path, out: Path, target: str, variables: list[str], scratch: Path) -> str:
    """Writes <out>/<target>.pickle; returns what to report."""
    started = time.perf_counter()
    sets = {variant: shipped_parse.placeholders(variant) for variant in ("a", "b")}
    parsed = {}
    for variant, values in sets.items():
        copy = scratch / variant / "dbt"
        if not copy.exists():
            shutil.copytree(source, copy, symlinks=True)
        parsed[variant] = parse(copy, target, values, variables, scratch / variant)
    (first, first_key), (second, second_key) = parsed["a"], parsed["b"]
    if first_key != second_key:
        return "skipped: the two parses have different keys (a file changed while parsing?)"
    data = shipped_parse.dumps(first)
    swapped = shipped_parse.loads(data)
    names = [*variables, shipped_parse.PROJECT_FOLDER, shipped_parse.DBT_FOLDER]
    shipped_parse.rebind(swapped, {sets["a"][name]: sets["b"][name] for name in names})
    where = shipped_parse.first_difference(shipped_parse.plain(swapped), shipped_parse.plain(second))
    if where is not None:
        return (f"skipped: a deployment value reaches the parse in a way a replacement cannot reproduce "
                f"(first difference at {where[:300]})")
    used = {name: sets["a"][name] for name in names if sets["a"][name].encode() in data}
    path = shipped_parse.path_for(out, target)
    shipped_parse.write(path, first_key, used, data)
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
    unknown = sorted(set(variables) - set(shipped_parse.REBINDABLE))
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
