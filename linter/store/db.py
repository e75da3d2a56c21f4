"""The ledger file: one SQLite database, its schema and migrations, its run lock and its connection.

Everything the linter keeps between runs lives in one file (``--ledger``): the object records
of every audited root (:mod:`linter.store.objects`) and the audit history
(:mod:`linter.store.audits`). :class:`Ledger` opens it for one run: it holds the run lock and
the one connection, brings an older file to this schema, and hands out the views a run uses
(:meth:`Ledger.target`, :meth:`Ledger.audit_history`); nothing else opens it for writing.

Tables (``sqlite3 LEDGER``): ``runs``, ``assets``, ``asset_objects`` and the view
``object_history`` (one row per key, with its asset's name and its effective last sighting);
``content_verdicts``; ``audits``, ``finding_episodes`` and ``asset_facts``. The per-object blobs
(:mod:`linter.store.codec`) decompress with ``sqlar_uncompress``, built into the ``sqlite3``
shell, which :func:`connect` registers for Python.

One migration chain: a ledger of an older schema version is brought to this one when opened,
all its steps in one transaction (schema 1, one ``objects`` row per key, gains the compact
records), then vacuumed. Tables added within a schema version (``content_verdicts`` in
schema 1, the audit history in schema 2) are created when a ledger written before them is
opened, so such a ledger stays readable by the linters of its version.

An advisory lock on ``<ledger>.lock`` makes a second run on the same ledger fail at once with a
clear error instead of interleaving with the first; a forked worker drops its copy of it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import socket
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from linter.store.audits import AuditHistory, audits
from linter.store.codec import encode_records, entry, from_iso, micros, sqlar_uncompress
from linter.store.errors import LedgerError, damaged, ledger_failure
from linter.store.objects import TargetLedger
from linter.store.records import Audit

SCHEMA_VERSION = 2
APPLICATION = "aind-bucket-lint ledger"
BATCH_ASSETS = 64
BATCH_SECONDS = 1.0


def _iso_sql(value: str) -> str:
    """SQL turning integer microseconds since the epoch into the ISO text of :func:`linter.store.codec.iso`."""
    return (
        f"CASE WHEN {value} IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S', {value} / 1000000, 'unixepoch')"
        f" || CASE WHEN {value} % 1000000 THEN printf('.%06d', {value} % 1000000) ELSE '' END || '+00:00' END"
    )


def _field(i: int) -> str:
    return f"json_extract(r.value, '$[{i}]')"


# one JSON array per key: [key, etag, size, last_modified, first_seen, version_id, last_seen, gone_since]
# (times in microseconds; trailing nulls left out; last_seen only once the key is gone)
_OBJECT_HISTORY = f"""
CREATE VIEW IF NOT EXISTS object_history AS
    SELECT a.root, a.name AS asset, {_field(0)} AS key, {_field(1)} AS etag, {_field(2)} AS size,
           {_iso_sql(_field(3))} AS last_modified, {_field(5)} AS version_id, {_iso_sql(_field(4))} AS first_seen,
           CASE WHEN {_field(7)} IS NULL THEN a.last_seen ELSE {_iso_sql(_field(6))} END AS last_seen,
           {_iso_sql(_field(7))} AS gone_since
    FROM asset_objects o JOIN assets a ON a.id = o.asset_id,
         json_each(CAST(sqlar_uncompress(o.records, o.raw_size) AS TEXT)) r
