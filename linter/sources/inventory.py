"""S3 Inventory: the object listing from an inventory report instead of listing the bucket.

``--inventory MANIFEST`` names the report's ``manifest.json`` (a local path or an s3:// URL).
Its data files (CSV.gz or Parquet, read by DuckDB; ORC through pyarrow) are read once, in
DuckDB, into a columnar table sorted by asset in a temporary folder (DuckDB spills to disk past
its memory limit, so memory stays flat whatever the object count); no row goes through Python
until the assets are handed out, in order, streamed from that table in Arrow batches. When the
engine offers a condition (:meth:`InventorySource.prefilter`: the rules' ``clears``, on a run
without a ledger), the report is read into an in-memory table instead, summarized by asset
(:data:`linter.sources.SUMMARY_COLUMNS`), and only the assets the condition does not clear are
sorted into that table and handed out; the others never reach Python. CSV keys
are URL-decoded. When the report
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
import functools
import gzip
import hashlib
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote_plus

from linter.conventions import Convention
from linter.names import parse_name, strict_name_pattern
from linter.plan import RunPlan, S3Settings
from linter.sources import Asset, ClearedAsset, ObjectInfo, ReadError, SourceError, object_info
from linter.sources.s3client import (
    EXTRA_CONNECTIONS,
    S3Connection,
    S3Prefix,
    S3Reader,
    describe_error,
    existing_assets,
    parse_s3_url,
)

DUCKDB_MEMORY = "1GB"
"""DuckDB's memory limit while reading and sorting the report; past it, it spills to the temporary folder."""
STREAM_BATCH = 65_536
"""Rows read from the sorted table at a time when handing out assets."""
ORDER = "asset, key, modified DESC NULLS LAST"
"""The order of the objects table: by asset, each key's versions newest first."""
ROW_COLUMNS = (
    "asset VARCHAR, key VARCHAR, size BIGINT, etag VARCHAR, modified BIGINT, version_id VARCHAR,"
    " is_latest BOOLEAN, is_delete_marker BOOLEAN, bad BOOLEAN"
)
"""The objects table's columns (one row per object or version of the report)."""
AHEAD_LIMIT = 4096
"""Assets kept that were streamed past before they were asked for (the engine asks in order)."""
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


