"""The verdict cache: what a release's models answered about given bytes, kept between runs.

As ruff keeps its cache, a second check of unchanged files validates nothing: each answer of a
release (the worker's JSON reply, or the installed release's in this process) is kept in the
schema cache folder, under ``<cache>/verdicts/``, by a key that is the SHA-256 of

- what was asked: the request kind (``file``: one sidecar with the classes to try; ``asset``:
  the asset judged as a whole by ``Metadata``, with its name, location and the classes of each
  file), and the request's own fields;
- the bytes judged (for an asset, all its core files back to back, in order);
- the release that judged them and where it ran: the requirements of its environment (the
  table's pins), or the installed aind-data-schema and pydantic when it ran in this process;
- the linter: its version and a hash of this package's code (the validation code that builds
  the requests and reads the replies, the worker and its asset module), so that an edited
  checkout never reuses the verdicts of another.

The reply is kept, not findings, so messages, severities and selections stay those of the run
that reads it. Only answers are kept: a release that could not be prepared, a worker that died
or failed, a timeout: nothing is written, and the next run tries again.

Storage is one small file per key, ``verdicts/<2 hex>/<62 hex>.json``, written to a temporary
file beside it and moved into place with ``os.replace``. Several processes (an executor's
workers, Dask workers on one machine, two runs, a pre-commit hook) read and write at once
without a lock or a server: a reader sees a whole entry or none, and two writers of one key
write the same answer. SQLite would need a lock on every write, and its locking is unreliable on
the network file systems a shared home folder may be on. An entry that cannot be read, does not
parse, or does not name its own key is a miss, never an error (and is overwritten); a cache
folder that cannot be written only means nothing is kept.

The folder is kept under ``MAX_BYTES``: a process that writes looks at its size on its first
write and every ``PRUNE_EVERY`` writes after, and removes the entries least recently used (by
mtime: a hit refreshes an entry at most once a day) down to ``PRUNE_TO`` of the limit.

``--no-cache`` (``SchemaSettings.verdicts`` False) neither reads nor writes it. ``--offline``
uses it: a verdict is that of the very release environment (or installed release) that gave
it, whichever run asks; offline forbids downloads only. ``aind-bucket-lint schemas prune
--all`` does not remove it; removing the folder ``<cache>/verdicts`` clears it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from linter import __version__
from linter.plan import SchemaSettings
from linter.validation.releases import Release

FOLDER = "verdicts"
FORMAT = 1
"""The entries' layout; another value is a miss."""
MAX_BYTES = 256 * 1024 * 1024
PRUNE_TO = 0.8
PRUNE_EVERY = 500
REFRESH_SECONDS = 24 * 3600
"""A hit marks its entry as used again (its mtime) when it was last marked longer ago than this."""
STALE_TMP_SECONDS = 3600
"""A temporary file older than this was left by a writer that died: pruning removes it."""


@functools.cache
def linter_version() -> str:
    """The installed aind-bucket-lint's version (the package's own when it is not installed)."""
    try:
        return importlib_metadata.version("aind-bucket-lint")
    except importlib_metadata.PackageNotFoundError:
        return __version__


