"""Judge one Zarr store (or NWB-HDF5 file) from its keys and its metadata documents.

Pure: the documents come from a ``fetch`` function (a key relative to the asset root ->
its bytes, a reason it was not read, or None when it could not be read at all), so the
judging is tested without a bucket. What is fetched, per store:

- with consolidated metadata (Zarr v2 ``.zmetadata``, or a Zarr v3 root ``zarr.json`` that
  holds ``consolidated_metadata``): that one document, and nothing else;
- without: the root's ``.zgroup`` and ``.zattrs`` (v3: its ``zarr.json``), the ``.zarray``
  (v3: ``zarr.json``) of each array, the multiscales levels first, up to
  ``Limits.max_arrays_read``; beyond that the store is judged on that sample (Z510 says so),
  and an OME-Zarr's ``labels`` group's attributes (there are label arrays for it).

Chunks are never read: their keys alone say whether they lie inside their array's chunk grid.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from linter.stores import (
    HDF5_SIGNATURE,
    ZARR_JSON,
    ZARRAY,
    ZATTRS,
    ZGROUP,
    ZMETADATA,
    StoreListing,
)

Fetched = bytes | str | None
"""A document's bytes; a reason it was not read (e.g. larger than the cap); None when it could
not be read (the caller reports that)."""
Fetch = Callable[[str], Fetched]
OmeValidator = Callable[[str, str, dict[str, Any]], list[str]]
"""(NGFF version, ``image`` or ``labels``, the attributes) -> the validator's error messages."""

METADATA = "Z501"
CONSOLIDATED = "Z502"
STRAY = "Z503"
OME_INVALID = "Z504"
OME_VERSION = "Z505"
OME_LEVELS = "Z506"
NWB_ZARR = "Z507"
HDF5 = "Z508"
EXPECTED = "Z509"
SAMPLED = "Z510"

SUPPORTED_NGFF = {"0.4": 2, "0.5": 3}
"""The NGFF versions judged by the models, and the Zarr format each lives on."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_arrays_read: int = 64
    """Without consolidated metadata, at most this many arrays' metadata documents are read."""
    max_problems: int = 50
    """Problems reported one by one per store and rule; one more counts the rest."""


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    key: str
    """Where, relative to the asset root."""
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class StoreVerdict:
    prefix: str
    kind: str
    """``ome-zarr``, ``nwb-zarr`` or ``zarr``."""
    zarr_format: int
    problems: list[Problem]
    gets: int
    """Metadata documents fetched for it."""
    sampled: bool = False


class ValidatorUnavailable(Exception):
    """The OME models cannot be imported; the message says what to install."""


@dataclass(frozen=True, slots=True)
class ArrayMeta:
    shape: tuple[int, ...]
    chunks: tuple[int, ...] | None
    """None for a chunk grid other than a regular one (its keys are not judged)."""
    separator: str
    default_encoding: bool
    """Zarr v3's default chunk key encoding (``c/0/1``); else v2's (``0.1`` or ``0/1``)."""
    dimension_names: tuple[Any, ...] | None = None

    @property
    def grid(self) -> tuple[int, ...] | None:
        if self.chunks is None:
            return None
        return tuple(math.ceil(s / c) for s, c in zip(self.shape, self.chunks, strict=True))

    def example_key(self) -> str:
        zeros = self.separator.join("0" for _ in self.shape)
        if self.default_encoding:
            return f"c{self.separator}{zeros}" if self.shape else "c"
        return zeros or "0"

    def chunk_index(self, rel: str) -> tuple[int, ...] | None:
        """The chunk's grid index of a key relative to the array, or None if it is no chunk key."""
        if self.default_encoding:
            if not self.shape:
                return () if rel == "c" else None
            head = "c" + self.separator
            if not rel.startswith(head):
                return None
            rel = rel[len(head) :]
        elif not self.shape:
            return () if rel == "0" else None
        parts = rel.split(self.separator)
        if len(parts) != len(self.shape) or not all(p.isascii() and p.isdigit() for p in parts):
            return None
        return tuple(int(p) for p in parts)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _ints(value: Any, *, positive: bool = False) -> tuple[int, ...] | None:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return None
    if any(v < (1 if positive else 0) for v in value):
        return None
    return tuple(value)


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


