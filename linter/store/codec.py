"""The compact per-object records (schema 2): an asset's keys as one zlib-compressed JSON array.

An ``asset_objects`` row per asset (per ``CHUNK_KEYS`` keys of a large one) holds one JSON
array per key, ``[key, etag, size, last_modified, first_seen, version_id, last_seen,
gone_since]``, sorted by key, keys relative to the asset, times as integer microseconds since
the epoch, trailing empty fields left out (``last_seen`` is kept only once the key is gone).
The blob is in the format of SQLite's ``sqlar_uncompress(data, size)`` (built into the
``sqlite3`` shell), which the ``object_history`` view uses.

Pure functions of values: the store's modules write and read the blobs with them.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from typing import Any

from linter.store.records import ObjectRecord

CHUNK_KEYS = 10_000
"""Keys per ``asset_objects`` row: bounds a blob (some 400 kB) and what one read decompresses."""

Row = tuple[Any, ...]

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)


def iso(value: dt.datetime | None) -> str | None:
    """A time as the ledger's ISO text, in UTC (a naive time is UTC)."""
    if value is None:
        return None
    if value.tzinfo is dt.UTC:  # the common case (listings, inventories): as astimezone would give it
        return value.isoformat()
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


def from_iso(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def micros(value: dt.datetime | None) -> int | None:
    """A time as integer microseconds since the epoch (a naive time is UTC, as in :func:`iso`)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - EPOCH) // _MICRO


def sqlar_uncompress(data: bytes | None, size: int | None) -> bytes | None:
    """SQLite's ``sqlar_uncompress``: ``data`` is zlib-compressed unless it is ``size`` bytes long."""
    if data is None or size is None:
        return None
    return data if len(data) == size else zlib.decompress(data)


def entry(
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
            t = times[us] = EPOCH + dt.timedelta(microseconds=us)
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
