"""Which applies trigger the post-deploy state-aware build (Terraform's JSON plan format)."""

from __future__ import annotations

from scripts.operations import build_changed


def change(actions, before, after, type_="aws_lambda_function"):
    return {"type": type_, "change": {"actions": actions, "before": before, "after": after}}


def test_only_a_created_or_repackaged_runner_is_built():
    runner = {"function_name": "dev-dbt-runner", "source_code_hash": "old"}
    plan = {"resource_changes": [
        change(["update"], runner, {**runner, "source_code_hash": "new"}),
        change(["update"], {"function_name": "dev-ingest", "source_code_hash": "a"}, {"function_name": "dev-ingest", "source_code_hash": "b"}),
        change(["update"], {"bucket": "x"}, {"bucket": "y"}, "aws_s3_bucket"),
    ]}
    assert build_changed.changed_functions(plan) == ["dev-dbt-runner"]
    # Memory or environment only: the code is the same, so is the state comparison.
    same = {"resource_changes": [change(["update"], runner, {**runner, "memory_size": 4096})]}
    assert build_changed.changed_functions(same) == []
    assert build_changed.changed_functions({"resource_changes": [change(["no-op"], runner, runner)]}) == []
    assert build_changed.changed_functions({"resource_changes": [change(["create"], None, runner)]}) == ["dev-dbt-runner"]
    assert build_changed.changed_functions({"resource_changes": [change(["delete"], runner, None)]}) == []
    assert build_changed.changed_functions({"resource_changes": [change(["delete", "create"], runner, runner)]}) == ["dev-dbt-runner"]
    assert build_changed.changed_functions({}) == []
