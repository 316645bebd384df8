"""`make ci-build` / `make ci-teardown` with real dbt on DuckDB, after a demo build.

One demo build (the base: `latest/` and schema main) serves every test; each test changes its
own copy of the project, never dbt/.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dbt_runner import run_artifacts
from scripts.testing.chinook import REPO
from scripts.testing.runner_env import env_of


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = env_of(LOCAL_DATA_DIR=str(data_dir), DBT_LOG_LEVEL="warn")
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("ci") / "local"
    result = run("-m", "scripts.demo.demo", "--data-dir", str(data), "--quiet", data_dir=data)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert latest_manifest(data) is not None, "the demo's build over every table is a complete build"
    return data


def latest_manifest(data: Path) -> dict | None:
    latest = run_artifacts.read_latest(run_artifacts.LocalStore(data / "artifacts"), names=("manifest.json",))
    return json.loads(latest.files["manifest.json"]) if latest else None


def project_copy(tmp_path: Path, path: str, old: str, new: str) -> Path:
    project = tmp_path / "dbt"
    shutil.copytree(REPO / "dbt", project, ignore=shutil.ignore_patterns("target", "logs", "project_tests"))
    model = project / path
    text = model.read_text()
    assert old in text
    model.write_text(text.replace(old, new))
    return project


def ci(action: str, pr: int, data: Path, project: Path | None = None) -> subprocess.CompletedProcess:
    extra = ["--project-dir", str(project)] if project else []
    return run("-m", "scripts.operations.pr_build", action, "--pr", str(pr), "--data-dir", str(data), *extra, data_dir=data)


def files_digest(root: Path) -> dict[str, tuple[str, int]]:
    return {p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def schema_digest(data: Path, schema: str) -> dict[str, str]:
    """Every relation of a schema: its definition and its rows, hashed."""
    with duckdb.connect(str(data / "dbt.duckdb"), read_only=True) as db:
        names = [r[0] for r in db.execute(
            "select table_name from information_schema.tables where table_schema = ? order by 1", [schema]).fetchall()]
        views = dict(db.execute("select view_name, sql from duckdb_views() where schema_name = ?", [schema]).fetchall())
        return {name: hashlib.sha256(repr((views.get(name),
                                           db.execute(f'select * from "{schema}"."{name}" order by all').fetchall())).encode()).hexdigest()
                for name in names}


def schemas(data: Path) -> set[str]:
    with duckdb.connect(str(data / "dbt.duckdb"), read_only=True) as db:
        return {r[0] for r in db.execute("select schema_name from information_schema.schemata").fetchall()}


def pr_summary(data: Path, pr: int) -> dict:
    found = sorted((data / "ci" / f"pr_{pr}" / "artifacts" / "runs").glob("*/*/summary.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(found[-1].read_text())


def descendants(data: Path, unique_id: str) -> set[str]:
    manifest = latest_manifest(data)
    found, todo = set(), [unique_id]
    while todo:
        for child in manifest["child_map"].get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def test_a_pr_changing_one_mart_builds_exactly_it_and_its_tests_and_leaves_main_untouched(base, tmp_path):
    data = base
    project = project_copy(tmp_path, "models/marts/album_track_counts.sql",
                           "count(tracks.track_id) as track_count", "count(tracks.track_id) as track_count  -- PR 7")
    processed, env_artifacts = files_digest(data / "processed"), files_digest(data / "artifacts")
    main = schema_digest(data, "main")

    result = ci("build", 7, data, project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = pr_summary(data, 7)
    mart = "model.dbt_lambda.album_track_counts"
    built = {n["unique_id"] for n in summary["nodes"] if not n["unique_id"].startswith("operation.")}  # hooks
    assert built == {mart} | {t for t in descendants(data, mart) if t.startswith("test.")}
    assert len(built) > 1 and all(n["status"] in ("success", "pass") for n in summary["nodes"])
    assert summary["trigger"] == "ci" and summary["state"]["used"] is True
    assert summary["ci"] == {"pr": 7, "bundle": None, "prefix": "ci/pr_7/", "database": "main_pr_7", "session": None}
    # The mart in main_pr_7; its parents were deferred to main, not rebuilt.
    assert set(schema_digest(data, "main_pr_7")) == {"album_track_counts"}
    assert (data / "ci" / "pr_7" / "processed" / "album_track_counts.parquet").is_file()
    # What it printed: the nodes, the tests, the failures, the run folder.
    assert "model album_track_counts" in result.stdout and "failures: none" in result.stdout
    assert f"run folder: {summary['artifacts']}" in result.stdout
    assert Path(summary["artifacts"]).is_relative_to(data / "ci" / "pr_7")
    # The env's tables, Parquet files and run records (runs/, latest/) are byte for byte the same.
    assert schema_digest(data, "main") == main
    assert files_digest(data / "processed") == processed
    assert files_digest(data / "artifacts") == env_artifacts

    teardown = ci("teardown", 7, data)
    assert teardown.returncode == 0, teardown.stderr
    assert "main_pr_7" not in schemas(data) and not (data / "ci" / "pr_7").exists()
    assert schema_digest(data, "main") == main and files_digest(data / "processed") == processed
    again = ci("teardown", 7, data)  # safe to re-run
    assert again.returncode == 0 and "no schema main_pr_7" in again.stdout


def test_a_pr_changing_a_staging_model_builds_it_and_its_children(base, tmp_path):
    data = base
    project = project_copy(tmp_path, "models/staging/stg_raw__genre.sql", "select", "select  -- PR 8\n   ")
    result = ci("build", 8, data, project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    staging = "model.dbt_lambda.stg_raw__genre"
    built = {n["unique_id"] for n in pr_summary(data, 8)["nodes"] if not n["unique_id"].startswith("operation.")}
    expected = {staging} | descendants(data, staging)
    assert built == {uid for uid in expected if uid.split(".")[0] in ("model", "test")}
    assert {uid for uid in built if uid.startswith("model.")} >= {staging, "model.dbt_lambda.revenue_by_genre"}
    assert ci("teardown", 8, data).returncode == 0
    assert "main_pr_8" not in schemas(data) and not (data / "ci" / "pr_8").exists()


@pytest.mark.parametrize("pr", ["0", "1000000", "-3"])
def test_ci_build_refuses_a_bad_pr_number(pr, tmp_path):
    result = run("-m", "scripts.operations.pr_build", "build", "--pr", pr, "--data-dir", str(tmp_path), data_dir=tmp_path)
    assert result.returncode == 2 and "PR: expected a pull request number 1..999999" in result.stderr
