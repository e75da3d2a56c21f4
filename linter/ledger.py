"""The ledger: an SQLite record of what earlier audits saw, for immutability and incremental runs.

For every asset of every audited root (``s3://bucket/prefix/`` or a local folder) it keeps the
asset's first and last sighting and its sealed time, and for every key the ETag, size,
LastModified and version *as first recorded*, with the key's first and last sighting and,
once it disappears, since when it is gone. A record is never rewritten with later values: the
immutability rules compare each night's listing with what was first published, so a change is
reported on every run (not only on the night it happened), and a run killed after writing
the ledger but before writing its report loses nothing.

It also keeps, per asset, the findings of the content-reading rules and the fingerprint of
the root-level objects they were computed from (the engine's ``VerdictStore``), so an
unchanged asset is not fetched again.

Writes are batched: a batch of assets is one transaction (WAL journal), so a run killed at any
moment (kill -9) leaves a ledger holding every batch committed before, and nothing half
written. An advisory lock on ``<ledger>.lock`` makes a second run on the same ledger fail at
once with a clear error instead of interleaving with the first.

Tables (``sqlite3 LEDGER``): ``runs``, ``assets``, ``objects``, and the view
``object_history`` (objects with their asset's name and their effective last sighting).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import io
import json
import os
import pickle
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from linter import __version__
from linter.findings import Finding, Severity
from linter.sources import Asset

SCHEMA_VERSION = 1
APPLICATION = "aind-bucket-lint ledger"
BATCH_ASSETS = 64
BATCH_SECONDS = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    root TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    assets INTEGER,
    tool_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS assets (
    id INTEGER PRIMARY KEY,
    root TEXT NOT NULL,
    name TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    gone_since TEXT,
    first_object_at TEXT,
    sealed_at TEXT,
    sealed_seen TEXT,
    listing_digest TEXT NOT NULL,
    verdict_fingerprint TEXT,
    verdicts TEXT,
    UNIQUE (root, name)
);
CREATE TABLE IF NOT EXISTS objects (
    asset_id INTEGER NOT NULL REFERENCES assets (id),
    key TEXT NOT NULL,
    etag TEXT,
    size INTEGER NOT NULL,
    last_modified TEXT,
    version_id TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    gone_since TEXT,
    PRIMARY KEY (asset_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS content_verdicts (
    identity TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (identity, key)
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS object_history AS
    SELECT a.root, a.name AS asset, o.key, o.etag, o.size, o.last_modified, o.version_id, o.first_seen,
           CASE WHEN o.gone_since IS NULL THEN a.last_seen ELSE o.last_seen END AS last_seen, o.gone_since
    FROM objects o JOIN assets a ON a.id = o.asset_id;
"""


_CONTENT_TABLE = _SCHEMA[_SCHEMA.index("CREATE TABLE IF NOT EXISTS content_verdicts") :].split(";")[0]
_SAFE_MODULES = ("builtins", "datetime", "collections", "enum")


class _LinterUnpickler(pickle.Unpickler):
    """Loads only the linter's own classes and plain builtins: a ledger is data, never code."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "linter" or module.startswith(("linter.", "rules.")) or module in _SAFE_MODULES:
            if module == "builtins" and name in ("eval", "exec", "compile", "open", "__import__", "getattr"):
                raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a ledger")
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a ledger")


def load_verdict(blob: bytes) -> Any:
    return _LinterUnpickler(io.BytesIO(blob)).load()


class LedgerError(Exception):
    """The ledger cannot be used (not a ledger, newer schema, in use by another run, damaged,
    read-only); the message names the file."""


F = TypeVar("F", bound=Callable[..., Any])


def _guarded(method: F) -> F:
    """SQLite's errors in the middle of a run (a damaged page: "database disk image is
    malformed"; a file that became read-only; a full disk) become one LedgerError naming the
    ledger, which ends the run with exit 2 instead of a traceback."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise ledger_failure(self.path, exc) from None

    return wrapper  # type: ignore[return-value]


def ledger_failure(path: Path, exc: sqlite3.Error) -> LedgerError:
    text = str(exc)
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        hint = "the file is damaged; restore it from a backup or give a new --ledger"
    elif "readonly" in text or "read-only" in text:
        hint = "the ledger is read-only; give a writable --ledger"
    else:
        hint = "the ledger cannot be used"
    return LedgerError(f"{path}: {hint} (SQLite: {text})")


