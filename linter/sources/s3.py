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
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from linter.conventions import Convention
from linter.plan import RunPlan, S3Settings
from linter.sources import Asset, ObjectInfo, ReadError, Source
from linter.sources.s3client import (
    EXTRA_CONNECTIONS,
    S3Connection,
    S3Prefix,
    S3Reader,
    S3SourceError,
    describe_error,
    error_code,
    existing_assets,
)

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["S3Settings", "S3Source", "S3SourceError", "open_s3"]

BAD_CREDENTIALS = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId"}
)


def open_s3(target: str, plan: RunPlan) -> Source:
    """An ``s3://`` target listed from the bucket (``linter.sources.open_source`` chooses between
    this and ``--inventory``)."""
    return S3Source(target, plan.convention, plan.s3, jobs=plan.jobs, versions=plan.wants_versions)


def _fatal(exc: BaseException, bucket: str) -> S3SourceError | None:
    """Errors that make the whole target unusable, as a clear message; None for the others."""
    from botocore.exceptions import NoCredentialsError, PartialCredentialsError

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return S3SourceError(
            f"s3://{bucket}: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "use --profile, or --no-sign-request for a public bucket)"
        )
    code = error_code(exc)
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
        self.prefix = S3Prefix.of(target, convention)
        self.bucket = self.prefix.bucket
        self.settings = settings
        self.jobs = max(1, jobs)
        self.connection = S3Connection(self.bucket, settings, self.jobs + EXTRA_CONNECTIONS, client)
        self.client = self.connection.client
        self.convention = convention
        self.wants_versions = versions
        self._root_objects: list[ObjectInfo] = []
        self._root_errors: list[ReadError] = []
        self._versioned: bool | None = None
        self._lock = threading.Lock()

    @property
    def requests(self) -> Counter[str]:
        """Requests made, by operation (ListObjectsV2, ListObjectVersions, GetObject, ...)."""
        return self.connection.requests

    @property
    def single_asset(self) -> bool:
        return self.prefix.single_asset

    @property
    def root_prefix(self) -> str:
        return self.prefix.root

    @property
    def root_url(self) -> str:
        """The prefix holding the assets, as ``s3://bucket/prefix/``: what the ledger is keyed by."""
        return self.prefix.url

    # -- listing ------------------------------------------------------------------------------

    def _pages(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of a listing; empty pages with ``IsTruncated`` are followed like any other."""
        method = getattr(self.client, "list_objects_v2" if operation == "ListObjectsV2" else "list_object_versions")
        params["MaxKeys"] = self.settings.page_size
        seen: set[tuple[str, ...]] = set()
        while True:
            page = self.connection.call(operation, method, **params)
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
        if self.prefix.leaf is not None:
            yield self.prefix.leaf
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
        if self.prefix.holds_one_asset(names, {o.key for o in root_objects}, self.convention):
            self.prefix = self.prefix.as_asset()
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
            status = self.connection.call("GetBucketVersioning", self.client.get_bucket_versioning).get("Status")
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
                    if error_code(exc) not in ("AccessDenied", "NotImplemented"):
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
        return self.connection.reader(self.root_prefix)

    def read(self, asset: str, key: str, limit: int) -> bytes:
        """At most ``limit`` bytes of the current version (a ranged GET); TooLarge past it."""
        return self._reader.read(asset, key, limit)

    @functools.cached_property
    def _reader(self) -> S3Reader:
        return self.reader()

    # -- the destination ----------------------------------------------------------------------

    def existing_assets(self, names: Sequence[str]) -> frozenset[str]:
        """Which of ``names`` already exist as assets under the prefix as given (I405)."""
        return existing_assets(self.client, self.bucket, self.prefix.given, names, self.jobs)


def _is_folder_marker(key: str, item: dict[str, Any]) -> bool:
    """The prefix's own key, or a zero-byte ``.../`` key some tools write as a folder."""
    return not key or (key.endswith("/") and not item.get("Size"))
