"""The dbt_runner Lambda: validate an event, run dbt on the packaged (or given) project, report.

Entry `dbt_runner.handler.handler`. The same code runs on DuckDB locally (target `local`).
"""
