"""Build the dbt_runner function package: build/function.zip.

Layout (the contract with the stack and the handler):
  dbt_runner/, ingest/, raw_zone/, lambda_logging/ the Lambda packages of handler/ at the zip root (Lambda's
                             handler strings dbt_runner.handler.handler and ingest.handler.handler);
                             their .py and .json files, never handler/tests/ or bytecode
  dbt/...                    the dbt project, without target/, logs/, .user.yml, hidden
                             files or folders (.local/), bytecode and DuckDB files;
                             dbt_packages/ only when the project declares packages
                             (packages.yml or dependencies.yml), installed by `dbt deps`
                             first if missing.
  shipped-parse/<target>.pickle
                             the project parsed for each stack target (dev, prod) by
                             scripts/packaging/ship_parse.py, which a cold container starts from
                             (handler/dbt_runner/shipped_parse.py); a target it cannot ship is reported
                             and left out. Cached (--shipped-parse-cache, default
                             build/shipped-parse/) by the digest of everything it reads.
The zip is deterministic (see scripts/packaging/deterministic_zip.py), so Terraform sees a change
only when the code or the project changed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"

# The zip bytes depend on the zlib Python links: always build under the project's CPython 3.12.
if sys.version_info[:2] != (3, 12):
    sys.exit("error: build the package with the project's CPython 3.12: `make package` "
             "(scripts/uv run python -m scripts.packaging.build_package)")

from scripts.packaging import deterministic_zip, lambda_budget  # noqa: E402

# project_tests/ holds the project's pytest suite, which runs in the repository, not in Lambda.
DBT_EXCLUDED_DIRS = frozenset({"target", "logs", "dbt_packages", "__pycache__", "project_tests"})
DBT_EXCLUDED_SUFFIXES = (".pyc", ".duckdb", ".duckdb.wal")
PACKAGE_FILES = ("packages.yml", "dependencies.yml")
SHIPPED_TARGETS = ("dev", "prod")  # the stacks' environments, which name the dbt target
# What a shipped parse depends on besides the project: the code that makes and reads it, and dbt.
SHIPPED_PARSE_INPUTS = ("scripts/packaging/ship_parse.py", "handler/dbt_runner/shipped_parse.py",
                        "handler/dbt_runner/project.py", "uv.lock")
# The Lambda packages of handler/ the zip carries, and which of their files.
LAMBDA_PACKAGES = ("dbt_runner", "ingest", "raw_zone", "lambda_logging")
PACKAGE_SUFFIXES = (".py", ".json")
# The variables the parse may see from this shell: the rest must be as unset as in the function.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


def log(message: str) -> None:
    print(f"[build-package] {message}", flush=True)


def handler_entries(handler_dir: Path) -> dict[str, Path]:
    """<package>/<file> for every Lambda package, as Lambda's handler strings import them."""
    entries = {}
    for package in LAMBDA_PACKAGES:
        root = handler_dir / package
        if not (root / "__init__.py").is_file():
            sys.exit(f"error: {root / '__init__.py'} not found: the function zip needs the package {package}/ at its root")
        for path in sorted(root.rglob("*")):
            parts = path.relative_to(handler_dir).parts
            if path.is_file() and path.suffix in PACKAGE_SUFFIXES and "__pycache__" not in parts and "tests" not in parts:
                entries["/".join(parts)] = path
    return entries


def ensure_dbt_packages(dbt_dir: Path) -> bool:
    """True when the project declares packages; installs them with `dbt deps` when dbt_packages/ is missing."""
    if not any((dbt_dir / name).is_file() for name in PACKAGE_FILES):
        return False
    packages = dbt_dir / "dbt_packages"
    if packages.is_dir() and any(packages.iterdir()):
        return True
    log(f"{dbt_dir.name}/ declares packages and has no dbt_packages/: running dbt deps")
    command = [str(SCRIPTS / "uv"), "run", "--frozen", "--project", str(REPO), "dbt", "deps",
               "--project-dir", str(dbt_dir), "--profiles-dir", str(dbt_dir)]
    result = subprocess.run(command, cwd=dbt_dir, capture_output=True, text=True)
    if result.returncode != 0 or not packages.is_dir():
        sys.exit(f"error: `dbt deps` failed for {dbt_dir}, so the package would miss its dbt packages:\n"
                 f"{result.stdout}{result.stderr}")
    return True


