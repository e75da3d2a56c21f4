"""Sources: the only place that knows where bytes come from.

Every source yields the same things: the names of the assets in a target, each asset's
objects (loaded on demand), the objects at the target root that belong to no asset, and the
bytes of one object when a rule asks for them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol


class SourceError(Exception):
    """A target that cannot be opened at all (missing folder, bad URL, no such bucket)."""


class ReadError(Exception):
    """Something in the target could not be read. ``path`` is relative to the target root."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class TooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes, over the limit of {limit}")
        self.size = size
        self.limit = limit


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object (file). ``key`` is relative to its asset's root, '/'-separated."""

    key: str
    size: int
    etag: str | None = None
    last_modified: dt.datetime | None = None
    version_id: str | None = None
    is_latest: bool = True
    is_delete_marker: bool = False


@dataclass(slots=True)
class Asset:
    name: str
    objects: list[ObjectInfo] = field(default_factory=list)
    # Every version and delete marker, when the source can list them (versioned S3, inventory).
    versions: list[ObjectInfo] | None = None
    errors: list[ReadError] = field(default_factory=list)


class Source(Protocol):
    label: str
    """How the target is shown to the user (a path or an s3:// URL)."""

    def asset_names(self) -> Iterator[str]:
        """The assets of the target, sorted; cheap (no per-asset listing)."""
        ...

    def root_objects(self) -> list[ObjectInfo]:
        """Objects directly at the target root, which belong to no asset."""
        ...

    def root_errors(self) -> list[ReadError]:
        """Errors met while finding the assets (valid after ``asset_names`` is exhausted)."""
        ...

    def load_asset(self, name: str) -> Asset:
        """List one asset's objects. Errors go into ``Asset.errors``; never raises for I/O."""
        ...

    def read(self, asset: str, key: str, limit: int) -> bytes:
        """The bytes of one object. Raises ReadError, or TooLarge past ``limit`` bytes."""
        ...
