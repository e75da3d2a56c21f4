"""Where assets are checked: threads of this process, worker processes, or a Dask cluster.

Each executor takes the work items in order and yields each with its outcome in the same
order, with a bounded number in flight (memory stays flat in the number of assets). The
work is :func:`linter.work.check_asset`, unchanged in all three.

- ``threads``: this process; right for listing-bound work (names, layout, the ledger's rules),
  where the time goes into S3 requests.
- ``processes``: one worker process per core, each checking ``threads`` assets at once; right
  for validation-heavy work, which is CPU-bound and would be held by the GIL in threads.
- ``dask``: the workers of a Dask cluster (``--dask-scheduler ADDRESS``), or a local cluster of
  worker processes when no address is given.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import multiprocessing
import os
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, Protocol, TypeVar

from linter.machine import cores
from linter.plan import RunPlan
from linter.sources import Asset
from linter.work import AssetOutcome, TargetJob, WorkItem, check_asset, check_batch, check_installed, install

AUTO_PROCESSES_MIN_ASSETS = 200
"""With ``--executor auto``, a target with content rules and at least this many assets is
checked in worker processes (when the machine has more than one core)."""


T = TypeVar("T")
R = TypeVar("R")


class ExecutorError(Exception):
    """The executor itself failed (a worker process died, the Dask scheduler is unreachable):
    not the target's fault, so not a :class:`~linter.sources.SourceError`. The message says
    which executor failed and how."""


class ResultLike(Protocol):
    def result(self) -> Any: ...


def choose_executor(plan: RunPlan, assets: int) -> str:
    """The executor for a target of ``assets`` assets under the plan (``auto`` decided here)."""
    if plan.executor != "auto":
        return plan.executor
    if plan.dask_scheduler:
        return "dask"
    content = any(r.reads_content for r in plan.rules.values())
    if content and assets >= AUTO_PROCESSES_MIN_ASSETS and cores() > 1:
        return "processes"
    return "threads"


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


Late = Callable[[WorkItem], AssetOutcome] | None
"""What an item not finished when the ``--timeout`` ran out becomes (``linter.work.unfinished``)."""

Lister = Callable[[str], WorkItem]
"""Lists one asset by name into a work item (``Linter.work_item``)."""


def ordered_map(
    submit: Callable[[list[T]], ResultLike],
    items: Iterable[T],
    window: int,
    *,
    batch: int = 1,
    deadline: float | None = None,
    late: Callable[[T], R] | None = None,
) -> Iterator[tuple[T, R]]:
    """Each item with its outcome, in item order, with at most ``window`` tasks in flight (memory
    stays flat in the number of items). ``submit(chunk)`` starts a task on ``batch`` items and
    returns its future, whose result is their outcomes in order (see :func:`each`).

    With a ``deadline`` (``time.monotonic()``) and ``late``: once it has passed nothing more is
    submitted, and every item not finished yields ``late(item)``; a task still running is
    cancelled where it can be and otherwise left to end on its own."""
    pending: deque[tuple[list[T], ResultLike]] = deque()

    def results(chunk: list[T], future: ResultLike) -> Iterator[tuple[T, R]]:
        if deadline is None or late is None:
            return zip(chunk, future.result(), strict=True)
        try:
            outcomes = future.result(timeout=max(0.0, deadline - time.monotonic()))  # type: ignore[call-arg]
        except TimeoutError:
            with contextlib.suppress(Exception):
                future.cancel()  # type: ignore[attr-defined]
            return iter([(item, late(item)) for item in chunk])
        return zip(chunk, outcomes, strict=True)

    for chunk in _batches(items, batch):
        if deadline is not None and late is not None and time.monotonic() >= deadline:
            while pending:
                yield from results(*pending.popleft())
            yield from ((item, late(item)) for item in chunk)
            continue
        pending.append((chunk, submit(chunk)))
        if len(pending) >= window:
            yield from results(*pending.popleft())
    while pending:
        yield from results(*pending.popleft())


def each(fn: Callable[[T], R], chunk: list[T]) -> list[R]:
    """``fn`` of every item of a chunk, in order: the task :func:`ordered_map` submits to a plain
    executor (``lambda chunk: executor.submit(each, fn, chunk)``)."""
    return [fn(item) for item in chunk]


class WorkerPool(Executor):
    """A fixed pool of daemon worker threads. Unlike ``ThreadPoolExecutor``'s, its threads are not
    joined when the interpreter exits: after a ``--timeout`` the report is written and the
    process ends, however long a stalled request would still keep a worker waiting."""

    def __init__(self, workers: int, name: str = "lint") -> None:
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._workers = max(1, workers)
        self._threads: list[threading.Thread] = []
        self._name = name
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the pool is shut down")
            if len(self._threads) < self._workers:
                t = threading.Thread(target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True)
                t.start()
                self._threads.append(t)
        self._queue.put((future, functools.partial(fn, **kwargs) if kwargs else fn, args))
        return future

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[0].cancel()
        for _ in threads:
            self._queue.put(None)
        if wait:
            for t in threads:
                t.join()


class Runner:
    """Checks a target's work items somewhere; use as a context manager."""

    name = "threads"

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, jobs)

    def job(self, token: str, plan: RunPlan, target: Any, reader: Any) -> TargetJob:
        return TargetJob(token, plan, target, reader, threads=1)

    def start(self, job: TargetJob) -> None:
        """Get ready to run ``job`` (called before the driver starts its listing threads)."""

    def run(
        self, job: TargetJob, items: Iterable[WorkItem], deadline: float | None = None, late: Late = None
    ) -> Iterator[tuple[WorkItem, AssetOutcome]]:
        """Each item with its outcome, in order; past ``deadline``, ``late(item)`` instead."""
        raise NotImplementedError

    def run_listed(
        self, job: TargetJob, names: Iterable[str], listed: Lister, deadline: float | None = None, late: Late = None
    ) -> Iterator[tuple[WorkItem, AssetOutcome]]:
        """Each named asset listed (``listed(name)``) and checked, in order. By default the
        driver lists them in threads of its own (``jobs`` at a time: the requests overlap) and
        :meth:`run` checks the work items; a runner that lists where it checks overrides this."""
        listing = WorkerPool(self.jobs, "list")
        try:
            listed_items = ordered_map(
                lambda chunk: listing.submit(each, listed, chunk),
                names,
                self.jobs * 2,
                deadline=deadline,
                late=lambda n: WorkItem(Asset(n), late=True),
            )
            yield from self.run(job, (item for _name, item in listed_items), deadline, late)
        finally:
            # after a --timeout, a listing still waiting on a stalled request is not waited for
            past = deadline is not None and time.monotonic() >= deadline
            listing.shutdown(wait=not past, cancel_futures=True)

    def close(self) -> None:
        pass

    def abandon(self) -> None:
        """The run is ending on an exception (Ctrl-C, an internal error): stop without waiting
        for work in flight."""
        self.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


