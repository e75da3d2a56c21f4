"""Z5xx: cloud-format data (OME-Zarr, NWB-Zarr, NWB-HDF5), judged from its metadata alone.

A store is a folder named ``*.zarr`` (``*.ome.zarr``, ``*.nwb.zarr``) or holding ``.zgroup``,
``.zarray`` or ``zarr.json`` at its top. Chunks are never read: per store the rules read its
consolidated metadata (one GET), or without it the root's metadata and each array's (at most
``stores.max_arrays_read``), and an ``.nwb`` file's first 8 bytes. The judging is in
``linter.stores``; the policy (size cap, sample size, expected formats) in the convention's
``stores`` section.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from linter.context import AssetContext
from linter.conventions import Convention
from linter.findings import Severity, Violation
from linter.registry import rule
from linter.sources import TooLarge
from linter.stores import HDF5_SIGNATURE, find_stores
from linter.stores import judge as z
from linter.stores.judge import Fetched, Limits, Problem, StoreVerdict, ValidatorUnavailable
from linter.validation import verdict_cache

DEFAULT_MAX_METADATA_BYTES = 16 * 1024 * 1024
NO_STORE = "NOT store_hint"
"""The inventory summary's clearance: an asset with no key of a Zarr store or an NWB file."""


@dataclass
class AssetStores:
    verdicts: list[StoreVerdict]
    nwb_files: list[str]
    problems: list[Problem]


def _section(convention: Convention) -> dict[str, Any]:
    return convention.section("stores")


def _judge(ctx: AssetContext) -> AssetStores:
    section = _section(ctx.convention)
    limit = int(section.get("max_metadata_bytes", DEFAULT_MAX_METADATA_BYTES))
    limits = Limits(max_arrays_read=int(section.get("max_arrays_read", Limits().max_arrays_read)))
    objects = ctx.objects_by_key

    def fetch(key: str) -> Fetched:
        listed = objects.get(key)
        if listed is not None and listed.size > limit:  # the listing tells: never fetched
            return f"is {listed.size} bytes, over the limit of {limit} (stores.max_metadata_bytes); not read"
        raw = ctx.read_bytes(key, limit)
        if isinstance(raw, TooLarge):
            return f"is {raw.size} bytes, over the limit of {limit} (stores.max_metadata_bytes); not read"
        return raw

    unavailable: list[str] = []

    def validate(version: str, what: str, attrs: dict[str, Any]) -> list[str]:
        if unavailable:
            return []
        from linter.stores.ome import validate_ome, validator_version  # the models: only when a store is met

        # the models' answer kept by an earlier run on the same attributes (the verdict cache):
        # they are not even imported
        models = validator_version()
        body = json.dumps(attrs, sort_keys=True, separators=(",", ":"), default=str)
        runner = f"local:ome-zarr-models {models}"
        kept = verdict_cache.lookup(ctx.schemas, "ome", version, runner, {"what": what}, body)
        if models is not None and isinstance(kept.reply, list) and all(isinstance(m, str) for m in kept.reply):
            return kept.reply
        try:
            complaints = validate_ome(version, what, attrs)
        except ValidatorUnavailable as exc:
            unavailable.append(str(exc))
            return []
        if models is not None:
            kept.keep(complaints)
        return complaints

    stores, nwb_files = find_stores(list(objects))
    verdicts = []
    problems: list[Problem] = []
    for store in stores:
        verdict = z.judge_store(store, fetch, limits, validate)
        if unavailable:
            ctx.cannot_judge(ctx.path(store.prefix), unavailable[0])
            unavailable.clear()
        verdicts.append(verdict)
        problems.extend(verdict.problems)
    for key in nwb_files:
        head = ctx.read_head(key, len(HDF5_SIGNATURE))
        problems.extend(z.judge_hdf5_head(key, head, objects[key].size))
    return AssetStores(verdicts, nwb_files, problems)


def _stores(ctx: AssetContext) -> AssetStores:
    return ctx.memo("stores:verdicts", lambda: _judge(ctx))


def _violations(ctx: AssetContext, code: str) -> Iterator[Violation]:
    found = [p for p in _stores(ctx).problems if p.code == code]
    cap = Limits().max_problems
    by_store: dict[str, int] = {}
    for p in found:
        store = p.details.get("store", "")
        by_store[store] = by_store.get(store, 0) + 1
        if by_store[store] <= cap:
            yield Violation(p.message, ctx.path(p.key), dict(p.details))
    for store, count in sorted(by_store.items()):
        if count > cap:
            yield Violation(
                f"... and {count - cap} more in {store or ctx.name}",
                ctx.path(store) if store else ctx.name,
                {"store": store, "more": count - cap},
            )