def _ts(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


def _dt(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    """One key as the ledger first recorded it."""

    key: str
    etag: str | None
    size: int
    last_modified: dt.datetime | None
    version_id: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    gone_since: dt.datetime | None = None


@dataclass
class AssetHistory:
    """What earlier audits recorded about one asset: given to the rules as ``ctx.history``."""

    name: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    first_object_at: dt.datetime | None
    sealed_at: dt.datetime | None
    sealed_seen: dt.datetime | None
    """The first audit that saw the asset after its upload window had closed."""
    records: dict[str, ObjectRecord] = field(default_factory=dict)
    gone_since: dt.datetime | None = None
    asset_id: int = 0
    listing_digest: str = ""
    verdict_fingerprint: str | None = None
    verdicts: str | None = None


@dataclass(frozen=True, slots=True)
class VanishedAsset:
    """An asset the ledger recorded under this root that the listing no longer shows."""

    name: str
    keys: int
    last_seen: dt.datetime
    gone_since: dt.datetime


def listing_digest(asset: Asset) -> str:
    """Identifies an asset's listing: equal digests mean nothing to write but the sighting."""
    h = hashlib.sha1(usedforsecurity=False)
    for o in sorted(asset.objects, key=lambda o: o.key):
        h.update(f"{o.key}\0{o.etag}\0{o.size}\0{_ts(o.last_modified)}\0{o.version_id}\n".encode())
    return h.hexdigest()


def first_object_time(asset: Asset) -> dt.datetime | None:
    """The LastModified of the asset's oldest object or version (delete markers aside)."""
    items = asset.versions if asset.versions is not None else asset.objects
    times = [o.last_modified for o in items if o.last_modified is not None and not o.is_delete_marker]
    return min(times) if times else None


def finding_from_dict(d: dict[str, Any]) -> Finding:
    return Finding(
        d["rule"], d["name"], Severity.parse(d["severity"]), d["asset"], d["path"], d["message"], d["details"]
    )


_HELD_LOCKS: dict[int, IO[str]] = {}
"""The run-lock files this process holds, by descriptor."""


def _drop_locks_in_child() -> None:
    """A forked child (a worker process) must not keep the driver's run lock alive: flock belongs
    to the open file, which the child shares until it closes its copy of the descriptor."""
    for fh in list(_HELD_LOCKS.values()):
        with contextlib.suppress(OSError):
            fh.close()  # this process's copy only; the driver keeps its lock
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_locks_in_child)


class _RunLock:
    """An advisory lock on ``<ledger>.lock``, released by the kernel if the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._fh: IO[str] | None = None

    def acquire(self, ledger: Path) -> None:
        try:
            fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115  (held for the whole run)
        except OSError as exc:
            raise LedgerError(f"{ledger}: cannot create the lock file {self.path}: {exc}") from None
        try:
            _lock_file(fh)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise LedgerError(
                f"{ledger}: the ledger is in use by another aind-bucket-lint run ({holder}); "
                "wait for it to finish, or give this run another --ledger"
            ) from None
        fh.seek(0)
        fh.truncate()
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n")
        fh.flush()
        self._fh = fh
        _HELD_LOCKS[fh.fileno()] = fh

    def release(self) -> None:
        if self._fh is not None:
            _HELD_LOCKS.pop(self._fh.fileno(), None)
            with contextlib.suppress(OSError):
                self._fh.truncate(0)
            self._fh.close()
            self._fh = None


def _lock_file(fh: IO[str]) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


class Ledger:
    """One ledger file, open for one run. Use :meth:`target` for each audited root."""

    def __init__(
        self,
        path: str | Path,
        *,
        batch_assets: int = BATCH_ASSETS,
        batch_seconds: float = BATCH_SECONDS,
        now: dt.datetime | None = None,
    ) -> None:
        self.path = Path(path)
        self.batch_assets = batch_assets
        self.batch_seconds = batch_seconds
        self.now = now or dt.datetime.now(dt.UTC)
        self._lock = _RunLock(self.path)
        self._lock.acquire(self.path)
        try:
            self.db = self._open()
        except BaseException:
            self._lock.release()
            raise
        self.mutex = threading.Lock()

    def _open(self) -> sqlite3.Connection:
        if self.path.is_dir():
            raise LedgerError(f"{self.path}: is a folder; --ledger takes a file path")
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.path}: cannot open the ledger: {exc}") from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            if fresh:
                db.executescript(_SCHEMA)
                db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [("application", APPLICATION), ("schema_version", str(SCHEMA_VERSION))],
                )
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("application") == APPLICATION:
                db.execute(_CONTENT_TABLE)  # added to schema 1: ledgers written before gain it
        except sqlite3.DatabaseError as exc:
            db.close()
            if "readonly" in str(exc):
                raise ledger_failure(self.path, exc) from None
            raise LedgerError(f"{self.path}: not an aind-bucket-lint ledger ({exc})") from None
        try:  # a ledger the run cannot write would fail at its first batch: say so now
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE meta SET value = value WHERE key = 'application'")
            db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            db.close()
            raise ledger_failure(self.path, exc) from None
        if meta.get("application") != APPLICATION:
            db.close()
            raise LedgerError(f"{self.path}: not an aind-bucket-lint ledger")
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            db.close()
            raise LedgerError(
                f"{self.path}: written by a newer aind-bucket-lint (ledger schema {version}; this one reads "
                f"{SCHEMA_VERSION}); upgrade the linter"
            )
        return db

    def target(self, root: str, upload_window: dt.timedelta) -> TargetLedger:
        return TargetLedger(self, root, upload_window)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self.db.close()
        self._lock.release()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Pending:
    asset: Asset
    history: AssetHistory | None
    digest: str
    verdict: tuple[str, list[Finding]] | None


class TargetLedger:
    """The ledger's view of one audited root, for one run: histories in, sightings out.

    Thread-safe: the engine's workers call :meth:`history`, the verdict methods and
    :meth:`record` concurrently; writes are queued and committed in batches.
    """

    @_guarded
    def __init__(self, ledger: Ledger, root: str, upload_window: dt.timedelta) -> None:
        self.ledger = ledger
        self.path = ledger.path
        self.root = root
        self.window = upload_window
        self.now = ledger.now
        self.now_text = _ts(self.now)
        self._db = ledger.db
        self._mutex = ledger.mutex
        self._pending: list[_Pending] = []
        self._content: list[tuple[str, str, bytes]] = []
        self._verdicts: dict[str, tuple[str, list[Finding]]] = {}
        self._histories: dict[str, AssetHistory | None] = {}
        self._last_flush = time.monotonic()
        self.recorded = 0
        with self._mutex:
            cur = self._db.execute(
                "INSERT INTO runs (root, started_at, tool_version) VALUES (?, ?, ?)", (root, self.now_text, __version__)
            )
            self.run_id = cur.lastrowid

    # -- reading ------------------------------------------------------------------------------

    @_guarded
    def history(self, name: str) -> AssetHistory | None:
        """What earlier runs recorded about the asset, or None for an asset never recorded."""
        with self._mutex:
            row = self._db.execute(
                "SELECT id, first_seen, last_seen, gone_since, first_object_at, sealed_at, sealed_seen,"
                " listing_digest, verdict_fingerprint, verdicts FROM assets WHERE root = ? AND name = ?",
                (self.root, name),
            ).fetchone()
            rows = (
                self._db.execute(
                    "SELECT key, etag, size, last_modified, version_id, first_seen, last_seen, gone_since"
                    " FROM objects WHERE asset_id = ?",
                    (row[0],),
                ).fetchall()
                if row
                else []
            )
        if row is None:
            history = None
        else:
            parse = dt.datetime.fromisoformat
            records = {
                r[0]: ObjectRecord(
                    r[0], r[1], r[2], parse(r[3]) if r[3] else None, r[4], parse(r[5]), parse(r[6]),
                    parse(r[7]) if r[7] else None,
                )
                for r in rows
            }  # fmt: skip
            history = AssetHistory(
                name,
                parse(row[1]),
                parse(row[2]),
                _dt(row[4]),
                _dt(row[5]),
                _dt(row[6]),
                records,
                _dt(row[3]),
                row[0],
                row[7],
                row[8],
                row[9],
            )
        with self._mutex:
            self._histories[name] = history
        return history

    def get_verdicts(self, asset: str, fingerprint: str) -> list[Finding] | None:
        with self._mutex:
            history = self._histories.get(asset)
        if history is None or history.verdict_fingerprint != fingerprint or history.verdicts is None:
            return None
        return [finding_from_dict(d) for d in json.loads(history.verdicts)]

    def put_verdicts(self, asset: str, fingerprint: str, findings: list[Finding]) -> None:
        with self._mutex:
            self._verdicts[asset] = (fingerprint, list(findings))

    @_guarded
    def content_verdicts(self, identity: str) -> dict[str, Any]:
        """Verdicts by content earlier runs reached on bytes of this identity: {cache key: value}."""
        with self._mutex:
            rows = self._db.execute(
                "SELECT key, value FROM content_verdicts WHERE identity = ?", (identity,)
            ).fetchall()
        out = {}
        for key, blob in rows:
            try:
                out[key] = load_verdict(blob)
            except Exception:  # written by another version, or damaged: computed again
                continue
        return out

    def put_content_verdict(self, identity: str, key: str, value: Any) -> None:
        try:
            blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            return
        with self._mutex:
            self._content.append((identity, key, blob))

    @_guarded
    def vanished(self, listed: Iterable[str]) -> list[VanishedAsset]:
        """Assets recorded under this root that the listing no longer shows, with their key counts."""
        present = set(listed)
        with self._mutex:
            rows = self._db.execute(
                "SELECT id, name, last_seen, gone_since FROM assets WHERE root = ?", (self.root,)
            ).fetchall()
            gone = [r for r in rows if r[1] not in present]
            out = []
            for asset_id, name, last_seen, gone_since in sorted(gone, key=lambda r: r[1]):
                (keys,) = self._db.execute(
                    "SELECT count(*) FROM objects WHERE asset_id = ? AND gone_since IS NULL", (asset_id,)
                ).fetchone()
                out.append(VanishedAsset(name, keys, parse_ts(last_seen), _dt(gone_since) or self.now))
        return out

    # -- writing ------------------------------------------------------------------------------

    @_guarded
    def record(self, asset: Asset) -> None:
        """Queue the asset's sighting; commits in batches. An asset whose listing failed is not
        recorded: its missing keys would look deleted, and new keys added on the next run."""
        with self._mutex:
            history = self._histories.pop(asset.name, None)
            verdict = self._verdicts.pop(asset.name, None)
            if asset.errors:
                return
            self._pending.append(_Pending(asset, history, listing_digest(asset), verdict))
            due = len(self._pending) >= self.ledger.batch_assets
            due = due or time.monotonic() - self._last_flush >= self.ledger.batch_seconds
            if due:
                self._flush_locked()

    @_guarded
    def mark_vanished(self, assets: Iterable[VanishedAsset]) -> None:
        with self._mutex:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for v in assets:
                    self._db.execute(
                        "UPDATE assets SET gone_since = coalesce(gone_since, ?) WHERE root = ? AND name = ?",
                        (self.now_text, self.root, v.name),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @_guarded
    def flush(self) -> None:
        with self._mutex:
            self._flush_locked()

    @_guarded
    def finish(self) -> None:
        """Commit what is pending and close the run's entry."""
        with self._mutex:
            self._flush_locked()
            self._db.execute(
                "UPDATE runs SET finished_at = ?, assets = ? WHERE id = ?",
                (_ts(dt.datetime.now(dt.UTC)), self.recorded, self.run_id),
            )

    def _flush_locked(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending and not self._content:
            return
        pending, self._pending = self._pending, []
        content, self._content = self._content, []
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for p in pending:
                self._write(p)
            db.executemany(
                "INSERT OR IGNORE INTO content_verdicts (identity, key, value, first_seen) VALUES (?, ?, ?, ?)",
                [(i, k, v, self.now_text) for i, k, v in content],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.recorded += len(pending)

    def _write(self, p: _Pending) -> None:
        db, now = self._db, self.now_text
        h = p.history
        first_object = h.first_object_at if h is not None and h.first_object_at else first_object_time(p.asset)
        sealed_at = first_object + self.window if first_object is not None else None
        sealed_seen = h.sealed_seen if h is not None else None
        if sealed_seen is None and sealed_at is not None and self.now >= sealed_at:
            sealed_seen = self.now
        verdict_fp, verdicts = (h.verdict_fingerprint, h.verdicts) if h is not None else (None, None)
        if p.verdict is not None:
            verdict_fp = p.verdict[0]
            verdicts = json.dumps([f.to_dict() for f in p.verdict[1]], ensure_ascii=False, separators=(",", ":"))
        values = (_ts(first_object), _ts(sealed_at), _ts(sealed_seen), p.digest, verdict_fp, verdicts)
        if h is None:
            cur = db.execute(
                "INSERT INTO assets (root, name, first_seen, last_seen, first_object_at, sealed_at, sealed_seen,"
                " listing_digest, verdict_fingerprint, verdicts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (root, name) DO UPDATE SET last_seen = excluded.last_seen RETURNING id",
                (self.root, p.asset.name, now, now, *values),
            )
            (asset_id,) = cur.fetchone()
        else:
            asset_id = h.asset_id
            db.execute(
                "UPDATE assets SET last_seen = ?, gone_since = NULL, first_object_at = ?, sealed_at = ?,"
                " sealed_seen = ?, listing_digest = ?, verdict_fingerprint = ?, verdicts = ? WHERE id = ?",
                (now, *values, asset_id),
            )
            if h.listing_digest == p.digest:
                return  # same listing as last time: the keys' sightings follow the asset's last_seen
        db.executemany(
            "INSERT INTO objects (asset_id, key, etag, size, last_modified, version_id, first_seen, last_seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (asset_id, key) DO UPDATE SET last_seen = excluded.last_seen, gone_since = NULL",
            [(asset_id, o.key, o.etag, o.size, _ts(o.last_modified), o.version_id, now, now) for o in p.asset.objects],
        )
        db.execute(
            "UPDATE objects SET gone_since = ? WHERE asset_id = ? AND gone_since IS NULL AND last_seen < ?",
            (now, asset_id, now),
        )


def parse_ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)
