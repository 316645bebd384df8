"""Helpers shared by the test suites, the rehearsal and bench: Chinook fixtures, the dbt CLI, moto_server, raw rows."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import duckdb

import ingest.handler
from scripts.demo import sample_data as _sample_data

REPO = Path(__file__).resolve().parents[2]
DBT_DIR = REPO / "dbt"
BIN = Path(sys.executable).parent
# The public Chinook database's tables, as the generator and sources.yml name them.
TABLES = ["Album", "Artist", "Customer", "Employee", "Genre", "Invoice", "InvoiceLine", "MediaType",
          "Playlist", "PlaylistTrack", "Track"]
FIXTURE_DB_SQL = REPO / "handler" / "tests" / "fixtures" / "chinook_public"


def folder(table: str) -> str:
    """The raw-zone folder of a table: its name in lower case."""
    return table.lower()


def snake(name: str) -> str:
    """PascalCase -> snake_case, as staging names things (InvoiceLine -> invoice_line)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def fixture_database(path: Path) -> Path:
    """The hand-written public-DDL fixture (fixtures/chinook_public/*.sql) as a SQLite file."""
    import sqlite3

    path.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript((FIXTURE_DB_SQL / "schema.sql").read_text(encoding="utf-8"))
        db.executescript((FIXTURE_DB_SQL / "rows.sql").read_text(encoding="utf-8"))
        db.commit()
    return path


def sample_data() -> ModuleType:
    """The demo's generator of Chinook data at any scale (scripts/demo/sample_data.py)."""
    return _sample_data


def ingest_module() -> ModuleType:
    """The ingest function's module (handler/ingest/handler.py)."""
    return ingest.handler


# The public Chinook fixture's albums as album_track_counts must list them.
EXPECTED_ALBUMS = [
    (1, "For Those About To Rock We Salute You", "AC/DC", 2),
    (2, "Let There Be Rock", "AC/DC", 1),
    (3, "Chill: Brasil (Disc 2)", "Antônio Carlos Jobim", 4),
    (4, "Ace Of Spades", "Motörhead", 0),
]


def manifest_event(manifest_path: Path, data_dir: Path) -> dict:
    """The EventBridge Object Created event of a local ingest manifest."""
    key = manifest_path.relative_to(data_dir).as_posix()
    return {"version": "0", "detail-type": "Object Created", "source": "aws.s3", "region": "ap-southeast-2",
            "detail": {"bucket": {"name": "local"}, "object": {"key": key}}}


def mart(data_dir: Path, name: str, order_by: str) -> list[tuple]:
    """A local mart's rows, read from its Parquet file."""
    with duckdb.connect() as db:
        return db.execute(f"select * from read_parquet(?) order by {order_by}",
                          [str(data_dir / "processed" / f"{name}.parquet")]).fetchall()


def run_dbt(args: list[str], work: Path, env: dict[str, str] | None = None, timeout: int = 600):
    """Run the dbt CLI on the project with target and logs under `work`, never in the repo."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    full_env.update({"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_USE_COLORS": "false"})
    full_env.update(env or {})
    command = [
        str(BIN / "dbt"), *args,
        "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
        "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
    ]
    return subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=timeout, cwd=work)


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def raw_rows(local_data_dir: Path, table: str) -> list[dict]:
    """All rows of a raw table, across its ingest_date partitions."""
    rows: list[dict] = []
    for part in sorted((local_data_dir / "raw" / folder(table)).glob("ingest_date=*/*.jsonl")):
        rows.extend(read_jsonl(part))
    return rows


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A real moto_server on 127.0.0.1 at a free port; yields its URL and always stops it."""
    port = _free_port()
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on {url}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def aws_env(endpoint: str, **extra: str) -> Iterator[None]:
    """Point boto3 at moto with dummy credentials; restore the environment afterwards."""
    values = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "ap-southeast-2",
        "AWS_REGION": "ap-southeast-2",
        **extra,
    }
    saved = {key: os.environ.get(key) for key in [*values, "AWS_PROFILE"]}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
