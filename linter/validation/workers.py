"""Long-lived validation workers, one pool per release, fed documents over a pipe.

On first need a pool starts the release's zygote, a process that imports the release's models
once, as they are first asked for (0.5 s of CPU for a 0.x release; 20-50 s and 1 GB for a 1.x
procedures or session model, whose CCF structure unions are large), and forks workers from it:
another while every worker is busy, up to ``max_workers`` (default: the CPU count;
``AIND_BUCKET_LINT_SCHEMA_WORKERS``), so validation spreads over cores as the engine's threads
ask, each worker costing a fork and sharing the models' memory with the others; each worker
holds up to ``DEPTH`` requests, so that the next document waits in its pipe. At most ``MAX_POOLS`` pools (releases;
``AIND_BUCKET_LINT_SCHEMA_POOLS``) keep workers at once, within a memory budget
(``AIND_BUCKET_LINT_SCHEMA_MEMORY``, MiB; 40% of the machine), and while the machine itself is short
of memory (under 15% available: ``AIND_BUCKET_LINT_SCHEMA_MIN_FREE``) each new pool closes another;
which pool is closed to make room is chosen by cost (:func:`pool`).

A worker that dies is replaced once per request; a second death is an error for that file, with
the tail of the worker's stderr. No worker outlives the linter: at exit every one is stopped,
busy or not, and a zygote whose linter ended without saying so (a signal) kills its workers.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from linter.machine import cores
from linter.progress import busy

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
MAX_WORKERS_ENV = "AIND_BUCKET_LINT_SCHEMA_WORKERS"
MAX_POOLS = 32
"""bench/bench_pools.py, the upstream-truth corpus (931 files declaring 67 releases): with 8 pools
the run took 429 s and restarted evicted releases 47 times (1.0.0 eight times); with 32, 265 s
(0.62x), 2 restarts, 8.1 GB of pools at the peak against 4.6. The memory budget, not this count,
bounds a run of many releases; the count bounds processes and descriptors (a pool: a zygote and
its workers)."""
MAX_POOLS_ENV = "AIND_BUCKET_LINT_SCHEMA_POOLS"
MEMORY_ENV = "AIND_BUCKET_LINT_SCHEMA_MEMORY"
MIN_FREE_ENV = "AIND_BUCKET_LINT_SCHEMA_MIN_FREE"
MIN_FREE_PERCENT = 15
DEPTH = 2
"""Requests a worker may hold at once: one it validates, the next waiting in its pipe."""


class WorkerError(Exception):
    pass


class PoolClosed(Exception):
    """The pool was closed (to make room for another) between :func:`pool` and its use."""


def default_max_workers() -> int:
    text = os.environ.get(MAX_WORKERS_ENV, "")
    if text.isdigit() and int(text) > 0:
        return int(text)
    return cores()


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


class _Slot:
    """One request sent to a worker, waiting for its reply (replies come in the order sent)."""

    __slots__ = ("error", "reply")

    def __init__(self) -> None:
        self.reply: dict[str, Any] | None = None
        self.error: WorkerError | None = None


class Worker:
    """One validation process, forked by a :class:`Zygote` (whose stderr file it shares); the
    linter writes requests to its pipe and reads the replies from another.

    Up to ``DEPTH`` threads may have a request at one worker at once: it answers them in order,
    and the next request is already in its pipe when it finishes one (a worker that waited for
    each next file used 10-25% more CPU per file: waking up costs, and the bare loop never
    waits). Whichever waiting thread holds the reading lock reads the next reply and hands it to
    the thread whose request it answers."""

    def __init__(
        self, release: str, pid: int, write_fd: int, read_fd: int, stderr: IO[bytes], loaded: frozenset[tuple[str, str]]
    ) -> None:
        self.release = release
        self._pid = pid
        self._stderr = stderr
        self._in = os.fdopen(write_fd, "wb")
        self._out = os.fdopen(read_fd, "r", encoding="utf-8")
        self._next = 0
        self._sent: deque[_Slot] = deque()  # requests written whose replies are not read yet, in order
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._broken: WorkerError | None = None
        self.in_flight = 0
        """Requests handed to this worker and not answered yet (kept by its :class:`Pool`)."""
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

    def _exited(self) -> WorkerError:
        return WorkerError(f"the validation worker of aind-data-schema {self.release} exited: {self.stderr_tail()}")

    def request(self, classes: list[tuple[str, str]], text: str | bytes) -> list[dict[str, Any]]:
        """The worker's results for one document (its JSON text or UTF-8 bytes)."""
        results: list[dict[str, Any]] = self.call({"classes": classes}, text)["results"]
        return results

    def call(self, fields: dict[str, Any], text: str | bytes) -> dict[str, Any]:
        """The worker's reply to one request: ``fields`` (the request's own; ``worker.py`` says
        which) with the body ``text``."""
        body = text.encode("utf-8") if isinstance(text, str) else text
        slot = _Slot()
        with self._write_lock:
            if self._broken is not None:
                raise self._broken
            self._next += 1
            header = json.dumps({**fields, "id": self._next, "size": len(body)}) + "\n"
            self._sent.append(slot)
            try:
                self._in.write(header.encode("utf-8"))
                self._in.write(body)
                self._in.flush()
            except (BrokenPipeError, OSError):
                self._sent.remove(slot)
                raise self._exited() from None
        while slot.reply is None and slot.error is None:
            with self._read_lock:
                if slot.reply is not None or slot.error is not None:
                    break  # read by another thread meanwhile
                try:
                    reply = self._read()
                except (WorkerError, OSError, ValueError) as exc:
                    error = exc if isinstance(exc, WorkerError) else self._exited()
                    with self._write_lock:
                        self._broken = error
                        for waiting in self._sent:
                            waiting.error = error
                        self._sent.clear()
                    break
                with self._write_lock:
                    answered = self._sent.popleft()
                answered.reply = reply
        if slot.error is not None:
            raise slot.error
        assert slot.reply is not None
        if "fatal" in slot.reply:
            raise WorkerError(f"the validation worker of aind-data-schema {self.release} failed: {slot.reply['fatal']}")
        return slot.reply

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

    def kill(self) -> None:
        """Stop it now, busy or not (the run is ending): a thread waiting for its reply reads the
        end of its output and fails."""
        with contextlib.suppress(OSError):
            os.kill(self._pid, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError):
            self._in.close()

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
            with _started_lock:
                _started.add(self.proc)
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

    def close(self, leave: bool = False, wait: float = 5) -> None:
        """Close the channel: the zygote exits, and kills the workers it forked that still run
        unless ``leave`` (they finish their requests and exit at the end of their input). Killed
        if it has not exited within ``wait`` seconds (busy importing models, it reads nothing)."""
        if leave:
            with contextlib.suppress(OSError, ValueError, WorkerError), self._lock:
                self._send({"leave": True})
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with _started_lock:
            _started.discard(self.proc)
        with contextlib.suppress(OSError, ValueError):
            self._sock.close()
            self._replies.close()
            self._stderr.close()


