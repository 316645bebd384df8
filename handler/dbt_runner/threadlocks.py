"""Thread-backed stand-ins for multiprocessing's locks, installed before dbt is imported.

multiprocessing's Lock/RLock/Semaphore are POSIX semaphores (`_multiprocessing.SemLock`)
living in /dev/shm. AWS Lambda has no /dev/shm, so creating one fails with
"OSError: [Errno 38] Function not implemented". dbt only runs threads (never child
processes) yet creates such locks for its manifest, its connection managers and the
ThreadPool's internal queue; threading primitives give the same guarantees there.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import threading

_INSTALLED = False


def _lock(self):
    return threading.Lock()


def _rlock(self):
    return threading.RLock()


def _condition(self, lock=None):
    return threading.Condition(lock)


def _semaphore(self, value=1):
    return threading.Semaphore(value)


def _bounded_semaphore(self, value=1):
    return threading.BoundedSemaphore(value)


def _event(self):
    return threading.Event()


def _barrier(self, parties, action=None, timeout=None):
    return threading.Barrier(parties, action, timeout)


_REPLACEMENTS = {
    "Lock": _lock,
    "RLock": _rlock,
    "Condition": _condition,
    "Semaphore": _semaphore,
    "BoundedSemaphore": _bounded_semaphore,
    "Event": _event,
    "Barrier": _barrier,
}


def install() -> None:
    """Make every multiprocessing context (and the module-level shortcuts) hand out thread locks.

    Patching BaseContext covers the spawn context dbt asks for, the default context the
    ThreadPool uses for its SimpleQueue, and every queue built on those contexts.
    """
    global _INSTALLED
    if _INSTALLED:
        return
    for name, replacement in _REPLACEMENTS.items():
        setattr(multiprocessing.context.BaseContext, name, replacement)
        # `multiprocessing.Lock` etc. are bound methods captured at import time.
        setattr(multiprocessing, name, getattr(multiprocessing.context._default_context, name))
    _INSTALLED = True
