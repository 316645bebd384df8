"""The layer is complete: its exact contents, built for x86-64 by the same script, work on this machine.

The arm64 binaries cannot run here, so the same pinned requirements are installed and pruned
for x86-64 CPython 3.12 by `make layer`'s builder with `--arch x86_64`, and run from a bare venv with
the tree on PYTHONPATH, the way Lambda puts /opt/python on the import path (no .pth processing). The
pure-Python files, which are the ones the pruning could break, are then shown to be identical
to the arm64 layer's, distribution by distribution.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from scripts.packaging.tests.packaging_helpers import REPO, SCRIPTS, packaging, python312, run
PROBE_PROJECT = Path(__file__).parent / "fixtures" / "athena_probe"

IMPORT_EVERYTHING = r"""
import importlib, json, pkgutil, sys
from pathlib import Path
root = Path(sys.argv[1])
tops = sorted({(p.name if p.is_dir() else p.name.split(".")[0]) for p in root.iterdir()
               if not p.name.endswith(".dist-info") and (p.is_dir() or p.suffix in (".py", ".so"))})
tops = [t for t in tops if t.isidentifier()]
failures = {}
for name in tops:
    try:
        importlib.import_module(name)
    except Exception as error:
        failures[name] = repr(error)
walked = 0
for package in ("dbt", "dbt_common", "dbt_semantic_interfaces", "pyathena"):
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if package == "pyathena" and set(info.name.split(".")) & {"pandas", "arrow", "polars", "sqlalchemy", "spark"}:
            continue  # pyathena's optional cursors need extras dbt-athena does not use
        walked += 1
        try:
            importlib.import_module(info.name)
        except Exception as error:
            failures[info.name] = repr(error)
outside = sorted({m.__file__ for m in list(sys.modules.values())
                  if getattr(m, "__file__", None) and "site-packages" in m.__file__})
print(json.dumps({"tops": tops, "walked": walked, "failures": failures, "outside": outside}))
"""


@pytest.fixture(scope="module")
def x86_layer(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("x86")
    run(packaging("build_layer", "--arch", "x86_64", "--out-dir", str(out)), cwd=REPO)
    return out / "layer" / "python"


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "venv"
    run([str(SCRIPTS / "uv"), "venv", "--quiet", "--python", python312(), str(venv)])
    return venv / "bin" / "python"


def layer_run(python: Path, tree: Path, args: list[str], tmp: Path) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "PYTHONPATH": str(tree), "PYTHONNOUSERSITE": "1",
           "AWS_ACCESS_KEY_ID": "probe", "AWS_SECRET_ACCESS_KEY": "probe", "AWS_DEFAULT_REGION": "ap-southeast-2",
           "AWS_EC2_METADATA_DISABLED": "true", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    return run([str(python), *args], env=env, cwd=tmp).stdout


def test_the_proof_tree_really_is_x86_64(x86_layer: Path):
    # Otherwise the import checks below would prove nothing (and the aarch64 check would pass vacuously).
    header = next(x86_layer.glob("pydantic_core/_pydantic_core*.so")).read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 62


def test_interpreter_is_x86_64_cpython_312(bare_python: Path, tmp_path: Path):
    out = layer_run(bare_python, tmp_path, ["-c", "import platform, sys; print(platform.machine(), sys.version_info[:2])"], tmp_path)
    assert out.split()[0] == "x86_64" and "(3, 12)" in out


def test_every_module_imports_cleanly(x86_layer: Path, bare_python: Path, tmp_path: Path):
    output = layer_run(bare_python, x86_layer, ["-c", IMPORT_EVERYTHING, str(x86_layer)], tmp_path)
    report = json.loads(output.strip().splitlines()[-1])
    assert report["failures"] == {}
    assert {"dbt", "dbt_common", "boto3", "botocore", "pyathena", "mypy_boto3_athena", "agate"} <= set(report["tops"])
    assert report["walked"] > 300
    assert report["outside"] == [], "modules were loaded from outside the layer tree"


def test_dbt_version_lists_the_athena_adapter(x86_layer: Path, bare_python: Path, tmp_path: Path):
    out = layer_run(bare_python, x86_layer, ["-c", "from dbt.cli.main import cli; cli()", "--version"], tmp_path)
    plugins = out.split("Plugins:", 1)[1]
    assert "athena: 1.11" in plugins, out
    assert "installed: " in out.split("Plugins:", 1)[0]


# Records the files the import system opens under the layer (io.open_code raises the "open"
# audit event), and writes the list when dbt exits. Only opens made by importlib itself
# count: dbt also reads a few sources through linecache (inspect.stack), which is not an import.
AUDIT_OPENS = r"""
import atexit, json, sys
_root, _out, _opened = sys.argv.pop(1), sys.argv.pop(1), []
def _by_importlib():
    # The frame that called open: FileLoader.get_data for an import, tokenize for linecache.
    return sys._getframe(2).f_code.co_filename.startswith("<frozen importlib")