class Pool:
    """The workers of one release, forked from its zygote as the engine's threads ask."""

    def __init__(self, python: Path, release: str, max_workers: int | None = None) -> None:
        self.python = python
        self.release = release
        self.max_workers = max_workers or default_max_workers()
        self._zygote: Zygote | None = None
        self._zygote_lock = threading.Lock()
        self._all: list[Worker] = []
        self._spawning = 0
        self._cond = threading.Condition()
        self.startup_seconds = 0.0  # the dearest start of its zygote seen (with the imports)
        self.closed = False
        self.held = 0
        """Requests under way through :func:`using` (guarded by the pools' lock): a held pool is
        never closed to make room."""

    def _acquire(self, need: set[tuple[str, str]]) -> Worker:
        """A worker that has the models ``need`` imported: an idle one, else a new one forked now
        (up to ``max_workers``), else a busy one with fewer than ``DEPTH`` requests. A worker
        forked before the zygote imported them is retired once idle rather than made to import
        them again (another costs a fork): each model is imported once per pool."""
        retired: list[Worker] = []
        try:
            with self._cond:
                while True:
                    if self.closed:
                        raise PoolClosed(self.release)
                    for w in [w for w in self._all if w.in_flight == 0 and not need <= w.loaded]:
                        self._all.remove(w)
                        retired.append(w)
                    usable = [w for w in self._all if need <= w.loaded and w.in_flight < DEPTH]
                    worker = min(usable, key=lambda w: w.in_flight, default=None)
                    room = len(self._all) + self._spawning < self.max_workers
                    if worker is not None and (worker.in_flight == 0 or not room):
                        worker.in_flight += 1
                        return worker
                    if room:
                        self._spawning += 1
                        break
                    self._cond.wait(1.0)
        finally:
            for w in retired:
                w.close()
        spawned: Worker | None = None
        try:
            spawned = self._spawn(need)
        finally:
            with self._cond:
                self._spawning -= 1
                if spawned is not None:  # used for this request even if the pool closed meanwhile:
                    spawned.in_flight = 1  # then it stops when released
                    self._all.append(spawned)
                self._cond.notify_all()
        assert spawned is not None
        return spawned

    def _release(self, worker: Worker) -> None:
        with self._cond:
            worker.in_flight -= 1
            idle_and_closed = self.closed and worker.in_flight == 0 and worker in self._all
            if idle_and_closed:
                self._all.remove(worker)
            self._cond.notify_all()
        if idle_and_closed:  # the pool was closed while it worked
            worker.close()

    def _spawn(self, need: set[tuple[str, str]]) -> Worker:
        """A new worker, forked from the zygote (started on first need; started again once if it
        has died) once the zygote has imported ``need``."""
        with self._zygote_lock:
            for attempt in (1, 2):
                try:
                    if self._zygote is None or not need <= self._zygote.loaded:
                        # seconds to tens of seconds (a 1.x release's CCF unions): said on the progress line
                        with busy(f"importing aind-data-schema {self.release} models"):
                            if self._zygote is None:
                                if self.closed:
                                    raise PoolClosed(self.release)
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
        with self._cond:
            if worker in self._all:
                self._all.remove(worker)
            self._cond.notify_all()
        worker.close()

    def request(self, classes: list[tuple[str, str]], text: str | bytes) -> list[dict[str, Any]]:
        """Validate with a worker of this pool; PoolClosed when it was closed meanwhile (ask
        :func:`pool` again)."""
        results: list[dict[str, Any]] = self.call({(m, c) for m, c in classes}, {"classes": classes}, text)["results"]
        return results

    def call(self, need: set[tuple[str, str]], fields: dict[str, Any], text: str | bytes) -> dict[str, Any]:
        """One request (see :meth:`Worker.call`) to a worker that has the models ``need`` imported."""
        for attempt in (1, 2):
            worker = self._acquire(need)
            try:
                return worker.call(fields, text)
            except WorkerError:
                self._discard(worker)  # dead: every request it held fails, and is tried again
                if attempt == 2:
                    raise
            finally:
                self._release(worker)
        raise AssertionError("unreachable")

    def cost(self) -> float:
        """Seconds its zygote took to start and import the models, at least 0.1 s; an unstarted
        pool counts as cheap until measured."""
        return max(self.startup_seconds, 0.1)

    @property
    def workers(self) -> list[Worker]:
        with self._cond:
            return list(self._all)

    def rss_bytes(self) -> int:
        zygote = self._zygote
        return sum(w.rss_bytes() for w in self.workers) + (zygote.rss_bytes() if zygote is not None else 0)

    def close(self, kill: bool = False) -> None:
        """Stop the zygote and the idle workers now; busy ones stop when they finish their requests,
        or now too with ``kill`` (the run is ending: no worker outlives it)."""
        with self._cond:
            self.closed = True
            stopping = [w for w in self._all if kill or w.in_flight == 0]
            for w in stopping:
                self._all.remove(w)
            self._cond.notify_all()
        for w in stopping:
            if kill:
                w.kill()
            else:
                w.close()
        if kill:  # not waiting for the lock: a thread may hold it while the zygote imports models
            zygote, self._zygote = self._zygote, None
            if zygote is not None:
                zygote.close(wait=1)
            return
        with self._zygote_lock:
            zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.close(leave=True)


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


