"""The object records of one audited root: each asset's sightings, its keys as first recorded,
and the verdicts of the content-reading rules, for immutability and incremental runs.

For every asset of every audited root (``s3://bucket/prefix/`` or a local folder) the ledger
keeps the asset's first and last sighting and its sealed time, and for every key the ETag, size,
LastModified and version *as first recorded*, with the key's first and last sighting and,
once it disappears, since when it is gone. A record is never rewritten with later values: the
immutability rules compare each night's listing with what was first published, so a change is
reported on every run (not only on the night it happened), and a run killed after writing
the ledger but before writing its report loses nothing.

It also keeps, per asset, the findings of the content-reading rules and the fingerprint of
the root-level objects they were computed from (the engine's ``VerdictStore``), so an
unchanged asset is not fetched again, and verdicts by content (``content_verdicts``), pickled
and read back with an unpickler that loads only the linter's own classes.

Writes are batched: a batch of assets is one transaction (WAL journal), so a run killed at any
moment (kill -9) leaves a ledger holding every batch committed before, and nothing half
written. An asset's keys are rewritten only when its listing digest changes; an unchanged
asset costs one update of its ``assets`` row (:mod:`linter.store.codec`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import pickle
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from linter import __version__
from linter.findings import Finding
from linter.sources import Asset, ObjectInfo
from linter.store.codec import Row, decode_records, encode_records, entry, from_iso, iso, micros
from linter.store.errors import damaged, guarded
from linter.store.records import AssetHistory, ObjectRecord, VanishedAsset, first_object_time

if TYPE_CHECKING:
    from linter.store.db import Ledger

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


def listing_digest(asset: Asset) -> str:
    """Identifies an asset's listing: equal digests mean nothing to write but the sighting."""
    h = hashlib.sha1(usedforsecurity=False)
    for o in sorted(asset.objects, key=lambda o: o.key):
        h.update(f"{o.key}\0{o.etag}\0{o.size}\0{iso(o.last_modified)}\0{o.version_id}\n".encode())
    return h.hexdigest()


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

    @guarded
    def __init__(self, ledger: Ledger, root: str, upload_window: dt.timedelta) -> None:
        self.ledger = ledger
        self.path = ledger.path
        self.root = root
        self.window = upload_window
        self.now = ledger.now
        self.now_text = iso(self.now)
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

    @guarded
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
                from_iso(row[4]),
                from_iso(row[5]),
                from_iso(row[6]),
                records,
                from_iso(row[3]),
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
            raise damaged(self.path, f"an asset's object records cannot be read: {exc}") from None

    def get_verdicts(self, asset: str, fingerprint: str) -> list[Finding] | None:
        with self._mutex:
            history = self._histories.get(asset)
        if history is None or history.verdict_fingerprint != fingerprint or history.verdicts is None:
            return None
        return [Finding.from_dict(d) for d in json.loads(history.verdicts)]

    def put_verdicts(self, asset: str, fingerprint: str, findings: list[Finding]) -> None:
        with self._mutex:
            self._verdicts[asset] = (fingerprint, list(findings))

    @guarded
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

    @guarded
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
                VanishedAsset(name, keys, dt.datetime.fromisoformat(last_seen), from_iso(gone_since) or self.now)
                for name, last_seen, gone_since, keys in sorted(gone, key=lambda r: r[0])
            ]
        return out

    # -- writing ------------------------------------------------------------------------------

    @guarded
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

    @guarded
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

    @guarded
    def flush(self) -> None:
        with self._mutex:
            self._flush_locked()

    @guarded
    def finish(self) -> None:
        """Commit what is pending and close the run's entry."""
        with self._mutex:
            self._flush_locked()
            self._db.execute(
                "UPDATE runs SET finished_at = ?, assets = ? WHERE id = ?",
                (iso(dt.datetime.now(dt.UTC)), self.recorded, self.run_id),
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
        values = (iso(first_object), iso(sealed_at), iso(sealed_seen), p.digest, verdict_fp, verdicts)
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
            old = self._decode([(k[1], k[2]) for k in known], dt.datetime.fromisoformat(known[0][0])) if known else {}
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
    now_us = micros(now)
    rows: list[Row] = []
    seen = set()
    for o in listed:
        if o.key in seen:  # listed twice: recorded once
            continue
        seen.add(o.key)
        rec = old.get(o.key)
        if rec is None:
            rows.append(entry(o.key, o.etag, o.size, micros(o.last_modified), now_us, o.version_id))
        else:
            rows.append(
                entry(o.key, rec.etag, rec.size, micros(rec.last_modified), micros(rec.first_seen), rec.version_id)
            )
    for key, rec in old.items():
        if key in seen:
            continue
        base = (key, rec.etag, rec.size, micros(rec.last_modified), micros(rec.first_seen), rec.version_id)
        if rec.gone_since is not None:
            rows.append(entry(*base, micros(rec.last_seen), micros(rec.gone_since)))
        elif rec.last_seen < now:
            rows.append(entry(*base, micros(rec.last_seen), now_us))
        else:  # seen by this very run already (as schema 1 did: not gone before a later run)
            rows.append(entry(*base))
    return rows
