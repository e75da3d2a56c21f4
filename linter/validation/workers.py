"""Long-lived validation workers, one pool per release, fed JSON lines over a pipe.

A pool starts its first worker on first need, and another while every worker is busy once the
pool's workers have spent, validating, as long as one worker took to start (importing a release's
models costs 0.5 s of CPU for a 0.x release and up to 30 s for a 1.x one: worth paying again only
for many files), up to ``max_workers`` (default: the CPU count; ``AIND_BUCKET_LINT_SCHEMA_WORKERS``),
so validation spreads over cores as the engine's threads ask. At most ``MAX_POOLS`` pools (releases;
``AIND_BUCKET_LINT_SCHEMA_POOLS``) keep workers at once, within a memory budget
(``AIND_BUCKET_LINT_SCHEMA_MEMORY``, MiB; 40% of the machine); which pool is closed to make room is
chosen by cost (:func:`pool`).

A worker that dies is replaced once per request; a second death is an error for that file, with
the tail of the worker's stderr.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
MAX_WORKERS_ENV = "AIND_BUCKET_LINT_SCHEMA_WORKERS"
MAX_POOLS = 8
MAX_POOLS_ENV = "AIND_BUCKET_LINT_SCHEMA_POOLS"
MEMORY_ENV = "AIND_BUCKET_LINT_SCHEMA_MEMORY"


class WorkerError(Exception):
    pass


def default_max_workers() -> int:
    text = os.environ.get(MAX_WORKERS_ENV, "")
    if text.isdigit() and int(text) > 0:
        return int(text)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class Worker:
    def __init__(self, python: Path, release: str) -> None:
        self.release = release
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the worker)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        self.proc = subprocess.Popen(
            [str(python), "-I", str(WORKER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._next = 0
        self.requests = 0
        self.imported = 0.0  # seconds this worker spent importing models, all requests
        self.last_imported = 0.0
        started = time.perf_counter()
        hello = self._read()
        self.startup_seconds = time.perf_counter() - started
        if not hello.get("ready"):
            raise WorkerError(f"worker of aind-data-schema {release} did not start: {hello}")
        self.info = hello

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise WorkerError(
                f"the validation worker of aind-data-schema {self.release} exited "
                f"(code {self.proc.returncode}): {self.stderr_tail()}"
            )
        reply: dict[str, Any] = json.loads(line)
        return reply

    def stderr_tail(self) -> str:
        try:
            self._stderr.seek(0)
            lines = [ln for ln in self._stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        except OSError:
            return "no stderr"
        return " ".join(" ".join(lines[-3:]).split())[:400] or "no output"

    def request(self, classes: list[tuple[str, str]], text: str) -> list[dict[str, Any]]:
        assert self.proc.stdin is not None
        self._next += 1
        self.requests = self._next
        try:
            self.proc.stdin.write(json.dumps({"id": self._next, "classes": classes, "text": text}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.proc.wait()
            raise WorkerError(
                f"the validation worker of aind-data-schema {self.release} exited: {self.stderr_tail()}"
            ) from None
        reply = self._read()
        if "fatal" in reply:
            raise WorkerError(f"the validation worker of aind-data-schema {self.release} failed: {reply['fatal']}")
        results: list[dict[str, Any]] = reply["results"]
        self.last_imported = float(reply.get("imported") or 0.0)
        self.imported += self.last_imported
        return results

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_bytes(self) -> int:
        """Resident memory now (0 where /proc is not there)."""
        try:
            with open(f"/proc/{self.proc.pid}/statm", encoding="ascii") as handle:
                return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return 0


class Pool:
    def __init__(self, python: Path, release: str, max_workers: int | None = None) -> None:
        self.python = python
        self.release = release
        self.max_workers = max_workers or default_max_workers()
        self._idle: queue.SimpleQueue[Worker] = queue.SimpleQueue()
        self._all: list[Worker] = []
        self._lock = threading.Lock()
        self.served = 0
        self.busy_seconds = 0.0
        self.startup_seconds = 0.0
        self.closed = False

    def _acquire(self) -> Worker:
        while True:
            try:
                return self._idle.get_nowait()
            except queue.Empty:
                pass
            with self._lock:
                count = len(self._all)
                paid = self.busy_seconds >= self.startup_seconds * count
                if count == 0 or (count < self.max_workers and paid):
                    worker = Worker(self.python, self.release)
                    self.startup_seconds = max(self.startup_seconds, worker.startup_seconds)
                    self._all.append(worker)
                    return worker
            try:
                return self._idle.get(timeout=1.0)
            except queue.Empty:
                continue

    def _discard(self, worker: Worker) -> None:
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        worker.close()

    def request(self, classes: list[tuple[str, str]], text: str) -> list[dict[str, Any]]:
        for attempt in (1, 2):
            worker = self._acquire()
            started = time.perf_counter()
            try:
                results = worker.request(classes, text)
            except WorkerError:
                self._discard(worker)
                if attempt == 2:
                    raise
                continue
            self.served += 1
            elapsed = time.perf_counter() - started
            # a worker imports a model on its first request for it: part of its start cost
            self.startup_seconds = max(self.startup_seconds, worker.startup_seconds + worker.imported)
            self.busy_seconds += max(0.0, elapsed - worker.last_imported)
            if self.closed:
                self._discard(worker)
            else:
                self._idle.put(worker)
            return results
        raise AssertionError("unreachable")

    def cost(self) -> float:
        """Seconds it took to start a worker (with its first validation), at least 0.1 s; an
        unstarted pool counts as cheap until measured."""
        return max(self.startup_seconds, 0.1)

    @property
    def workers(self) -> list[Worker]:
        return list(self._all)

    def rss_bytes(self) -> int:
        return sum(w.rss_bytes() for w in self.workers)

    def close(self) -> None:
        """Stop the idle workers now; busy ones stop when they finish their request."""
        self.closed = True
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            self._discard(worker)


_pools: dict[str, Pool] = {}
_credit: dict[str, float] = {}
_floor = [0.0]
_pools_lock = threading.Lock()


def max_pools() -> int:
    text = os.environ.get(MAX_POOLS_ENV, "")
    return int(text) if text.isdigit() and int(text) > 0 else MAX_POOLS


def memory_budget() -> int:
    """Bytes the workers of all pools may hold before idle pools are closed: ``$AIND_BUCKET_LINT_SCHEMA_MEMORY``
    (MiB), else 40% of the machine's memory."""
    text = os.environ.get(MEMORY_ENV, "")
    if text.isdigit() and int(text) > 0:
        return int(text) << 20
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * 0.4)
    except (OSError, ValueError):
        return 8 << 30