@functools.cache
def fingerprint() -> str:
    """The linter's version and a hash of the validation code (this package's sources)."""
    digest = hashlib.sha256(linter_version().encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(b"\0" + path.name.encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:  # pragma: no cover (a package file that cannot be read)
            digest.update(b"?")
    return f"{linter_version()}+{digest.hexdigest()[:16]}"


@functools.cache
def _version(name: str) -> str | None:
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return None


def in_process(release: str) -> str:
    """Where the installed release runs: in this process, with this pydantic."""
    return f"local:{release}:pydantic {_version('pydantic')}"


def in_environment(requirements: list[str]) -> str:
    """Where a release runs: its own environment, made from these requirements."""
    return "env:" + " ".join(requirements)


def runner(release: Release, local: bool) -> str:
    """Where ``release`` judges: in this process (``local``: it is the installed one), else in its environment."""
    return in_process(release.version) if local else in_environment(release.requirements())


def entry_key(kind: str, release: str, runner: str, fields: Any, body: bytes) -> str:
    """The key of one request's answer (see the module's docstring)."""
    head = json.dumps([FORMAT, fingerprint(), kind, release, runner, fields], sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(head.encode("utf-8"))
    digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()


class VerdictCache:
    """The verdicts under one folder (``<cache>/verdicts``); safe to use from any thread and
    any number of processes at once."""

    def __init__(self, folder: Path, max_bytes: int = MAX_BYTES) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self._lock = threading.Lock()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key[2:]}.json"

    def get(self, key: str) -> Any | None:
        """The reply kept under ``key``; None when there is none or it cannot be used."""
        path = self.path(key)
        try:
            raw = path.read_bytes()
            entry = json.loads(raw)
        except (OSError, ValueError):  # absent, unreadable, or not JSON (a corrupt entry): a miss
            entry = None
        usable = isinstance(entry, dict) and entry.get("format") == FORMAT and entry.get("key") == key
        if not usable or "reply" not in entry:
            with self._lock:
                self.misses += 1
            return None
        with self._lock:
            self.hits += 1
        try:
            if time.time() - path.stat().st_mtime > REFRESH_SECONDS:
                os.utime(path)  # used again: pruned after the entries not used since
        except OSError:
            pass
        return entry["reply"]

    def put(self, key: str, reply: Any, **about: Any) -> None:
        """Keep ``reply`` under ``key`` (``about``: what it is, for whoever reads the file)."""
        try:
            data = json.dumps({"format": FORMAT, "key": key, **about, "reply": reply}, separators=(",", ":")).encode()
        except (TypeError, ValueError):  # pragma: no cover (replies are JSON: a worker's, or made like one)
            return
        path = self.path(key)
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)  # atomic: a reader sees the whole entry or none
            tmp = None
        except OSError:
            return  # a cache that cannot be written keeps nothing; the run goes on
        finally:
            if tmp is not None:
                _unlink(tmp)
        with self._lock:
            self.writes += 1
            due = self.writes == 1 or self.writes % PRUNE_EVERY == 0
        if due:
            self.prune()

    def entries(self) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of every entry."""
        out = []
        try:
            shards = [s for s in os.scandir(self.folder) if s.is_dir() and len(s.name) == 2]
        except OSError:
            return []
        now = time.time()
        for shard in shards:
            try:
                files = list(os.scandir(shard.path))
            except OSError:
                continue
            for entry in files:
                try:
                    st = entry.stat()
                except OSError:
                    continue
                if entry.name.startswith(".tmp-"):
                    if now - st.st_mtime > STALE_TMP_SECONDS:
                        _unlink(entry.path)
                    continue
                out.append((st.st_mtime, st.st_size, Path(entry.path)))
        return out

    def size(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def prune(self) -> int:
        """Past ``max_bytes``, remove the entries least recently used down to ``PRUNE_TO`` of it.
        Returns how many were removed."""
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        if total <= self.max_bytes:
            return 0
        removed = 0
        for _, size, path in sorted(entries):
            if total <= self.max_bytes * PRUNE_TO:
                break
            if _unlink(str(path)):
                total -= size
                removed += 1
        return removed


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


_caches: dict[Path, VerdictCache] = {}
_caches_lock = threading.Lock()


def cache_for(settings: SchemaSettings) -> VerdictCache | None:
    """The run's verdict cache (one per folder in a process); None with ``--no-cache``."""
    if not settings.verdicts:
        return None
    folder = settings.cache / FOLDER
    with _caches_lock:
        found = _caches.get(folder)
        if found is None:
            found = _caches[folder] = VerdictCache(folder)
        return found


def _forget_in_child() -> None:
    """A forked process (an executor's worker) has its own counters and locks."""
    global _caches_lock
    _caches.clear()
    _caches_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


@dataclass
class Lookup:
    """One request's answer looked up: ``reply`` when it was kept; :meth:`keep` keeps a new one."""

    cache: VerdictCache | None
    key: str
    about: dict[str, Any]
    reply: Any = None

    @property
    def hit(self) -> bool:
        return self.reply is not None

    def keep(self, reply: Any) -> None:
        if self.cache is not None:
            self.cache.put(self.key, reply, **self.about)


def lookup(settings: SchemaSettings, kind: str, release: str, runner: str, fields: Any, body: bytes | str) -> Lookup:
    """Look up the answer of ``release`` (run as ``runner``) to the request ``kind`` with
    ``fields`` about ``body``."""
    cache = cache_for(settings)
    if cache is None:
        return Lookup(None, "", {})
    data = body.encode("utf-8") if isinstance(body, str) else body
    key = entry_key(kind, release, runner, fields, data)
    about = {"kind": kind, "release": release, "runner": runner, "linter": fingerprint()}
    return Lookup(cache, key, about, cache.get(key))
