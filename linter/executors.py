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

import logging
import math
import multiprocessing
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Protocol

from linter.plan import RunPlan
from linter.sources import SourceError
from linter.work import AssetOutcome, TargetJob, WorkItem, check_asset, check_batch, check_installed, install

AUTO_PROCESSES_MIN_ASSETS = 200
"""With ``--executor auto``, a target with content rules and at least this many assets is
checked in worker processes (when the machine has more than one core)."""


class ExecutorError(SourceError):
    """The executor itself failed (a worker process died, the Dask scheduler is unreachable)."""


class ResultLike(Protocol):
    def result(self) -> Any: ...


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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


def _batches(items: Iterable[WorkItem], size: int) -> Iterator[list[WorkItem]]:
    batch: list[WorkItem] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def ordered(
    submit: Callable[[list[WorkItem]], ResultLike], items: Iterable[WorkItem], batch: int, window: int
) -> Iterator[tuple[WorkItem, AssetOutcome]]:
    """Submit batches with at most ``window`` in flight and yield (item, outcome) in item order."""
    pending: deque[tuple[list[WorkItem], ResultLike]] = deque()
    for chunk in _batches(items, batch):
        pending.append((chunk, submit(chunk)))
        if len(pending) >= window:
            done, future = pending.popleft()
            yield from zip(done, future.result(), strict=True)
    while pending:
        done, future = pending.popleft()
        yield from zip(done, future.result(), strict=True)


class Runner:
    """Checks a target's work items somewhere; use as a context manager."""

    name = "threads"

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, jobs)

    def job(self, token: str, plan: RunPlan, target: Any, reader: Any) -> TargetJob:
        return TargetJob(token, plan, target, reader, threads=1)

    def run(self, job: TargetJob, items: Iterable[WorkItem]) -> Iterator[tuple[WorkItem, AssetOutcome]]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ThreadRunner(Runner):
    name = "threads"

    def __init__(self, jobs: int) -> None:
        super().__init__(jobs)
        self.pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="lint")

    def run(self, job: TargetJob, items: Iterable[WorkItem]) -> Iterator[tuple[WorkItem, AssetOutcome]]:
        def submit(chunk: list[WorkItem]) -> Future[list[AssetOutcome]]:
            return self.pool.submit(lambda: [check_asset(job, item) for item in chunk])

        yield from ordered(submit, items, 1, self.jobs * 4)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class ProcessRunner(Runner):
    """One pool of worker processes per target (each started with the target's job)."""

    name = "processes"

    def __init__(self, jobs: int, workers: int | None = None) -> None:
        super().__init__(jobs)
        self.workers = max(1, min(self.jobs, workers or cores()))
        self.threads = max(1, math.ceil(self.jobs / self.workers))

    def job(self, token: str, plan: RunPlan, target: Any, reader: Any) -> TargetJob:
        return TargetJob(token, plan, target, reader, threads=self.threads)

    def run(self, job: TargetJob, items: Iterable[WorkItem]) -> Iterator[tuple[WorkItem, AssetOutcome]]:
        context = multiprocessing.get_context("spawn")  # never fork a process that holds threads and sockets
        pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=install, initargs=(job,))
        try:

            def submit(chunk: list[WorkItem]) -> Future[list[AssetOutcome]]:
                return pool.submit(check_installed, job.token, chunk)

            try:
                yield from ordered(submit, items, self.threads, self.workers * 3)
            except Exception as exc:
                if type(exc).__module__.startswith("concurrent.futures") or isinstance(exc, OSError):
                    raise ExecutorError(f"the processes executor failed: {type(exc).__name__}: {exc}") from None
                raise
        finally:
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
                "--executor dask needs dask.distributed: pip install 'aind-bucket-lint[dask]'"
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
            raise ExecutorError(f"cannot reach the Dask scheduler at {where}: {exc}") from None
        info = self.client.scheduler_info()
        self.workers = max(1, len(info.get("workers", {})))
        self.threads = max(1, math.ceil(self.jobs / self.workers))

    def job(self, token: str, plan: RunPlan, target: Any, reader: Any) -> TargetJob:
        return TargetJob(token, plan, target, reader, threads=self.threads)

    def run(self, job: TargetJob, items: Iterable[WorkItem]) -> Iterator[tuple[WorkItem, AssetOutcome]]:
        shared = self.client.scatter(job, broadcast=True, hash=False)

        def submit(chunk: list[WorkItem]) -> Any:
            return self.client.submit(check_batch, shared, chunk, pure=False)

        try:
            yield from ordered(submit, items, self.threads, self.workers * 3)
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
