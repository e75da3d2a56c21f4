"""S3 Inventory: the object listing from an inventory report instead of listing the bucket.

``--inventory MANIFEST`` names the report's ``manifest.json`` (a local path or an s3:// URL).
Its data files (CSV.gz, or Parquet when pyarrow is installed) are streamed once, row by row,
into a temporary SQLite file indexed by asset, so memory stays flat whatever the object count;
each asset is then read back from it on demand. CSV keys are URL-decoded. When the report
lists all versions (``VersionId``, ``IsLatest``, ``IsDeleteMarker``), the assets carry every
version and delete marker, as a versioned listing does. Sidecars are still read from the
bucket itself (GET), only when a rule asks for them.

A data file that cannot be read stops the audit of the target (exit 2): a partial inventory
would make present objects look deleted.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gzip
import hashlib
import io
import shutil
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote_plus

from linter.conventions import Convention
from linter.plan import S3Settings
from linter.sources import Asset, ObjectInfo, ReadError, SourceError
from linter.sources.s3 import S3Reader, S3Source, describe_error, parse_s3_url

INSERT_BATCH = 10_000
CSV_COLUMNS = {
    "key": "Key",
    "version_id": "VersionId",
    "is_latest": "IsLatest",
    "is_delete_marker": "IsDeleteMarker",
    "size": "Size",
    "last_modified": "LastModifiedDate",
    "etag": "ETag",
}
PARQUET_COLUMNS = {
    "key": "key",
    "version_id": "version_id",
    "is_latest": "is_latest",
    "is_delete_marker": "is_delete_marker",
    "size": "size",
    "last_modified": "last_modified_date",
    "etag": "e_tag",
}

Row = tuple[str, str, int, str | None, str | None, str | None, int, int]
"""(asset, key, size, etag, last_modified, version_id, is_latest, is_delete_marker)"""


class InventoryError(SourceError):
    """The inventory report cannot be used; the message names the file and the problem."""


def _bool(value: Any) -> int:
    if isinstance(value, str):
        return int(value.strip().lower() == "true")
    return int(bool(value))


MAX_SIZE = 2**63 - 1


def _size(value: Any) -> int:
    """An inventory Size: a whole number of bytes (ValueError naming the value otherwise)."""
    if value in (None, ""):
        return 0
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or len(text) > 19 or int(text) > MAX_SIZE:
        raise ValueError(f"Size {_short(value)} is not a number of bytes")
    return int(text)


def _time_text(value: Any) -> str | None:
    """An inventory timestamp (CSV text, or a Parquet timestamp/epoch-ms) as ISO 8601 UTC."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, dt.datetime):
            stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        elif isinstance(value, int | float):
            stamp = dt.datetime.fromtimestamp(value / 1000, dt.UTC)
        else:
            stamp = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return stamp.astimezone(dt.UTC).isoformat()
    except (ValueError, OverflowError, OSError, TypeError):
        raise ValueError(f"LastModifiedDate {_short(value)} is not a date and time") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _manifest_json(location: str, raw: bytes) -> Any:
    """The manifest's JSON (strict: what is wrong names the manifest, never a traceback)."""
    from linter.sidecar_json import parse_json_bytes

    parsed = parse_json_bytes(raw)
    if parsed.error is not None:
        raise InventoryError(f"{location}: the inventory manifest is {parsed.error}")
    return parsed.data


