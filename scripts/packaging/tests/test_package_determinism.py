"""Same inputs, same bytes: Terraform hashes the zips, so a rebuild must not look like a change."""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path

from scripts.packaging.tests.packaging_helpers import REPO, packaging, run
from scripts.packaging import deterministic_zip


def make_tree(root: Path, order: list[str], mtime: int) -> Path:
    contents = {"b/inner.txt": b"inner", "a.py": b"print('a')\n", "run.sh": b"#!/bin/sh\n", "z/y/x.sql": b"select 1"}
    for name in order:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(contents[name])
        os.chmod(path, 0o775 if name == "run.sh" else 0o664)
        os.utime(path, (mtime, mtime))
    return root


def test_zip_ignores_mtimes_creation_order_and_umask(tmp_path: Path):
    first = make_tree(tmp_path / "one", ["a.py", "b/inner.txt", "run.sh", "z/y/x.sql"], 1_600_000_000)
    second = make_tree(tmp_path / "two", ["z/y/x.sql", "run.sh", "b/inner.txt", "a.py"], 1_700_000_000)
    a = deterministic_zip.write(tmp_path / "a.zip", deterministic_zip.collect(first, "p/"))
    b = deterministic_zip.write(tmp_path / "b.zip", deterministic_zip.collect(second, "p/"))
    assert a.sha256 == b.sha256
    assert (a.files, a.unzipped_bytes) == (4, sum(len(p.read_bytes()) for p in first.rglob("*") if p.is_file()))
    with zipfile.ZipFile(a.path) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == ["p/a.py", "p/b/inner.txt", "p/run.sh", "p/z/y/x.sql"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.create_system for i in infos} == {3}
    modes = {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in infos}
    assert modes == {"p/a.py": 0o644, "p/b/inner.txt": 0o644, "p/run.sh": 0o755, "p/z/y/x.sql": 0o644}


def test_zip_content_change_changes_the_hash(tmp_path: Path):
    tree = make_tree(tmp_path / "t", ["a.py", "b/inner.txt", "run.sh", "z/y/x.sql"], 1_600_000_000)
    before = deterministic_zip.write(tmp_path / "a.zip", deterministic_zip.collect(tree)).sha256
    (tree / "a.py").write_bytes(b"print('b')\n")
    assert deterministic_zip.write(tmp_path / "b.zip", deterministic_zip.collect(tree)).sha256 != before


def test_layer_rebuilt_from_scratch_is_byte_identical(layer_zip: Path, tmp_path: Path):
    # Rebuild from a plain shell's environment (no active venv, no uv settings), in another folder:
    # neither may leak into the bytes (console-script shebangs once did, through RECORD).
    venv_bin = str(REPO / ".venv" / "bin")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV" and not k.startswith("UV_")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
    run(packaging("build_layer", "--force", "--out-dir", str(tmp_path)), cwd=tmp_path, env=env)
    assert deterministic_zip.sha256(tmp_path / "dbt-layer.zip") == deterministic_zip.sha256(layer_zip)


def test_function_package_from_a_fresh_copy_is_byte_identical(tmp_path: Path):
    # A copy has new mtimes, inode order and absolute paths: none of it may reach the zip.
    for name in ("handler", "dbt"):
        shutil.copytree(REPO / name, tmp_path / "copy" / name, copy_function=shutil.copy)
    run(packaging("build_package", "--out", str(tmp_path / "repo.zip")), cwd=REPO)
    # An empty cache: the copy's shipped parses are parsed again, in other folders, and must match too.
    run(packaging("build_package", "--handler-dir", str(tmp_path / "copy" / "handler"),
         "--dbt-dir", str(tmp_path / "copy" / "dbt"), "--out", str(tmp_path / "copy.zip"),
         "--shipped-parse-cache", str(tmp_path / "cache")), cwd=REPO)
    assert sorted((tmp_path / "cache").glob("*/*.pickle")), "the copy's build parsed nothing"
    assert deterministic_zip.sha256(tmp_path / "repo.zip") == deterministic_zip.sha256(tmp_path / "copy.zip")
