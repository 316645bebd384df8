"""The check itself: raw tables from Glue resources, the raw zone, the dev-target compile, every model,
test and analysis on Trino, and the comparison with DuckDB's build of the same raw data."""

from __future__ import annotations

import csv
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbt_runner import partitions, project
from scripts.checks.athena_sql import compare, compile as dbt_compile, glue, raw_zone
from scripts.checks.athena_sql.server import CATALOG, TrinoServer


@dataclass
class Failure:
    node: str       # the model, test, analysis or raw table it is about
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.node}.{self.column}" if self.column else self.node
        return f"{where}: {self.message}"


@dataclass
class Report:
    models: int = 0
    models_ran: int = 0
    tests: int = 0
    tests_passed: int = 0
    analyses_ran: int = 0
    compared: int = 0
    equal: int = 0
    marts: int = 0
    marts_equal: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        return (f"athena-sql: {'OK' if self.ok else 'FAILED'}: models {self.models_ran}/{self.models} ran on Trino, "
                f"tests {self.tests_passed}/{self.tests} passed, analyses {self.analyses_ran} ran, "
                f"staging+marts equal to DuckDB {self.equal}/{self.compared} (marts {self.marts_equal}/{self.marts})"
                + (f", {len(self.failures)} failure(s)" if self.failures else ""))


