"""Lambda has no /dev/shm: with _multiprocessing.SemLock unusable, a real build must still work."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from scripts.testing.runner_env import env_of, write_numbers

# Makes every POSIX semaphore fail as it does in Lambda, before anything imports multiprocessing.
BREAK_SEMLOCK = textwrap.dedent(
    """
    import _multiprocessing

    class NoSharedMemorySemLock(_multiprocessing.SemLock):
        def __new__(cls, *args, **kwargs):
            raise OSError(38, "Function not implemented")

    _multiprocessing.SemLock = NoSharedMemorySemLock

    import multiprocessing
    try:
        multiprocessing.get_context("spawn").Lock()
    except OSError:
        pass
    else:
        raise SystemExit("SemLock is still usable; the test would prove nothing")
    """
)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BREAK_SEMLOCK + textwrap.dedent(code)],
        capture_output=True, text=True, timeout=300, env=env_of(**env),
    )


def test_dbt_alone_needs_semlock():
    """The control: without the handler's thread locks, dbt cannot even build a manifest here."""
    result = run_python(
        """
        from dbt.contracts.graph.manifest import Manifest
        try:
            Manifest()
        except OSError as error:
            print("errno", error.errno)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "errno 38"


def test_real_build_through_the_handler_without_semlock(copy_fixture, tmp_path):
    data = tmp_path / "data"
    write_numbers(data, [1, 2, 3])
    result = run_python(
        """
        import json
        from dbt_runner import handler
        summary = handler.handler({"command": ["build"], "cli_args": ["--threads", "2"]}, None)
        print("SUMMARY " + json.dumps(summary))
        """,
        DBT_PROJECT_DIR=str(copy_fixture("tiny")),
        DBT_TARGET="local",
        LOCAL_DATA_DIR=str(data),
        DBT_LOG_LEVEL="warn",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("SUMMARY ")).split(" ", 1)[1])
    assert summary["status"] == "success"
    assert summary["counts"] == {"success": 1, "pass": 2}