class Manifest:
    """A parsed ``manifest.json``: source bucket, format, columns and data files."""

    def __init__(self, location: str, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("files"), list):
            raise InventoryError(f"{location}: not an S3 Inventory manifest (no 'files' list)")
        self.location = location
        self.source_bucket = str(data.get("sourceBucket", ""))
        destination = str(data.get("destinationBucket", ""))
        self.destination_bucket = destination.removeprefix("arn:aws:s3:::")
        self.format = str(data.get("fileFormat", "CSV")).upper()
        schema = str(data.get("fileSchema", ""))
        self.files: list[dict[str, Any]] = data["files"]
        for i, entry in enumerate(self.files):
            if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) or not entry["key"]:
                raise InventoryError(
                    f"{location}: files[{i}] is not an inventory file entry (an object with a 'key'): {_short(entry)}"
                )
        if self.format == "CSV":
            self.columns = [c.strip() for c in schema.split(",") if c.strip()]
            if "Key" not in self.columns:
                raise InventoryError(f"{location}: fileSchema {schema!r} has no Key column")
        elif self.format == "PARQUET":
            self.columns = []
        else:
            raise InventoryError(
                f"{location}: inventory format {data.get('fileFormat')!r} is not supported; "
                "configure the inventory as CSV (or Parquet, with pyarrow installed)"
            )

    @property
    def has_versions(self) -> bool:
        return self.format == "PARQUET" or {"VersionId", "IsLatest", "IsDeleteMarker"} <= set(self.columns)