def dbt_entries(dbt_dir: Path) -> dict[str, Path]:
    if not (dbt_dir / "dbt_project.yml").is_file():
        sys.exit(f"error: {dbt_dir / 'dbt_project.yml'} not found: the package must carry the dbt project")
    excluded_dirs = set(DBT_EXCLUDED_DIRS)
    if ensure_dbt_packages(dbt_dir):
        excluded_dirs.discard("dbt_packages")
    entries = {}
    for name, path in deterministic_zip.collect(dbt_dir).items():
        parts = name.split("/")
        if parts[0] in excluded_dirs or "__pycache__" in parts:
            continue
        if any(part.startswith(".") for part in parts) or name.endswith(DBT_EXCLUDED_SUFFIXES):
            continue
        entries[f"dbt/{name}"] = path
    return entries


def shipped_parse_entries(dbt: dict[str, Path], cache_root: Path) -> dict[str, Path]:
    """shipped-parse/<target>.pickle for each target scripts/packaging/ship_parse.py could ship."""
    digest = hashlib.sha256(" ".join(SHIPPED_TARGETS).encode())
    for name in sorted(dbt):
        digest.update(f"\0{name}\0".encode() + hashlib.sha256(dbt[name].read_bytes()).digest())
    for name in SHIPPED_PARSE_INPUTS:
        digest.update(f"\0{name}\0".encode() + hashlib.sha256((REPO / name).read_bytes()).digest())
    cache = cache_root / digest.hexdigest()[:20]
    if not (cache / "complete").is_file():
        log("parsing the dbt project for the package (scripts/packaging/ship_parse.py) ...")
        with tempfile.TemporaryDirectory(prefix="build-package-") as scratch:
            stage, out = Path(scratch) / "dbt", Path(scratch) / "shipped"
            for name, path in dbt.items():
                target = stage / name.removeprefix("dbt/")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
            env.update({name: value for name, value in os.environ.items() if name.startswith("UV_")})
            env["PYTHONHASHSEED"] = "0"  # pickles of sets follow string hashes
            command = [str(SCRIPTS / "uv"), "run", "--frozen", "--project", str(REPO), "python",
                       "-m", "scripts.packaging.ship_parse", "--project", str(stage), "--out", str(out),
                       *(argument for target in SHIPPED_TARGETS for argument in ("--target", target))]
            result = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True)
            for line in result.stdout.splitlines():
                if line.startswith("[ship-parse]"):
                    log(line.removeprefix("[ship-parse] "))
            if result.returncode != 0:
                sys.exit(f"error: scripts/packaging/ship_parse.py failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
            shutil.rmtree(cache, ignore_errors=True)
            cache.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(out, cache)
            (cache / "complete").write_text("")
    return {f"shipped-parse/{path.name}": path for path in sorted(cache.glob("*.pickle"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--handler-dir", type=Path, default=REPO / "handler")
    parser.add_argument("--dbt-dir", type=Path, default=REPO / "dbt")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "function.zip")
    parser.add_argument("--layer-zip", type=Path, default=REPO / "build" / "dbt-layer.zip",
                        help="counted with the package against Lambda's 250 MB (skipped if not built)")
    parser.add_argument("--shipped-parse-cache", type=Path, default=REPO / "build" / "shipped-parse",
                        help="where shipped parses are kept by the digest of what they read (default build/shipped-parse)")
    args = parser.parse_args()

    entries = handler_entries(args.handler_dir.resolve())
    dbt = dbt_entries(args.dbt_dir.resolve())
    entries.update(dbt)
    entries.update(shipped_parse_entries(dbt, args.shipped_parse_cache.resolve()))
    summary = deterministic_zip.write(args.out.resolve(), entries)
    print(f"function package: {summary.path} {summary.files} files, "
          f"{deterministic_zip.human(summary.unzipped_bytes)} unzipped, {deterministic_zip.human(summary.zipped_bytes)} "
          f"zipped, sha256 {summary.sha256}")
    try:
        lambda_budget.check("the function zip", summary.zipped_bytes, lambda_budget.LAMBDA_DIRECT_UPLOAD_LIMIT,
                            "Lambda direct-upload limit")
        total = lambda_budget.check_deployment(args.layer_zip, summary.path)
    except lambda_budget.OverBudget as error:
        log(f"error: over budget: {error}")
        return 1
    print(f"layer + function unzipped: {deterministic_zip.human(total)} of Lambda's "
          f"{deterministic_zip.human(lambda_budget.LAMBDA_UNZIPPED_LIMIT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
