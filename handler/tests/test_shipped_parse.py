"""The package's parse (dbt_runner/shipped_parse.py, scripts/packaging/ship_parse.py): what its key holds, when it is refused,
and a real build that starts from one. The Athena parse in the real package, rebound and compared with
a fresh parse, is scripts/packaging/tests/test_shipped_parse_package.py."""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbt_runner import shipped_parse
from scripts.testing.chinook import EXPECTED_ALBUMS, REPO, fixture_database, ingest_module, manifest_event, mart


def _project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


TINY = {
    "dbt_project.yml": "name: tiny\nversion: '1.0.0'\nconfig-version: 2\nprofile: tiny\n",
    "profiles.yml": ("tiny:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n"
                     "      path: \"{{ env_var('LOCAL_DATA_DIR') }}/tiny.duckdb\"\n"),
    "models/numbers.sql": "select 1 as n -- {{ env_var('MODEL_FLAVOUR', 'plain') }}\n",
}


def _key(project: Path, env: dict[str, str], inputs=("local",)) -> str:
    return shipped_parse.key(project, project, list(inputs), env)


def test_the_key_is_the_same_wherever_the_project_sits_and_whatever_the_deployment_values(tmp_path: Path):
    one, two = _project(tmp_path / "one" / "dbt", TINY), _project(tmp_path / "two" / "dbt", TINY)
    base = {"LOCAL_DATA_DIR": "/data/a", "GLUE_DATABASE_NAME": "acme_dev", "PATH": "/bin"}
    moved = {"LOCAL_DATA_DIR": "/elsewhere", "GLUE_DATABASE_NAME": "other_prod", "PATH": "/usr/bin",
             "DBT_LOG_PATH": "/tmp/logs", "DBT_PARSE_AT_INIT": "true", "AWS_ACCESS_KEY_ID": "not read"}
    assert _key(one, base) == _key(two, moved)


@pytest.mark.parametrize("change", [
    "a project file", "a variable the project reads", "a dbt setting", "a deployment value now unset",
    "the target", "--vars",
])
def test_the_key_changes_with_anything_else_a_parse_reads(tmp_path: Path, change: str):
    project = _project(tmp_path / "dbt", TINY)
    env = {"LOCAL_DATA_DIR": "/data"}
    before = _key(project, env)
    inputs = ["local"]
    if change == "a project file":
        (project / "models" / "numbers.sql").write_text("select 2 as n\n")
    elif change == "a variable the project reads":
        env["MODEL_FLAVOUR"] = "spicy"
    elif change == "a dbt setting":
        env["DBT_STATIC_PARSER"] = "false"
    elif change == "a deployment value now unset":
        del env["LOCAL_DATA_DIR"]
    elif change == "the target":
        inputs = ["dev"]
    else:
        inputs = ["local", "--vars", "{day: 1}"]
    assert _key(project, env, inputs) != before


def test_rebind_reaches_strings_in_every_container_and_leaves_the_rest():
    Pair = collections.namedtuple("Pair", "left right")

    class Node:
        def __init__(self):
            self.schema = "zza04shipzz"
            self.relation = '"awsdatacatalog"."zza04shipzz"."t"'
            self.tags = ["x", "zza04shipzz_tag"]
            self.pair = Pair("zza04shipzz", 3)
            self.keys = {"zza04shipzz": {"zza04shipzz"}}
            self.count = 7

    node = Node()
    shared = {"one": node, "again": node}  # visited once, even when reached twice
    touched = []
    shipped_parse.rebind(shared, {"zza04shipzz": "acme_dev"}, touch=touched.append)
    assert (node.schema, node.relation) == ("acme_dev", '"awsdatacatalog"."acme_dev"."t"')
    assert node.tags == ["x", "acme_dev_tag"] and node.pair == Pair("acme_dev", 3)
    assert node.keys == {"acme_dev": {"acme_dev"}} and node.count == 7
    assert touched == [node]


def test_first_difference_names_the_path():
    left = shipped_parse.plain({"nodes": [{"schema": "a"}], "n": 1})
    assert shipped_parse.first_difference(left, shipped_parse.plain({"nodes": [{"schema": "a"}], "n": 1})) is None
    where = shipped_parse.first_difference(left, shipped_parse.plain({"nodes": [{"schema": "b"}], "n": 1}))
    assert where == "manifest.'nodes'[0].'schema'"


