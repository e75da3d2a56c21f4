"""What the store hands out, as plain values: the records the rules and reports read.

Nothing here touches SQLite: the rules get these from the engine (``ctx.history``,
``ctx.vanished``) and never query the store, and :func:`first_object_time` is what the store
and the immutability rules agree an asset's upload window starts from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from linter.sources import Asset


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


def first_object_time(asset: Asset) -> dt.datetime | None:
    """The LastModified of the asset's oldest object or version (delete markers aside)."""
    items = asset.versions if asset.versions is not None else asset.objects
    times = [o.last_modified for o in items if o.last_modified is not None and not o.is_delete_marker]
    return min(times) if times else None


@dataclass(frozen=True, slots=True)
class Audit:
    """One audit of one root as the history recorded it: a line of ``aind-bucket-lint history``
    and a point of the reports' trend."""

    id: int
    root: str
    started_at: str
    finished_at: str | None
    complete: bool
    assets: int
    clean_assets: int
    objects: int
    errors: int
    warnings: int
    info: int
    new: int
    fixed: int

    @property
    def findings(self) -> int:
        return self.errors + self.warnings + self.info

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "complete": self.complete,
            "assets": self.assets,
            "clean_assets": self.clean_assets,
            "objects": self.objects,
            "by_severity": {"error": self.errors, "warning": self.warnings, "info": self.info},
            "new": self.new,
            "fixed": self.fixed,
        }
