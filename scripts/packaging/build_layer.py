"""Build the dbt Lambda layer (python3.12, arm64) into build/dbt-layer.zip, without Docker.

  scripts/uv run python -m scripts.packaging.build_layer                        build (skips the install when nothing changed)
  scripts/uv run python -m scripts.packaging.build_layer --force                rebuild from scratch
  scripts/uv run python -m scripts.packaging.build_layer --export-requirements  rewrite dbt_layer/requirements.txt from uv.lock
  scripts/uv run python -m scripts.packaging.build_layer --check-requirements   fail if dbt_layer/requirements.txt drifted from uv.lock

`make layer` runs the first; `make layer-requirements` the third.

The requirements come from uv.lock (the `layer` dependency group), so the layer's
dbt-core is always the one the local DuckDB run uses. Wheels are resolved for
manylinux_2_28 aarch64, which also accepts manylinux2014 (= manylinux_2_17) wheels;
the python3.12 runtime is Amazon Linux 2023 (glibc 2.34), so both run there. Every module
is shipped compiled (scripts/packaging/layer_prune.py says how): /opt is read-only in Lambda.
`--arch x86_64` builds the same layer for x86-64 (the tests use it to import the
layer's exact contents on this machine).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"


def _python312() -> str:
    result = subprocess.run([str(SCRIPTS / "find-python312")], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(result.stderr.strip() or "error: CPython 3.12 not found")
    return result.stdout.strip()


# The zip bytes depend on the zlib Python links: always build under the project's CPython 3.12.
if sys.version_info[:2] != (3, 12):
    sys.exit("error: build the layer with the project's CPython 3.12: `make layer` "
             "(scripts/uv run python -m scripts.packaging.build_layer)")

from scripts.packaging import deterministic_zip, lambda_budget, layer_prune  # noqa: E402

REQUIREMENTS = REPO / "dbt_layer" / "requirements.txt"
PLATFORMS = {"arm64": "aarch64-manylinux_2_28", "x86_64": "x86_64-manylinux_2_28"}
EXPORT_ARGS = ["export", "--frozen", "--only-group", "layer", "--no-emit-project", "--no-header", "--no-annotate"]
HEADER = """\
# Pins of the dbt Lambda layer, exported from uv.lock (the `layer` dependency group in
# pyproject.toml): dbt-core here is the version the local DuckDB run uses.
# Generated: do not edit. After `uv lock`, run `make layer-requirements`.
# boto3/botocore are shipped on purpose (not taken from the runtime): see dbt_layer/README.md.
"""


def log(message: str) -> None:
    print(f"[build-layer] {message}", flush=True)


def uv_binary() -> str:
    """The project's pinned uv (installed on first use)."""
    return str(SCRIPTS / "uv")


def exported_requirements(repo: Path) -> str:
    result = subprocess.run([uv_binary(), *EXPORT_ARGS], cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: `uv {' '.join(EXPORT_ARGS)}` failed (is uv.lock in sync with pyproject.toml? run `uv lock`):\n"
                 f"{result.stderr}")
    return HEADER + result.stdout


def check_requirements(path: Path) -> bool:
    expected = exported_requirements(REPO)
    actual = path.read_text() if path.is_file() else ""
    if actual == expected:
        log(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path} matches uv.lock")
        return True
    log(f"error: {path} has drifted from uv.lock (the layer would not ship the locked versions).\n"
        f"  Regenerate it with: make layer-requirements")
    return False


