"""Issue 20, finding 12: dbt-athena's retry and polling settings are set, explained, and real."""

from __future__ import annotations

import dataclasses
import re

import yaml
from dbt.adapters.athena.connections import AthenaCredentials

from scripts.testing.runner_env import REPO

SETTINGS = ("num_retries", "num_boto3_retries", "poll_interval", "num_iceberg_retries", "skip_workgroup_check")


def _athena() -> dict:
    return yaml.safe_load((REPO / "dbt" / "profiles.yml").read_text())["dbt_lambda"]["outputs"]["dev"]


def test_retry_settings_are_set_to_bounded_values():
    dev = _athena()
    assert 1 <= dev["num_retries"] <= 3  # throttling retries wait up to 100 s each: keep inside 900 s
    assert 3 <= dev["num_boto3_retries"] <= 10
    assert 1 <= dev["poll_interval"] <= 5
    assert 1 <= dev["num_iceberg_retries"] <= 3


def test_each_setting_is_a_real_dbt_athena_credential_with_a_comment_giving_the_reason():
    fields = {field.name for field in dataclasses.fields(AthenaCredentials)}
    lines = (REPO / "dbt" / "profiles.yml").read_text().splitlines()
    for name in SETTINGS:
        assert name in fields, name
        [index] = [i for i, line in enumerate(lines) if line.strip().startswith(f"{name}:")]
        assert lines[index - 1].strip().startswith("#"), f"{name} has no comment above it"
        comment = " ".join(line.strip() for line in lines[:index] if line.strip().startswith(f"# {name}:"))
        assert comment, f"no comment naming {name}"


def test_skipping_the_workgroup_check_matches_the_stacks_workgroup():
    # The check only asks whether the workgroup enforces its result location; skipping it is right
    # only while the stack's workgroup does not.
    lake = (REPO / "constructs" / "data-lake.ts").read_text()
    enforced = re.search(r"enforceWorkgroupConfiguration:\s*(true|false)", lake).group(1)
    assert _athena()["skip_workgroup_check"] is (enforced == "false")
