"""The executors' one windowed in-order map, and their own error."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from linter.executors import ExecutorError, WorkerPool, each, open_runner, ordered_map
from linter.sources import SourceError


def test_every_item_comes_back_in_order_with_at_most_window_tasks_in_flight() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def square_all(chunk: list[int]) -> list[int]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01 * (len(chunk) % 3))  # later tasks may finish first
        with lock:
            running -= 1
        return [n * n for n in chunk]

    submitted: list[list[int]] = []
    with ThreadPoolExecutor(8) as pool:

        def submit(chunk: list[int]) -> Future[list[int]]:
            submitted.append(chunk)
            return pool.submit(square_all, chunk)

        pairs = list(ordered_map(submit, iter(range(23)), 3, batch=4))
    assert pairs == [(n, n * n) for n in range(23)]
    assert [len(c) for c in submitted] == [4, 4, 4, 4, 4, 3]
    assert most <= 3


def test_a_plain_executor_maps_one_item_a_task_with_each() -> None:
    pool = WorkerPool(2, "test")
    try:
        got = list(ordered_map(lambda chunk: pool.submit(each, str.upper, chunk), ["a", "b", "c"], 2))
    finally:
        pool.shutdown()
    assert got == [("a", "A"), ("b", "B"), ("c", "C")]


def test_past_the_deadline_nothing_more_starts_and_every_unfinished_item_is_late() -> None:
    release = threading.Event()
    started: list[str] = []
    pool = WorkerPool(2, "test")

    def slow(name: str) -> str:
        started.append(name)
        if name != "a":
            release.wait(10)
        return name.upper()

    try:
        deadline = time.monotonic() + 0.3
        pairs = ordered_map(
            lambda chunk: pool.submit(each, slow, chunk),
            ["a", "b", "c", "d", "e"],
            2,
            deadline=deadline,
            late=lambda name: f"late {name}",
        )
        got = [next(pairs)]  # "a" is done at once
        time.sleep(max(0.0, deadline - time.monotonic()) + 0.05)
        got += list(pairs)
    finally:
        release.set()
        pool.shutdown()
    assert got == [("a", "A"), ("b", "late b"), ("c", "late c"), ("d", "late d"), ("e", "late e")]
    assert sorted(started) == ["a", "b"]  # nothing submitted past the deadline


def test_an_executor_failure_is_not_a_source_error_and_says_the_executor_failed() -> None:
    """A dead worker pool is not the target's fault: the audit tells it apart from a target that
    cannot be audited (a SourceError)."""
    assert not issubclass(ExecutorError, SourceError)
    pytest.importorskip("distributed")
    from linter.conventions import load_convention
    from linter.plan import RunPlan

    plan = RunPlan(load_convention("aind-open-data"), {}, executor="dask", dask_scheduler="tcp://127.0.0.1:9")
    with pytest.raises(ExecutorError) as caught:
        open_runner("dask", plan)
    assert str(caught.value).startswith(
        "the dask executor failed: cannot reach the Dask scheduler at tcp://127.0.0.1:9: "
    )