class Session:
    """One Trino and one raw zone, for one or more checks of a project (the tests share them)."""

    def __init__(self, repo: Path, server: TrinoServer, stack: glue.Stack):
        self.repo = repo
        self.server = server
        self.stack = stack
        self.root = server.root
        self.data_dir = self.root / stack.buckets["raw"]  # the demo's data folder is the raw bucket

    def prepare_raw_zone(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        raw_zone.run_demo(self.repo, self.data_dir)

    def execute(self, sql: str, session_properties: dict[str, str] | None = None) -> tuple[list[tuple], list[tuple[str, str]]]:
        cursor = self.server.connect(session_properties).cursor()
        try:
            cursor.execute(sql)
            rows = cursor.fetchall()
            columns = [(d[0], str(d[1])) for d in cursor.description or []]
            return rows, columns
        finally:
            cursor.close()


def run(session: Session, project_dir: Path, work: Path) -> Report:
    report = Report()
    work.mkdir(parents=True, exist_ok=True)
    stack = session.stack
    clock = time.monotonic()

    # 1. A clean catalog and processed bucket; the raw tables from the stack's Glue resources.
    database = stack.database
    shutil.rmtree(session.root / "metastore" / database, ignore_errors=True)
    shutil.rmtree(session.root / stack.buckets["processed"], ignore_errors=True)
    data_root = session.root / stack.buckets["processed"] / "dbt" / database
    data_root.mkdir(parents=True)  # the schema's folder must exist locally (gaps.py)
    session.execute(f"create schema {CATALOG}.{database} with (location = '{glue.local_uri(f's3://{stack.buckets['processed']}/dbt/{database}')}')")
    glue.write_metastore(session.root / "metastore", stack.tables)

    # 2. The raw zone, table by table and partition by partition.
    for table in stack.tables:
        folder = table.location.rstrip("/").rsplit("/", 1)[1]
        expected = raw_zone.partition_counts(session.data_dir, folder)
        try:
            rows, _ = session.execute(f'select ingest_date, count(*) from {CATALOG}.{database}."{table.name}" group by 1')
        except Exception as error:  # noqa: BLE001 - reported against the table
            report.failures.append(Failure(f"raw.{table.name}", None, f"unreadable on Trino: {_short(error)}"))
            continue
        actual = {day: count for day, count in rows}
        if actual != expected:
            report.failures.append(Failure(f"raw.{table.name}", None,
                                           f"rows per ingest_date on Trino {actual} != files {expected}"))
    report.seconds["raw"] = time.monotonic() - clock

    # 3. The Athena build's SQL.
    clock = time.monotonic()
    env = dbt_compile.environment(database, stack.buckets)
    # The runner's own choice of partition per table and its own reading of the sources.
    dates = partitions.newest_local(session.data_dir, project.raw_tables(project_dir))
    manifest = dbt_compile.compile_project(project_dir, work, env, dates)
    report.seconds["compile"] = time.monotonic() - clock

    # 4. Seeds, models (DAG order), tests, analyses, as dbt-athena runs them.
    clock = time.monotonic()
    nodes = manifest["nodes"]
    broken: set[str] = set()
    for unique_id in _dag_order(nodes):
        node = nodes[unique_id]
        kind = node["resource_type"]
        if kind not in ("seed", "model"):
            continue
        if kind == "model":
            report.models += 1
        upstream = [dep for dep in node["depends_on"].get("nodes", []) if dep in broken]
        if upstream:
            broken.add(unique_id)
            report.failures.append(Failure(node["name"], None, f"not run: upstream {', '.join(_name(u) for u in upstream)} failed"))
            continue
        try:
            if kind == "seed":
                for sql in seed_sql(node, project_dir, stack, session.root):
                    session.execute(sql, write_session(node))
            else:
                failure = contract_failure(session, node)
                if failure:
                    report.failures.append(failure)
                    broken.add(unique_id)
                    continue
                session.execute(model_sql(node, stack), write_session(node))
                report.models_ran += 1
                if node["config"]["materialized"] == "table":
                    report.failures += storage_failures(node, stack, session.root)
        except Exception as error:  # noqa: BLE001 - reported against the model
            broken.add(unique_id)
            report.failures.append(Failure(node["name"], None, f"fails on Trino: {_short(error)}"))
    report.seconds["models"] = time.monotonic() - clock

    clock = time.monotonic()
    for unique_id, node in sorted(nodes.items()):
        if node["resource_type"] != "test":
            continue
        report.tests += 1
        upstream = [dep for dep in node["depends_on"].get("nodes", []) if dep in broken]
        if upstream:
            report.failures.append(Failure(node["name"], None, f"not run: upstream {', '.join(_name(u) for u in upstream)} failed"))
            continue
        try:
            rows, _ = session.execute(test_sql(node))
        except Exception as error:  # noqa: BLE001
            report.failures.append(Failure(node["name"], None, f"test fails on Trino: {_short(error)}"))
            continue
        failures = rows[0][0]
        if rows[0][2]:
            report.failures.append(Failure(node["name"], None, f"test finds {failures} failing row(s) on Trino"))
        else:
            report.tests_passed += 1
    for unique_id, node in sorted(nodes.items()):
        if node["resource_type"] == "analysis":
            try:
                session.execute(node["compiled_code"])
                report.analyses_ran += 1
            except Exception as error:  # noqa: BLE001
                report.failures.append(Failure(node["name"], None, f"analysis fails on Trino: {_short(error)}"))
    report.seconds["tests"] = time.monotonic() - clock

    # 5. Staging views and marts against DuckDB's build of the same raw zone.
    clock = time.monotonic()
    duckdb_path = session.data_dir / "dbt.duckdb"
    for unique_id in _dag_order(nodes):
        node = nodes[unique_id]
        if node["resource_type"] != "model" or unique_id in broken:
            continue
        layer = node["fqn"][1] if len(node["fqn"]) > 2 else ""
        if layer not in ("staging", "marts"):
            continue
        report.compared += 1
        report.marts += layer == "marts"
        rows, columns = session.execute(f"select * from {node['relation_name']}")
        differences = compare.against_duckdb(duckdb_path, node["alias"], columns, rows)
        if differences:
            report.failures += [Failure(node["name"], column, message) for column, message in differences]
        else:
            report.equal += 1
            report.marts_equal += layer == "marts"
    report.seconds["compare"] = time.monotonic() - clock
    return report


# --- dbt-athena's wrapping (materializations/models/{view,table}, seeds/helpers, get_test_sql) ---

def model_sql(node: dict, stack: glue.Stack) -> str:
    config = node["config"]
    materialized = config["materialized"]
    relation = node["relation_name"]
    if materialized == "view":
        return f"create or replace view\n    {relation}\n  as\n    {node['compiled_code']}"
    if materialized != "table":
        raise ValueError(f"materialization {materialized!r} is not mirrored by the check")
    properties = [f"external_location='{glue.local_uri(table_location(node, stack))}'"]
    if config.get("partitioned_by"):
        properties.append("partitioned_by=ARRAY[" + ", ".join(f"'{c}'" for c in config["partitioned_by"]) + "]")
    # table_type and is_external are Athena-only properties; write_compression is a session
    # property on Trino (write_session; gaps.py).
    properties.append(f"format='{config.get('format') or 'parquet'}'")
    return f"create table {relation}\n    with (\n      " + ",\n      ".join(properties) + f"\n    )\n    as\n      {node['compiled_code']}"


def write_session(node: dict) -> dict[str, str]:
    """Trino's Hive connector takes dbt-athena's write_compression table property as a session property."""
    codec = node["config"].get("write_compression")
    return {f"{CATALOG}.compression_codec": codec.upper()} if codec else {}


def storage_failures(node: dict, stack: glue.Stack, root: Path) -> list[Failure]:
    """The table's files are where dbt-athena puts them, in its format and codec."""
    import duckdb

    folder = root / table_location(node, stack)[len("s3://"):]
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))]
    if not files:
        return [Failure(node["name"], None, f"no data files under {folder}")]
    codec = (node["config"].get("write_compression") or "").upper()
    if (node["config"].get("format") or "parquet").lower() != "parquet" or not codec:
        return []
    found = {row[0].upper() for row in duckdb.sql(
        "select distinct compression from parquet_metadata(" + repr([str(p) for p in files]) + ")").fetchall()}
    if found != {codec}:
        return [Failure(node["name"], None, f"Parquet compression {sorted(found)}, write_compression says {codec}")]
    return []


