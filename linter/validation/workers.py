"""Long-lived validation workers, one pool per release, fed JSON lines over a pipe.

On first need a pool starts the release's zygote, a process that imports the release's models
once, as they are first asked for (0.5 s of CPU for a 0.x release; 20-50 s and 1 GB for a 1.x
procedures or session model, whose CCF structure unions are large), and forks workers from it:
another while every worker is busy, up to ``max_workers`` (default: the CPU count;
``AIND_BUCKET_LINT_SCHEMA_WORKERS``), so validation spreads over cores as the engine's threads
ask, each worker costing a fork and sharing the models' memory with the others. At most ``MAX_POOLS`` pools (releases;
``AIND_BUCKET_LINT_SCHEMA_POOLS``) keep workers at once, within a memory budget
(``AIND_BUCKET_LINT_SCHEMA_MEMORY``, MiB; 40% of the machine), and while the machine itself is short
of memory (under 15% available: ``AIND_BUCKET_LINT_SCHEMA_MIN_FREE``) each new pool closes another;
which pool is closed to make room is chosen by cost (:func:`pool`).

A worker that dies is replaced once per request; a second death is an error for that file, with
the tail of the worker's stderr.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import signal
import socket
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
MIN_FREE_ENV = "AIND_BUCKET_LINT_SCHEMA_MIN_FREE"
MIN_FREE_PERCENT = 15


class WorkerError(Exception):
    pass


class PoolClosed(Exception):
    """The pool was closed (to make room for another) between :func:`pool` and its use."""


def default_max_workers() -> int:
    text = os.environ.get(MAX_WORKERS_ENV, "")
    if text.isdigit() and int(text) > 0:
        return int(text)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def _tail(stderr: IO[bytes]) -> str:
    """The last lines a process wrote to its stderr file, on one line."""
    try:
        stderr.seek(0)
        lines = [ln for ln in stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except (OSError, ValueError):
        return "no stderr"
    return " ".join(" ".join(lines[-3:]).split())[:400] or "no output"


class Worker:
    """One validation process, forked by a :class:`Zygote` (whose stderr file it shares); the
    linter writes requests to its pipe and reads the replies from another."""

    def __init__(
        self, release: str, pid: int, write_fd: int, read_fd: int, stderr: IO[bytes], loaded: frozenset[tuple[str, str]]
    ) -> None:
        self.release = release
        self._pid = pid
        self._stderr = stderr
        self._in = os.fdopen(write_fd, "w", encoding="utf-8")
        self._out = os.fdopen(read_fd, "r", encoding="utf-8")
        self._next = 0
        self.loaded = loaded  # the models the zygote had imported when it forked this worker
        hello = self._read()
        if not hello.get("ready"):
            raise WorkerError(f"worker of aind-data-schema {release} did not start: {hello}")
        self.info = hello

    def _read(self) -> dict[str, Any]:
        line = self._out.readline()
        if not line:
            raise WorkerError(f"the validation worker of aind-data-schema {self.release} exited: {self.stderr_tail()}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def stderr_tail(self) -> str:
        return _tail(self._stderr)

    def request(self, classes: list[tuple[str, str]], text: str) -> list[dict[str, Any]]:
        self._next += 1
        try:
            self._in.write(json.dumps({"id": self._next, "classes": classes, "text": text}) + "\n")
            self._in.flush()
        except (BrokenPipeError, OSError):
            raise WorkerError(
                f"the validation worker of aind-data-schema {self.release} exited: {self.stderr_tail()}"
            ) from None
        reply = self._read()
        if "fatal" in reply:
            raise WorkerError(f"the validation worker of aind-data-schema {self.release} failed: {reply['fatal']}")
        results: list[dict[str, Any]] = reply["results"]
        return results

    def close(self) -> None:
        """End of input: the worker exits (the zygote reaps it); killed if it has not within 5 s."""
        with contextlib.suppress(OSError):
            self._in.close()
        deadline = time.monotonic() + 5
        while _alive(self._pid) and time.monotonic() < deadline:
            time.sleep(0.005)
        if _alive(self._pid):
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self._out.close()

    @property
    def pid(self) -> int:
        return self._pid

    def rss_bytes(self) -> int:
        return memory_of(self._pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def memory_of(pid: int) -> int:
    """The process's proportional share of memory (PSS: pages shared with the zygote and the
    other workers count once among them), else its resident memory; 0 without /proc."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Zygote:
    """A process of the release that imports its models once, as they are first needed, and forks
    the workers (``worker.py --zygote``; the control channel is a Unix socket that also carries
    the ends of each new worker's pipes)."""

    def __init__(self, python: Path, release: str) -> None:
        self.release = release
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the zygote)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        started = time.perf_counter()
        try:
            self.proc = subprocess.Popen(
                [str(python), "-I", str(WORKER_SCRIPT), "--zygote", str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                env=_child_env(),
                pass_fds=(theirs.fileno(),),
            )
        finally:
            theirs.close()
        self._sock = ours
        self._replies = ours.makefile("rb")
        self._lock = threading.Lock()
        self.info = self._reply()
        self.startup_seconds = time.perf_counter() - started
        self.import_seconds = 0.0
        self.loaded: set[tuple[str, str]] = set()

    def _send(self, request: dict[str, Any], fds: list[int] | None = None) -> dict[str, Any]:
        data = (json.dumps(request) + "\n").encode()
        try:
            if fds:
                socket.send_fds(self._sock, [data], fds)
            else:
                self._sock.sendall(data)
        except OSError:
            self.proc.wait()
            raise WorkerError(
                f"the validation worker of aind-data-schema {self.release} exited "
                f"(code {self.proc.returncode}): {self.stderr_tail()}"
            ) from None
        return self._reply()

    def load(self, classes: list[tuple[str, str]]) -> None:
        """Import these models in the zygote, so that the workers forked from now on have them."""
        with self._lock:
            reply = self._send({"import": classes})
        self.import_seconds += float(reply.get("imported") or 0.0)
        self.loaded.update(classes)

    def stderr_tail(self) -> str:
        return _tail(self._stderr)

    def _reply(self) -> dict[str, Any]:
        line = self._replies.readline()
        if not line:
            self.proc.wait()
            raise WorkerError(
                f"the validation worker of aind-data-schema {self.release} exited "
                f"(code {self.proc.returncode}): {self.stderr_tail()}"
            )
        reply: dict[str, Any] = json.loads(line)
        return reply

    def fork(self) -> Worker:
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        try:
            with self._lock:
                reply = self._send({"fork": True}, [req_r, rep_w])
        except BaseException:
            for fd in (req_w, rep_r):
                os.close(fd)
            raise
        finally:
            os.close(req_r)
            os.close(rep_w)
        if "forked" not in reply:
            for fd in (req_w, rep_r):
                os.close(fd)
            raise WorkerError(f"the zygote of aind-data-schema {self.release} did not fork: {reply}")
        return Worker(self.release, int(reply["forked"]), req_w, rep_r, self._stderr, frozenset(self.loaded))

    def rss_bytes(self) -> int:
        return memory_of(self.proc.pid)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._replies.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


class Pool:
    """The workers of one release, forked from its zygote as the engine's threads ask."""

    def __init__(self, python: Path, release: str, max_workers: int | None = None) -> None:
        self.python = python
        self.release = release
        self.max_workers = max_workers or default_max_workers()
        self._zygote: Zygote | None = None
        self._idle: queue.SimpleQueue[Worker] = queue.SimpleQueue()
        self._all: list[Worker] = []
        self._lock = threading.Lock()
        self.startup_seconds = 0.0  # the dearest start of its zygote seen (with the imports)
        self.closed = False

    def _acquire(self, need: set[tuple[str, str]]) -> Worker:
        """An idle worker that has the models ``need`` imported, or a new one forked now. A worker
        forked before the zygote imported them is retired rather than made to import them again
        (another costs a fork): each model is imported once per pool."""
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                worker = None
            if worker is not None:
                if need <= worker.loaded:
                    return worker
                self._discard(worker)
                continue
            with self._lock:
                if self.closed:
                    raise PoolClosed(self.release)
                if len(self._all) < self.max_workers:
                    worker = self._spawn(need)
                    self._all.append(worker)
                    return worker
            try:
                worker = self._idle.get(timeout=1.0)
            except queue.Empty:
                continue
            self._idle.put(worker)  # checked at the top of the loop

    def _spawn(self, need: set[tuple[str, str]]) -> Worker:
        """A new worker, forked from the zygote (started on first need; started again once if it
        has died) once the zygote has imported ``need``."""
        for attempt in (1, 2):
            try:
                if self._zygote is None:
                    self._zygote = Zygote(self.python, self.release)
                missing = sorted(need - self._zygote.loaded)
                if missing:
                    self._zygote.load(missing)
                worker = self._zygote.fork()
                self.startup_seconds = max(self.startup_seconds, self.zygote_seconds)
                return worker
            except WorkerError:
                if self._zygote is not None:
                    self._zygote.close()
                    self._zygote = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @property
    def zygote_seconds(self) -> float:
        """What the zygote cost to start, with the models it imported."""
        zygote = self._zygote
        return zygote.startup_seconds + zygote.import_seconds if zygote is not None else 0.0

    def _discard(self, worker: Worker) -> None:
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        worker.close()

    def request(self, classes: list[tuple[str, str]], text: str) -> list[dict[str, Any]]:
        """Validate with a worker of this pool; PoolClosed when it was closed meanwhile (ask
        :func:`pool` again)."""
        need = {(m, c) for m, c in classes}
        for attempt in (1, 2):
            worker = self._acquire(need)
            try:
                results = worker.request(classes, text)
            except WorkerError:
                self._discard(worker)
                if attempt == 2:
                    raise
                continue
            if self.closed:
                self._discard(worker)
            else:
                self._idle.put(worker)
            return results
        raise AssertionError("unreachable")

    def cost(self) -> float:
        """Seconds its zygote took to start and import the models, at least 0.1 s; an unstarted
        pool counts as cheap until measured."""
        return max(self.startup_seconds, 0.1)

    @property
    def workers(self) -> list[Worker]:
        return list(self._all)

    def rss_bytes(self) -> int:
        zygote = self._zygote
        return sum(w.rss_bytes() for w in self.workers) + (zygote.rss_bytes() if zygote is not None else 0)

    def close(self) -> None:
        """Stop the zygote and the idle workers now; busy ones stop when they finish their request."""
        self.closed = True
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            self._discard(worker)
        with self._lock:
            zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.close()


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


def machine_short_of_memory() -> bool:
    """Less than ``$AIND_BUCKET_LINT_SCHEMA_MIN_FREE`` percent (default 15) of the machine's memory
    is available (``MemAvailable``); False where /proc/meminfo is not there."""
    text = os.environ.get(MIN_FREE_ENV, "")
    percent = int(text) if text.isdigit() and int(text) <= 100 else MIN_FREE_PERCENT
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            info = {line.split(":")[0]: int(line.split()[1]) for line in handle if line.count(" ") >= 1}
        return info["MemAvailable"] * 100 < info["MemTotal"] * percent
    except (OSError, ValueError, KeyError, IndexError):
        return False


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
        # other processes' workers count too (pytest workers, executor processes, a second run):
        # while the machine is short of memory, each new pool closes one of this process's others
        short = new and len(_pools) > 1 and machine_short_of_memory()
        while len(_pools) > max_pools() or (over_memory and len(_pools) > 1) or short:
            short = False
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
