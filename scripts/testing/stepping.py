"""Drive stepped builds the way the dbt-build state machine does, in one process (a warm container):
call the handler with `build_step` until it answers `done`, passing each answer's `run` on."""

from __future__ import annotations

import time
from typing import Any, Callable


def run_steps(handler: Callable[..., dict], event: dict, execution: str, context: Any = None,
              max_steps: int = 500) -> list[dict[str, Any]]:
    """Every step's answer, in order; the last one is done."""
    answers: list[dict[str, Any]] = []
    state = None
    for _ in range(max_steps):
        answer = handler({"build_step": {"event": event, "run": state, "execution": execution}}, context)
        answers.append(answer)
        assert answer["event"] == event, "a step must hand the trigger event back unchanged"
        if answer["done"]:
            return answers
        state = answer["run"]
    raise AssertionError(f"no end after {max_steps} steps")


def timed_steps(handler: Callable[..., dict], event: dict, execution: str, context: Any = None):
    """(wall seconds, answers) of a whole stepped build."""
    started = time.perf_counter()
    answers = run_steps(handler, event, execution, context)
    return time.perf_counter() - started, answers
