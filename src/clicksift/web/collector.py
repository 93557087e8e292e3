"""Python's cycle collector, paused while a batch of events is read, judged and stored.

A body of 1,000 events becomes tens of thousands of dicts, lists and events that all live
until the batch is stored. The collector would walk them dozens of times per batch and
move them to its older generations, where a full pass walks them again, and in the end
reference counting frees them anyway: none of them form cycles. So a batch runs with the
collector paused, and it runs again as soon as no batch is in progress in the process.
Through ``POST /api/v1/events`` that is about a tenth less CPU per event
(docs/benchmarks.md). Cycles made meanwhile elsewhere in the process (an exception's
traceback, say) are collected when the collector resumes.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class CollectorPause:
    """Counts the batches in progress: the first pauses the collector, the last resumes it
    (unless it was already off when the first began)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batches = 0
        self._resume = False

    @contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            if self._batches == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._batches += 1
        try:
            yield
        finally:
            with self._lock:
                self._batches -= 1
                if self._batches == 0 and self._resume:
                    gc.enable()


#: The process's one pause (the collector is per process).
BATCHES = CollectorPause()


def batch_work(func: Callable[P, T]) -> Callable[P, T]:
    """FUNC, run with the collector paused (for the thread pool: ``run_in_threadpool(
    batch_work(parse), body)``)."""
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with BATCHES.paused():
            return func(*args, **kwargs)
    return run