def pool(release: str, python: Path) -> Pool:
    """The release's pool; beyond ``max_pools()`` pools, one is closed to make room.

    Which one is GreedyDual's choice (Young; Cao and Irani), with a pool's measured start cost as
    its cost: each use sets a pool's credit to the floor plus its cost, the pool of least credit
    is closed and the floor rises to its credit. A pool that is dear to start (a 1.x release with
    a CCF structure union takes 20-50 s of CPU and 1 GB) outlives cheap ones (a 0.x release: 0.5
    s) that are used as often, and a run whose files interleave many releases does not start the
    same dear release over and over, as plain least-recently-used did.
    """
    evicted = []
    with _pools_lock:
        found = _pools.get(release)
        if found is None or found.python != python or found.closed:
            found = _pools[release] = Pool(python, release)
        new = release not in _credit
        _credit[release] = _floor[0] + found.cost()
        over_memory = new and len(_pools) > 1 and sum(p.rss_bytes() for p in _pools.values()) > memory_budget()
        while len(_pools) > max_pools() or (over_memory and len(_pools) > 1):
            victim = min((r for r in _pools if r != release), key=lambda r: _credit[r])
            _floor[0] = _credit.pop(victim)
            gone = _pools.pop(victim)
            evicted.append(gone)
            if over_memory:
                over_memory = sum(p.rss_bytes() for p in _pools.values()) > memory_budget()
    for old in evicted:
        old.close()
    return found


def close_all() -> None:
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
        _credit.clear()
        _floor[0] = 0.0
    for p in pools:
        p.close()


atexit.register(close_all)

_inherited: list[Pool] = []
"""A forked child's copies of its parent's pools: never used (their workers' pipes belong to the
parent) and never closed (that would stop the parent's workers), only kept from being collected."""


def _forget_pools_in_child() -> None:
    """A worker process forked from the driver starts its own validation workers: two processes
    writing to one worker's pipe would mix their requests."""
    global _pools_lock
    _inherited.extend(_pools.values())
    _pools.clear()
    _credit.clear()
    _floor[0] = 0.0
    _pools_lock = threading.Lock()  # another thread of the parent may have held it


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_in_child)
