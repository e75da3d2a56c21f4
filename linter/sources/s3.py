"""S3: the assets are the children of a prefix (``s3://BUCKET[/PREFIX/]``).

Requests, and nothing else (the linter never writes to the bucket it audits):

- one ``ListObjectsV2`` with ``Delimiter="/"`` over the prefix (1,000 children a page) for the
  asset names and the objects at the prefix root;
- per asset, ``ListObjectsV2`` of its prefix (or ``ListObjectVersions`` when a rule asks for
  versions and the bucket is versioned), every page, including empty pages before the end;
- ``GetObject`` (a ranged read capped at the size limit) only when a rule asks the context for
  an object's bytes; ``GetBucketVersioning`` once when a rule needs versions.

One client is shared by the worker threads, with a connection pool sized to them and
botocore's retry modes. A request that still fails after the retries becomes a
:class:`~linter.sources.ReadError` (E901 with the key and the error), never an exception out
of the run.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from linter.conventions import Convention
from linter.names import parse_name
from linter.plan import RunPlan, S3Settings
from linter.sources import Asset, ObjectInfo, ReadError, Source, SourceError, TooLarge

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["S3Settings", "S3Source", "S3SourceError", "open_s3"]

URL_RE = re.compile(r"^s3://(?P<bucket>[^/]+)(?:/(?P<prefix>.*))?$")
EXTRA_CONNECTIONS = 4
BODY_READ_ATTEMPTS = 3
DESTINATION_PROBE_LIMIT = 200
"""Up to this many assets, I405 asks the destination about each name; beyond, it lists it once."""


BAD_CREDENTIALS = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId"}
)


class S3SourceError(SourceError):
    """The target cannot be audited at all (bad URL, no credentials, no such bucket)."""


def open_s3(target: str, plan: RunPlan) -> Source:
    """An ``s3://`` target: listed from the bucket, or from ``--inventory`` when given."""
    if plan.inventory:
        from linter.sources.inventory import InventorySource

        return InventorySource(
            target, plan.inventory, plan.convention, plan.s3, jobs=plan.jobs, versions=plan.wants_versions
        )
    return S3Source(target, plan.convention, plan.s3, jobs=plan.jobs, versions=plan.wants_versions)


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b/")``; the prefix is empty or ends with ``/``."""
    match = URL_RE.match(url)
    if match is None or not match["bucket"]:
        raise S3SourceError(f"{url}: not an s3:// URL (expected s3://BUCKET[/PREFIX/])")
    prefix = (match["prefix"] or "").lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return match["bucket"], prefix


def make_client(settings: S3Settings, pool_size: int) -> BaseClient:
    """A thread-safe S3 client; boto3 is imported here, only when S3 is used."""
    import boto3
    import botocore
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    from linter import __version__

    config = Config(
        max_pool_connections=max(10, pool_size),
        retries={"mode": settings.retry_mode, "total_max_attempts": settings.max_attempts},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        user_agent_extra=f"aind-bucket-lint/{__version__}",
        signature_version=botocore.UNSIGNED if settings.no_sign_request else None,
    )
    try:
        session = boto3.session.Session(profile_name=settings.profile, region_name=settings.region)
        return session.client("s3", endpoint_url=settings.endpoint_url, config=config)
    except BotoCoreError as exc:  # ProfileNotFound, bad endpoint URL, ...
        raise S3SourceError(str(exc)) from None


