"""The cycle collector paused for batches (web/collector.py): off while any batch runs, on
again once none does, whatever way a batch ends."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from clicksift.errors import InputError
from clicksift.web.collector import CollectorPause, batch_work


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_a_batch_runs_with_the_collector_paused_and_resumes_it() -> None:
    pause = CollectorPause()
    with pause.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_resumes_after_a_batch_that_fails() -> None:
    @batch_work
    def failing(body: bytes) -> None:
        assert not gc.isenabled()
        raise InputError(f"the body is not a JSON array: {body!r}")

    with pytest.raises(InputError):
        failing(b"{")
    assert gc.isenabled()


def test_batch_work_passes_arguments_and_answers() -> None:
    seen = batch_work(lambda a, *, b: (a, b, gc.isenabled()))(1, b=2)
    assert seen == (1, 2, False)
    assert gc.isenabled()


def test_the_collector_stays_paused_until_the_last_of_overlapping_batches_ends() -> None:
    pause = CollectorPause()
    first_in, second_in, first_may_end, first_ended = (threading.Event() for _ in range(4))
    seen: dict[str, bool] = {}

    def first() -> None:
        with pause.paused():
            first_in.set()
            first_may_end.wait(5)
        first_ended.set()

    def second() -> None:
        first_in.wait(5)
        with pause.paused():
            second_in.set()
            first_ended.wait(5)
            seen["after the first ended"] = gc.isenabled()
        seen["after both ended"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    second_in.wait(5)
    first_may_end.set()
    for thread in threads:
        thread.join(5)
    assert seen == {"after the first ended": False, "after both ended": True}


def test_a_collector_turned_off_by_the_application_stays_off() -> None:
    gc.disable()
    with CollectorPause().paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