def _hook(event, args):
    if event == "open" and isinstance(args[0], str) and args[0].startswith(_root) and _by_importlib():
        _opened.append(args[0])
sys.addaudithook(_hook)
atexit.register(lambda: open(_out, "w").write(json.dumps(_opened)))
"""


def tree_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_dbt_parses_an_athena_project_from_the_layer(x86_layer: Path, bare_python: Path, tmp_path: Path):
    project = tmp_path / "project"
    shutil.copytree(PROBE_PROJECT, project)
    target = tmp_path / "target"
    opened_log = tmp_path / "opened.json"
    before = tree_files(x86_layer)
    # Bytecode writes allowed here (no PYTHONDONTWRITEBYTECODE): a module without usable bytecode
    # would be compiled from source and its .pyc written into the tree.
    layer_run(bare_python, x86_layer, ["-c", AUDIT_OPENS + "from dbt.cli.main import cli; cli()",
                                       str(x86_layer), str(opened_log), "parse",
                                       "--project-dir", str(project), "--profiles-dir", str(project),
                                       "--target-path", str(target), "--log-path", str(tmp_path / "logs"),
                                       "--no-version-check"], tmp_path)
    opened = json.loads(opened_log.read_text())
    assert len([p for p in opened if p.endswith(".cpython-312.pyc")]) > 500, "imports did not load the layer's bytecode"
    assert [p for p in opened if p.endswith(".py")] == [], "imports read module sources: their bytecode was not used"
    assert tree_files(x86_layer) == before, "the import wrote into the layer"
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "athena"
    assert "model.athena_probe.thing_counts" in manifest["nodes"]
    macros = manifest["macros"]
    assert "macro.dbt_athena.athena__create_table_as" in macros  # the adapter's include/ macros
    assert "macro.dbt.test_unique" in macros  # dbt's global project
    tests = [n for n in manifest["nodes"] if n.startswith("test.athena_probe.")]
    assert len(tests) == 2


def test_agate_numbers_parse_with_the_english_locales_kept(x86_layer: Path, bare_python: Path, tmp_path: Path):
    # dbt's seeds go through agate's Number type, which loads babel's en_US (and its parents).
    program = ("import agate, decimal; n = agate.Number(); "
               "assert n.cast('1,234.50') == decimal.Decimal('1234.50'), n.cast('1,234.50'); print('ok')")
    assert layer_run(bare_python, x86_layer, ["-c", program], tmp_path).strip() == "ok"


def files_by_distribution(tree: Path | None = None, archive: Path | None = None) -> dict[str, set[str]]:
    """{dist-info folder: its files} for pure-Python (Root-Is-Purelib) distributions, from the tree's RECORDs."""
    if archive is not None:
        with zipfile.ZipFile(archive) as zf:
            files = {n.removeprefix("python/"): zf.read(n) if n.endswith(("/RECORD", "/WHEEL")) else b"" for n in zf.namelist()}
    else:
        files = {p.relative_to(tree).as_posix(): p.read_bytes() if p.name in ("RECORD", "WHEEL") else b""
                 for p in tree.rglob("*") if p.is_file()}
    owners: dict[str, str] = {}
    pure: set[str] = set()
    for name, content in files.items():
        folder, _, leaf = name.partition("/")
        if folder.endswith(".dist-info") and leaf == "WHEEL" and b"Root-Is-Purelib: true" in content:
            pure.add(folder)
        if folder.endswith(".dist-info") and leaf == "RECORD":
            for line in content.decode().splitlines():
                owners[line.rsplit(",", 2)[0]] = folder
    result: dict[str, set[str]] = defaultdict(set)
    for name in files:
        if owners.get(name) in pure:
            result[owners[name]].add(name)
    return {folder: result[folder] for folder in pure}


