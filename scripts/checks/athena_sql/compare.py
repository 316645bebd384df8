"""A model on Trino against the same model in DuckDB's build: type family per column, then values."""

from __future__ import annotations

import datetime
import decimal
import math
import re
from collections import Counter
from pathlib import Path

FAMILIES = [
    ("integer", re.compile(r"^(tinyint|smallint|integer|int|bigint|hugeint|u?(tiny|small|big|huge)?int(eger)?|int\d+)$")),
    ("decimal", re.compile(r"^(decimal|numeric)(\(.*\))?$")),
    ("float", re.compile(r"^(double|real|float|float\d*|double precision)$")),
    ("string", re.compile(r"^(varchar|char|string|text)(\(.*\))?$")),
    ("timestamp", re.compile(r"^timestamp.*$")),
    ("date", re.compile(r"^date$")),
    ("boolean", re.compile(r"^(boolean|bool)$")),
]


def family(type_name: str) -> str:
    name = type_name.strip().lower()
    for label, pattern in FAMILIES:
        if pattern.match(name):
            return label
    return f"other:{name}"


def against_duckdb(duckdb_path: Path, relation: str, trino_columns: list[tuple[str, str]],
                   trino_rows: list[tuple]) -> list[tuple[str | None, str]]:
    """[(column or None, what differs)]; empty when equal."""
    import duckdb

    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        try:
            described = con.execute(f'describe select * from main."{relation}"').fetchall()
        except duckdb.Error as error:
            return [(None, f"not in the DuckDB build: {str(error).splitlines()[0]}")]
        duck_columns = [(row[0], row[1]) for row in described]
        duck_rows = con.execute(f'select * from main."{relation}"').fetchall()

    differences: list[tuple[str | None, str]] = []
    trino_names = [name.lower() for name, _ in trino_columns]
    duck_names = [name.lower() for name, _ in duck_columns]
    if trino_names != duck_names:
        return [(None, f"columns differ: Trino {trino_names}, DuckDB {duck_names}")]
    for (name, trino_type), (_, duck_type) in zip(trino_columns, duck_columns):
        if family(trino_type) != family(duck_type):
            differences.append((name, f"type family: Trino {trino_type} ({family(trino_type)}), "
                                      f"DuckDB {duck_type} ({family(duck_type)})"))
    if len(trino_rows) != len(duck_rows):
        differences.append((None, f"row count: Trino {len(trino_rows)}, DuckDB {len(duck_rows)}"))
        return differences
    if Counter(map(_row, trino_rows)) != Counter(map(_row, duck_rows)):
        for index, (name, _) in enumerate(trino_columns):
            left = Counter(_value(row[index]) for row in trino_rows)
            right = Counter(_value(row[index]) for row in duck_rows)
            if left != right:
                sample = next(iter((left - right) or (right - left)))
                differences.append((name, f"values differ (e.g. {sample!r} on one engine only)"))
        if not any(column for column, _ in differences):
            differences.append((None, "rows differ (each column's values agree, their combinations do not)"))
    return differences


def _row(row: tuple) -> tuple:
    return tuple(_value(value) for value in row)


def _value(value):
    """One comparable form per value: exact for integers, decimals, strings, dates, timestamps."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return ("float", float(f"{value:.12g}")) if math.isfinite(value) else ("float", repr(value))
    if isinstance(value, decimal.Decimal):
        return ("number", value.normalize())
    if isinstance(value, int):
        return ("number", decimal.Decimal(value))
    if isinstance(value, datetime.datetime):
        return ("timestamp", value.replace(tzinfo=None).isoformat())
    return (type(value).__name__, value)
