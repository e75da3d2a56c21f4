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

Tables (``sqlite3 LEDGER``): ``runs``, ``assets``, ``asset_objects``, and the view
``object_history`` (one row per key, with its asset's name and its effective last sighting).

Per-object records are compact (schema 2): an ``asset_objects`` row per asset (per
``CHUNK_KEYS`` keys of a large one) holds its keys as one zlib-compressed JSON array (keys
relative to the asset, times as integer microseconds, trailing empty fields left out),
rewritten only when the asset's listing digest changes; an unchanged asset costs one update of
its ``assets`` row. The blob is in the format of SQLite's ``sqlar_uncompress(data, size)``
(built into the ``sqlite3`` shell), which the view uses; :func:`connect` registers it for
Python. A schema 1 ledger (one ``objects`` row per key) is migrated when opened, in one
transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import io
import itertools
import json
import os
import pickle
import socket
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from linter import __version__
from linter.findings import Finding
from linter.sources import Asset, ObjectInfo

SCHEMA_VERSION = 2
APPLICATION = "aind-bucket-lint ledger"
BATCH_ASSETS = 64
BATCH_SECONDS = 1.0
CHUNK_KEYS = 10_000
"""Keys per ``asset_objects`` row: bounds a blob (some 400 kB) and what one read decompresses."""


def _iso_sql(value: str) -> str:
    """SQL turning integer microseconds since the epoch into the ISO text of ``_ts``."""
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


_CONTENT_TABLE = _TABLES[_TABLES.index("CREATE TABLE IF NOT EXISTS content_verdicts") :].split(";")[0]
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
    if value.tzinfo is dt.UTC:  # the common case (listings, inventories): as astimezone would give it
        return value.isoformat()
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


def _dt(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)


def _us(value: dt.datetime | None) -> int | None:
    """A time as integer microseconds since the epoch (a naive time is UTC, as in ``_ts``)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - _EPOCH) // _MICRO


def sqlar_uncompress(data: bytes | None, size: int | None) -> bytes | None:
    """SQLite's ``sqlar_uncompress``: ``data`` is zlib-compressed unless it is ``size`` bytes long."""
    if data is None or size is None:
        return None
    return data if len(data) == size else zlib.decompress(data)


def add_functions(db: sqlite3.Connection) -> None:
    """Register what the ``object_history`` view needs (the ``sqlite3`` shell has it built in)."""
    db.create_function("sqlar_uncompress", 2, sqlar_uncompress, deterministic=True)


def connect(path: str | Path, *, read_only: bool = True) -> sqlite3.Connection:
    """A connection to a ledger on which ``object_history`` works: for scripts and notebooks."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"  # as_uri escapes a '?', '#' or '%' in the path
    db = sqlite3.connect(uri, uri=True) if read_only else sqlite3.connect(path)
    add_functions(db)
    return db


Row = tuple[Any, ...]


def _row(
    key: str,
    etag: str | None,
    size: int,
    last_modified: int | None,
    first_seen: int | None,
    version_id: str | None = None,
    last_seen: int | None = None,
    gone_since: int | None = None,
) -> Row:
    """One key's entry in an asset's blob, without its trailing empty fields."""
    row: Row = (key, etag, size, last_modified, first_seen, version_id, last_seen, gone_since)
    n = len(row)
    while n > 5 and row[n - 1] is None:
        n -= 1
    return row[:n]


def encode_records(rows: list[Row]) -> list[tuple[int, int, int, int, bytes]]:
    """An asset's entries, sorted by key, as (chunk, keys, live keys, raw size, blob) of at most
    ``CHUNK_KEYS`` keys each; a blob is zlib unless that is no smaller."""
    rows = sorted(rows, key=lambda r: r[0])
    out = []
    for chunk, start in enumerate(range(0, len(rows), CHUNK_KEYS)):
        part = rows[start : start + CHUNK_KEYS]
        raw = json.dumps(part, ensure_ascii=False, separators=(",", ":")).encode()
        packed = zlib.compress(raw, 6)
        live = sum(1 for r in part if len(r) < 8)  # the last field, gone_since, is set once gone
        out.append((chunk, len(part), live, len(raw), packed if len(packed) < len(raw) else raw))
    return out


def decode_records(blob: bytes, raw_size: int, last_seen: dt.datetime) -> dict[str, ObjectRecord]:
    """An asset's records from its blob; a key still listed was last seen with its asset."""
    times: dict[int | None, dt.datetime | None] = {None: None}  # the keys of one audit share their times

    def when(us: int | None) -> dt.datetime | None:
        t = times.get(us)
        if t is None and us is not None:
            t = times[us] = _EPOCH + dt.timedelta(microseconds=us)
        return t

    out = {}
    for r in json.loads(sqlar_uncompress(blob, raw_size) or b"[]"):
        n = len(r)
        gone = r[7] if n > 7 else None
        out[r[0]] = ObjectRecord(
            r[0], r[1], r[2], when(r[3]), r[5] if n > 5 else None, when(r[4]) or last_seen,
            (when(r[6]) or last_seen) if gone is not None else last_seen, when(gone),
        )  # fmt: skip
    return out


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


def _migrate(db: sqlite3.Connection, path: Path, version: int) -> None:
    """Bring a schema 1 ledger (one ``objects`` row per key) to this schema, in one transaction:
    a migration that fails leaves the ledger as it was, and says why."""
    if version != 1:
        raise LedgerError(f"{path}: ledger schema {version} is not one this aind-bucket-lint can read or migrate")
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
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
                        entries.append(_row(key, etag, size, _us(_dt(modified)), _us(_dt(first)), version_id))
                    else:
                        entries.append(
                            _row(key, etag, size, _us(_dt(modified)), _us(_dt(first)), version_id,
                                 _us(_dt(last)), _us(_dt(gone)))
                        )  # fmt: skip
                if asset_id not in assets:
                    continue  # keys of no asset: nothing could read them
                db.executemany(
                    "INSERT INTO asset_objects (asset_id, chunk, keys, live, raw_size, records)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [(asset_id, *c) for c in encode_records(entries)],
                )
            db.execute("DROP VIEW IF EXISTS object_history")
            db.execute("DROP TABLE objects")
            db.execute(_OBJECT_HISTORY)
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise ledger_failure(path, exc) from None
    except (ValueError, TypeError) as exc:  # a time that is not one: written by something else
        raise LedgerError(
            f"{path}: the file is damaged; restore it from a backup or give a new --ledger "
            f"(cannot migrate ledger schema {version} to {SCHEMA_VERSION}: {exc})"
        ) from None
    with contextlib.suppress(sqlite3.Error):  # give the old rows' pages back; the ledger is fine without
        db.execute("VACUUM")


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
        if version < SCHEMA_VERSION:
            try:
                _migrate(db, self.path, version)
            except BaseException:
                db.close()
                raise
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
    looked_up: bool = True
    """The run read the asset's history (None: it was not in the ledger then)."""


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
            chunks = (
                self._db.execute(
                    "SELECT records, raw_size FROM asset_objects WHERE asset_id = ? ORDER BY chunk", (row[0],)
                ).fetchall()
                if row
                else []
            )
        if row is None:
            history = None
        else:
            parse = dt.datetime.fromisoformat
            records = self._decode(chunks, parse(row[2]))
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

    def _decode(self, chunks: list[tuple[bytes, int]], last_seen: dt.datetime) -> dict[str, ObjectRecord]:
        try:
            records: dict[str, ObjectRecord] = {}
            for blob, raw_size in chunks:
                records.update(decode_records(blob, raw_size, last_seen))
            return records
        except (zlib.error, ValueError, TypeError, IndexError) as exc:  # a blob SQLite read intact but not ours
            raise LedgerError(
                f"{self.path}: the file is damaged; restore it from a backup or give a new --ledger "
                f"(an asset's object records cannot be read: {exc})"
            ) from None

    def get_verdicts(self, asset: str, fingerprint: str) -> list[Finding] | None:
        with self._mutex:
            history = self._histories.get(asset)
        if history is None or history.verdict_fingerprint != fingerprint or history.verdicts is None:
            return None
        return [Finding.from_dict(d) for d in json.loads(history.verdicts)]

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
                "SELECT a.name, a.last_seen, a.gone_since, coalesce(sum(o.live), 0) FROM assets a"
                " LEFT JOIN asset_objects o ON o.asset_id = a.id WHERE a.root = ? GROUP BY a.id",
                (self.root,),
            ).fetchall()
            gone = [r for r in rows if r[0] not in present]
            out = [
                VanishedAsset(name, keys, parse_ts(last_seen), _dt(gone_since) or self.now)
                for name, last_seen, gone_since, keys in sorted(gone, key=lambda r: r[0])
            ]
        return out

    # -- writing ------------------------------------------------------------------------------

    @_guarded
    def record(self, asset: Asset) -> None:
        """Queue the asset's sighting; commits in batches. An asset whose listing failed is not
        recorded: its missing keys would look deleted, and new keys added on the next run."""
        with self._mutex:
            looked_up = asset.name in self._histories
            history = self._histories.pop(asset.name, None)
            verdict = self._verdicts.pop(asset.name, None)
            if asset.errors:
                return
            self._pending.append(_Pending(asset, history, listing_digest(asset), verdict, looked_up))
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
            # never recorded (its history was read, and absent), or not read by this run: then
            # what the ledger holds is merged
            known = (
                []
                if p.looked_up
                else db.execute(
                    "SELECT a.last_seen, o.records, o.raw_size FROM assets a JOIN asset_objects o"
                    " ON o.asset_id = a.id WHERE a.root = ? AND a.name = ? ORDER BY o.chunk",
                    (self.root, p.asset.name),
                ).fetchall()
            )
            cur = db.execute(
                "INSERT INTO assets (root, name, first_seen, last_seen, first_object_at, sealed_at, sealed_seen,"
                " listing_digest, verdict_fingerprint, verdicts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (root, name) DO UPDATE SET last_seen = excluded.last_seen RETURNING id",
                (self.root, p.asset.name, now, now, *values),
            )
            (asset_id,) = cur.fetchone()
            old = self._decode([(k[1], k[2]) for k in known], parse_ts(known[0][0])) if known else {}
        else:
            asset_id = h.asset_id
            db.execute(
                "UPDATE assets SET last_seen = ?, gone_since = NULL, first_object_at = ?, sealed_at = ?,"
                " sealed_seen = ?, listing_digest = ?, verdict_fingerprint = ?, verdicts = ? WHERE id = ?",
                (now, *values, asset_id),
            )
            if h.listing_digest == p.digest:
                return  # same listing as last time: the keys' sightings follow the asset's last_seen
            old = h.records
        if h is not None or not p.looked_up:  # a new asset has no chunks to replace
            db.execute("DELETE FROM asset_objects WHERE asset_id = ?", (asset_id,))
        db.executemany(
            "INSERT INTO asset_objects (asset_id, chunk, keys, live, raw_size, records) VALUES (?, ?, ?, ?, ?, ?)",
            [(asset_id, *c) for c in encode_records(merge_records(old, p.asset.objects, self.now))],
        )


