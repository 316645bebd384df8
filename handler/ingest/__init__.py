"""The <env>-ingest Lambda: a SQLite database's tables into the raw zone, then one ingest manifest.

Entry `ingest.handler.handler`; command line `python -m ingest`. Standard library only (plus the
runtime's boto3 in AWS): the function ships without the dbt layer.
"""
