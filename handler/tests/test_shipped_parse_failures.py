"""Issue 20, findings 3 and 10: the shipped parse is never silently wrong, and never breaks a cold start.

3: ENVIRONMENT and the region go into the key (by value) instead of being rebound; the build check
   parses with a third placeholder set (upper case, '-', '.', another length) and refuses, naming the
   model, a template that transforms a rebound value.
10: any load failure falls back to a parse, and a miss says which input differed.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from dbt_runner import shipped_parse
from scripts.packaging import ship_parse


def _project(root: Path, models: dict[str, str]) -> Path:
    files = {
        "dbt_project.yml": "name: tiny\nversion: '1.0.0'\nconfig-version: 2\nprofile: tiny\n",
        "profiles.yml": ("tiny:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n"
                         "      path: \"{{ env_var('LOCAL_DATA_DIR') }}/tiny.duckdb\"\n"),
        **{f"models/{name}.sql": text for name, text in models.items()},
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_environment_and_region_are_keyed_by_value_not_rebound(tmp_path):
    assert {"ENVIRONMENT", "AWS_REGION"} <= set(shipped_parse.KEYED)
    assert not {"ENVIRONMENT", "AWS_REGION"} & set(shipped_parse.REBINDABLE)
    project = _project(tmp_path / "dbt", {"m": "select '{{ env_var('ENVIRONMENT') }}' as e, "
                                              "'{{ env_var('AWS_REGION') }}' as r\n"})
    keys = {shipped_parse.key(project, project, ["local"], env) for env in (
        {"ENVIRONMENT": "dev", "AWS_REGION": "ap-southeast-2"},
        {"ENVIRONMENT": "prod", "AWS_REGION": "ap-southeast-2"},
        {"ENVIRONMENT": "dev", "AWS_REGION": "us-east-1"},
    )}
    assert len(keys) == 3


def test_the_third_placeholder_set_differs_in_case_punctuation_and_length():
    a, b, c = (shipped_parse.placeholders(v) for v in ("a", "b", "c"))
    for name in shipped_parse.REBINDABLE:
        assert c[name] != c[name].lower() and "-" in c[name] and "." in c[name]
        assert len(c[name]) != len(a[name]) == len(b[name])


@pytest.mark.parametrize("template", [
    "{{ config(schema=env_var('GLUE_DATABASE_NAME') | replace('-', '_')) }}",
    "{{ config(enabled=(env_var('GLUE_DATABASE_NAME') | length) > 11) }}",
    "{{ config(alias=env_var('GLUE_DATABASE_NAME') | lower) }}",
])
def test_a_template_that_transforms_a_rebound_value_refuses_to_ship_naming_the_model(tmp_path, monkeypatch, template):
    for name in (*shipped_parse.REBINDABLE, *shipped_parse.KEYED):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    monkeypatch.chdir(tmp_path)
    project = _project(tmp_path / "dbt", {"plain": "select 1 as n\n", "transformed": template + "\nselect 1 as n\n"})
    out = tmp_path / "out"
    out.mkdir()
    saved = dict(os.environ)
    try:
        report = ship_parse.ship(project, out, "local", ["LOCAL_DATA_DIR", "GLUE_DATABASE_NAME"], tmp_path / "scratch")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert report.startswith("refused"), report
    assert "model.tiny.transformed" in report
    assert not list(out.iterdir())


def _shipped(tmp_path: Path, header: object, body: bytes = b"") -> Path:
    path = tmp_path / "local.pickle"
    path.write_bytes(pickle.dumps(header) + body)
    return path


@pytest.mark.parametrize("header, body", [
    ({"format": shipped_parse.FORMAT, "key": "k"}, pickle.dumps({"not": "a manifest"})),  # no placeholders
    ({"format": shipped_parse.FORMAT, "key": "k", "placeholders": None}, pickle.dumps(object())),
    ({"format": shipped_parse.FORMAT, "key": "k", "placeholders": {}}, b"\x80\x05garbage"),
    (["not", "a", "header"], b""),
])
def test_any_load_failure_falls_back_to_a_parse(tmp_path, header, body):
    manifest, why = shipped_parse.load(_shipped(tmp_path, header, body), "k", {})
    assert manifest is None and why


def test_a_miss_says_which_input_differed(tmp_path):
    project = _project(tmp_path / "dbt", {"numbers": "select 1 as n\n"})
    env = {"LOCAL_DATA_DIR": "/data"}
    parts = shipped_parse.key_parts(project, project, ["local"], env)
    path = tmp_path / "local.pickle"
    shipped_parse.write(path, shipped_parse.key(project, project, ["local"], env), {}, pickle.dumps(None), parts=parts)
    (project / "models" / "numbers.sql").write_text("select 2 as n\n")
    changed = shipped_parse.key_parts(project, project, ["local"], env)
    manifest, why = shipped_parse.load(path, shipped_parse.key(project, project, ["local"], env), {}, parts=changed)
    assert manifest is None and "models/numbers.sql" in why