def merge_records(old: dict[str, ObjectRecord], listed: Iterable[ObjectInfo], now: dt.datetime) -> list[Row]:
    """An asset's entries after a sighting at ``now``: a listed key keeps its first record (a new
    one is recorded as listed); a recorded key no longer listed is gone since now, and stays so."""
    now_us = _us(now)
    rows: list[Row] = []
    seen = set()
    for o in listed:
        if o.key in seen:  # listed twice: recorded once
            continue
        seen.add(o.key)
        rec = old.get(o.key)
        if rec is None:
            rows.append(_row(o.key, o.etag, o.size, _us(o.last_modified), now_us, o.version_id))
        else:
            rows.append(_row(o.key, rec.etag, rec.size, _us(rec.last_modified), _us(rec.first_seen), rec.version_id))
    for key, rec in old.items():
        if key in seen:
            continue
        base = (key, rec.etag, rec.size, _us(rec.last_modified), _us(rec.first_seen), rec.version_id)
        if rec.gone_since is not None:
            rows.append(_row(*base, _us(rec.last_seen), _us(rec.gone_since)))
        elif rec.last_seen < now:
            rows.append(_row(*base, _us(rec.last_seen), now_us))
        else:  # seen by this very run already (as schema 1 did: not gone before a later run)
            rows.append(_row(*base))
    return rows


def parse_ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)