def _ship(project: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    # As scripts/packaging/build_package.py runs it: a clean environment and a fixed string hash seed.
    env = {"PATH": os.environ["PATH"], "HOME": str(out.parent), "PYTHONHASHSEED": "0"}
    return subprocess.run([sys.executable, "-m", "scripts.packaging.ship_parse", "--project", str(project),
                           "--out", str(out), *args], env=env, capture_output=True, text=True, timeout=600)


def test_a_deployment_value_used_in_a_way_a_replacement_cannot_follow_ships_nothing(tmp_path: Path):
    files = dict(TINY)
    files["models/shouting.sql"] = "{{ config(alias=(env_var('GLUE_DATABASE_NAME') | upper)) }}\nselect 1 as n\n"
    project = _project(tmp_path / "dbt", files)
    done = _ship(project, tmp_path / "shipped", "--target", "local", "--variables", "LOCAL_DATA_DIR,GLUE_DATABASE_NAME")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "local: refused: model.tiny.shouting uses a deployment value in a way a replacement cannot reproduce" in done.stdout
    assert list((tmp_path / "shipped").glob("*.pickle")) == []


def test_bad_arguments_are_refused_with_the_choices(tmp_path: Path):
    done = _ship(_project(tmp_path / "dbt", TINY), tmp_path / "out", "--variables", "HOME")
    assert done.returncode == 2 and "not rebindable: HOME" in done.stderr and "GLUE_DATABASE_NAME" in done.stderr


@pytest.fixture(scope="module")
def shipped_local(tmp_path_factory) -> dict[str, Path]:
    """The repository's project shipped for the local target, then moved, as a package is to /var/task."""
    root = tmp_path_factory.mktemp("shipped")
    ignore = shutil.ignore_patterns("target", "logs", ".local", ".user.yml", "*.duckdb")
    shutil.copytree(REPO / "dbt", root / "build" / "dbt", ignore=ignore)
    done = _ship(root / "build" / "dbt", root / "shipped", "--target", "local", "--variables", "LOCAL_DATA_DIR")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "local: local.pickle" in done.stdout and "LOCAL_DATA_DIR" in done.stdout, done.stdout
    shutil.copytree(root / "build" / "dbt", root / "container" / "dbt")
    shutil.rmtree(root / "build")
    return {"root": root, "shipped": root / "shipped", "project": root / "container" / "dbt"}


def test_a_cold_containers_stepped_build_plans_from_the_shipped_parse(shipped_local, monkeypatch, tmp_path):
    """Steps never parse: a cold container's first step plans from the package's parse."""
    import tempfile

    from dbt_runner import handler
    from dbt_runner.dbt_run import DbtSession
    from scripts.testing.stepping import run_steps

    data_dir = tmp_path / "data"
    ingested = ingest_module().ingest(str(fixture_database(tmp_path / "chinook.db")), str(data_dir))
    for name in (*shipped_parse.DEPLOYMENT_VARIABLES, "DBT_TARGET"):
        monkeypatch.delenv(name, raising=False)
    # ENVIRONMENT and AWS_REGION as the package was parsed with them (ship_parse.keyed_values).
    for name, value in {"DBT_TARGET": "local", "ENVIRONMENT": "local", "AWS_REGION": "ap-southeast-2",
                        "LOCAL_DATA_DIR": str(data_dir), "DBT_STEP_SECONDS": "5",
                        "DBT_PROJECT_DIR": str(shipped_local["project"]), "DBT_STEP_MARGIN_SECONDS": "0",
                        "DBT_SHIPPED_PARSE_DIR": str(shipped_local["shipped"]), "DBT_STEP_DEFAULT_NODE_SECONDS": "0.1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(handler, "SESSION", DbtSession())

    answers = run_steps(handler.handler, manifest_event(Path(ingested["manifest"]), data_dir), "shipped-steps")
    assert answers[0]["manifest_source"] == "package"
    assert all(a["manifest_source"] == "reused" for a in answers[1:])
    assert (answers[-1]["status"], answers[-1]["steps"]) == ("success", len(answers))
    assert mart(data_dir, "album_track_counts", "album_id") == EXPECTED_ALBUMS


def test_a_cold_container_builds_from_the_shipped_parse_and_gets_the_same_marts(shipped_local, monkeypatch, tmp_path):
    import tempfile

    from dbt_runner import handler
    from dbt_runner.dbt_run import DbtSession

    data_dir = tmp_path / "data"
    ingested = ingest_module().ingest(str(fixture_database(tmp_path / "chinook.db")), str(data_dir))
    for name in (*shipped_parse.DEPLOYMENT_VARIABLES, "DBT_TARGET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DBT_TARGET", "local")
    # The keyed values the package was parsed with (ship_parse.keyed_values): the target's name, the stack's region.
    monkeypatch.setenv("ENVIRONMENT", "local")
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    monkeypatch.setenv("LOCAL_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DBT_PROJECT_DIR", str(shipped_local["project"]))
    monkeypatch.setenv("DBT_SHIPPED_PARSE_DIR", str(shipped_local["shipped"]))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(handler, "SESSION", DbtSession())

    first = handler.handler(manifest_event(Path(ingested["manifest"]), data_dir), None)
    assert (first["status"], first["manifest_source"]) == ("success", "package")
    assert set(first["counts"]) == {"success", "pass"} and first["counts"]["pass"] >= 60, first["counts"]
    assert mart(data_dir, "album_track_counts", "album_id") == EXPECTED_ALBUMS
    # The seed's CSV is read through the node's project folder: the container's, not the build's.
    assert any(n["unique_id"] == "seed.dbt_lambda.country_regions" and n["status"] == "success" for n in first["nodes"])

    again = handler.handler({"command": ["ls"], "cli_args": ["--resource-type", "model"]}, None)
    assert again["manifest_source"] == "reused" and len(again["output"]) == 17

    (shipped_local["project"] / "models" / "marts" / "extra.sql").write_text("select 1 as n\n")
    monkeypatch.setattr(handler, "SESSION", DbtSession())
    edited = handler.handler({"command": ["ls"], "cli_args": ["--resource-type", "model"]}, None)
    assert edited["manifest_source"] == "parsed" and len(edited["output"]) == 18  # key differs: dbt parsed
