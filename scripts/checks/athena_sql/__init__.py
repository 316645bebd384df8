"""Athena's SQL proven on Athena's engine: the dbt project's Athena build, run on Trino.

`python -m scripts.checks.athena_sql` (make test-athena-sql): install Trino from Maven Central,
start one local coordinator, create the raw tables from the synthesized stack's Glue resources,
load the demo's raw zone, compile the project for the dev target, run every model the way
dbt-athena wraps it, every data test and analysis, and compare staging and marts with the DuckDB
build of the same data. What Trino cannot show about Athena: gaps.py.
"""
