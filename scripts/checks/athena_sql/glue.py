"""The raw tables exactly as the stack declares them: its synthesized Glue table resources.

Nothing here restates the schema: columns, types, SerDe and its parameters, table parameters
(partition projection included) and the partition keys all come from
cdktf.out/stacks/<stack>/cdk.tf.json. Each resource becomes the Hive file metastore's entry for
that table, the way Glue holds it. Terraform references are resolved to the stack's literal names
(bucket names get a fixed stand-in for their random suffix); s3:// locations become local:/// ones.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.checks.athena_sql.install import TRINO_VERSION

RANDOM_HEX = "0000c0ffee"   # stands in for random_id.hex in bucket names
_REF = re.compile(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}")


@dataclass
class GlueTable:
    database: str
    name: str
    columns: list[dict[str, str]]
    partition_keys: list[dict[str, str]]
    parameters: dict[str, str]
    location: str
    serde: str
    serde_parameters: dict[str, str]
    input_format: str
    output_format: str
    table_type: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stack:
    tables: list[GlueTable]
    database: str
    buckets: dict[str, str]      # role (raw, processed, athena-results, ...) -> bucket name


def synth_json(repo: Path, stack: str = "dev", log=print) -> Path:
    path = repo / "cdktf.out" / "stacks" / stack / "cdk.tf.json"
    if not path.exists():
        log(f"athena-sql: {path.relative_to(repo)} missing, running make synth")
        subprocess.run(["make", "synth"], cwd=repo, check=True)
    return path


def load_stack(path: Path) -> Stack:
    document = json.loads(path.read_text())
    resources = document.get("resource", {})

    def resolve(value: Any) -> Any:
        if isinstance(value, str):
            return _REF.sub(lambda m: _lookup(resources, m.group(1), m.group(2), m.group(3), resolve), value).replace("$${", "${")
        if isinstance(value, list):
            return [resolve(item) for item in value]
        if isinstance(value, dict):
            return {key: resolve(item) for key, item in value.items() if key != "//"}
        return value

    tables = []
    for resource in resources.get("aws_glue_catalog_table", {}).values():
        r = resolve(resource)
        sd = r["storage_descriptor"]
        serde = sd.get("ser_de_info", {})
        tables.append(GlueTable(
            database=r["database_name"], name=r["name"],
            columns=sd.get("columns", []), partition_keys=r.get("partition_keys", []),
            parameters=r.get("parameters", {}), location=sd["location"],
            serde=serde.get("serialization_library", ""), serde_parameters=serde.get("parameters", {}),
            input_format=sd.get("input_format", ""), output_format=sd.get("output_format", ""),
            table_type=r.get("table_type", "EXTERNAL_TABLE"),
        ))
    databases = [resolve(db)["name"] for db in resources.get("aws_glue_catalog_database", {}).values()]
    if len(databases) != 1:
        raise ValueError(f"{path}: expected one aws_glue_catalog_database, found {len(databases)}")
    buckets = {}
    for key, bucket in resources.get("aws_s3_bucket", {}).items():
        name = resolve(bucket.get("bucket", ""))
        role = bucket.get("//", {}).get("metadata", {}).get("path", key).split("/")[-2]
        buckets[role] = name
    if not tables:
        raise ValueError(f"{path}: no aws_glue_catalog_table resources")
    return Stack(tables=sorted(tables, key=lambda t: t.name), database=databases[0], buckets=buckets)


def _lookup(resources, kind: str, key: str, attribute: str, resolve) -> str:
    if kind == "random_id" and attribute == "hex":
        return RANDOM_HEX
    resource = resources.get(kind, {}).get(key)
    if resource is None or attribute not in resource:
        raise ValueError(f"unresolvable reference ${{{kind}.{key}.{attribute}}}")
    return resolve(resource[attribute])


def local_uri(s3_uri: str) -> str:
    """s3://bucket/key -> local:///bucket/key: each bucket is a folder under Trino's local root (gaps.py)."""
    if not s3_uri.startswith("s3://"):
        raise ValueError(f"not an s3:// location: {s3_uri}")
    return "local:///" + s3_uri[len("s3://"):]


def metastore_entry(table: GlueTable) -> dict[str, Any]:
    """The Hive file metastore's .trinoSchema for the table: Glue's fields one for one."""
    def column(c: dict[str, str]) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": c["name"], "type": c["type"], "properties": {}}
        if c.get("comment"):
            entry["comment"] = c["comment"]
        return entry

    parameters = {key: (_localise(value) if "s3://" in value else value) for key, value in table.parameters.items()}
    return {
        # The file metastore reads only entries stamped with its own version.
        "writerVersion": TRINO_VERSION,
        "owner": "glue",
        "tableType": table.table_type,
        "dataColumns": [column(c) for c in table.columns],
        "partitionColumns": [column(c) for c in table.partition_keys],
        "parameters": parameters,
        "originalStorageFormat": {
            "serde": table.serde, "inputFormat": table.input_format, "outputFormat": table.output_format,
        },
        "serdeParameters": dict(table.serde_parameters),
        "externalLocation": local_uri(table.location),
        "columnStatistics": {},
    }


def _localise(value: str) -> str:
    return re.sub(r"s3://", "local:///", value)


def write_metastore(metastore: Path, tables: list[GlueTable]) -> None:
    for table in tables:
        folder = metastore / table.database / table.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ".trinoSchema").write_text(json.dumps(metastore_entry(table), indent=2))