def tree_manifest(root: Path) -> str:
    """Digest of the installed tree's file list, sizes and exec bits: detects a tampered or partial build dir."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        info = path.stat()
        digest.update(f"{path.relative_to(root).as_posix()}\0{info.st_size}\0{info.st_mode & 0o111}\n".encode())
    return digest.hexdigest()


def input_digest(requirements: str, arch: str) -> str:
    uv_version = subprocess.run([uv_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    digest = hashlib.sha256()
    for part in (requirements, PLATFORMS[arch], uv_version, Path(layer_prune.__file__).read_text()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def install(site_packages: Path, arch: str) -> None:
    if site_packages.parent.exists():
        shutil.rmtree(site_packages.parent)
    site_packages.mkdir(parents=True)
    command = [uv_binary(), "pip", "install", "--target", str(site_packages),
               "--python", _python312(), "--python-platform", PLATFORMS[arch], "--python-version", "3.12",
               "--only-binary", ":all:", "--require-hashes", "--link-mode", "copy", "--no-progress",
               "-r", str(REQUIREMENTS)]
    log(f"installing {REQUIREMENTS.relative_to(REPO)} for {PLATFORMS[arch]}, CPython 3.12, binary wheels only")
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: layer install failed:\n{result.stderr}")
    installed = [line for line in result.stderr.splitlines() if line.lstrip().startswith("+ ")]
    log(f"installed {len(installed)} distributions")


def distribution_sizes(site_packages: Path) -> dict[str, int]:
    """Unzipped bytes per distribution, attributing each file through the RECORDs pip/uv wrote."""
    owner: dict[str, str] = {}
    for record in site_packages.glob("*.dist-info/RECORD"):
        name, version = record.parent.name[: -len(".dist-info")].rsplit("-", 1)
        with record.open(newline="") as handle:
            for row in csv.reader(handle):
                if row:
                    owner[os.path.normpath(row[0])] = f"{name} {version}"
    sizes: dict[str, int] = defaultdict(int)
    for path in site_packages.rglob("*"):
        if path.is_file():
            key = os.path.normpath(path.relative_to(site_packages).as_posix())
            sizes[owner.get(key, "(not in any RECORD)")] += path.stat().st_size
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64")
    parser.add_argument("--out-dir", type=Path, default=REPO / "build", help="where layer/ and dbt-layer.zip go")
    parser.add_argument("--force", action="store_true", help="reinstall and rezip even if nothing changed")
    parser.add_argument("--export-requirements", action="store_true")
    parser.add_argument("--check-requirements", action="store_true")
    parser.add_argument("--requirements", type=Path, default=REQUIREMENTS, help="file the check compares (tests)")
    parser.add_argument("--max-unzipped-mib", type=float, default=lambda_budget.LAYER_UNZIPPED_BUDGET / lambda_budget.MiB)
    parser.add_argument("--max-zipped-mib", type=float, default=lambda_budget.LAYER_ZIPPED_BUDGET / lambda_budget.MiB)
    args = parser.parse_args()

    if args.export_requirements:
        REQUIREMENTS.write_text(exported_requirements(REPO))
        log(f"wrote {REQUIREMENTS.relative_to(REPO)} from uv.lock")
        return 0
    if args.check_requirements:
        return 0 if check_requirements(args.requirements) else 1

    started = time.monotonic()
    if not check_requirements(REQUIREMENTS):
        return 1
    out_dir: Path = args.out_dir.resolve()
    layer_root = out_dir / "layer"
    site_packages = layer_root / "python"
    zip_path = out_dir / "dbt-layer.zip"
    stamp_path = out_dir / "dbt-layer.stamp.json"
    stamp = json.loads(stamp_path.read_text()) if stamp_path.is_file() and not args.force else {}
    inputs = input_digest(REQUIREMENTS.read_text(), args.arch)

    intact = site_packages.is_dir() and stamp.get("inputs") == inputs and stamp.get("tree") == tree_manifest(site_packages)
    if intact:
        log("requirements, platform and prune rules unchanged and build/layer intact: skipping the install")
    else:
        stamp_path.unlink(missing_ok=True)
        install(site_packages, args.arch)
        report = layer_prune.prune(site_packages)
        log(f"pruned {report.removed_files} files ({deterministic_zip.human(report.removed_bytes)}): "
            f"bytecode caches, {len([d for d in report.removed_dirs if d.rsplit('/', 1)[-1] in layer_prune.TEST_DIRS])} "
            f"test suites, type stubs, bin/, unused babel locales")
        compiled = layer_prune.compile_bytecode(site_packages, sys.executable)
        log(f"compiled {compiled} modules to CPython 3.12 bytecode (unchecked-hash, {layer_prune.LAMBDA_LAYER_PATH})")
        stamp = {"inputs": inputs, "tree": tree_manifest(site_packages)}

    if intact and zip_path.is_file() and stamp.get("zip") == deterministic_zip.sha256(zip_path):
        log(f"{zip_path.name} up to date")
        summary = deterministic_zip.ZipSummary(zip_path, stamp["files"], stamp["unzipped"],
                                               zip_path.stat().st_size, stamp["zip"])
    else:
        log(f"writing {zip_path} (sorted entries, fixed timestamps and permissions)")
        summary = deterministic_zip.write(zip_path, deterministic_zip.collect(layer_root))
        stamp.update(zip=summary.sha256, files=summary.files, unzipped=summary.unzipped_bytes)
    stamp_path.write_text(json.dumps(stamp, indent=2) + "\n")

    print(f"layer: {summary.files} files, {deterministic_zip.human(summary.unzipped_bytes)} unzipped, "
          f"{deterministic_zip.human(summary.zipped_bytes)} zipped, sha256 {summary.sha256}")
    print("ten largest packages (unzipped):")
    for name, size in sorted(distribution_sizes(site_packages).items(), key=lambda item: (-item[1], item[0]))[:10]:
        print(f"  {deterministic_zip.human(size):>10}  {name}")

    try:
        lambda_budget.check("the layer unzipped", summary.unzipped_bytes,
                            int(args.max_unzipped_mib * lambda_budget.MiB), "layer budget")
        lambda_budget.check("the layer zip", summary.zipped_bytes, int(args.max_zipped_mib * lambda_budget.MiB),
                            "layer budget")
        function_zip = out_dir / "function.zip"
        total = lambda_budget.check_deployment(zip_path, function_zip)
    except lambda_budget.OverBudget as error:
        log(f"error: over budget: {error}")
        return 1
    print(f"layer + function unzipped: {deterministic_zip.human(total)} of Lambda's "
          f"{deterministic_zip.human(lambda_budget.LAMBDA_UNZIPPED_LIMIT)}")
    log(f"done in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