def test_same_distributions_and_pure_python_files_as_the_arm64_layer(x86_layer: Path, layer_zip: Path):
    arm = files_by_distribution(archive=layer_zip)
    x86 = files_by_distribution(tree=x86_layer)
    with zipfile.ZipFile(layer_zip) as zf:
        arm_dists = {n.split("/")[1] for n in zf.namelist() if n.split("/")[1].endswith(".dist-info")}
    assert arm_dists == {p.name for p in x86_layer.glob("*.dist-info")}
    assert len(arm) > 50
    assert arm.keys() == x86.keys()
    assert {d: arm[d] ^ x86[d] for d in arm if arm[d] != x86[d]} == {}


def test_packaged_handler_parses_our_project_for_athena_on_the_layer(
    x86_layer: Path, bare_python: Path, function_zip: Path, tmp_path: Path
):
    # As Lambda loads it: the function zip in the task root, then the layer's python/ folder; the
    # stack's environment; dbt's scratch space under TMPDIR (Lambda's /tmp). `parse` needs no AWS.
    task = tmp_path / "task"
    with zipfile.ZipFile(function_zip) as archive:
        archive.extractall(task)
    before = sorted(p.relative_to(task) for p in task.rglob("*"))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONNOUSERSITE": "1", "TMPDIR": str(scratch),
           "PYTHONPATH": os.pathsep.join([str(task), str(x86_layer)]), "PYTHONDONTWRITEBYTECODE": "1",
           "AWS_ACCESS_KEY_ID": "probe", "AWS_SECRET_ACCESS_KEY": "probe", "AWS_REGION": "ap-southeast-2",
           "AWS_EC2_METADATA_DISABLED": "true", "ENVIRONMENT": "dev",
           "RAW_BUCKET_NAME": "acme-raw-0a1b2c3d", "PROCESSED_BUCKET_NAME": "acme-processed-0a1b2c3d",
           "GLUE_DATABASE_NAME": "acme_dev", "ATHENA_RESULTS_BUCKET": "acme-athena-results-0a1b2c3d",
           "ATHENA_WORKGROUP": "dev-dbt"}
    program = "import json; from dbt_runner import handler; print('RESULT ' + json.dumps(handler.handler({'command': ['parse']})))"
    out = run([str(bare_python), "-c", program], env=env, cwd=tmp_path).stdout
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT ")).split(" ", 1)[1])

    assert result["status"] == "success", result
    declared = yaml.safe_load((REPO / "dbt" / "models" / "sources.yml").read_text())["sources"][0]["tables"]
    assert result["parsed"]["sources"] == len(declared) == 11 and result["parsed"]["nodes"] > 50
    manifests = list(scratch.glob("dbt-runner/*/target/manifest.json"))
    assert len(manifests) == 1, "dbt writes its target under TMPDIR"
    manifest = json.loads(manifests[0].read_text())
    assert manifest["metadata"]["adapter_type"] == "athena"
    assert manifest["sources"]["source.dbt_lambda.raw.Artist"]["schema"] == "acme_dev"
    assert sorted(p.relative_to(task) for p in task.rglob("*")) == before, "nothing is written in the task root"

    # A new container's first call starts from the package's parse: its key matches on the layer's dbt.
    program = ("import json; from dbt_runner import handler; r = handler.handler({'command': ['ls'], 'cli_args': ['--resource-type', 'source']}); "
               "print('RESULT ' + json.dumps([r['manifest_source'], len(r['output'])]))")
    out = run([str(bare_python), "-c", program], env=env, cwd=tmp_path).stdout
    assert json.loads(next(line for line in out.splitlines() if line.startswith("RESULT ")).split(" ", 1)[1]) == ["package", 11]
