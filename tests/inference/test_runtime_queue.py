"""The per-model queue of the llama.cpp runtime: waiting past serve.request_timeout, stream deadlines.

The queue and deadline logic are ours and independent of the model, so these tests drive a
runtime whose generation functions are plain Python callables (the model itself is exercised by
the slow tests in test_llm.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from llmforge.errors import BusyError
from llmforge.inference.runtime import LlamaRuntime


def runtime(timeout: float) -> LlamaRuntime:
    rt = object.__new__(LlamaRuntime)
    rt.name = "test"
    rt.timeout = timeout
    rt.waiting = 0
    rt._thread = ThreadPoolExecutor(max_workers=1)
    return rt


@contextmanager
def occupied(rt: LlamaRuntime) -> Iterator[None]:
    """The model's thread held by a first request until the block ends."""
    release = threading.Event()
    first = threading.Thread(target=rt._call, args=(lambda: release.wait(10),))
    first.start()
    time.sleep(0.05)
    try:
        yield
    finally:
        release.set()
        first.join(5)


def test_a_request_that_cannot_start_in_time_is_refused_and_never_runs() -> None:
    rt = runtime(0.3)
    ran: list[str] = []
    with occupied(rt):
        started = time.monotonic()
        with pytest.raises(BusyError, match="busy: the request waited 0.3 s"):
            rt._call(lambda: ran.append("late"))
        assert 0.25 < time.monotonic() - started < 2
    assert rt._call(lambda: "next") == "next"   # the queue goes on serving
    time.sleep(0.05)
    assert ran == [] and rt.waiting == 0


def test_a_stream_that_cannot_start_in_time_is_refused_and_never_runs() -> None:
    rt = runtime(0.2)
    ran: list[str] = []

    def stream(stream: bool):  # noqa: ANN202
        ran.append("late")
        yield {"text": "x"}

    with occupied(rt), pytest.raises(BusyError, match="busy"):
        next(rt._stream(stream))
    time.sleep(0.05)
    assert ran == [] and rt.waiting == 0


def test_a_started_generation_finishes_even_past_the_timeout() -> None:
    rt = runtime(0.1)
    assert rt._call(lambda: time.sleep(0.3) or "done") == "done"


def test_a_stream_stops_at_the_deadline() -> None:
    rt = runtime(0.3)

    def slow_stream(stream: bool):  # noqa: ANN202
        for i in range(100):
            time.sleep(0.05)
            yield {"n": i}

    chunks = list(rt._stream(slow_stream))
    assert 3 <= len(chunks) < 20
    assert rt.waiting == 0


def test_no_timeout_means_no_limit() -> None:
    rt = runtime(0.0)

    def stream(stream: bool):  # noqa: ANN202
        yield from ({"n": i} for i in range(5))

    assert len(list(rt._stream(stream))) == 5
