"""What the live S3 listing (:mod:`linter.sources.s3`) and the S3 Inventory
(:mod:`linter.sources.inventory`) share: where a target's assets are in the bucket
(:class:`S3Prefix`), the client and the requests made through it (:class:`S3Connection`), the
reader of objects (:class:`S3Reader`, which pickles to any worker), the question of which assets
exist at a destination, and how S3's errors are told.

boto3 is imported only when a client is made.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Container, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from linter.conventions import Convention
from linter.names import is_asset_folder
from linter.plan import S3Settings
from linter.sources import ReadError, SourceError, TooLarge

if TYPE_CHECKING:
    from botocore.client import BaseClient

URL_RE = re.compile(r"^s3://(?P<bucket>[^/]+)(?:/(?P<prefix>.*))?$")
EXTRA_CONNECTIONS = 4
"""Connections a source's client keeps beyond one per thread that calls it."""
BODY_READ_ATTEMPTS = 3
DESTINATION_PROBE_LIMIT = 200
"""Up to this many assets, I405 asks the destination about each name; beyond, it lists it once."""


class S3SourceError(SourceError):
    """The target cannot be audited at all (bad URL, no credentials, no such bucket)."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b/")``; the prefix is empty or ends with ``/``."""
    match = URL_RE.match(url)
    if match is None or not match["bucket"]:
        raise S3SourceError(f"{url}: not an s3:// URL (expected s3://BUCKET[/PREFIX/])")
    prefix = (match["prefix"] or "").lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return match["bucket"], prefix


@dataclass(frozen=True)
class S3Prefix:
    """Where a target's assets are: the children of ``root`` in ``bucket``, or, when the target
    prefix is itself an asset, that one asset (``leaf``, its name) below its parent."""

    bucket: str
    given: str
    """The prefix as given (empty, or ending with ``/``)."""
    leaf: str | None = None

    @classmethod
    def of(cls, url: str, convention: Convention) -> S3Prefix:
        """The target ``s3://BUCKET[/PREFIX]``; a prefix named like an asset is that asset (one
        holding ``data_description.json`` is known only once listed: :meth:`holds_one_asset`)."""
        bucket, given = parse_s3_url(url)
        found = cls(bucket, given)
        last = found.last_part
        return found.as_asset() if last is not None and is_asset_folder(last, convention) else found

    @property
    def last_part(self) -> str | None:
        """The last part of the given prefix (None for a whole bucket)."""
        return self.given.rstrip("/").rsplit("/", 1)[-1] if self.given else None

    @property
    def single_asset(self) -> bool:
        return self.leaf is not None

    @property
    def root(self) -> str:
        """The prefix holding the assets (the given one, or its parent for one asset)."""
        return self.given[: -len(self.leaf) - 1] if self.leaf is not None else self.given

    @property
    def url(self) -> str:
        """``s3://bucket/root``: what the ledger records the assets under."""
        return f"s3://{self.bucket}/{self.root}"

    def as_asset(self) -> S3Prefix:
        """The given prefix taken as one asset."""
        return replace(self, leaf=self.last_part)

    def holds_one_asset(self, children: Sequence[str], root_keys: Container[str], convention: Convention) -> bool:
        """After listing the given prefix (its child prefixes and the keys directly in it): it is
        one asset, not a folder of assets, when it has no child folders and is an asset folder
        by its files (:func:`linter.names.is_asset_folder`)."""
        last = self.last_part
        if self.single_asset or last is None or children:
            return False
        return is_asset_folder(last, convention, root_keys.__contains__)


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


_CLIENTS: dict[tuple[S3Settings, int], BaseClient] = {}
_CLIENTS_LOCK = threading.Lock()


def shared_client(settings: S3Settings, pool: int) -> BaseClient:
    """One client per process for these settings (a worker process reuses it for every asset)."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get((settings, pool))
        if client is None:
            client = _CLIENTS[(settings, pool)] = make_client(settings, pool)
        return client


class S3Connection:
    """A source's client to its bucket (a connection pool of ``pool``), counting the requests
    made through it by operation (ListObjectsV2, ListObjectVersions, GetObject, ...)."""

    def __init__(self, bucket: str, settings: S3Settings, pool: int, client: BaseClient | None = None) -> None:
        self.bucket = bucket
        self.settings = settings
        self.pool = pool
        self.client = client if client is not None else make_client(settings, pool)
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    def call(self, operation: str, method: Callable[..., dict[str, Any]], **params: Any) -> dict[str, Any]:
        """``method(Bucket=bucket, **params)``, counted as ``operation``."""
        with self._lock:
            self.requests[operation] += 1
        return method(Bucket=self.bucket, **params)

    def reader(self, root: str) -> S3Reader:
        """The GETs of the objects below ``root``, through this connection here; a pickled copy
        makes its own."""
        return S3Reader(self.bucket, root, self.settings, self.pool, self)


class S3Reader:
    """GETs of one target's objects. Pickles without its connection: in another process it uses
    that process's shared client (credentials from that machine's usual AWS chain)."""

    def __init__(
        self, bucket: str, root_prefix: str, settings: S3Settings, pool: int, owner: S3Connection | None = None
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
            return self._owner.call(operation, method, **params)
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
        code = error_code(last)
        hint = " (deleted since it was listed?)" if code == "NoSuchKey" else ""
        raise ReadError(rel, f"GET s3://{self.bucket}/{full_key} failed: {describe_error(last)}{hint}")

    def _get(self, full_key: str, limit: int) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self._call("GetObject", self.client().get_object, Key=full_key, Range=f"bytes=0-{limit}")
        except ClientError as exc:
            if error_code(exc) != "InvalidRange":
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


def existing_assets(client: BaseClient, bucket: str, prefix: str, names: Sequence[str], jobs: int) -> frozenset[str]:
    """Which of ``names`` already exist as assets under ``prefix`` (I405). Raises ReadError.

    A few names are probed one by one (one short listing each, ``jobs`` at a time); many names
    are checked against one Delimiter listing of the prefix's children.
    """
    wanted = sorted(set(names))
    url = f"s3://{bucket}/{prefix}"
    try:
        if len(wanted) <= DESTINATION_PROBE_LIMIT:

            def exists(name: str) -> bool:
                page = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}{name}/", MaxKeys=1)
                return bool(page.get("KeyCount") or page.get("Contents"))

            with ThreadPoolExecutor(max_workers=min(max(1, jobs), max(1, len(wanted)))) as pool:
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


def describe_error(exc: BaseException) -> str:
    """``AccessDenied: Access Denied.`` for a ClientError, the exception's text otherwise."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        message = err.get("Message") or ""
        return f"{code}: {message}".rstrip(": ") if message else str(code)
    return f"{type(exc).__name__}: {exc}"


def error_code(exc: BaseException) -> str:
    """S3's error code of a ClientError (``NoSuchKey``, ``AccessDenied``, ...); '' otherwise."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


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