THREAD_BATCH = 8
"""Assets one thread of the threads executor lists and checks per task: one hand-over between
threads per asset cost about as much CPU as checking a one-sidecar asset (bench_validation)."""


class ThreadRunner(Runner):
    """Threads of this process. Each thread lists and checks a batch of assets in one go (no
    hand-over between a listing stage and a checking stage); with one job and no ``--timeout``
    the assets are checked in the driver's own thread."""

    name = "threads"

    def __init__(self, jobs: int) -> None:
        super().__init__(jobs)
        self.pool = WorkerPool(self.jobs, "lint")
        self.abandoned = False

    def run_listed(
        self, job: TargetJob, names: Iterable[str], listed: Lister, deadline: float | None = None, late: Late = None
    ) -> Iterator[tuple[WorkItem, AssetOutcome]]:
        def one(name: str) -> tuple[WorkItem, AssetOutcome]:
            item = listed(name)
            return item, check_asset(job, item)

        if self.jobs == 1 and (deadline is None or late is None):
            yield from map(one, names)
            return

        def submit(chunk: list[str]) -> Future[list[tuple[WorkItem, AssetOutcome]]]:
            return self.pool.submit(lambda: [one(name) for name in chunk])

        def too_late(name: str) -> tuple[WorkItem, AssetOutcome]:
            self.abandoned = True
            assert late is not None
            item = WorkItem(Asset(name), late=True)
            return item, late(item)

        # every thread busy on a small target; at most THREAD_BATCH assets a task on a large one
        total = len(names) if isinstance(names, Collection) else None
        batch = THREAD_BATCH if total is None else max(1, min(THREAD_BATCH, total // (self.jobs * 2)))
        pairs = ordered_map(
            submit, names, self.jobs * 2, batch=batch, deadline=deadline, late=too_late if late else None
        )
        for _name, pair in pairs:
            yield pair

    def close(self) -> None:
        # after a --timeout, workers still waiting on a stalled request are not waited for
        self.pool.shutdown(wait=not self.abandoned, cancel_futures=True)

    def abandon(self) -> None:
        self.abandoned = True  # its daemon threads end with the process
        self.close()


class ProcessRunner(Runner):
    """One pool of worker processes per target (each started with the target's job)."""

    name = "processes"
    pool: ProcessPoolExecutor | None = None

    def __init__(self, jobs: int, workers: int | None = None) -> None:
        super().__init__(jobs)
        self.workers = max(1, min(self.jobs, workers or cores()))
        self.threads = max(1, math.ceil(self.jobs / self.workers))

    def job(self, token: str, plan: RunPlan, target: Any, reader: Any) -> TargetJob:
        return TargetJob(token, plan, target, reader, threads=self.threads)

    def start(self, job: TargetJob) -> None:
        # Forked from a driver that has imported the rules and the schema models, a worker starts
        # at once (a spawned one imports them again: seconds each). Forking is safe here because
        # the workers are all started now, before the driver starts its listing threads.
        self.close()
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.pool = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context(method), initializer=install, initargs=(job,)
        )
        try:
            for ready in [self.pool.submit(os.getpid) for _ in range(self.workers)]:
                ready.result()
        except Exception as exc:
            self.close()
            raise ExecutorError(f"the processes executor failed to start: {type(exc).__name__}: {exc}") from None

    def run(
        self, job: TargetJob, items: Iterable[WorkItem], deadline: float | None = None, late: Late = None
    ) -> Iterator[tuple[WorkItem, AssetOutcome]]:
        if self.pool is None:
            self.start(job)
        pool = self.pool
        assert pool is not None
        abandoned = False

        def too_late(item: WorkItem) -> AssetOutcome:
            nonlocal abandoned
            abandoned = True
            assert late is not None
            return late(item)

        try:

            def submit(chunk: list[WorkItem]) -> Future[list[AssetOutcome]]:
                return pool.submit(check_installed, job.token, chunk)

            try:
                yield from ordered_map(
                    submit,
                    items,
                    self.workers * 3,
                    batch=self.threads,
                    deadline=deadline,
                    late=too_late if late is not None else None,
                )
            except Exception as exc:
                if type(exc).__module__.startswith("concurrent.futures") or isinstance(exc, OSError):
                    raise ExecutorError(f"the processes executor failed: {type(exc).__name__}: {exc}") from None
                raise
        finally:
            self.pool = None
            if abandoned:  # past the --timeout: stop the workers still busy instead of waiting
                for process in list(getattr(pool, "_processes", {}).values()):
                    with contextlib.suppress(Exception):
                        process.terminate()
            pool.shutdown(wait=not abandoned, cancel_futures=True)

    def close(self) -> None:
        """Stop a pool started for a job that never ran (the run stops its own)."""
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class DaskRunner(Runner):
    """Tasks on a Dask cluster: the job is scattered to every worker once, then batches of work
    items go as tasks; results come back in order."""

    name = "dask"

    def __init__(self, jobs: int, scheduler: str | None = None, workers: int | None = None) -> None:
        super().__init__(jobs)
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError(
                "the dask executor failed: it needs dask.distributed: pip install 'aind-bucket-lint[dask]'"
            ) from None
        self.cluster: Any = None
        try:
            if scheduler:
                self.client = Client(scheduler, timeout="10s", set_as_default=False)
            else:
                n = max(1, min(self.jobs, workers or cores()))
                self.cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self.client = Client(self.cluster, set_as_default=False)
        except Exception as exc:
            if self.cluster is not None:
                self.cluster.close()
            where = scheduler or "a local cluster"
            raise ExecutorError(
                f"the dask executor failed: cannot reach the Dask scheduler at {where}: {exc}"
            ) from None
        info = self.client.scheduler_info()
        self.workers = max(1, len(info.get("workers", {})))
        self.threads = max(1, math.ceil(self.jobs / self.workers))

    def job(self, token: str, plan: RunPlan, target: Any, reader: Any) -> TargetJob:
        return TargetJob(token, plan, target, reader, threads=self.threads)

    def run(
        self, job: TargetJob, items: Iterable[WorkItem], deadline: float | None = None, late: Late = None
    ) -> Iterator[tuple[WorkItem, AssetOutcome]]:
        shared = self.client.scatter(job, broadcast=True, hash=False)

        def submit(chunk: list[WorkItem]) -> Any:
            return self.client.submit(check_batch, shared, chunk, pure=False)

        try:
            yield from ordered_map(submit, items, self.workers * 3, batch=self.threads, deadline=deadline, late=late)
        finally:
            self.client.cancel(shared)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def open_runner(kind: str, plan: RunPlan) -> Runner:
    if kind == "processes":
        return ProcessRunner(plan.jobs)
    if kind == "dask":
        return DaskRunner(plan.jobs, plan.dask_scheduler)
    return ThreadRunner(plan.jobs)


def new_token() -> str:
    return uuid.uuid4().hex