def open_inventory(target: str, plan: RunPlan) -> InventorySource:
    """An ``s3://`` target listed from the plan's ``--inventory`` report."""
    assert plan.inventory is not None
    return InventorySource(
        target, plan.inventory, plan.convention, plan.s3, jobs=plan.jobs, versions=plan.wants_versions
    )


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
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_SIZE:
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
        elif self.format in ("PARQUET", "ORC"):
            self.columns = []
        else:
            raise InventoryError(
                f"{location}: inventory format {data.get('fileFormat')!r} is not supported; "
                "configure the inventory as CSV, Parquet or ORC"
            )

    @property
    def has_versions(self) -> bool:
        return self.format in ("PARQUET", "ORC") or {"VersionId", "IsLatest", "IsDeleteMarker"} <= set(self.columns)


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
        self.convention = convention
        self._condition: str | None = None  # the rules' clearance (prefilter), until the report is read
        self.summarized = False  # the report was summarized by asset and the condition applied
        self.prefix = S3Prefix.of(target, convention)
        self.bucket = self.prefix.bucket
        self.jobs = max(1, jobs)
        # for GETs, and for an s3:// manifest
        self.connection = S3Connection(self.bucket, settings, self.jobs + EXTRA_CONNECTIONS)
        self.client = self.connection.client
        self.location = manifest
        self.wants_versions = versions
        self.manifest = Manifest(self.location, _manifest_json(self.location, self._read_small(self.location)))
        if self.manifest.source_bucket and self.manifest.source_bucket != self.bucket:
            raise InventoryError(
                f"{self.location}: the inventory is of bucket {self.manifest.source_bucket!r}, not {self.bucket!r}"
            )
        self._root_objects: list[ObjectInfo] = []
        self._names: set[str] = set()
        self._ahead: dict[str, list[ObjectInfo]] = {}
        self._stream: Iterator[tuple[str, list[ObjectInfo]]] | None = None
        self._db: Any = None
        self._lock = threading.Lock()
        self._tmp = Path(tempfile.mkdtemp(prefix="aind-bucket-lint-inventory-"))
        self._finalizer = weakref.finalize(self, _cleanup, self._tmp, [])
        self.rows_read = 0

    @property
    def single_asset(self) -> bool:
        return self.prefix.single_asset

    @property
    def root_url(self) -> str:
        return self.prefix.url

    def existing_assets(self, names: Sequence[str]) -> frozenset[str]:
        return existing_assets(self.client, self.bucket, self.prefix.given, names, self.jobs)

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

    def _local_file(self, entry: dict[str, Any]) -> tuple[Path, bool]:
        """The data file as a local path, and whether it is a temporary copy (fetched from S3 into
        the temporary folder when needed), with the manifest's MD5 checked for CSV files."""
        key = str(entry.get("key", ""))
        path: Path | None = None
        if not self.location.startswith("s3://"):
            path = next((c for c in self._local_candidates(key) if c.is_file()), None)
        copied = path is None
        if path is None:
            path = self._tmp / f"part-{hashlib.sha256(key.encode()).hexdigest()[:16]}{_suffix(key)}"
            with self._open_file(key) as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        expected = entry.get("MD5checksum")
        if expected and self.manifest.format == "CSV":
            with open(path, "rb") as fh:
                digest = hashlib.file_digest(fh, "md5").hexdigest()
            if digest != expected:
                raise InventoryError(f"inventory file {key}: MD5 {digest} differs from the manifest's {expected}")
        return path, copied

    def _select(
        self, relation: str, names: dict[str, str], types: dict[str, str], scan_prefix: str, *, decoded: bool = False
    ) -> str:
        """SQL normalising one data file's rows under the target prefix to (asset, key-in-asset,
        size, etag, last_modified in epoch microseconds, version_id, is_latest, is_delete_marker,
        bad); root objects get asset ''. ``names``: our field -> the file's column; ``types``: its
        types; ``decoded``: the CSV keys of ``relation`` are URL-decoded already. ``bad`` marks a
        row whose Size or LastModifiedDate :func:`_size` or :func:`_time_text` would refuse (kept,
        so that the audit can stop naming it)."""

        def col(field: str) -> str | None:
            name = names[field]
            return f'"{name}"' if name in types else None

        def integer(field: str) -> bool:
            return types[names[field]].upper() in ("BIGINT", "INTEGER", "HUGEINT", "UBIGINT", "SMALLINT", "TINYINT")

        full = col("key")
        assert full is not None
        if self.manifest.format == "CSV" and not decoded:  # CSV keys are URL-encoded, a space as '+'
            full = _decoded(full)
        size = col("size")
        if size is None:
            size_sql = "0"
        elif integer("size"):
            size_sql = f"CASE WHEN {size} IS NULL THEN 0 WHEN {size} >= 0 THEN CAST({size} AS BIGINT) END"
        else:  # a whole number of bytes, digits only (NULL when not: a bad row)
            text = f"CAST({size} AS VARCHAR)"
            # digits alone (nearly every row) are cast as they are: a regular expression that
            # extracts is dearer than one that only matches; the rest (spaces, 19 digits) is extracted
            size_sql = (
                f"CASE WHEN {text} IS NULL OR {text} = '' THEN 0 "
                f"WHEN regexp_full_match({text}, '[0-9]{{1,18}}') THEN CAST({text} AS BIGINT) "
                f"ELSE TRY_CAST(nullif(regexp_extract({text}, '^\\s*([0-9]{{1,19}})\\s*$', 1), '') AS BIGINT) END"
            )
        etag = col("etag")
        etag_sql = f"nullif(trim(CAST({etag} AS VARCHAR), '\"'), '')" if etag else "NULL"
        modified = col("last_modified")
        time_bad = "false"
        time_text = "NULL"
        if modified is None:
            time_sql = "NULL"
        elif integer("last_modified"):
            time_sql = f"CAST({modified} AS BIGINT) * 1000"  # epoch milliseconds
        elif types[names["last_modified"]].upper().startswith("TIMESTAMP"):
            time_sql = f"epoch_us(CAST({modified} AS TIMESTAMPTZ))"
        else:
            time_text = f"nullif(CAST({modified} AS VARCHAR), '')"
            time_sql = f"epoch_us(TRY_CAST({time_text} AS TIMESTAMPTZ))"
            time_bad = "(modified_text IS NOT NULL AND modified IS NULL)"  # parsed once, below
        version = col("version_id")
        version_sql = f"nullif(nullif(CAST({version} AS VARCHAR), ''), 'null')" if version else "NULL"

        def flag(field: str, default: str) -> str:
            c = col(field)
            return f"coalesce(lower(trim(CAST({c} AS VARCHAR))) = 'true', {default})" if c else default

        cut = len(scan_prefix)
        prefix = scan_prefix.replace("'", "''")
        skipped = "(key = '' OR (ends_with(key, '/') AND coalesce(size, 0) = 0))"  # the prefix, folder markers
        return f"""
            SELECT asset, key, coalesce(size, 0) AS size, etag, modified, version_id, is_latest, is_delete_marker,
                size IS NULL OR (NOT {skipped} AND time_bad) AS bad
            FROM (
                SELECT
                    CASE WHEN strpos(rel, '/') > 0 THEN split_part(rel, '/', 1) ELSE '' END AS asset,
                    CASE WHEN strpos(rel, '/') > 0 THEN substr(rel, strpos(rel, '/') + 1) ELSE rel END AS key,
                    {time_bad} AS time_bad,
                    *
                FROM (
                    SELECT substr(full_key, {cut + 1}) AS rel, {size_sql} AS size, {etag_sql} AS etag,
                        {time_sql} AS modified, {time_text} AS modified_text, {version_sql} AS version_id,
                        {flag("is_latest", "true")} AS is_latest,
                        {flag("is_delete_marker", "false")} AS is_delete_marker
                    FROM (SELECT {full} AS full_key, * FROM {relation})
                    WHERE starts_with(full_key, '{prefix}')
                )
            )
            WHERE size IS NULL OR NOT {skipped}
        """

    def _insert(self, db: Any, entry: dict[str, Any], scan_prefix: str) -> None:
        """One data file into the ``rows`` table; a row whose size or date cannot be read stops
        the audit with the file, row and value (found again, row by row, only then)."""
        key = str(entry.get("key", ""))
        local, copied = self._local_file(entry)
        path = str(local).replace("'", "''")
        fmt = self.manifest.format
        try:
            try:
                if fmt in ("CSV", "PARQUET"):
                    relation, names = self._relation(f"'{path}'")
                else:  # ORC: DuckDB does not read it; pyarrow gives its stripes one by one
                    self._insert_orc(db, key, str(local), scan_prefix)
                    relation = ""
                if relation:
                    types = {str(r[0]): str(r[1]) for r in db.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
                    if names["key"] not in types:
                        raise InventoryError(f"inventory file {key}: no '{names['key']}' column")
                    db.execute(f"INSERT INTO rows {self._select(relation, names, types, scan_prefix)}")
            except InventoryError:
                raise
            except Exception as exc:
                what = {"CSV": "CSV.gz", "PARQUET": "Parquet", "ORC": "ORC"}[fmt]
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise InventoryError(f"inventory file {key}: not a readable {what} file: {message}") from None
            if db.execute("SELECT 1 FROM rows WHERE bad LIMIT 1").fetchone() is not None:
                for _ in self._normalized(self._rows(local), scan_prefix, key):
                    pass  # raises, naming the first bad row
                raise InventoryError(f"inventory file {key}: a Size or LastModifiedDate cannot be read")
        finally:
            if copied:
                local.unlink(missing_ok=True)  # read: the temporary folder keeps only the table

    def _relation(self, files: str) -> tuple[str, dict[str, str]]:
        """DuckDB's reader of ``files`` (an SQL string literal or list of them) in the manifest's
        format (CSV or Parquet), and the names of our fields in it."""
        if self.manifest.format == "PARQUET":
            return f"read_parquet({files}, union_by_name = true)", PARQUET_COLUMNS
        columns = ", ".join(f"'{c}': 'VARCHAR'" for c in self.manifest.columns)
        relation = (
            f"read_csv({files}, header = false, columns = {{{columns}}}, compression = 'gzip', "
            "quote = '\"', escape = '\"', delim = ',', auto_detect = false, strict_mode = false, null_padding = true)"
        )
        return relation, CSV_COLUMNS

    @contextlib.contextmanager
    def _all_files(
        self, db: Any, entries: list[dict[str, Any]]
    ) -> Iterator[tuple[str, dict[str, str], dict[str, str]] | None]:
        """DuckDB's reader of all the report's data files, our fields' names in it and its columns'
        types; None when DuckDB cannot describe them or they have no key column. Remote files are
        copied for the while (a wrong MD5 or a file that cannot be fetched is named right here)."""
        copies: list[Path] = []
        try:
            paths: list[str] = []
            for entry in entries:
                local, copied = self._local_file(entry)
                paths.append(str(local))
                if copied:
                    copies.append(local)
            relation, names = self._relation("[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]")
            try:
                described = db.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
            except Exception:
                described = []
            types = {str(r[0]): str(r[1]) for r in described}
            yield (relation, names, types) if names["key"] in types else None
        finally:
            for copy in copies:
                copy.unlink(missing_ok=True)

    def _insert_together(self, db: Any, entries: list[dict[str, Any]], scan_prefix: str) -> bool:
        """Every CSV or Parquet data file into the sorted ``objects`` table in one statement, so that DuckDB
        reads the files in parallel (one gzip stream is read by one thread: file by file, a report
        of four files took 2.5 s, together 1.0 s). False when anything is wrong with any of them
        (unreadable, a bad Size or date): then :meth:`_insert` goes file by file to name it."""
        if self.manifest.format not in ("CSV", "PARQUET") or len(entries) < 2:
            return False
        with self._all_files(db, entries) as described:
            if described is None:
                return False
            relation, names, types = described
            try:
                # read, normalised and sorted in one statement: no intermediate table on disk
                select = self._select(relation, names, types, scan_prefix)
                db.execute(f"CREATE TABLE objects AS SELECT * FROM ({select}) ORDER BY {ORDER}")
            except Exception:
                return False
            return db.execute("SELECT 1 FROM objects WHERE bad LIMIT 1").fetchone() is None

    def _summarize(self, db: Any, entries: list[dict[str, Any]], scan_prefix: str, condition: str) -> bool:
        """Read the CSV or Parquet report once, summarize each asset (:data:`SUMMARY_COLUMNS`),
        judge ``condition`` on the summary, and keep the objects of the assets it does not clear
        (and the target root's) in the sorted ``objects`` table. False (and nothing kept) when
        the report cannot be read this way or holds a bad row: then it is read as usual, which
        names what is wrong. (:meth:`prefilter` offers a condition only for CSV and Parquet.)"""
        if not entries:
            return False
        with self._all_files(db, entries) as described:
            try:
                return described is not None and self._summary_tables(db, *described, scan_prefix, condition)
            except Exception:
                for table in ("listing", "summary", "verdicts", "objects"):
                    with contextlib.suppress(Exception):
                        db.execute(f"DROP TABLE IF EXISTS {table}")
                return False

    def _summary_tables(
        self, db: Any, relation: str, names: dict[str, str], types: dict[str, str], scan_prefix: str, condition: str
    ) -> bool:
        # read once into memory (spilling to the temporary folder past DuckDB's limit), only the
        # columns used and the keys decoded, unsorted and not normalized: that costs about what
        # reading does (normalizing and sorting every object is what costs); the summary and the
        # assets it does not clear come from this table
        used = [c for c in dict.fromkeys(names.values()) if c in types]
        decode = self.manifest.format == "CSV"
        quoted = {c: '"' + c + '"' for c in used}
        columns = ", ".join(f"{_decoded(q)} AS {q}" if decode and c == names["key"] else q for c, q in quoted.items())
        db.execute(f"CREATE TEMP TABLE listing AS SELECT {columns} FROM {relation}")
        rows = self._select("listing", names, types, scan_prefix, decoded=True)
        db.execute(f"CREATE TABLE summary AS {_SUMMARY.replace('{rows}', rows)}")
        if db.execute("SELECT 1 FROM summary WHERE bad LIMIT 1").fetchone() is not None:
            db.execute("DROP TABLE summary")
            db.execute("DROP TABLE listing")
            return False
        db.execute(f"CREATE TABLE verdicts AS {_verdicts(condition, strict_name_pattern(self.convention))}")
        # the rows of the assets not cleared, found by their keys' first part alone, then normalized
        key = '"' + names["key"] + '"'
        rel = f"substr({key}, {len(scan_prefix) + 1})"
        first = f"CASE WHEN strpos({rel}, '/') > 0 THEN split_part({rel}, '/', 1) ELSE '' END"
        kept = f"SELECT * FROM listing WHERE {first} IN (SELECT asset FROM verdicts WHERE NOT cleared)"
        pending = self._select(f"({kept})", names, types, scan_prefix, decoded=True)
        db.execute(f"CREATE TABLE objects AS SELECT * FROM ({pending}) ORDER BY {ORDER}")
        db.execute("DROP TABLE listing")
        return True

    def _insert_orc(self, db: Any, key: str, path: str, scan_prefix: str) -> None:
        try:
            import pyarrow.orc as orc
        except ImportError:
            raise InventoryError(
                f"{self.location}: the inventory is in ORC format, which needs pyarrow: "
                "pip install 'aind-bucket-lint[inventory]' (or configure the inventory as CSV or Parquet)"
            ) from None
        reader = orc.ORCFile(path)
        wanted = [c for c in PARQUET_COLUMNS.values() if c in reader.schema.names]
        if PARQUET_COLUMNS["key"] not in wanted:
            raise InventoryError(f"inventory file {key}: no 'key' column")
        for i in range(reader.nstripes):
            stripe = reader.read_stripe(i, columns=wanted)  # noqa: F841 - read by DuckDB by name
            types = {str(r[0]): str(r[1]) for r in db.execute("DESCRIBE SELECT * FROM stripe").fetchall()}
            db.execute(f"INSERT INTO rows {self._select('stripe', PARQUET_COLUMNS, types, scan_prefix)}")

    def _rows(self, path: Path) -> Iterator[dict[str, Any]]:
        """A data file's rows one by one, in Python (only to name a bad row: see :meth:`_insert`)."""
        if self.manifest.format == "CSV":
            columns = self.manifest.columns
            with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
                for values in csv.reader(text):
                    if values:
                        yield dict(zip(columns, values, strict=False))
            return
        import pyarrow.orc as orc
        import pyarrow.parquet as pq

        if self.manifest.format == "PARQUET":
            batches = pq.ParquetFile(path).iter_batches(batch_size=STREAM_BATCH)
        else:
            reader = orc.ORCFile(path)
            batches = (reader.read_stripe(i) for i in range(reader.nstripes))
        for batch in batches:
            yield from batch.to_pylist()

    def _normalized(self, rows: Iterable[dict[str, Any]], scan_prefix: str, file: str = "") -> Iterator[Row]:
        """Rows under the target prefix, as (asset, key-in-asset, ...); root objects get asset ''.
        A row whose size or date cannot be read stops the audit with the file, row and value."""
        for number, r in enumerate(rows, 1):
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

    def _load(self) -> Any:
        """Read every data file of the report once, with DuckDB, into a columnar table sorted by
        asset in the temporary folder (spilling to disk, not memory, past its memory limit)."""
        if self._db is not None:
            return self._db
        try:
            import duckdb
            import pyarrow  # noqa: F401 - the assets are streamed as Arrow batches
        except ImportError:
            raise InventoryError(
                f"{self.location}: --inventory needs DuckDB and pyarrow: pip install 'aind-bucket-lint[inventory]'"
            ) from None
        db = duckdb.connect(str(self._tmp / "inventory.duckdb"))
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _cleanup, self._tmp, [db])
        spill = str(self._tmp / "spill").replace("'", "''")
        db.execute(f"SET temp_directory = '{spill}'")
        db.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
        db.execute("SET preserve_insertion_order = false")
        db.execute("SET TimeZone = 'UTC'")
        scan = self.prefix.given  # the one asset's prefix, or the prefix of the assets
        if self._condition is not None and self._summarize(db, self.manifest.files, scan, self._condition):
            self.summarized = True
        elif not self._insert_together(db, self.manifest.files, scan):
            db.execute("DROP TABLE IF EXISTS objects")
            db.execute(f"CREATE TABLE rows ({ROW_COLUMNS})")
            for entry in self.manifest.files:  # one at a time, to name the file and row at fault
                self._insert(db, entry, scan)
            db.execute(f"CREATE TABLE objects AS SELECT * FROM rows ORDER BY {ORDER}")
            db.execute("DROP TABLE rows")
        db.execute("CHECKPOINT")
        db.execute("SET preserve_insertion_order = true")  # the assets are streamed out in order
        if self.summarized:
            (self.rows_read,) = db.execute("SELECT coalesce(sum(objects + old_versions), 0) FROM summary").fetchone()
        else:
            (self.rows_read,) = db.execute("SELECT count(*) FROM objects").fetchone()
        self._db = db
        return db

    # -- the Source protocol ------------------------------------------------------------------

    def asset_names(self) -> Iterator[str]:
        db = self._load()
        current = "is_latest AND NOT is_delete_marker"
        if self.prefix.leaf is not None:
            self._names = {self.prefix.leaf}
            yield self.prefix.leaf
            return
        with self._lock:
            root = db.execute(
                f"SELECT key, size, etag, modified, version_id FROM objects WHERE asset = '' AND {current} ORDER BY key"
            ).fetchall()
            query = (
                "SELECT asset FROM verdicts WHERE asset != '' AND objects > 0 ORDER BY asset"
                if self.summarized
                else f"SELECT DISTINCT asset FROM objects WHERE asset != '' AND {current} ORDER BY asset"
            )
            names = [r[0] for r in db.execute(query).fetchall()]
        self._root_objects = [ObjectInfo(r[0], r[1], r[2], _time(r[3]), r[4]) for r in root]
        if self.prefix.holds_one_asset(names, {o.key for o in self._root_objects}, self.convention):
            raise InventoryError(
                f"{self.label}: this prefix is an asset (it holds data_description.json); with --inventory give "
                "the prefix that holds it"
            )
        self._names = set(names)
        yield from names

    def root_objects(self) -> list[ObjectInfo]:
        return self._root_objects

    # -- the SummarizingSource protocol -------------------------------------------------------

    def prefilter(self, condition: str) -> bool:
        """Summarize the report by asset and clear the assets ``condition`` holds for (CSV and
        Parquet reports of a prefix of assets; not one asset, not ORC)."""
        if self._db is not None or self.prefix.single_asset or self.manifest.format not in ("CSV", "PARQUET"):
            return False
        self._condition = condition
        return True

    def pending(self) -> list[str]:
        if not self.summarized:
            return sorted(self._names)
        query = "SELECT asset FROM verdicts WHERE NOT cleared AND objects > 0 AND asset != '' ORDER BY asset"
        with self._lock:
            return [r[0] for r in self._load().execute(query).fetchall()]

    def cleared(self) -> Iterator[ClearedAsset]:
        if not self.summarized:
            return
        cursor = self._load().cursor()
        relation = cursor.sql(
            "SELECT asset, name_form, name_source, objects FROM verdicts"
            " WHERE cleared AND objects > 0 AND asset != '' ORDER BY asset"
        )
        reader = (
            relation.to_arrow_reader(STREAM_BATCH)
            if hasattr(relation, "to_arrow_reader")
            else relation.record_batch(STREAM_BATCH)
        )
        make, convention = ClearedAsset._make, self.convention
        for batch in reader:
            cols = [batch.column(i).to_pylist() for i in range(4)]
            for row in zip(*cols, strict=True):
                if row[1] is None:  # not of the strict form (no name rule ran): parsed as the rules would
                    parsed = parse_name(row[0], convention)
                    row = (row[0], parsed.level, parsed.source, row[3])
                yield make(row)

    def root_errors(self) -> list[ReadError]:
        return []

    def _groups(self) -> Iterator[tuple[str, list[ObjectInfo]]]:
        """Every asset's rows, in asset order, streamed from the sorted table in Arrow batches."""
        db = self._load()
        cursor = db.cursor()
        query = (
            "SELECT asset, key, size, etag, modified, version_id, is_latest, is_delete_marker FROM objects"
            " WHERE asset != '' ORDER BY asset, key, modified DESC NULLS LAST"
        )
        relation = cursor.sql(query)
        # DuckDB 2 names it to_arrow_reader; 1.x record_batch
        reader = (
            relation.to_arrow_reader(STREAM_BATCH)
            if hasattr(relation, "to_arrow_reader")
            else relation.record_batch(STREAM_BATCH)
        )
        current: str | None = None
        infos: list[ObjectInfo] = []
        make, when = object_info, _time
        for batch in reader:
            cols = [batch.column(i).to_pylist() for i in range(8)]
            for asset, key, size, etag, modified, version, latest, marker in zip(*cols, strict=True):
                if asset != current:
                    if current is not None:
                        yield current, infos
                    current, infos = asset, []
                infos.append(make(key, size, etag, when(modified), version, latest, marker))
        if current is not None:
            yield current, infos

    def _rows_of(self, name: str) -> list[ObjectInfo]:
        """The asset's rows: from the stream when asked in order (the engine asks in name order,
        a few at a time), else by a query of its own."""
        with self._lock:
            if name in self._ahead:
                return self._ahead.pop(name)
            if self._stream is None:
                self._stream = self._groups()
            for asset, infos in self._stream:
                if asset == name:
                    return infos
                if asset in self._names:  # asked for soon, by another thread
                    self._ahead[asset] = infos
                    if len(self._ahead) > AHEAD_LIMIT:
                        self._ahead.pop(next(iter(self._ahead)))
                if asset > name:
                    break
            rows = (
                self._load()
                .execute(
                    "SELECT key, size, etag, modified, version_id, is_latest, is_delete_marker FROM objects"
                    " WHERE asset = ? ORDER BY key, modified DESC NULLS LAST",
                    (name,),
                )
                .fetchall()
            )
        return [ObjectInfo(r[0], r[1], r[2], _time(r[3]), r[4], bool(r[5]), bool(r[6])) for r in rows]

    def load_asset(self, name: str) -> Asset:
        asset = Asset(name)
        infos = self._rows_of(name)
        if self.wants_versions and self.manifest.has_versions:
            asset.versions = infos
        asset.objects = [o for o in infos if o.is_latest and not o.is_delete_marker]
        return asset

    def read(self, asset: str, key: str, limit: int) -> bytes:
        return self._reader.read(asset, key, limit)

    def reader(self) -> S3Reader:
        """The GETs of the target's objects (from the bucket itself), as :class:`~linter.sources.s3.S3Source`'s."""
        return self.connection.reader(self.prefix.root)

    @functools.cached_property
    def _reader(self) -> S3Reader:
        return self.reader()

    @property
    def requests(self) -> Any:
        return self.connection.requests