def describe_error(exc: BaseException) -> str:
    """``AccessDenied: Access Denied.`` for a ClientError, the exception's text otherwise."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        message = err.get("Message") or ""
        return f"{code}: {message}".rstrip(": ") if message else str(code)
    return f"{type(exc).__name__}: {exc}"


def _error_code(exc: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def _fatal(exc: BaseException, bucket: str) -> S3SourceError | None:
    """Errors that make the whole target unusable, as a clear message; None for the others."""
    from botocore.exceptions import NoCredentialsError, PartialCredentialsError

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return S3SourceError(
            f"s3://{bucket}: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "use --profile, or --no-sign-request for a public bucket)"
        )
    code = _error_code(exc)
    if code == "NoSuchBucket":
        return S3SourceError(f"s3://{bucket}: no such bucket")
    if code in BAD_CREDENTIALS:
        return S3SourceError(f"s3://{bucket}: the credentials were refused ({describe_error(exc)})")
    return None


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


class S3Source:
    """Assets are the children of the target prefix, or the prefix itself when it is an asset
    (its last part parses as an asset name, or it holds ``data_description.json``)."""

    def __init__(
        self,
        target: str,
        convention: Convention,
        settings: S3Settings,
        *,
        jobs: int = 8,
        versions: bool = False,
        client: BaseClient | None = None,
    ) -> None:
        """``jobs``: the threads that will call it (its connection pool); ``versions``: list every
        version and delete marker of each asset when the bucket keeps versions."""
        self.label = target
        self.bucket, prefix = parse_s3_url(target)
        self.settings = settings
        self.jobs = max(1, jobs)
        self.client = client if client is not None else make_client(self.settings, self.jobs + EXTRA_CONNECTIONS)
        self.convention = convention
        self.wants_versions = versions
        self.given_prefix = prefix
        self.root_prefix = prefix
        self.single_asset = False
        self._leaf: str | None = None
        if prefix:
            leaf = prefix.rstrip("/").rsplit("/", 1)[-1]
            if parse_name(leaf, self.convention).is_asset_name:
                self._make_single(leaf)
        self._root_objects: list[ObjectInfo] = []
        self._root_errors: list[ReadError] = []
        self._versioned: bool | None = None
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        """Requests made, by operation (ListObjectsV2, ListObjectVersions, GetObject, ...)."""

    @property
    def root_url(self) -> str:
        """The prefix holding the assets, as ``s3://bucket/prefix/``: what the ledger is keyed by."""
        return f"s3://{self.bucket}/{self.root_prefix}"

    def _make_single(self, leaf: str) -> None:
        self.single_asset = True
        self._leaf = leaf
        self.root_prefix = self.root_prefix[: -len(leaf) - 1]

    def _call(self, operation: str, method: Callable[..., dict[str, Any]], **params: Any) -> dict[str, Any]:
        with self._lock:
            self.requests[operation] += 1
        return method(Bucket=self.bucket, **params)

    # -- listing ------------------------------------------------------------------------------

    def _pages(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of a listing; empty pages with ``IsTruncated`` are followed like any other."""
        method = getattr(self.client, "list_objects_v2" if operation == "ListObjectsV2" else "list_object_versions")
        params["MaxKeys"] = self.settings.page_size
        seen: set[tuple[str, ...]] = set()
        while True:
            page = self._call(operation, method, **params)
            yield page
            if not page.get("IsTruncated"):
                return
            if operation == "ListObjectsV2":
                marker: tuple[str, ...] = (page.get("NextContinuationToken") or "",)
                params["ContinuationToken"] = marker[0]
            else:
                marker = (page.get("NextKeyMarker") or "", page.get("NextVersionIdMarker") or "")
                params["KeyMarker"], params["VersionIdMarker"] = marker
                if not marker[1]:
                    params.pop("VersionIdMarker")
            if not any(marker) or marker in seen:
                raise RuntimeError(f"{operation} returned a truncated page without a new continuation marker")
            seen.add(marker)

    def asset_names(self) -> Iterator[str]:
        if self.single_asset:
            assert self._leaf is not None
            yield self._leaf
            return
        names: list[str] = []
        root_objects: list[ObjectInfo] = []
        try:
            for page in self._pages("ListObjectsV2", Prefix=self.root_prefix, Delimiter="/"):
                for common in page.get("CommonPrefixes", ()):
                    name = common["Prefix"][len(self.root_prefix) :].rstrip("/")
                    if name:
                        names.append(name)
                for item in page.get("Contents", ()):
                    key = item["Key"][len(self.root_prefix) :]
                    if key:
                        root_objects.append(self._info(key, item))
        except Exception as exc:
            fatal = _fatal(exc, self.bucket)
            if fatal is not None:
                raise fatal from None
            where = f"s3://{self.bucket}/{self.root_prefix}"
            self._root_errors.append(ReadError(".", f"cannot list {where}: {describe_error(exc)}"))
        if self.root_prefix and not names and any(o.key == "data_description.json" for o in root_objects):
            self._make_single(self.root_prefix.rstrip("/").rsplit("/", 1)[-1])
            yield from self.asset_names()
            return
        self._root_objects = root_objects
        yield from names

    def root_objects(self) -> list[ObjectInfo]:
        return self._root_objects

    def root_errors(self) -> list[ReadError]:
        return self._root_errors

    @staticmethod
    def _info(key: str, item: dict[str, Any], *, delete_marker: bool = False) -> ObjectInfo:
        return ObjectInfo(
            key,
            int(item.get("Size", 0) or 0),
            _etag(item.get("ETag")),
            item.get("LastModified"),
            item.get("VersionId"),
            bool(item.get("IsLatest", True)),
            delete_marker,
        )

    def versioned(self) -> bool:
        """Whether the bucket keeps versions (asked once; a bucket that will not say is treated
        as unversioned, with a note on stderr, since I401/I402 then see only current objects)."""
        with self._lock:
            if self._versioned is None:
                self._versioned = self._ask_versioning()
            return self._versioned

    def _no_versions(self, exc: BaseException) -> None:
        """ListObjectVersions refused: list current objects from now on, and say so once."""
        with self._lock:
            if self._versioned:
                self._versioned = False
                print(
                    f"aind-bucket-lint: s3://{self.bucket}: cannot list versions ({describe_error(exc)}); "
                    "listing current objects only, so I401 and delete markers (I402) are not checked",
                    file=sys.stderr,
                )

    def _ask_versioning(self) -> bool:
        try:
            self.requests["GetBucketVersioning"] += 1
            status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        except Exception as exc:
            print(
                f"aind-bucket-lint: s3://{self.bucket}: cannot read the versioning status ({describe_error(exc)}); "
                "listing current objects only, so I401 and delete markers (I402) are not checked",
                file=sys.stderr,
            )
            return False
        return status in ("Enabled", "Suspended")

    def load_asset(self, name: str) -> Asset:
        asset = Asset(name)
        prefix = f"{self.root_prefix}{name}/"
        try:
            if self.wants_versions and self.versioned():
                try:
                    self._list_versions(asset, prefix)
                except Exception as exc:
                    if _error_code(exc) not in ("AccessDenied", "NotImplemented"):
                        raise
                    self._no_versions(exc)
                    asset.versions, asset.objects = None, []
                    self._list_objects(asset, prefix)
            else:
                self._list_objects(asset, prefix)
        except Exception as exc:
            asset.partial = True
            got = f" (stopped after {len(asset.objects)} objects)" if asset.objects else ""
            asset.errors.append(
                ReadError(f"{name}/", f"cannot list s3://{self.bucket}/{prefix}: {describe_error(exc)}{got}")
            )
        if self.single_asset and not asset.objects and not asset.errors and not asset.versions:
            # S3 has no empty folders: a target prefix with nothing under it is not an asset
            asset.errors.append(ReadError(f"{name}/", f"nothing is stored under s3://{self.bucket}/{prefix}"))
        return asset

    def _list_objects(self, asset: Asset, prefix: str) -> None:
        cut = len(prefix)
        for page in self._pages("ListObjectsV2", Prefix=prefix):
            for item in page.get("Contents", ()):
                key = item["Key"][cut:]
                if _is_folder_marker(key, item):
                    continue
                asset.objects.append(self._info(key, item))

    def _list_versions(self, asset: Asset, prefix: str) -> None:
        cut = len(prefix)
        versions: list[ObjectInfo] = []
        for page in self._pages("ListObjectVersions", Prefix=prefix):
            for item in page.get("Versions", ()):
                key = item["Key"][cut:]
                if not _is_folder_marker(key, item):
                    versions.append(self._info(key, item))
            for item in page.get("DeleteMarkers", ()):
                key = item["Key"][cut:]
                if key and not key.endswith("/"):
                    versions.append(self._info(key, item, delete_marker=True))
        asset.versions = versions
        asset.objects = [v for v in versions if v.is_latest and not v.is_delete_marker]

    # -- reading ------------------------------------------------------------------------------

    def reader(self) -> S3Reader:
        """The GETs of this source, sharing its client here; a pickled copy makes its own."""
        return S3Reader(self.bucket, self.root_prefix, self.settings, self.jobs + EXTRA_CONNECTIONS, self)

    def read(self, asset: str, key: str, limit: int) -> bytes:
        """At most ``limit`` bytes of the current version (a ranged GET); TooLarge past it."""
        return self._reader.read(asset, key, limit)

    def read_range(self, asset: str, key: str, start: int, length: int) -> bytes:
        """``length`` bytes from ``start`` of the current version: one ranged GET."""
        return self._reader.read_range(asset, key, start, length)

    @functools.cached_property
    def _reader(self) -> S3Reader:
        return self.reader()

    # -- the destination ----------------------------------------------------------------------

    def existing_assets(self, names: Sequence[str]) -> frozenset[str]:
        """Which of ``names`` already exist as assets under the prefix as given (I405).

        A few names are probed one by one (one short listing each, in parallel); many names are
        checked against one Delimiter listing of the prefix's children.
        """
        bucket, prefix = self.bucket, self.given_prefix
        wanted = sorted(set(names))
        client = self.client
        url = f"s3://{bucket}/{prefix}"
        try:
            if len(wanted) <= DESTINATION_PROBE_LIMIT:

                def exists(name: str) -> bool:
                    page = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}{name}/", MaxKeys=1)
                    return bool(page.get("KeyCount") or page.get("Contents"))

                with ThreadPoolExecutor(max_workers=min(self.jobs, max(1, len(wanted)))) as pool:
                    found = [n for n, hit in zip(wanted, pool.map(exists, wanted), strict=True) if hit]
                return frozenset(found)
            children: set[str] = set()
            params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
            while True:
                page = client.list_objects_v2(**params)
                children.update(c["Prefix"][len(prefix) :].rstrip("/") for c in page.get("CommonPrefixes", ()))
                token = page.get("NextContinuationToken")
                if not page.get("IsTruncated") or not token:
                    break
                params["ContinuationToken"] = token
            return frozenset(children.intersection(wanted))
        except Exception as exc:
            raise ReadError(".", f"cannot list the destination {url}: {describe_error(exc)}") from None


_CLIENTS: dict[tuple[S3Settings, int], BaseClient] = {}
_CLIENTS_LOCK = threading.Lock()


def shared_client(settings: S3Settings, pool: int) -> BaseClient:
    """One client per process for these settings (a worker process reuses it for every asset)."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get((settings, pool))
        if client is None:
            client = _CLIENTS[(settings, pool)] = make_client(settings, pool)
        return client


class S3Reader:
    """GETs of one target's objects. Pickles without its client: in another process it uses that
    process's shared client (credentials from that machine's usual AWS chain)."""

    def __init__(
        self, bucket: str, root_prefix: str, settings: S3Settings, pool: int, owner: S3Source | None = None
    ) -> None:
        self.bucket = bucket
        self.root_prefix = root_prefix
        self.settings = settings
        self.pool = pool
        self._owner = owner

    def __getstate__(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "root_prefix": self.root_prefix, "settings": self.settings, "pool": self.pool}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._owner = None

    def client(self) -> BaseClient:
        if self._owner is not None:
            return self._owner.client
        return shared_client(self.settings, self.pool)

    def _call(self, operation: str, method: Callable[..., dict[str, Any]], **params: Any) -> dict[str, Any]:
        if self._owner is not None:
            return self._owner._call(operation, method, **params)
        return method(Bucket=self.bucket, **params)

    def read(self, asset: str, key: str, limit: int) -> bytes:
        """At most ``limit`` bytes of the current version (a ranged GET); TooLarge past it."""
        rel = f"{asset}/{key}"
        full_key = f"{self.root_prefix}{asset}/{key}"
        last: BaseException | None = None
        for _ in range(BODY_READ_ATTEMPTS):
            try:
                return self._get(full_key, limit)
            except TooLarge:
                raise
            except Exception as exc:
                last = exc
                if not _is_stream_error(exc):
                    break
        assert last is not None
        code = _error_code(last)
        hint = " (deleted since it was listed?)" if code == "NoSuchKey" else ""
        raise ReadError(rel, f"GET s3://{self.bucket}/{full_key} failed: {describe_error(last)}{hint}")

    def read_range(self, asset: str, key: str, start: int, length: int) -> bytes:
        """``length`` bytes from ``start`` of the current version (fewer at its end): one ranged GET."""
        rel = f"{asset}/{key}"
        full_key = f"{self.root_prefix}{asset}/{key}"
        last: BaseException | None = None
        for _ in range(BODY_READ_ATTEMPTS):
            try:
                return self._get_range(full_key, start, length)
            except Exception as exc:
                last = exc
                if not _is_stream_error(exc):
                    break
        assert last is not None
        hint = " (deleted since it was listed?)" if _error_code(last) == "NoSuchKey" else ""
        raise ReadError(rel, f"GET s3://{self.bucket}/{full_key} failed: {describe_error(last)}{hint}")

    def _get_range(self, full_key: str, start: int, length: int) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self._call(
                "GetObject", self.client().get_object, Key=full_key, Range=f"bytes={start}-{start + length - 1}"
            )
        except ClientError as exc:
            if _error_code(exc) != "InvalidRange":
                raise
            return b""  # the object ends before ``start`` (a zero-byte object has no byte 0)
        with response["Body"] as body:
            data: bytes = body.read(length)
        return data

    def _get(self, full_key: str, limit: int) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self._call("GetObject", self.client().get_object, Key=full_key, Range=f"bytes=0-{limit}")
        except ClientError as exc:
            if _error_code(exc) != "InvalidRange":
                raise
            # a zero-byte object has no byte 0: some servers answer 416 to any range
            response = self._call("GetObject", self.client().get_object, Key=full_key)
        total = _total_size(response)
        if total is not None and total > limit:
            response["Body"].close()
            raise TooLarge(total, limit)
        with response["Body"] as body:
            data: bytes = body.read(limit + 1)
        if len(data) > limit:
            raise TooLarge(total if total is not None else len(data), limit)
        return data


def _is_folder_marker(key: str, item: dict[str, Any]) -> bool:
    """The prefix's own key, or a zero-byte ``.../`` key some tools write as a folder."""
    return not key or (key.endswith("/") and not item.get("Size"))


def _total_size(response: dict[str, Any]) -> int | None:
    content_range = response.get("ContentRange")
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    length = response.get("ContentLength")
    return int(length) if length is not None else None


def _is_stream_error(exc: BaseException) -> bool:
    """A connection broken while reading a body: worth reading again (botocore retries only
    the request, not the streaming of its body)."""
    from botocore.exceptions import ClientError, ResponseStreamingError

    if isinstance(exc, ResponseStreamingError):
        return True
    return not isinstance(exc, ClientError) and isinstance(exc, OSError | ConnectionError)