_STORE_RULE: dict[str, Any] = {"reads_content": True, "clears": NO_STORE}


@rule("Z501", "zarr-metadata", "error", "A Zarr store's own metadata is missing or does not parse.", **_STORE_RULE)
def zarr_metadata(ctx: AssetContext) -> Iterator[Violation]:
    """Every Zarr store has its metadata: Zarr v2 a ``.zgroup`` (or ``.zarray``) at its top, a
    ``.zarray`` per array, ``.zattrs`` and ``.zmetadata`` that are JSON objects; Zarr v3 a
    ``zarr.json`` per node. Each is JSON (as zarr reads it: ``NaN`` is allowed), no larger than
    ``stores.max_metadata_bytes`` (default 16 MiB), and an array's shape, chunks and chunk key
    encoding make sense. A folder of a store that holds objects but no metadata is data whose
    metadata was lost. The finding names the store and the document or field."""
    yield from _violations(ctx, z.METADATA)


@rule(
    "Z502",
    "consolidated-mismatch",
    "error",
    "Consolidated metadata and the store's listing disagree.",
    judges_absence=True,
    **_STORE_RULE,
)
def consolidated_mismatch(ctx: AssetContext) -> Iterator[Violation]:
    """Readers open a store with consolidated metadata (Zarr v2 ``.zmetadata``, v3
    ``consolidated_metadata`` in the root ``zarr.json``) without listing it. Every array and
    group it lists must be in the store: one that is not was never written (an upload cut off
    partway). A metadata document the listing holds but the consolidated metadata does not was
    written after it, and readers that trust it never see it."""
    yield from _violations(ctx, z.CONSOLIDATED)


@rule("Z503", "stray-chunk", "warning", "An object of a Zarr store lies outside its array's chunk grid.", **_STORE_RULE)
def stray_chunk(ctx: AssetContext) -> Iterator[Violation]:
    """A chunk key names its position in the array's chunk grid (``ceil(shape / chunks)`` per
    dimension). A key beyond the grid, or one that is no chunk key of the array (wrong number of
    indices, another separator), is left over from a write with another shape or chunking, or
    was put there by hand: readers ignore it, and it costs storage. Judged from the keys alone;
    chunks are never read."""
    yield from _violations(ctx, z.STRAY)


@rule(
    "Z504",
    "ome-metadata-invalid",
    "error",
    "OME-Zarr metadata fails the OME models (ome-zarr-models).",
    **_STORE_RULE,
)
def ome_metadata_invalid(ctx: AssetContext) -> Iterator[Violation]:
    """An OME-Zarr image's ``multiscales`` (and ``omero``) and its ``labels`` group's ``labels``
    are validated by ome-zarr-models-py, the models the OME-Zarr community maintains for NGFF
    0.4 (Zarr v2, ``.zattrs``) and 0.5 (Zarr v3, ``attributes.ome`` of ``zarr.json``), from the
    attributes alone (no zarr I/O). The finding gives the model's location and message. A store
    named ``*.ome.zarr`` whose root holds no multiscales is reported too. Needs the ``zarr``
    extra (``pip install 'aind-bucket-lint[zarr]'``); without it an OME store is reported as not
    judged (E901)."""
    yield from _violations(ctx, z.OME_INVALID)


@rule(
    "Z505",
    "ome-version-unsupported",
    "warning",
    "An OME-Zarr store declares an NGFF version the models do not judge, or the wrong Zarr format for it.",
    **_STORE_RULE,
)
def ome_version_unsupported(ctx: AssetContext) -> Iterator[Violation]:
    """The models judge NGFF 0.4 (on Zarr v2) and 0.5 (on Zarr v3). A store that declares an
    older version (0.1 to 0.3) or a newer one gets only the structural checks (Z506), and says
    so; a version on the other Zarr format (0.5 in ``.zattrs``) is not readable as declared."""
    yield from _violations(ctx, z.OME_VERSION)


@rule(
    "Z506",
    "ome-levels-mismatch",
    "error",
    "An OME-Zarr image's levels disagree with its multiscales metadata.",
    judges_absence=True,
    **_STORE_RULE,
)
def ome_levels_mismatch(ctx: AssetContext) -> Iterator[Violation]:
    """Every ``multiscales[].datasets[].path`` is an array of the store (a missing resolution
    level is reported); each level has as many dimensions as there are axes (and, on Zarr v3, the
    same ``dimension_names``); no level is larger than the one before it along any axis (levels go
    from the highest resolution down); every ``scale`` and ``translation`` has one entry per axis;
    every label image the ``labels`` group lists is a group of the store. Judged from the arrays'
    metadata and the listing."""
    yield from _violations(ctx, z.OME_LEVELS)


