"""I4xx: data once published is read-only.

What these rules can know comes from the listing (every version and delete marker on a
versioned bucket), from the ledger of earlier audits (``ctx.history``, with ``--ledger``) and
from ``--destination``. Keys matching the convention's ``immutability.exempt`` patterns (by
default the core sidecars, ``metadata.nd.json`` and ``original_metadata/``, which AIND's
indexer rewrites) are never reported.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

from linter.context import AssetContext, TargetContext
from linter.conventions import Convention
from linter.findings import Violation
from linter.registry import rule, target_part
from linter.sources import ObjectInfo
from linter.store.records import first_object_time

MAX_KEYS_PER_RULE = 50
"""Keys reported one by one per rule and asset; the rest are counted in one more finding."""


@functools.lru_cache(maxsize=16)
def _exempt_pattern(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def exempt(ctx: AssetContext) -> Callable[[str], bool]:
    """Whether a key (relative to the asset root) is exempt from the immutability rules."""
    pattern = _exempt_pattern(ctx.convention.immutability_exempt)
    if pattern is None:
        return lambda key: False
    return lambda key: pattern.match(key) is not None


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else "unknown"


def _capped(ctx: AssetContext, items: list[Violation], what: str) -> Iterator[Violation]:
    """The first MAX_KEYS_PER_RULE violations, then one that counts the rest."""
    yield from items[:MAX_KEYS_PER_RULE]
    rest = len(items) - MAX_KEYS_PER_RULE
    if rest > 0:
        yield Violation(f"... and {rest} more {what} in asset {ctx.name!r}", ctx.name, {"more": rest})


def _version_details(v: ObjectInfo) -> dict[str, Any]:
    return {
        "version_id": v.version_id,
        "last_modified": _when(v.last_modified),
        "etag": v.etag,
        "size": v.size,
        "delete_marker": v.is_delete_marker,
    }


def _version_order(v: ObjectInfo) -> tuple[dt.datetime, bool, str]:
    return (v.last_modified or dt.datetime.min.replace(tzinfo=dt.UTC), v.is_latest, v.version_id or "")


def _versions_by_key(ctx: AssetContext) -> dict[str, list[ObjectInfo]]:
    def group() -> dict[str, list[ObjectInfo]]:
        out: dict[str, list[ObjectInfo]] = {}
        for v in ctx.asset.versions or ():
            out.setdefault(v.key, []).append(v)
        for versions in out.values():  # oldest first; the current version last among equal times
            versions.sort(key=_version_order)
        return out

    return ctx.memo("immutability:versions", group)


@rule(
    "I401",
    "overwritten-object",
    "error",
    "A key has more than one version: it was overwritten.",
    needs_versions=True,
    clears="old_versions = 0",
)
def overwritten_object(ctx: AssetContext) -> Iterator[Violation]:
    """On a versioned bucket every write of a key keeps the previous version, so a key with more
    than one version (delete markers aside) was overwritten after it was first uploaded. The
    details list every version, oldest first. Needs a versioned bucket (or an S3 Inventory that
    lists all versions); on other targets the rule has nothing to look at.
    """
    if ctx.asset.versions is None:
        return
    is_exempt = exempt(ctx)
    items = []
    for key, versions in sorted(_versions_by_key(ctx).items()):
        data = [v for v in versions if not v.is_delete_marker]
        if len(data) < 2 or is_exempt(key):
            continue
        times = "time" if len(data) == 2 else "times"
        items.append(
            Violation(
                f"{key!r} has {len(data)} versions: written {_when(data[0].last_modified)}, "
                f"overwritten {len(data) - 1} {times} (last {_when(data[-1].last_modified)})",
                ctx.path(key),
                {"key": key, "versions": [_version_details(v) for v in data]},
            )
        )
    yield from _capped(ctx, items, "overwritten keys")


@rule(
    "I402",
    "deleted-object",
    "error",
    "An object was deleted: a delete marker, or a recorded key that is gone.",
    needs_versions=True,
    judges_absence=True,
    clears="old_versions = 0",  # and, without a ledger, no recorded key can be gone
)
def deleted_object(ctx: AssetContext) -> Iterator[Violation]:
    """A published object must stay. On a versioned bucket a delete marker shows a deletion
    (even when the key was uploaded again afterwards); with ``--ledger``, a key an earlier audit
    recorded that the listing no longer shows was deleted, and so was a whole asset the ledger
    recorded that is no longer listed (reported once per asset, at the target level).
    """
    is_exempt = exempt(ctx)
    items = []
    reported: set[str] = set()
    for key, versions in sorted(_versions_by_key(ctx).items()):
        markers = [v for v in versions if v.is_delete_marker]
        if not markers or is_exempt(key):
            continue
        reported.add(key)
        deleted = not any(v.is_latest and not v.is_delete_marker for v in versions)
        again = "" if deleted else " and uploaded again later"
        items.append(
            Violation(
                f"{key!r} was deleted (delete marker of {_when(markers[-1].last_modified)}){again}",
                ctx.path(key),
                {
                    "key": key,
                    "delete_markers": [_version_details(m) for m in markers],
                    "deleted": deleted,
                },
            )
        )
    history = ctx.history
    if history is not None and not ctx.asset.errors:
        for key in sorted(history.records):
            if key in reported or ctx.has(key) or is_exempt(key):
                continue
            rec = history.records[key]
            items.append(
                Violation(
                    f"{key!r} is gone: recorded by the ledger since {_when(rec.first_seen)}, no longer listed",
                    ctx.path(key),
                    {
                        "key": key,
                        "recorded": {"etag": rec.etag, "size": rec.size, "last_modified": _when(rec.last_modified)},
                        "first_seen": _when(rec.first_seen),
                        "gone_since": _when(rec.gone_since) if rec.gone_since else None,
                    },
                )
            )
    yield from _capped(ctx, items, "deleted keys")


@target_part("I402")
def vanished_assets(ctx: TargetContext) -> Iterator[Violation]:
    """The assets of the target the ledger recorded that are no longer listed (a complete
    listing of the whole target, with ``--ledger``)."""
    for v in ctx.vanished or ():
        yield Violation(
            f"asset {v.name!r} is gone: its {v.keys} keys recorded by the ledger are no longer listed "
            f"(last seen {_when(v.last_seen)})",
            v.name,
            {"keys": v.keys, "last_seen": _when(v.last_seen), "gone_since": _when(v.gone_since)},
            asset=v.name,
        )


@rule(
    "I403",
    "changed-object",
    "error",
    "An object's ETag, size or LastModified differs from the ledger's record.",
    clears="true",  # it compares with a ledger; a run with none has nothing to compare
)
def changed_object(ctx: AssetContext) -> Iterator[Violation]:
    """With ``--ledger``, every key is compared with the ETag, size and LastModified the ledger
    recorded when it first saw the key. Any difference means the object was rewritten after it
    was published. The ledger keeps the first record, so the finding is repeated on every run
    until the object is restored (or the finding baselined).
    """
    history = ctx.history
    if history is None:
        return
    is_exempt = exempt(ctx)
    items = []
    for o in sorted(ctx.asset.objects, key=lambda o: o.key):
        rec = history.records.get(o.key)
        if rec is None or is_exempt(o.key):
            continue
        changes: dict[str, list[Any]] = {}
        if rec.etag and o.etag and rec.etag != o.etag:
            changes["etag"] = [rec.etag, o.etag]
        if rec.size != o.size:
            changes["size"] = [rec.size, o.size]
        if _seconds(rec.last_modified) != _seconds(o.last_modified):
            changes["last_modified"] = [_when(rec.last_modified), _when(o.last_modified)]
        if not changes:
            continue
        what = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changes.items())
        items.append(
            Violation(
                f"{o.key!r} changed since the ledger recorded it on {_when(rec.first_seen)}: {what}",
                ctx.path(o.key),
                {"key": o.key, "changes": changes, "first_seen": _when(rec.first_seen)},
            )
        )
    yield from _capped(ctx, items, "changed keys")


def _seconds(value: dt.datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _sealed_at(ctx: AssetContext) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(first object's upload time, sealed time): the ledger's first record wins over the listing."""
    history = ctx.history
    first = history.first_object_at if history is not None and history.first_object_at else None
    first = first or first_object_time(ctx.asset)
    return first, (first + ctx.convention.upload_window if first is not None else None)