@contextlib.contextmanager
def using(release: str, python: Path) -> Iterator[Pool]:
    """:func:`pool`, held while one request is made with it: a held pool is not closed to make
    room. (Without this, two threads starting new pools under memory pressure closed each other's
    pool before either was used, eight times over: "the workers ... kept being closed".)"""
    found = pool(release, python, hold=True)
    try:
        yield found
    finally:
        with _pools_lock:
            found.held -= 1


def pool(release: str, python: Path, hold: bool = False) -> Pool:
    """The release's pool; beyond ``max_pools()`` pools, one is closed to make room (not one that
    is held, see :func:`using`; ``hold`` holds the one returned).

    Which one is GreedyDual's choice (Young; Cao and Irani), with a pool's measured start cost as
    its cost: each use sets a pool's credit to the floor plus its cost, the pool of least credit
    is closed and the floor rises to its credit. A pool that is dear to start (a 1.x release with
    a CCF structure union takes 20-50 s of CPU and 1 GB) outlives cheap ones (a 0.x release: 0.5
    s) that are used as often, and a run whose files interleave many releases does not start the
    same dear release over and over, as plain least-recently-used did.
    """
    evicted = []
    with _pools_lock:
        if _ended[0]:
            raise WorkerError("the run is ending: no new validation worker is started")
        found = _pools.get(release)
        if found is None or found.python != python or found.closed:
            found = _pools[release] = Pool(python, release)
        if hold:
            found.held += 1
        new = release not in _credit
        _credit[release] = _floor[0] + found.cost()
        over_memory = new and len(_pools) > 1 and sum(p.rss_bytes() for p in _pools.values()) > memory_budget()
        # other processes' workers count too (pytest workers, executor processes, a second run):
        # while the machine is short of memory, each new pool closes one of this process's others
        short = new and len(_pools) > 1 and machine_short_of_memory()
        while len(_pools) > max_pools() or (over_memory and len(_pools) > 1) or short:
            short = False
            free = [r for r, p in _pools.items() if r != release and p.held == 0]
            if not free:  # every other pool is in use: room is made when one is asked for again
                break
            victim = min(free, key=lambda r: _credit[r])
            _floor[0] = _credit.pop(victim)
            gone = _pools.pop(victim)
            evicted.append(gone)
            if over_memory:
                over_memory = sum(p.rss_bytes() for p in _pools.values()) > memory_budget()
    for old in evicted:
        old.close()
    return found