def table_location(node: dict, stack: glue.Stack) -> str:
    """adapter.generate_s3_location with s3_data_naming schema_table (profiles.yml)."""
    config = node["config"]
    if config.get("external_location"):
        return config["external_location"].rstrip("/")
    s3_data_dir = config.get("s3_data_dir") or f"s3://{stack.buckets['processed']}/dbt/"
    return f"{s3_data_dir.rstrip('/')}/{node['schema']}/{node['alias']}"


def seed_sql(node: dict, project_dir: Path, stack: glue.Stack, root: Path) -> list[str]:
    from dbt.adapters.athena import AthenaAdapter
    from dbt_common.clients import agate_helper

    path = project_dir / node["original_file_path"]
    table = agate_helper.from_csv(str(path), [])
    overrides = node["config"].get("column_types") or {}
    tmp_location = f"s3://{stack.buckets['processed']}/dbt/{node['schema']}/{node['alias']}__dbt_tmp"
    folder = root / tmp_location[len("s3://"):]
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{node['alias']}.csv").open("w", newline="") as out:
        writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(table.column_names)
        writer.writerows([["" if v is None else v for v in row] for row in table.rows])
    tmp = f'"{CATALOG}"."{node["schema"]}"."{node["alias"]}__dbt_tmp"'
    columns = []
    for index, name in enumerate(table.column_names):
        kind = overrides.get(name) or AthenaAdapter.convert_type(table, index)
        kind = "varchar" if kind == "string" else kind
        columns.append(f'cast(nullif("{name}", \'\') as {kind}) as "{name}"')
    create_tmp = (f"create table {tmp} (" + ", ".join(f'"{name}" varchar' for name in table.column_names) + ") "
                  f"with (format='CSV', skip_header_line_count=1, external_location='{glue.local_uri(tmp_location)}')")
    seed_node = dict(node, config=dict(node["config"], materialized="table"),
                     compiled_code=f"select {', '.join(columns)} from {tmp}")
    return [create_tmp, model_sql(seed_node, stack), f"drop table {tmp}"]


def test_sql(node: dict) -> str:
    config = node["config"]
    limit = config.get("limit")
    return (f"select\n      {config.get('fail_calc', 'count(*)')} as failures,\n"
            f"      {config.get('fail_calc', 'count(*)')} {config.get('warn_if', '!= 0')} as should_warn,\n"
            f"      {config.get('fail_calc', 'count(*)')} {config.get('error_if', '!= 0')} as should_error\n"
            f"    from (\n      {node['compiled_code']}\n      {'limit ' + str(limit) if limit is not None else ''}\n"
            f"    ) dbt_internal_test")


def contract_failure(session: Session, node: dict) -> Failure | None:
    """dbt's assert_columns_equivalent: the query's columns against the declared ones, both typed by the engine."""
    if not (node["config"].get("contract") or {}).get("enforced"):
        return None
    declared = [(c["name"], c.get("data_type")) for c in node["columns"].values()]
    missing = [name for name, data_type in declared if not data_type]
    if missing:
        return Failure(node["name"], missing[0], "contract enforced but no data_type declared")
    _, actual = session.execute(f"select * from (\n{node['compiled_code']}\n) as model_limit_subq limit 0")
    _, wanted = session.execute("select " + ", ".join(f'cast(null as {t}) as "{n}"' for n, t in declared) + " limit 0")
    actual_map, wanted_map = dict(actual), dict(wanted)
    for name in dict.fromkeys([n for n, _ in wanted] + [n for n, _ in actual]):
        if name not in actual_map:
            return Failure(node["name"], name, "contract: declared column missing from the query")
        if name not in wanted_map:
            return Failure(node["name"], name, "contract: query column not declared")
        if actual_map[name] != wanted_map[name]:
            return Failure(node["name"], name, f"contract: query returns {actual_map[name]}, declared {wanted_map[name]}")
    return None


def _dag_order(nodes: dict[str, Any]) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()

    def visit(unique_id: str) -> None:
        if unique_id in seen or unique_id not in nodes:
            return
        seen.add(unique_id)
        for dependency in sorted(nodes[unique_id]["depends_on"].get("nodes", [])):
            visit(dependency)
        order.append(unique_id)

    for unique_id in sorted(nodes):
        visit(unique_id)
    return order


def _name(unique_id: str) -> str:
    return unique_id.rsplit(".", 1)[-1]


def _short(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error)
    return " ".join(str(message).split())[:400]
