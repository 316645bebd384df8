"""One single-node Trino coordinator on 127.0.0.1, with the Hive connector on a local file metastore.

Always stopped: the context manager's finally and an atexit hook both end the process group it
started (and only that one).
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from scripts.checks.athena_sql.install import Installation

CATALOG = "awsdatacatalog"  # dbt-athena's `database`: the compiled SQL names it, so the catalog has its name
START_TIMEOUT = 120


class ServerError(RuntimeError):
    pass


def catalog_properties(root: Path) -> dict[str, str]:
    """The Hive catalog, as close to Athena on Glue as Trino gets (differences: gaps.py)."""
    return {
        "connector.name": "hive",
        "hive.metastore": "file",
        "hive.metastore.catalog.dir": "local:///metastore",
        "fs.native-local.enabled": "true",
        "local.location": str(root),
        "hive.partition-projection-enabled": "true",
        "hive.ignore-absent-partitions": "true",
        "hive.non-managed-table-writes-enabled": "true",
        "hive.non-managed-table-creates-enabled": "true",
        "hive.timestamp-precision": "MILLISECONDS",
    }


class TrinoServer:
    def __init__(self, installation: Installation, root: Path, log=print):
        self.installation = installation
        self.root = Path(root)  # local:/// is this folder: buckets are its subfolders
        self.log = log
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.startup_seconds = 0.0

    def __enter__(self) -> "TrinoServer":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        etc = self.root / "_trino" / "etc"
        data = self.root / "_trino" / "data"
        (etc / "catalog").mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        (self.root / "metastore").mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        _write(etc / "node.properties", {
            "node.environment": "athena_sql_check",
            "node.id": str(uuid.uuid4()),
            "node.data-dir": str(data),
            "node.bind-ip": "127.0.0.1",
            "node.internal-address": "127.0.0.1",
        })
        _write(etc / "config.properties", {
            "coordinator": "true",
            "node-scheduler.include-coordinator": "true",
            "http-server.http.port": str(self.port),
            "discovery.uri": f"http://127.0.0.1:{self.port}",
            "query.max-memory": "2GB",
            "query.max-memory-per-node": "2GB",
            "task.concurrency": "2",
        })
        (etc / "jvm.config").write_text("\n".join([
            "-server", "-Xmx3G", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
            "-Djdk.attach.allowAttachSelf=true", "-XX:TieredStopAtLevel=1",
        ]) + "\n")
        (etc / "log.properties").write_text("io.trino=WARN\n")
        _write(etc / "catalog" / f"{CATALOG}.properties", catalog_properties(self.root))
        env = dict(os.environ, JAVA_HOME=str(self.installation.java_home),
                   PATH=f"{self.installation.java_home / 'bin'}:{os.environ.get('PATH', '')}")
        self.log_path = self.root / "_trino" / "server.log"
        started = time.monotonic()
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(
                [str(self.installation.home / "bin" / "launcher"), "run",
                 f"--etc-dir={etc}", f"--data-dir={data}"],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        atexit.register(self.stop)
        self._wait_ready(started)
        self.startup_seconds = time.monotonic() - started

    def _wait_ready(self, started: float) -> None:
        import urllib.request
        import json

        while time.monotonic() - started < START_TIMEOUT:
            if self.process.poll() is not None:
                raise ServerError(f"Trino exited with {self.process.returncode}; last lines of {self.log_path}:\n"
                                  + self._tail())
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/info", timeout=2) as response:
                    if not json.load(response).get("starting", True):
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise ServerError(f"Trino not ready after {START_TIMEOUT} s; last lines of {self.log_path}:\n" + self._tail())

    def _tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # The launcher execs java in the session it leads: end that process group only.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass

    def connect(self, session_properties: dict[str, str] | None = None):
        import trino

        return trino.dbapi.connect(host="127.0.0.1", port=self.port, user="athena-sql-check",
                                   catalog=CATALOG, http_scheme="http",
                                   session_properties=session_properties or {})


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write(path: Path, properties: dict[str, str]) -> None:
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