class InventorySource:
    """Like :class:`~linter.sources.s3.S3Source`, with the listing read from an inventory report."""

    def __init__(
        self,
        target: str,
        manifest: str,
        convention: Convention,
        settings: S3Settings,
        *,
        jobs: int = 8,
        versions: bool = False,
    ) -> None:
        """``manifest``: the report's manifest.json (a local path or an s3:// URL); the rest as
        for :class:`~linter.sources.s3.S3Source`."""
        self.label = target
        # for GETs, and for an s3:// manifest
        self.s3 = S3Source(target, convention, settings, jobs=jobs, versions=versions)
        self.bucket = self.s3.bucket
        self.client = self.s3.client
        self.location = manifest
        self.wants_versions = self.s3.wants_versions
        self.manifest = Manifest(self.location, _manifest_json(self.location, self._read_small(self.location)))
        if self.manifest.source_bucket and self.manifest.source_bucket != self.bucket:
            raise InventoryError(
                f"{self.location}: the inventory is of bucket {self.manifest.source_bucket!r}, not {self.bucket!r}"
            )
        self._root_objects: list[ObjectInfo] = []
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._tmp = Path(tempfile.mkdtemp(prefix="aind-bucket-lint-inventory-"))
        self._finalizer = weakref.finalize(self, _cleanup, self._tmp, [])
        self.rows_read = 0

    @property
    def single_asset(self) -> bool:
        return self.s3.single_asset

    @property
    def root_url(self) -> str:
        return self.s3.root_url

    def existing_assets(self, names: Sequence[str]) -> frozenset[str]:
        return self.s3.existing_assets(names)

    # -- reading the report -------------------------------------------------------------------

    def _read_small(self, location: str) -> bytes:
        try:
            if location.startswith("s3://"):
                bucket, key = _split(location)
                return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
            return Path(location).read_bytes()
        except Exception as exc:
            raise InventoryError(f"{location}: cannot read the inventory manifest: {_describe(exc)}") from None

    def _open_file(self, key: str) -> IO[bytes]:
        """A data file of the report, as a binary stream: next to a local manifest, else from S3."""
        if not self.location.startswith("s3://"):
            for candidate in self._local_candidates(key):
                if candidate.is_file():
                    return open(candidate, "rb")
        bucket = self.manifest.destination_bucket or _split(self.location)[0]
        if not self.location.startswith("s3://") and not self.manifest.destination_bucket:
            raise InventoryError(f"{self.location}: inventory file {key} not found next to the manifest")
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"]  # type: ignore[no-any-return]
        except Exception as exc:
            where = "" if self.location.startswith("s3://") else " (not found next to the manifest either)"
            raise InventoryError(f"cannot read inventory file s3://{bucket}/{key}{where}: {_describe(exc)}") from None

    def _local_candidates(self, key: str) -> Iterator[Path]:
        """A local copy keeps the destination's layout (``.../<config>/data/<file>``) or holds the
        files beside the manifest: try the key below each folder above the manifest, then the
        file's name beside it and in ``../data/``."""
        manifest = Path(self.location).resolve()
        for folder in manifest.parents:
            yield folder / key
        name = key.rsplit("/", 1)[-1]
        yield manifest.parent / name
        yield manifest.parent.parent / "data" / name

    def _rows(self, entry: dict[str, Any]) -> Iterator[dict[str, Any]]:
        key = str(entry.get("key", ""))
        if self.manifest.format == "PARQUET":
            yield from self._parquet_rows(key)
            return
        expected_md5 = entry.get("MD5checksum")
        digest = hashlib.md5(usedforsecurity=False)
        columns = self.manifest.columns
        with self._open_file(key) as raw:
            hashed = _HashingReader(raw, digest)
            try:
                with gzip.open(hashed, "rt", encoding="utf-8", newline="") as text:
                    for values in csv.reader(text):
                        if values:
                            yield dict(zip(columns, values, strict=False))
            except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
                raise InventoryError(f"inventory file {key}: not a readable CSV.gz file: {exc}") from None
        if expected_md5 and digest.hexdigest() != expected_md5:
            raise InventoryError(
                f"inventory file {key}: MD5 {digest.hexdigest()} differs from the manifest's {expected_md5}"
            )

    def _parquet_rows(self, key: str) -> Iterator[dict[str, Any]]:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise InventoryError(
                f"{self.location}: the inventory is in Parquet format, which needs pyarrow: "
                "pip install 'aind-bucket-lint[parquet]' (or configure the inventory as CSV)"
            ) from None
        local = self._tmp / "part.parquet"
        with self._open_file(key) as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)  # Parquet needs a seekable file
        try:
            parquet = pq.ParquetFile(local)
            names = set(parquet.schema_arrow.names)
            wanted = [c for c in PARQUET_COLUMNS.values() if c in names]
            if "key" not in names:
                raise InventoryError(f"inventory file {key}: no 'key' column")
            for batch in parquet.iter_batches(batch_size=INSERT_BATCH, columns=wanted):
                yield from batch.to_pylist()
        except InventoryError:
            raise
        except Exception as exc:
            raise InventoryError(f"inventory file {key}: not a readable Parquet file: {exc}") from None
        finally:
            local.unlink(missing_ok=True)

    def _normalized(self, rows: Iterable[dict[str, Any]], scan_prefix: str, file: str = "") -> Iterator[Row]:
        """Rows under the target prefix, as (asset, key-in-asset, ...); root objects get asset ''.
        A row whose size or date cannot be read stops the audit with the file, row and value."""
        for number, r in enumerate(rows, 1):
            self.rows_read += 1
            try:
                row = self._row(r, scan_prefix)
            except (ValueError, TypeError, OverflowError) as exc:
                raise InventoryError(f"inventory file {file}, row {number}: {exc}") from None
            if row is not None:
                yield row

    def _row(self, r: dict[str, Any], scan_prefix: str) -> Row | None:
        names = CSV_COLUMNS if self.manifest.format == "CSV" else PARQUET_COLUMNS
        decode = self.manifest.format == "CSV"
        cut = len(scan_prefix)
        full = r.get(names["key"]) or ""
        if decode:
            full = unquote_plus(full)
        if not full.startswith(scan_prefix):
            return None
        rel = full[cut:]
        asset, sep, key = rel.partition("/")
        if not sep:
            asset, key = "", rel
        size = _size(r.get(names["size"]))
        if not key or (key.endswith("/") and not size):
            return None  # the prefix's own key, or a zero-byte folder marker
        version = r.get(names["version_id"]) or None
        is_latest = _bool(r[names["is_latest"]]) if names["is_latest"] in r else 1
        marker = _bool(r[names["is_delete_marker"]]) if names["is_delete_marker"] in r else 0
        etag = r.get(names["etag"]) or None
        return (
            asset,
            key,
            size,
            etag.strip('"') if etag else None,
            _time_text(r.get(names["last_modified"])),
            version if version != "null" else None,
            is_latest,
            marker,
        )

    def _load(self) -> sqlite3.Connection:
        """Stream every data file of the report into the temporary index, once."""
        if self._db is not None:
            return self._db
        db = sqlite3.connect(self._tmp / "inventory.sqlite", check_same_thread=False, isolation_level=None)
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _cleanup, self._tmp, [db])
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute(
            "CREATE TABLE rows (asset TEXT, key TEXT, size INTEGER, etag TEXT, last_modified TEXT,"
            " version_id TEXT, is_latest INTEGER, is_delete_marker INTEGER)"
        )
        scan = self.s3.root_prefix + (f"{self.s3._leaf}/" if self.s3.single_asset else "")
        db.execute("BEGIN")
        for entry in self.manifest.files:
            batch: list[Row] = []
            for row in self._normalized(self._rows(entry), scan, str(entry.get("key", ""))):
                batch.append(row)
                if len(batch) >= INSERT_BATCH:
                    db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
                    batch = []
            db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
        db.execute("CREATE INDEX rows_by_asset ON rows (asset, key)")
        db.execute("COMMIT")
        self._db = db
        return db

    # -- the Source protocol ------------------------------------------------------------------

    def asset_names(self) -> Iterator[str]:
        db = self._load()
        current = "is_latest = 1 AND is_delete_marker = 0"
        if self.s3.single_asset:
            assert self.s3._leaf is not None
            yield self.s3._leaf
            return
        root = db.execute(f"SELECT key, size, etag, last_modified, version_id FROM rows WHERE asset = '' AND {current}")
        self._root_objects = [ObjectInfo(r[0], r[1], r[2], _parse(r[3]), r[4]) for r in sorted(root)]
        names = [r[0] for r in db.execute(f"SELECT DISTINCT asset FROM rows WHERE asset != '' AND {current}")]
        if self.s3.root_prefix and not names and any(o.key == "data_description.json" for o in self._root_objects):
            raise InventoryError(
                f"{self.label}: this prefix is an asset (it holds data_description.json); with --inventory give "
                "the prefix that holds it"
            )
        yield from sorted(names)

    def root_objects(self) -> list[ObjectInfo]:
        return self._root_objects

    def root_errors(self) -> list[ReadError]:
        return []

    def load_asset(self, name: str) -> Asset:
        asset = Asset(name)
        db = self._load()
        with self._lock:
            rows = db.execute(
                "SELECT key, size, etag, last_modified, version_id, is_latest, is_delete_marker FROM rows"
                " WHERE asset = ? ORDER BY key",
                (name,),
            ).fetchall()
        infos = [ObjectInfo(r[0], r[1], r[2], _parse(r[3]), r[4], bool(r[5]), bool(r[6])) for r in rows]
        if self.wants_versions and self.manifest.has_versions:
            asset.versions = infos
        asset.objects = [o for o in infos if o.is_latest and not o.is_delete_marker]
        return asset

    def read(self, asset: str, key: str, limit: int) -> bytes:
        return self.s3.read(asset, key, limit)

    def reader(self) -> S3Reader:
        return self.s3.reader()

    @property
    def requests(self) -> Any:
        return self.s3.requests


class _HashingReader(io.RawIOBase):
    """Feeds what is read through a hash (the manifest's MD5 of each data file)."""

    def __init__(self, raw: IO[bytes], digest: Any) -> None:
        self.raw = raw
        self.digest = digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.digest.update(data)
        return n


def _parse(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _split(url: str) -> tuple[str, str]:
    bucket, key = parse_s3_url(url)
    return bucket, key.rstrip("/")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not type(exc).__module__.startswith("botocore"):
        return exc.strerror or str(exc)
    return describe_error(exc)


def _cleanup(folder: Path, connections: list[sqlite3.Connection]) -> None:
    for db in connections:
        with contextlib.suppress(sqlite3.Error):
            db.close()
    shutil.rmtree(folder, ignore_errors=True)