def close_all(kill: bool = False) -> None:
    """Close every pool (see :meth:`Pool.close`)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
        _credit.clear()
        _floor[0] = 0.0
    for p in pools:
        p.close(kill)


_ended = [False]
_started: set[subprocess.Popen[bytes]] = set()
"""Every zygote process started and not yet closed (stop_all kills those no pool holds yet)."""
_started_lock = threading.Lock()


def stop_all() -> None:
    """Stop every worker and zygote now, busy or not (threads still waiting for a reply get an
    error): the engine calls it as soon as a run ends on an exception (Ctrl-C, an internal
    error), before anything waits for its threads. The process may go on (a test process runs
    many audits); a later run starts workers anew."""
    close_all(kill=True)
    # a zygote still starting (a thread inside Zygote(), its pool not holding it yet) has forked
    # no worker: it is killed here
    with _started_lock:
        starting = list(_started)
        _started.clear()
    for proc in starting:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=5)


def _at_exit() -> None:
    """The process is ending (normally, after Ctrl-C, a ``--timeout`` or an internal error): every
    worker and zygote is stopped, and no new one starts. A process that ends without this (a
    signal, ``os._exit`` in an executor's process) closes the zygotes' channels, and the zygotes
    kill their workers."""
    _ended[0] = True
    stop_all()


atexit.register(_at_exit)

_inherited: list[Pool] = []
"""A forked child's copies of its parent's pools: never used (their workers' pipes belong to the
parent) and never closed (that would stop the parent's workers), only kept from being collected."""


def _forget_pools_in_child() -> None:
    """A worker process forked from the driver starts its own validation workers: two processes
    writing to one worker's pipe would mix their requests."""
    global _pools_lock
    _inherited.extend(_pools.values())
    _pools.clear()
    _started.clear()  # the parent's zygotes: never this process's to kill
    _credit.clear()
    _floor[0] = 0.0
    _pools_lock = threading.Lock()  # another thread of the parent may have held it


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_in_child)