class StoreJudge:
    """One store's judging; :meth:`run` gives its verdict."""

    def __init__(
        self, store: StoreListing, fetch: Fetch, limits: Limits, ome_validator: OmeValidator | None = None
    ) -> None:
        self.store = store
        self.fetch = fetch
        self.limits = limits
        self.ome_validator = ome_validator
        self.problems: list[Problem] = []
        self.gets = 0
        self.sampled = False
        self.keyset = frozenset(store.keys)
        self.listed_nodes: dict[str, set[str]] = {}  # node path -> metadata names listed there
        self.others: list[str] = []
        for key in store.keys:
            folder, _, name = key.rpartition("/")
            if name in (ZGROUP, ZATTRS, ZARRAY, ZMETADATA, ZARR_JSON):
                self.listed_nodes.setdefault(folder, set()).add(name)
            else:
                self.others.append(key)
        root = self.listed_nodes.get("", set())
        v2_root = bool(root & {ZGROUP, ZARRAY, ZATTRS, ZMETADATA})
        any_v3 = any(ZARR_JSON in names for names in self.listed_nodes.values())
        self.zarr_format = 3 if ZARR_JSON in root or (not v2_root and any_v3) else 2
        self.consolidated: dict[str, Any] | None = None
        """v2: {metadata key: document}; v3: {node path: document}."""
        self.arrays: dict[str, ArrayMeta | None] = {}
        """Array node -> its metadata (None when it was not read or is not valid)."""
        self.groups: set[str] = set()
        self.root_attrs: dict[str, Any] | None = None
        self.attrs_unjudged = False
        """The root's attributes are listed but could not be read or parsed (Z501 says why)."""
        self.kind = store.named_kind or "zarr"

    # -- helpers --------------------------------------------------------------------------------

    def key(self, rel: str) -> str:
        """A key of the store, relative to the asset root."""
        return _join(self.store.prefix, rel)

    def problem(self, code: str, rel: str, message: str, **details: Any) -> None:
        self.problems.append(Problem(code, self.key(rel), message, {"store": self.store.prefix, **details}))

    def where(self, rel: str) -> str:
        return f"{self.store.prefix}/{rel}" if rel else f"{self.store.prefix}/"

    def read(self, rel: str) -> Any:
        """GET and parse one metadata document (None when it could not be judged; why is recorded)."""
        self.gets += 1
        raw = self.fetch(self.key(rel))
        if raw is None:
            return None
        if isinstance(raw, str):
            self.problem(METADATA, rel, f"{self.where(rel)} {raw}", document=rel)
            return None
        try:
            return json.loads(raw.decode("utf-8"))  # as zarr reads it: NaN and Infinity are allowed
        except UnicodeDecodeError as exc:
            self.problem(METADATA, rel, f"{self.where(rel)} is not UTF-8 (byte {exc.start})", document=rel)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            self.problem(METADATA, rel, f"{self.where(rel)} is not JSON: {exc.msg} at {where}", document=rel)
        return None

    def document(self, rel: str, *, node: str | None = None) -> Any:
        """A metadata document, from consolidated metadata when it holds it, else fetched when listed."""
        if self.zarr_format == 3:
            assert node is not None
            if self.consolidated is not None and node in self.consolidated:
                return self.consolidated[node]
        elif self.consolidated is not None and rel in self.consolidated:
            return self.consolidated[rel]
        return self.read(rel) if rel in self.keyset else None

    def object_doc(self, rel: str, doc: Any, what: str) -> dict[str, Any] | None:
        if doc is None:
            return None
        if not isinstance(doc, dict):
            self.problem(METADATA, rel, f"{self.where(rel)} is not a JSON object ({what})", document=rel)
            return None
        return doc

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> StoreVerdict:
        if self.zarr_format == 2:
            self.read_v2()
        else:
            self.read_v3()
        ome = self.ome_attributes()
        if ome is not None:
            self.kind = "ome-zarr"
        elif self.root_attrs is not None and "neurodata_type" in self.root_attrs:
            self.kind = "nwb-zarr"
        self.read_arrays(self.ome_levels(ome))
        self.check_consolidated()
        self.check_chunks()
        if ome is not None:
            self.check_ome(*ome)
        elif self.kind == "ome-zarr" and not self.attrs_unjudged:
            self.problem(
                OME_INVALID,
                ZATTRS if self.zarr_format == 2 else ZARR_JSON,
                f"{self.store.prefix} is named an OME-Zarr but its root holds no multiscales metadata",
            )
        if self.kind == "nwb-zarr":
            self.check_nwb()
        return StoreVerdict(self.store.prefix, self.kind, self.zarr_format, self.problems, self.gets, self.sampled)

    # -- Zarr v2 --------------------------------------------------------------------------------

    def read_v2(self) -> None:
        root = self.listed_nodes.get("", set())
        if not root & {ZGROUP, ZARRAY}:
            self.problem(
                METADATA,
                "",
                f"store {self.store.prefix} has no .zgroup or .zarray at its top (nor zarr.json)",
                missing=ZGROUP,
            )
        if ZMETADATA in root:
            self.consolidated = self.consolidated_v2(self.read(ZMETADATA))
        nodes = set(self.listed_nodes)
        if self.consolidated is not None:
            nodes.update(k.rpartition("/")[0] for k in self.consolidated)
        for node in sorted(nodes):
            names = self.listed_nodes.get(node, set())
            in_cons = self.consolidated or {}
            if ZARRAY in names or _join(node, ZARRAY) in in_cons:
                self.arrays[node] = None
            elif ZGROUP in names or _join(node, ZGROUP) in in_cons:
                self.groups.add(node)
        if "" in self.groups or ZGROUP in root:
            doc = self.object_doc(ZGROUP, self.document(ZGROUP), "a group's metadata")
            if doc is not None and doc.get("zarr_format") != 2:
                self.problem(
                    METADATA, ZGROUP, f"{self.where(ZGROUP)}: zarr_format is {_short(doc.get('zarr_format'))}, not 2"
                )
        if ZATTRS in root or (self.consolidated is not None and ZATTRS in self.consolidated):
            self.root_attrs = self.object_doc(ZATTRS, self.document(ZATTRS), "attributes")
            self.attrs_unjudged = self.root_attrs is None

    def consolidated_v2(self, data: Any) -> dict[str, Any] | None:
        if data is None:
            return None
        metadata = data.get("metadata") if isinstance(data, dict) else None
        if not isinstance(metadata, dict) or data.get("zarr_consolidated_format") != 1:
            self.problem(
                METADATA,
                ZMETADATA,
                f"{self.where(ZMETADATA)} is not consolidated metadata "
                "(an object with 'metadata' and 'zarr_consolidated_format': 1)",
            )
            return None
        return metadata

    # -- Zarr v3 --------------------------------------------------------------------------------

    def read_v3(self) -> None:
        root = self.listed_nodes.get("", set())
        if ZARR_JSON not in root:
            self.problem(METADATA, "", f"store {self.store.prefix} has no zarr.json at its top", missing=ZARR_JSON)
            doc = None
        else:
            doc = self.object_doc(ZARR_JSON, self.read(ZARR_JSON), "a node's metadata")
            self.attrs_unjudged = doc is None
        if doc is not None:
            if doc.get("zarr_format") != 3:
                self.problem(
                    METADATA,
                    ZARR_JSON,
                    f"{self.where(ZARR_JSON)}: zarr_format is {_short(doc.get('zarr_format'))}, not 3",
                )
            cons = doc.get("consolidated_metadata")
            if isinstance(cons, dict) and isinstance(cons.get("metadata"), dict):
                self.consolidated = {"": doc, **cons["metadata"]}
            attrs = doc.get("attributes", {})
            self.root_attrs = attrs if isinstance(attrs, dict) else None
        nodes = set(self.listed_nodes) | set(self.consolidated or {})
        for node in sorted(nodes):
            known = (self.consolidated or {}).get(node) if node else doc
            node_type = known.get("node_type") if isinstance(known, dict) else None
            if node_type == "group":
                self.groups.add(node)
            elif node_type == "array":
                self.arrays[node] = None
            elif node not in self.listed_nodes:
                continue
            else:
                self.arrays.setdefault(node, None)  # unknown until read: read as a candidate array
        if doc is not None and doc.get("node_type") == "array":
            self.arrays[""] = self.array_meta(ZARR_JSON, doc)

    # -- arrays ---------------------------------------------------------------------------------

    def array_rel(self, node: str) -> str:
        return _join(node, ZARR_JSON if self.zarr_format == 3 else ZARRAY)

    def read_arrays(self, first: Iterable[str]) -> None:
        order = [p for p in dict.fromkeys(first) if p in self.arrays]
        order += [p for p in sorted(self.arrays) if p not in order]
        cap = None if self.consolidated is not None else self.limits.max_arrays_read
        read = 0
        for node in order:
            if self.arrays[node] is not None:
                continue
            rel = self.array_rel(node)
            free = self.consolidated is not None
            if not free and rel not in self.keyset:
                continue  # listed only by consolidated metadata: Z502 says it is missing
            if cap is not None and read >= cap:
                self.sampled = True
                continue
            read += 0 if free else 1
            doc = self.document(rel, node=node)
            if self.zarr_format == 3 and isinstance(doc, dict) and doc.get("node_type") == "group":
                del self.arrays[node]
                self.groups.add(node)
                continue
            self.arrays[node] = self.array_meta(rel, doc)
        if self.sampled:
            unread = sum(1 for node in self.arrays if self.arrays[node] is None)
            self.problem(
                SAMPLED,
                "",
                f"store {self.store.prefix} has {len(self.arrays)} arrays and no consolidated metadata: "
                f"judged on the metadata of {read} of them ({unread} not read)",
                arrays=len(self.arrays),
                read=read,
            )

    def array_meta(self, rel: str, doc: Any) -> ArrayMeta | None:
        doc = self.object_doc(rel, doc, "an array's metadata")
        if doc is None:
            return None
        if self.zarr_format == 2:
            return self.array_meta_v2(rel, doc)
        return self.array_meta_v3(rel, doc)

    def bad_field(self, rel: str, name: str, value: Any, want: str) -> None:
        self.problem(METADATA, rel, f"{self.where(rel)}: {name} is {_short(value)}, not {want}", field=name)

    def array_meta_v2(self, rel: str, doc: dict[str, Any]) -> ArrayMeta | None:
        if doc.get("zarr_format") != 2:
            self.bad_field(rel, "zarr_format", doc.get("zarr_format"), "2")
            return None
        shape = _ints(doc.get("shape"))
        chunks = _ints(doc.get("chunks"), positive=True)
        if shape is None:
            self.bad_field(rel, "shape", doc.get("shape"), "a list of whole numbers")
            return None
        if chunks is None or len(chunks) != len(shape):
            self.bad_field(rel, "chunks", doc.get("chunks"), f"a list of {len(shape)} positive whole numbers")
            return None
        separator = doc.get("dimension_separator") or "."
        if separator not in (".", "/"):
            self.bad_field(rel, "dimension_separator", separator, "'.' or '/'")
            return None
        return ArrayMeta(shape, chunks, separator, False)

    def array_meta_v3(self, rel: str, doc: dict[str, Any]) -> ArrayMeta | None:
        if doc.get("zarr_format") != 3:
            self.bad_field(rel, "zarr_format", doc.get("zarr_format"), "3")
            return None
        shape = _ints(doc.get("shape"))
        if shape is None:
            self.bad_field(rel, "shape", doc.get("shape"), "a list of whole numbers")
            return None
        grid = doc.get("chunk_grid")
        chunks: tuple[int, ...] | None = None
        if isinstance(grid, dict) and grid.get("name") == "regular":
            config = grid.get("configuration")
            chunks = _ints(config.get("chunk_shape") if isinstance(config, dict) else None, positive=True)
            if chunks is None or len(chunks) != len(shape):
                value = config.get("chunk_shape") if isinstance(config, dict) else None
                self.bad_field(rel, "chunk_grid.configuration.chunk_shape", value, f"{len(shape)} positive numbers")
                return None
        encoding = doc.get("chunk_key_encoding") or {"name": "default"}
        name = encoding.get("name") if isinstance(encoding, dict) else None
        config = encoding.get("configuration") if isinstance(encoding, dict) else None
        if name not in ("default", "v2"):
            self.bad_field(rel, "chunk_key_encoding.name", name, "'default' or 'v2'")
            return None
        default_sep = "/" if name == "default" else "."
        separator = (config or {}).get("separator", default_sep) if isinstance(config, dict) or config is None else ""
        if separator not in (".", "/"):
            self.bad_field(rel, "chunk_key_encoding.configuration.separator", separator, "'.' or '/'")
            return None
        names = doc.get("dimension_names")
        if names is not None and (not isinstance(names, list) or len(names) != len(shape)):
            self.bad_field(rel, "dimension_names", names, f"a list of {len(shape)} names")
            names = None
        return ArrayMeta(shape, chunks, separator, name == "default", tuple(names) if names is not None else None)

    # -- consolidated metadata against the listing ----------------------------------------------

    def check_consolidated(self) -> None:
        if self.consolidated is None:
            return
        if self.zarr_format == 2:
            listed = {k for k in self.store.keys if k.rpartition("/")[2] in (ZGROUP, ZATTRS, ZARRAY)}
            declared = set(self.consolidated)
            source = ZMETADATA
        else:
            listed = {node for node, names in self.listed_nodes.items() if ZARR_JSON in names and node}
            declared = {node for node in self.consolidated if node}
            source = ZARR_JSON
        missing = sorted(declared - listed)
        # an array or group absent as a whole is one finding, not one per document
        missing_nodes: dict[str, list[str]] = {}
        for rel in missing:
            node = rel.rpartition("/")[0] if self.zarr_format == 2 else rel
            missing_nodes.setdefault(node, []).append(rel)
        for node, rels in missing_nodes.items():
            what = "array" if node in self.arrays else "group"
            docs = ", ".join(r.rpartition("/")[2] for r in rels) if self.zarr_format == 2 else ZARR_JSON
            self.problem(
                CONSOLIDATED,
                rels[0] if self.zarr_format == 2 else _join(node, ZARR_JSON),
                f"{self.where(source)} lists {what} {node or '/'!r} but the store does not hold its {docs} "
                "(an upload cut off?)",
                node=node,
                missing=rels if self.zarr_format == 2 else [_join(node, ZARR_JSON)],
            )
        for rel in sorted(listed - declared):
            self.problem(
                CONSOLIDATED,
                rel if self.zarr_format == 2 else _join(rel, ZARR_JSON),
                f"{self.where(rel if self.zarr_format == 2 else _join(rel, ZARR_JSON))} is not in the consolidated "
                f"metadata ({self.where(source)}): written after it, and invisible to readers that use it",
            )

    # -- chunk keys -----------------------------------------------------------------------------

    def check_chunks(self) -> None:
        nodes = set(self.arrays) | self.groups | set(self.listed_nodes)
        unowned: dict[str, int] = {}
        arrays = self.arrays
        for key in self.others:
            folder = key.rpartition("/")[0]
            while folder not in nodes and folder:
                folder = folder.rpartition("/")[0]
            owner = folder if folder in nodes else None
            rel = key[len(owner) + 1 :] if owner else key
            if owner is not None and owner in arrays:
                meta = arrays[owner]
                if meta is None or meta.grid is None:
                    continue
                index = meta.chunk_index(rel)
                if index is None:
                    self.problem(
                        STRAY,
                        key,
                        f"{self.where(key)} is not a chunk key of array {owner or '/'!r} "
                        f"(its chunks are named like {meta.example_key()!r})",
                        array=owner,
                    )
                elif any(i >= g for i, g in zip(index, meta.grid, strict=True)):
                    self.problem(
                        STRAY,
                        key,
                        f"chunk {self.where(key)} lies outside the chunk grid of array {owner or '/'!r} "
                        f"(index {list(index)}, grid {list(meta.grid)} for shape {list(meta.shape)}): "
                        "left from a write with another shape?",
                        array=owner,
                        index=list(index),
                        grid=list(meta.grid),
                    )
                continue
            if "/" in rel:  # below a group, in a folder that is no node of the store
                folder = _join(owner or "", rel.split("/", 1)[0])
                unowned[folder] = unowned.get(folder, 0) + 1
            elif owner is not None:
                self.problem(STRAY, key, f"{self.where(key)} lies in group {owner or '/'!r}, in no array", group=owner)
        for folder, count in sorted(unowned.items()):
            want = f"{ZARR_JSON}" if self.zarr_format == 3 else f"{ZARRAY} or {ZGROUP}"
            self.problem(
                METADATA,
                folder + "/",
                f"{self.where(folder)}/ holds {count} objects but no {want}: data without its metadata",
                objects=count,
                missing=want,
            )

    # -- OME-Zarr -------------------------------------------------------------------------------

    def ome_attributes(self) -> tuple[str, dict[str, Any], str] | None:
        """(declared NGFF version, the OME attributes, where they are) of an OME-Zarr image root."""
        attrs = self.root_attrs
        if attrs is None:
            return None
        if self.zarr_format == 3:
            ome = attrs.get("ome")
            if isinstance(ome, dict) and ("multiscales" in ome or "labels" in ome):
                return str(ome.get("version")), ome, ZARR_JSON
            if "multiscales" in attrs:
                multiscales = attrs["multiscales"]
                return _ms_version(multiscales), attrs, ZARR_JSON
            return None
        if "multiscales" in attrs:
            return _ms_version(attrs["multiscales"]), attrs, ZATTRS
        ome = attrs.get("ome")
        if isinstance(ome, dict) and "multiscales" in ome:
            return str(ome.get("version")), ome, ZATTRS
        return None

    def ome_levels(self, ome: tuple[str, dict[str, Any], str] | None) -> list[str]:
        if ome is None:
            return []
        out = []
        for m in _list(ome[1].get("multiscales")):
            for d in _list(m.get("datasets") if isinstance(m, dict) else None):
                if isinstance(d, dict) and isinstance(d.get("path"), str):
                    out.append(d["path"])
        return out

    def check_ome(self, version: str, attrs: dict[str, Any], where: str) -> None:
        structural = self.check_multiscales(attrs, where)
        wanted_format = SUPPORTED_NGFF.get(version)
        if wanted_format is None:
            self.problem(
                OME_VERSION,
                where,
                f"{self.where(where)} declares OME-NGFF {version}: the OME models judge 0.4 (Zarr v2) and 0.5 "
                "(Zarr v3); only the structural checks ran",
                version=version,
            )
            return
        if wanted_format != self.zarr_format:
            self.problem(
                OME_VERSION,
                where,
                f"{self.where(where)} declares OME-NGFF {version}, which lives on Zarr v{wanted_format}, "
                f"in a Zarr v{self.zarr_format} store",
                version=version,
            )
            return
        if self.ome_validator is None:
            return
        if not structural:
            # the models index the scales per axis; with a length mismatch (already reported) they crash
            self.validate_models(version, "image", attrs, where)
        self.check_labels(version)

    def validate_models(self, version: str, what: str, attrs: dict[str, Any], where: str) -> None:
        assert self.ome_validator is not None
        for message in self.ome_validator(version, what, attrs):
            self.problem(OME_INVALID, where, f"{self.where(where)}: {message}", version=version)

    def check_multiscales(self, attrs: dict[str, Any], where: str) -> bool:
        """Every level is an array of as many dimensions as there are axes, no level larger than the
        one before, one transformation entry per axis. True when a transformation's length is wrong."""
        length_mismatch = False
        for i, m in enumerate(_list(attrs.get("multiscales"))):
            if not isinstance(m, dict):
                continue
            axes = _list(m.get("axes"))
            n = len(axes)
            names = [a.get("name") if isinstance(a, dict) else a for a in axes]
            label = f"multiscales[{i}]"
            wrong: list[str] = []
            for t, transform in enumerate(_list(m.get("coordinateTransformations"))):
                wrong += self.wrong_transform(transform, n, f"coordinateTransformations[{t}]")
            wrong_ndim: dict[int, list[str]] = {}
            previous: tuple[str, ArrayMeta] | None = None
            for j, d in enumerate(_list(m.get("datasets"))):
                if not isinstance(d, dict) or not isinstance(d.get("path"), str):
                    continue
                path = d["path"]
                for t, transform in enumerate(_list(d.get("coordinateTransformations"))):
                    wrong += self.wrong_transform(transform, n, f"datasets[{j}].coordinateTransformations[{t}]")
                if path not in self.arrays:
                    self.problem(
                        OME_LEVELS,
                        self.array_rel(path),
                        f"{self.where(where)}: {label}.datasets[{j}].path {path!r} is not an array of the store "
                        "(a missing resolution level)",
                        level=path,
                    )
                    continue
                meta = self.arrays[path]
                if meta is None:
                    continue
                if len(meta.shape) != n:
                    wrong_ndim.setdefault(len(meta.shape), []).append(path)
                    continue
                if meta.dimension_names is not None and list(meta.dimension_names) != names:
                    self.problem(
                        OME_LEVELS,
                        self.array_rel(path),
                        f"{self.where(self.array_rel(path))}: dimension_names {list(meta.dimension_names)} differ "
                        f"from the axes of {label} ({names})",
                        level=path,
                    )
                if previous is not None:
                    grown = [a for a, (b, c) in enumerate(zip(previous[1].shape, meta.shape, strict=True)) if c > b]
                    if grown:
                        self.problem(
                            OME_LEVELS,
                            self.array_rel(path),
                            f"{self.where(where)}: level {path!r} (shape {list(meta.shape)}) is larger than the "
                            f"level before it, {previous[0]!r} (shape {list(previous[1].shape)}), along "
                            f"{', '.join(str(names[a]) for a in grown)}: levels go from the highest resolution down",
                            level=path,
                            previous=previous[0],
                        )
                previous = (path, meta)
            for ndim, paths in sorted(wrong_ndim.items()):
                levels = ", ".join(repr(p) for p in paths)
                self.problem(
                    OME_LEVELS,
                    where,
                    f"{self.where(where)}: {label} names {n} axes ({', '.join(map(str, names))}) but level"
                    f"{'s' if len(paths) > 1 else ''} {levels} {'have' if len(paths) > 1 else 'has'} {ndim} dimensions",
                    levels=paths,
                    ndim=ndim,
                    axes=n,
                )
            if wrong:
                length_mismatch = True
                self.problem(
                    OME_LEVELS,
                    where,
                    f"{self.where(where)}: {label} names {n} axes but {', '.join(wrong)}",
                    axes=n,
                    transformations=len(wrong),
                )
        return length_mismatch

    @staticmethod
    def wrong_transform(transform: Any, n: int, at: str) -> list[str]:
        """``at`` with what is wrong, when a scale or translation has not one entry per axis."""
        if not isinstance(transform, dict):
            return []
        kind = transform.get("type")
        values = transform.get(kind) if isinstance(kind, str) else None
        if kind in ("scale", "translation") and isinstance(values, list) and len(values) != n:
            return [f"{at} ({kind}) has {len(values)}"]
        return []

    def check_labels(self, version: str) -> None:
        node = "labels"
        if node not in self.groups and node not in self.listed_nodes:
            return
        rel = _join(node, ZATTRS) if self.zarr_format == 2 else _join(node, ZARR_JSON)
        doc = self.object_doc(rel, self.document(rel, node=node), "the labels group's metadata")
        if doc is None:
            return
        attrs = doc if self.zarr_format == 2 else doc.get("attributes", {}).get("ome", {})
        if not isinstance(attrs, dict) or "labels" not in attrs:
            return
        self.validate_models(version, "labels", attrs, rel)
        for name in _list(attrs.get("labels")):
            if isinstance(name, str) and _join(node, name) not in self.groups | set(self.listed_nodes):
                self.problem(
                    OME_LEVELS,
                    rel,
                    f"{self.where(rel)} lists label image {name!r} but the store holds no group {node}/{name}",
                    label=name,
                )

    # -- NWB-Zarr -------------------------------------------------------------------------------

    def check_nwb(self) -> None:
        if self.zarr_format != 2:
            self.problem(NWB_ZARR, ZARR_JSON, f"{self.store.prefix} is Zarr v3; hdmf-zarr writes NWB-Zarr on Zarr v2")
            return
        attrs = self.root_attrs
        if attrs is None:
            if ZATTRS not in self.listed_nodes.get("", set()):
                self.problem(NWB_ZARR, ZATTRS, f"{self.where(ZATTRS)} is missing: the root of an NWB file holds it")
            return
        for name, want in (("neurodata_type", "NWBFile"), ("namespace", None), ("nwb_version", None)):
            value = attrs.get(name)
            if (want is not None and value != want) or (want is None and (not isinstance(value, str) or not value)):
                self.problem(
                    NWB_ZARR,
                    ZATTRS,
                    f"{self.where(ZATTRS)}: {name} is {_short(value) if name in attrs else 'missing'}, not "
                    f"{want or 'a non-empty string'}: the root of an NWB file is an NWBFile",
                    field=name,
                )
        specloc = attrs.get(".specloc", "specifications")
        specloc = specloc if isinstance(specloc, str) and specloc else "specifications"
        nodes = set(self.listed_nodes) | self.groups | set(self.arrays)
        cached = {n.split("/")[1] for n in nodes if n.startswith(specloc + "/") and n.count("/") >= 3}
        cached = {
            ns for ns in cached if any(n.startswith(f"{specloc}/{ns}/") and n.endswith("/namespace") for n in nodes)
        }
        if not cached:
            self.problem(
                NWB_ZARR,
                specloc + "/",
                f"{self.where(specloc)}/ holds no cached namespace (specifications/<namespace>/<version>/namespace): "
                "readers cannot know the file's schema",
                specloc=specloc,
            )
        elif isinstance(attrs.get("namespace"), str) and attrs["namespace"] not in cached:
            self.problem(
                NWB_ZARR,
                specloc + "/",
                f"{self.where(specloc)}/ caches {', '.join(sorted(cached))} but not the file's namespace "
                f"{attrs['namespace']!r}",
                specloc=specloc,
            )
        if ZMETADATA not in self.listed_nodes.get("", set()):
            self.problem(
                NWB_ZARR,
                ZMETADATA,
                f"{self.where(ZMETADATA)} is missing: hdmf-zarr consolidates an NWB file's metadata there, "
                "and readers open the file by it",
            )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _ms_version(multiscales: Any) -> str:
    first = multiscales[0] if isinstance(multiscales, list) and multiscales else {}
    version = first.get("version") if isinstance(first, dict) else None
    return str(version) if version is not None else "0.4"


def judge_store(
    store: StoreListing, fetch: Fetch, limits: Limits = Limits(), ome_validator: OmeValidator | None = None
) -> StoreVerdict:
    """The verdict on one store; ``ome_validator`` judges OME metadata with the models (None: not judged)."""
    return StoreJudge(store, fetch, limits, ome_validator).run()


def judge_hdf5_head(key: str, head: bytes | None, size: int) -> list[Problem]:
    """An NWB-HDF5 file starts with the HDF5 signature (its first 8 bytes; None: not read)."""
    if head is None:
        return []
    if size < len(HDF5_SIGNATURE):
        return [Problem(HDF5, key, f"{key} is {size} bytes: too short for an HDF5 file", {"size": size})]
    if head != HDF5_SIGNATURE:
        return [
            Problem(
                HDF5,
                key,
                f"{key} does not start with the HDF5 signature (\\x89HDF\\r\\n\\x1a\\n): its first bytes are "
                f"{head!r}; not an NWB-HDF5 file",
                {"head": head.hex()},
            )
        ]
    return []
