"""Cloud-format data in an asset (Zarr stores, NWB files), judged from metadata alone.

This package knows no source and no context: it finds the stores in an asset's keys
(:func:`find_stores`) and judges one store from its keys and the metadata documents a
``fetch`` function gives it (:mod:`linter.stores.judge`). Chunks are never read. The rules
(``rules/stores.py``, Z5xx) feed it through the context.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

ZGROUP, ZATTRS, ZARRAY, ZMETADATA, ZARR_JSON = ".zgroup", ".zattrs", ".zarray", ".zmetadata", "zarr.json"
METADATA_NAMES = frozenset({ZGROUP, ZATTRS, ZARRAY, ZMETADATA, ZARR_JSON})
"""Names of Zarr's metadata documents (v2 and v3)."""
NWB_SUFFIX = ".nwb"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
"""The first 8 bytes of every HDF5 file (an NWB-HDF5 file is one)."""


def is_metadata_key(key: str) -> bool:
    """Whether the Z rules may read this key's bytes: a Zarr metadata document, or an NWB file
    (its first bytes). What their verdicts depend on, beside the listing."""
    name = key.rpartition("/")[2]
    return name in METADATA_NAMES or name.endswith(NWB_SUFFIX)


@dataclass
class StoreListing:
    """One Zarr store of an asset: its prefix (relative to the asset root, no trailing '/') and
    its keys relative to that prefix."""

    prefix: str
    keys: list[str] = field(default_factory=list)

    @property
    def named_kind(self) -> str | None:
        """What the store's name says it is: ``ome-zarr``, ``nwb-zarr`` or None."""
        leaf = self.prefix.rpartition("/")[2]
        if leaf.endswith(".ome.zarr"):
            return "ome-zarr"
        if leaf.endswith(".nwb.zarr"):
            return "nwb-zarr"
        return None


def _store_prefix(key: str) -> str | None:
    """The store a key suggests: the folder up to its first ``*.zarr`` segment, else the folder of
    a metadata document (None for the asset root and for other keys)."""
    at = key.find(".zarr/")
    if at >= 0:
        return key[: at + 5]
    folder, _, name = key.rpartition("/")
    if name in METADATA_NAMES and folder:
        return folder
    return None


def find_stores(keys: Iterable[str]) -> tuple[list[StoreListing], list[str]]:
    """The Zarr stores among an asset's keys, and its NWB (HDF5) files outside any store.

    A store is a folder named ``*.zarr`` (``*.ome.zarr``, ``*.nwb.zarr``) or a folder holding a
    Zarr metadata document, whichever is outermost: a group's subgroups and arrays belong to it.
    """
    keys = keys if isinstance(keys, list) else list(keys)
    candidates = {p for p in map(_store_prefix, keys) if p is not None}
    outermost: set[str] = set()
    for prefix in sorted(candidates):  # an ancestor sorts before its descendants
        if not _inside(prefix, outermost):
            outermost.add(prefix)
    stores = {prefix: StoreListing(prefix) for prefix in sorted(outermost)}
    nwb: list[str] = []
    if not stores:
        return [], [k for k in keys if k.endswith(NWB_SUFFIX)]
    for key in keys:
        owner = _owner(key, outermost)
        if owner is not None:
            stores[owner].keys.append(key[len(owner) + 1 :])
        elif key.endswith(NWB_SUFFIX):
            nwb.append(key)
    return list(stores.values()), nwb


def _inside(path: str, prefixes: set[str]) -> bool:
    end = path.find("/")
    while end >= 0:
        if path[:end] in prefixes:
            return True
        end = path.find("/", end + 1)
    return False


def _owner(key: str, prefixes: set[str]) -> str | None:
    end = key.find("/")
    while end >= 0:
        if key[:end] in prefixes:
            return key[:end]
        end = key.find("/", end + 1)
    return None
