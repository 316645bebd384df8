"""The PR workflow's report: what the runner built, its tests and failures; a failed node fails the check."""

from __future__ import annotations

import json

from scripts.operations import pr_ci
from scripts.operations.ship_project import ShipError

SUMMARY = {"status": "error", "elapsed_seconds": 3.2, "artifacts": "s3://dev-artifacts/ci/pr_7/runs/2026-12-06/abc/",
           "ci": {"pr": 7, "database": "lake_dev_pr_7", "prefix": "ci/pr_7/"},
           "state": {"used": True, "source": "s3://dev-artifacts/latest/manifest.json"},
           "nodes": [{"unique_id": "model.dbt_lambda.dim_customers", "status": "success"},
                     {"unique_id": "test.dbt_lambda.unique_dim_customers_id.1", "status": "fail", "message": "Got 2 results"}]}


def test_a_failed_node_fails_the_check_and_the_summary_lists_it():
    def runner(function_name, payload):
        assert payload == {"ci": {"pr": 7, "bundle": "b" * 64}, "command": ["build"]}
        raise ShipError(f"{function_name} refused the bundle: dbt build failed: {json.dumps(SUMMARY)}")

    ok, summary = pr_ci.build("dev-dbt-runner", 7, "b" * 64, invoke_runner=runner)
    assert ok is False and summary["ci"]["database"] == "lake_dev_pr_7"
    report = pr_ci.markdown(summary)
    assert "dbt CI: failed" in report and "into lake_dev_pr_7" in report
    assert "model dim_customers" in report and "test.dbt_lambda.unique_dim_customers_id.1" in report
    assert "run folder: s3://dev-artifacts/ci/pr_7/runs/2026-12-06/abc/" in report


def test_a_success_reports_success():
    ok, summary = pr_ci.build("dev-dbt-runner", 7, None, invoke_runner=lambda f, p: {**SUMMARY, "status": "success", "nodes": []})
    assert ok and "dbt CI: success" in pr_ci.markdown(summary) and "built: nothing" in pr_ci.markdown(summary)