"""

_TABLES = """
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
CREATE TABLE IF NOT EXISTS content_verdicts (
    identity TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (identity, key)
) WITHOUT ROWID;
"""

_ASSET_OBJECTS = """
CREATE TABLE IF NOT EXISTS asset_objects (
    asset_id INTEGER NOT NULL REFERENCES assets (id),
    chunk INTEGER NOT NULL,
    keys INTEGER NOT NULL,
    live INTEGER NOT NULL,
    raw_size INTEGER NOT NULL,
    records BLOB NOT NULL,
    PRIMARY KEY (asset_id, chunk)
)"""

_SCHEMA = _TABLES + _ASSET_OBJECTS + ";" + _OBJECT_HISTORY + ";"

_AUDIT_TABLES = """
CREATE TABLE IF NOT EXISTS audits (
    id INTEGER PRIMARY KEY,
    root TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    complete INTEGER NOT NULL DEFAULT 0,
    assets INTEGER,
    clean_assets INTEGER,
    objects INTEGER,
    errors INTEGER,
    warnings INTEGER,
    info INTEGER,
    new INTEGER,
    fixed INTEGER,
    tool_version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audits_root ON audits (root, id);
CREATE TABLE IF NOT EXISTS finding_episodes (
    id INTEGER PRIMARY KEY,
    root TEXT NOT NULL,
    identity TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    asset TEXT,
    path TEXT,
    message TEXT NOT NULL,
    occurrences INTEGER NOT NULL,
    first_audit INTEGER NOT NULL,
    last_audit INTEGER NOT NULL,
    fixed_audit INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS finding_episodes_open ON finding_episodes (root, identity)
    WHERE fixed_audit IS NULL;
CREATE INDEX IF NOT EXISTS finding_episodes_asset ON finding_episodes (root, asset)
    WHERE fixed_audit IS NULL;
CREATE TABLE IF NOT EXISTS asset_facts (
    root TEXT NOT NULL,
    name TEXT NOT NULL,
    schema_version TEXT,
    PRIMARY KEY (root, name)
) WITHOUT ROWID;
"""

_SCHEMA = _TABLES + _ASSET_OBJECTS + ";" + _OBJECT_HISTORY + ";" + _AUDIT_TABLES

_CONTENT_TABLE = _TABLES[_TABLES.index("CREATE TABLE IF NOT EXISTS content_verdicts") :].split(";")[0]
_ADDED_TABLES = _CONTENT_TABLE + ";" + _AUDIT_TABLES
"""The tables added within a schema version: a ledger written before them gains them when opened."""


def add_functions(db: sqlite3.Connection) -> None:
    """Register what the ``object_history`` view needs (the ``sqlite3`` shell has it built in)."""
    db.create_function("sqlar_uncompress", 2, sqlar_uncompress, deterministic=True)


def connect(path: str | Path, *, read_only: bool = True, timeout: float = 5.0) -> sqlite3.Connection:
    """A connection to a ledger on which ``object_history`` works: for scripts and notebooks.
    Read-only, it takes no run lock: it reads what the committed batches hold, even during a run."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"  # as_uri escapes a '?', '#' or '%' in the path
    db = sqlite3.connect(uri, uri=True, timeout=timeout) if read_only else sqlite3.connect(path, timeout=timeout)
    add_functions(db)
    return db


def read_audits(path: str | Path) -> list[Audit]:
    """Every audit a ledger file recorded, read without locking it (a run may be going on)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{path}: ledger file not found")
    db = connect(p, timeout=30)
    try:
        (application,) = db.execute("SELECT value FROM meta WHERE key = 'application'").fetchone() or ("",)
        if application != APPLICATION:
            raise sqlite3.DatabaseError("no ledger metadata")
        return audits(db)
    finally:
        db.close()


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
            with contextlib.suppress(OSError):
                # explicitly, not by closing: a worker forked a moment ago shares the open file
                # until its fork handler has run, and a close would leave the lock to that copy
                _lock_file(self._fh, unlock=True)
            self._fh.close()
            self._fh = None


def _lock_file(fh: IO[str], *, unlock: bool = False) -> None:
    """Take the run lock without waiting (OSError if held), or release it: the lock of the open
    file itself, for every descriptor that shares it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK if unlock else msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_UN if unlock else fcntl.LOCK_EX | fcntl.LOCK_NB)


def _objects_to_blobs(db: sqlite3.Connection) -> None:
    """Schema 1 to 2: one ``objects`` row per key becomes an ``asset_objects`` blob per asset."""
    db.execute(_ASSET_OBJECTS)
    assets = {i for (i,) in db.execute("SELECT id FROM assets")}
    rows = db.execute(
        "SELECT asset_id, key, etag, size, last_modified, version_id, first_seen, last_seen, gone_since"
        " FROM objects ORDER BY asset_id, key"
    )
    for asset_id, group in itertools.groupby(rows, key=lambda r: r[0]):
        entries = []
        for _, key, etag, size, modified, version_id, first, last, gone in group:
            if gone is None:
                entries.append(entry(key, etag, size, micros(from_iso(modified)), micros(from_iso(first)), version_id))
            else:
                entries.append(
                    entry(key, etag, size, micros(from_iso(modified)), micros(from_iso(first)), version_id,
                          micros(from_iso(last)), micros(from_iso(gone)))
                )  # fmt: skip
        if asset_id not in assets:
            continue  # keys of no asset: nothing could read them
        db.executemany(
            "INSERT INTO asset_objects (asset_id, chunk, keys, live, raw_size, records) VALUES (?, ?, ?, ?, ?, ?)",
            [(asset_id, *c) for c in encode_records(entries)],
        )
    db.execute("DROP VIEW IF EXISTS object_history")
    db.execute("DROP TABLE objects")
    db.execute(_OBJECT_HISTORY)


_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _objects_to_blobs}
"""The step from each older schema version to the next."""


def _migrate(db: sqlite3.Connection, path: Path, version: int) -> None:
    """Bring a ledger of an older schema to this one, every step in one transaction (a migration
    that fails leaves the ledger as it was, and says why), then add the tables it lacks."""
    if version < SCHEMA_VERSION:
        _upgrade(db, path, version)
    try:
        db.executescript(_ADDED_TABLES)
    except sqlite3.Error as exc:
        raise ledger_failure(path, exc) from None


def _upgrade(db: sqlite3.Connection, path: Path, version: int) -> None:
    if version not in _MIGRATIONS:
        raise LedgerError(f"{path}: ledger schema {version} is not one this aind-bucket-lint can read or migrate")
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            for step in range(version, SCHEMA_VERSION):
                _MIGRATIONS[step](db)
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise ledger_failure(path, exc) from None
    except (ValueError, TypeError) as exc:  # a time that is not one: written by something else
        raise damaged(path, f"cannot migrate ledger schema {version} to {SCHEMA_VERSION}: {exc}") from None
    with contextlib.suppress(sqlite3.Error):  # give the old rows' pages back; the ledger is fine without
        db.execute("VACUUM")


class Ledger:
    """One ledger file, open for one run: the run lock, the connection (``db``) and the mutex
    its users share. Use :meth:`target` for each audited root's object records and
    :meth:`audit_history` for its audit in the history."""

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
        add_functions(db)
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
        try:
            _migrate(db, self.path, version)
        except BaseException:
            db.close()
            raise
        return db

    def target(self, root: str, upload_window: dt.timedelta) -> TargetLedger:
        """The object records of one audited root, for this run (its ``runs`` entry starts now)."""
        return TargetLedger(self, root, upload_window)

    def audit_history(self, root: str, started_at: str | None = None) -> AuditHistory:
        """This run's audit of one root in the history (its ``audits`` line starts now)."""
        return AuditHistory(self, root, started_at)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self.db.close()
        self._lock.release()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