def _decoded(key: str) -> str:
    """A CSV key column, URL-decoded (a space is written as '+')."""
    return f"url_decode(replace({key}, '+', '%20'))"


_CURRENT = "is_latest AND NOT is_delete_marker"
_SUMMARY = f"""
    SELECT asset,
        count(*) FILTER (WHERE {_CURRENT}) AS objects,
        min(modified) FILTER (WHERE NOT is_delete_marker) AS first_modified,
        max(modified) FILTER (WHERE {_CURRENT}) AS last_modified,
        count(*) FILTER (WHERE NOT ({_CURRENT})) AS old_versions,
        coalesce(bool_or((contains(key, '-') AND regexp_matches(key, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[^/]*/'))
            OR ends_with(key, '/data_description.json')) FILTER (WHERE {_CURRENT}), false) AS nested_hint,
        bool_or(bad) AS bad
    FROM ({{rows}}) GROUP BY asset
"""
"""One row per asset (the target root's objects under asset ''): the summary's listing columns."""


def _verdicts(condition: str, pattern: str | None) -> str:
    """Each asset of the summary with the name columns of :data:`~linter.sources.SUMMARY_COLUMNS`
    and whether ``condition`` clears it (never the target root's objects)."""
    if pattern is None:
        groups = "{'mod': '', 'subj': '', 'd1': '', 't1': '', 'label': '', 'd2': '', 't2': ''}"
    else:
        literal = "'" + pattern.replace("'", "''") + "'"
        groups = f"regexp_extract(asset, {literal}, ['mod', 'subj', 'd1', 't1', 'label', 'd2', 't2'])"
    return f"""
        WITH named AS (
            SELECT s.*, {groups} AS g FROM summary s
        ), parsed AS (
            SELECT *,
                CASE WHEN g.d1 = '' THEN NULL WHEN g.label = '' THEN 'raw' ELSE 'derived' END AS name_form,
                CASE WHEN g.d1 != '' THEN g.d1 || '_' || g.t1 END AS stamp,
                CASE WHEN g.label != '' THEN g.d2 || '_' || g.t2 END AS last_stamp,
                g.d1 != '' AND try_strptime(g.d1, '%Y-%m-%d') IS NOT NULL
                    AND (g.label = '' OR try_strptime(g.d2, '%Y-%m-%d') IS NOT NULL) AS dates_valid,
                CASE WHEN g.label != '' THEN left(asset, length(asset) - length(g.label) - 21) END AS name_source
            FROM named
        ), listed AS (
            SELECT p.*, l.asset IS NOT NULL AS source_listed
            FROM parsed p LEFT JOIN (SELECT asset FROM summary WHERE objects > 0 AND asset != '') l
                ON p.name_source = l.asset
        )
        SELECT asset, objects, name_form, name_source,
            asset != '' AND coalesce(({condition}), false) AS cleared
        FROM listed
    """


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _time(us: int | None) -> dt.datetime | None:
    return _EPOCH + dt.timedelta(microseconds=us) if us is not None else None


def _suffix(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return name[name.index(".") :] if "." in name else ""


def _split(url: str) -> tuple[str, str]:
    bucket, key = parse_s3_url(url)
    return bucket, key.rstrip("/")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not type(exc).__module__.startswith("botocore"):
        return exc.strerror or str(exc)
    return describe_error(exc)


def _cleanup(folder: Path, connections: list[Any]) -> None:
    for db in connections:
        with contextlib.suppress(Exception):
            db.close()
    shutil.rmtree(folder, ignore_errors=True)