@rule("Z507", "nwb-zarr-invalid", "error", "An NWB-Zarr store is not laid out as hdmf-zarr writes it.", **_STORE_RULE)
def nwb_zarr_invalid(ctx: AssetContext) -> Iterator[Violation]:
    """An NWB-Zarr file (a store named ``*.nwb.zarr``, or whose root attributes carry
    ``neurodata_type``) is a Zarr v2 group whose root ``.zattrs`` says ``neurodata_type:
    NWBFile`` with a ``namespace`` and an ``nwb_version``, that caches its schema under
    ``specifications/<namespace>/<version>/`` (the root's namespace among them), and that has the
    consolidated ``.zmetadata`` hdmf-zarr writes (Z502 checks it against the listing)."""
    yield from _violations(ctx, z.NWB_ZARR)


@rule(
    "Z508",
    "nwb-hdf5-signature",
    "error",
    "An .nwb file does not start with the HDF5 signature.",
    reads_content=True,
    clears=NO_STORE,
)
def nwb_hdf5_signature(ctx: AssetContext) -> Iterator[Violation]:
    """An NWB-HDF5 file (``*.nwb`` outside a Zarr store) is an HDF5 file, which starts with the
    8 bytes ``\\x89HDF\\r\\n\\x1a\\n``. One ranged GET of those 8 bytes tells a truncated or
    mislabelled upload (an empty file, a text file, a Zarr store zipped under that name)."""
    yield from _violations(ctx, z.HDF5)


def _expected(convention: Convention) -> list[dict[str, Any]]:
    return [e for e in _section(convention).get("expected", []) if isinstance(e, dict)]


def _expected_clears(convention: Convention) -> str:
    folders = sorted({str(e["folder"]) for e in _expected(convention)})
    if not folders:
        return "true"
    quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in folders)
    return f"NOT list_has_any(top_folders, [{quoted}])"


FORMAT_NAMES = {"ome-zarr": "OME-Zarr", "nwb-zarr": "NWB-Zarr", "zarr": "Zarr", "nwb-hdf5": "NWB-HDF5"}


@rule(
    "Z509",
    "cloud-format-missing",
    "info",
    "A data folder holds none of the cloud formats the convention expects there.",
    reads_content=True,
    judges_absence=True,
    clears=_expected_clears,
)
def cloud_format_missing(ctx: AssetContext) -> Iterator[Violation]:
    """AIND keeps data "in cloud-friendly formats, including NWB-Zarr for physiology and
    OME-Zarr for imaging". The convention's ``stores.expected`` names, per data folder below the
    asset root (``SPIM/``, ...), the formats expected there (``ome-zarr``, ``nwb-zarr``, ``zarr``
    for any Zarr store, ``nwb-hdf5``) and the finding's severity (default info). A folder that
    holds objects but none of them (only TIFF stacks under ``SPIM/``, say) is reported."""
    entries = _expected(ctx.convention)
    if not entries:
        return
    found = _stores(ctx)
    for entry in entries:
        folder = str(entry["folder"])
        inside = [o for o in ctx.objects_by_key if o.startswith(folder + "/")]
        if not inside:
            continue
        formats = [str(f) for f in entry.get("formats", [])]
        kinds = {v.kind for v in found.verdicts if v.prefix.startswith(folder + "/")}
        if kinds:
            kinds.add("zarr")
        if any(f.startswith(folder + "/") for f in found.nwb_files):
            kinds.add("nwb-hdf5")
        if kinds & set(formats):
            continue
        names = " or ".join(FORMAT_NAMES.get(f, f) for f in formats)
        severity = Severity.parse(str(entry.get("severity", "info")))
        yield Violation(
            f"{folder}/ holds {len(inside)} object{'' if len(inside) == 1 else 's'} and no {names}: "
            f"the convention expects {names} there",
            ctx.path(folder + "/"),
            {"folder": folder, "expected": formats, "objects": len(inside)},
            severity=severity,
        )


@rule(
    "Z510",
    "store-sampled",
    "info",
    "A store without consolidated metadata was judged on a sample of its arrays.",
    **_STORE_RULE,
)
def store_sampled(ctx: AssetContext) -> Iterator[Violation]:
    """Without consolidated metadata each array's metadata costs a GET. Past
    ``stores.max_arrays_read`` arrays (default 64; the multiscales levels first) the rest are not
    read, so the Z rules judged that store on a sample: this finding says how many were read.
    Consolidating the store's metadata (``zarr.consolidate_metadata``) lets it be judged whole in
    one GET."""
    yield from _violations(ctx, z.SAMPLED)