def _sealed_in_time(convention: Convention) -> str:
    """No object (exempt or not) was uploaded past the sealed time: the newest current object is
    within the upload window of the oldest object or version (a key's upload time is never later
    than its current version's LastModified)."""
    window = int(convention.upload_window.total_seconds() * 1_000_000)
    return f"first_modified IS NULL OR last_modified IS NULL OR last_modified <= first_modified + {window}"


@rule(
    "I404",
    "late-addition",
    "warning",
    "An object was added to an asset after the asset was sealed.",
    clears=_sealed_in_time,
)
def late_addition(ctx: AssetContext) -> Iterator[Violation]:
    """An asset is sealed once its upload is over: the convention's ``immutability.upload_window``
    (48 hours by default) after its first object. An object is a late addition when

    - on S3, its upload time (LastModified of its oldest version, or as the ledger first
      recorded it) is past the sealed time: added, or rewritten, after the fact; or
    - with ``--ledger``, it was first listed after an earlier audit had already seen the asset
      sealed (this also catches copies that keep old timestamps).
    """
    first, sealed = _sealed_at(ctx)
    if sealed is None:
        return
    history = ctx.history
    sealed_seen = history.sealed_seen if history is not None else None
    versions = _versions_by_key(ctx)
    is_exempt = exempt(ctx)
    items = []
    for o in sorted(ctx.asset.objects, key=lambda o: o.key):
        if is_exempt(o.key):
            continue
        rec = history.records.get(o.key) if history is not None else None
        created = _created(o, versions.get(o.key), rec.last_modified if rec is not None else None)
        window = ctx.convention.upload_window
        if ctx.target.object_store and created is not None and created > sealed:
            items.append(
                Violation(
                    f"{o.key!r} was uploaded {_when(created)}, after the asset was sealed at {_when(sealed)} "
                    f"(first object {_when(first)} + upload window {window})",
                    ctx.path(o.key),
                    {
                        "key": o.key,
                        "uploaded": _when(created),
                        "sealed_at": _when(sealed),
                        "first_object": _when(first),
                    },
                )
            )
        elif sealed_seen is not None and (rec is None or rec.first_seen > sealed_seen):
            first_listed = "by this audit" if rec is None else f"on {_when(rec.first_seen)}"
            items.append(
                Violation(
                    f"{o.key!r} was first listed {first_listed}, after the audit of {_when(sealed_seen)} "
                    "had seen the asset sealed",
                    ctx.path(o.key),
                    {"key": o.key, "sealed_seen": _when(sealed_seen), "sealed_at": _when(sealed)},
                )
            )
    yield from _capped(ctx, items, "late additions")


def _created(o: ObjectInfo, versions: list[ObjectInfo] | None, recorded: dt.datetime | None) -> dt.datetime | None:
    """When the key first appeared: its oldest version, else the ledger's first record, else now's."""
    if versions:
        times = [v.last_modified for v in versions if v.last_modified is not None and not v.is_delete_marker]
        if times:
            return min(times)
    return recorded or o.last_modified


@rule("I405", "would-overwrite", "error", "An asset of the target already exists at the --destination.", scope="target")
def would_overwrite(ctx: TargetContext) -> Iterator[Violation]:
    """With ``--destination s3://BUCKET[/PREFIX]``, each asset of the target (a local folder or a
    staging prefix about to be published) must not exist there yet: uploading it would add to
    or overwrite a published asset, which AIND's upload service refuses. Rename the new asset
    (a new acquisition or processing time) instead.
    """
    destination = ctx.target.destination
    if destination is None:
        return
    for name in sorted(ctx.at_destination()):
        where = destination.rstrip("/") + f"/{name}/"
        yield Violation(
            f"asset {name!r} already exists at {where}; uploading it would modify a published asset",
            name,
            {"destination": where},
            asset=name,
        )
