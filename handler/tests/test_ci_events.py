"""The CI event: a pull request's build is confined to its own database and prefix, or refused."""

from __future__ import annotations

import os

import pytest

from dbt_runner import ci_build, run_artifacts
from dbt_runner.events import EventError

HASH = "a" * 64


def test_a_ci_event_becomes_a_state_aware_deferred_build_of_what_changed():
    ci, direct = ci_build.split({"ci": {"pr": 7, "bundle": HASH}, "command": ["build"]})
    assert ci == ci_build.CiBuild(7, HASH)
    assert direct == {"command": ["build"], "cli_args": ["--select", "state:modified+"], "state": "latest", "defer": True}
    assert (ci.prefix, ci.database("main"), ci.database("dev_lake")) == ("ci/pr_7/", "main_pr_7", "dev_lake_pr_7")
    assert ci_build.split({"ci": {"pr": 999999}})[0] == ci_build.CiBuild(999999, None)
    assert ci_build.split({"command": ["build"]}) == (None, {"command": ["build"]})


@pytest.mark.parametrize(("event", "field"), [
    ({"ci": {"pr": 0}}, "ci.pr"),
    ({"ci": {"pr": 1_000_000}}, "ci.pr"),
    ({"ci": {"pr": -1}}, "ci.pr"),
    ({"ci": {"pr": "7"}}, "ci.pr"),
    ({"ci": {"pr": "7/../../latest"}}, "ci.pr"),
    ({"ci": {"pr": 7.0}}, "ci.pr"),
    ({"ci": {"pr": True}}, "ci.pr"),
    ({"ci": {}}, "ci.pr"),
    ({"ci": {"pr": 7, "bundle": "../projects/current"}}, "ci.bundle"),
    ({"ci": {"pr": 7, "bundle": "A" * 64}}, "ci.bundle"),
    ({"ci": {"pr": 7, "bundle": "a" * 63}}, "ci.bundle"),
    ({"ci": {"pr": 7, "prefix": "latest/"}}, "ci.prefix"),
    ({"ci": {"pr": 7, "database": "dev_lake"}}, "ci.database"),
    ({"ci": "pr_7"}, "ci"),
    ({"ci": {"pr": 7}, "cli_args": ["--select", "+dim_customers"]}, "cli_args"),
    ({"ci": {"pr": 7}, "state": "latest"}, "state"),
    ({"ci": {"pr": 7}, "command": ["run-operation", "drop_all"]}, "command"),
])
def test_a_ci_event_outside_its_pr_is_refused_naming_the_field(event, field):
    with pytest.raises(EventError) as raised:
        ci_build.split(event)
    assert raised.value.field == field


def test_the_handler_refuses_a_bad_ci_event_before_dbt_starts(handler_module, context, monkeypatch):
    monkeypatch.setattr(handler_module.SESSION, "invoke", lambda *a, **k: pytest.fail("dbt must not start"))
    with pytest.raises(EventError, match=r"^ci\.pr: "):
        handler_module.handler({"ci": {"pr": "../7"}, "command": ["build"]}, context)


def test_the_pr_variable_is_set_for_a_ci_build_and_removed_for_any_other(monkeypatch):
    env = {}
    ci_build.apply_env(ci_build.CiBuild(12), env)
    assert env == {"DBT_CI_PR": "12"}
    ci_build.apply_env(None, env)
    assert env == {}
    monkeypatch.setenv("DBT_CI_PR", "3")
    ci_build.apply_env(None)
    assert "DBT_CI_PR" not in os.environ


def test_ci_run_records_go_under_the_pr_prefix_only(tmp_path):
    class Recorder:
        location = "s3://artifacts"

        def __init__(self):
            self.keys = []

        def put(self, key, body, content_type):
            self.keys.append(key)

        def get(self, key):
            return None

        def where(self, key):
            return f"s3://artifacts/{key}"

    inner = Recorder()
    store = ci_build.store_for(ci_build.CiBuild(7), inner, None)
    store.put("runs/2026-01-01/x/summary.json", b"{}", "application/json")
    store.put("latest/manifest.json", b"{}", "application/json")
    assert inner.keys == ["ci/pr_7/runs/2026-01-01/x/summary.json", "ci/pr_7/latest/manifest.json"]
    assert store.where("runs/") == "s3://artifacts/ci/pr_7/runs/"
    local = ci_build.store_for(ci_build.CiBuild(7), run_artifacts.LocalStore(tmp_path / "artifacts"), tmp_path)
    assert local.where("latest/manifest.json") == str(tmp_path / "ci" / "pr_7" / "artifacts" / "latest" / "manifest.json")
