"""Small Zarr stores for the example bucket, written here without zarr: the metadata documents as
zarr 2 writes them (``json.dumps(indent=4, sort_keys=True)``), the layout of ome-zarr-py's NGFF 0.4
images and of hdmf-zarr's NWB-Zarr files, uncompressed chunks. The example builder cannot depend on
the test-time writer environments, so these are deterministic stand-ins; ``tests/test_stores.py``
checks that they are judged as the stores the real libraries write are.
"""

from __future__ import annotations

import json
import struct
from typing import Any

NWB_VERSION = "2.8.0"
NWB_OBJECT_ID = "5f0d5a7e-9a55-4b8e-8c1b-3a4f2a6d0e11"


def zjson(doc: Any) -> bytes:
    """A metadata document as zarr 2 writes it."""
    return json.dumps(doc, indent=4, sort_keys=True, ensure_ascii=True, separators=(",", ": ")).encode()


def zarray(shape: list[int], chunks: list[int], dtype: str, *, separator: str | None = "/") -> bytes:
    doc: dict[str, Any] = {
        "chunks": chunks,
        "compressor": None,
        "dtype": dtype,
        "fill_value": 0,
        "filters": None,
        "order": "C",
        "shape": shape,
        "zarr_format": 2,
    }
    if separator is not None:
        doc["dimension_separator"] = separator
    return zjson(doc)


ZGROUP = zjson({"zarr_format": 2})


def ome_zarr_v04(prefix: str, *, levels: int = 3, drop_level: int | None = None) -> dict[str, bytes]:
    """An NGFF 0.4 image (z, y, x) of 2 x 16 x 16 uint16 halved in y and x per level, one chunk
    per level, as ome-zarr-py lays it out; ``drop_level``: that level's array is not written."""
    files = {f"{prefix}/.zgroup": ZGROUP}
    datasets = []
    for level in range(levels):
        factor = 2**level
        datasets.append(
            {
                "coordinateTransformations": [{"scale": [1.0, float(factor), float(factor)], "type": "scale"}],
                "path": str(level),
            }
        )
        if level == drop_level:
            continue
        shape = [2, 16 // factor, 16 // factor]
        files[f"{prefix}/{level}/.zarray"] = zarray(shape, shape, "<u2")
        count = shape[0] * shape[1] * shape[2]
        files[f"{prefix}/{level}/0/0/0"] = struct.pack(f"<{count}H", *range(count))
    axes = [{"name": "z", "type": "space"}, {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    files[f"{prefix}/.zattrs"] = zjson(
        {"multiscales": [{"axes": axes, "datasets": datasets, "name": "/", "version": "0.4"}]}
    )
    return files


def nwb_zarr(prefix: str, *, never_written: tuple[str, ...] = ()) -> dict[str, bytes]:
    """An NWB file as hdmf-zarr lays it out (its groups, scalar datasets, one cached namespace and
    the consolidated ``.zmetadata``), with one TimeSeries; the nodes named by ``never_written`` are
    listed by ``.zmetadata`` but not stored (an upload cut off)."""
    spec = f"specifications/core/{NWB_VERSION}"
    groups = ["acquisition", "acquisition/voltage", "analysis", "general", "processing", "specifications",
              "specifications/core", spec, "stimulus", "stimulus/presentation", "stimulus/templates"]  # fmt: skip
    attrs: dict[str, dict[str, Any]] = {
        "": {
            ".specloc": "specifications",
            "namespace": "core",
            "neurodata_type": "NWBFile",
            "nwb_version": NWB_VERSION,
            "object_id": NWB_OBJECT_ID,
        },
        "acquisition/voltage": {
            "comments": "no comments",
            "description": "no description",
            "namespace": "core",
            "neurodata_type": "TimeSeries",
            "object_id": "0b6f1c9e-2d0c-4a57-9b4e-6a1f3f1d2c3b",
        },
    }
    arrays: dict[str, tuple[list[int], str, bytes]] = {
        "acquisition/voltage/data": ([8], "<f4", struct.pack("<8f", *range(8))),
        "acquisition/voltage/starting_time": ([], "<f8", struct.pack("<d", 0.0)),
        "identifier": ([], "|S16", b"example-session\0"),
        "session_description": ([], "|S16", b"example session\0"),
        "session_start_time": ([], "|S25", b"2022-12-12T05:06:07-08:00"),
        "timestamps_reference_time": ([], "|S25", b"2022-12-12T05:06:07-08:00"),
        "file_create_date": ([1], "|S25", b"2022-12-12T06:07:08-08:00"),
        f"{spec}/namespace": ([], "|S2", b"{}"),
    }
    metadata: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    for group in ["", *groups]:
        metadata[_key(group, ".zgroup")] = {"zarr_format": 2}
    for node, doc in attrs.items():
        metadata[_key(node, ".zattrs")] = doc
    for node, (shape, dtype, chunk) in arrays.items():
        metadata[_key(node, ".zarray")] = json.loads(zarray(shape, shape, dtype, separator=None))
        if node not in never_written:
            files[f"{prefix}/{_key(node, '0')}"] = chunk  # its one chunk (0-d: key '0')
    for key, doc in metadata.items():
        node = key.rpartition("/")[0]
        if node not in never_written:
            files[f"{prefix}/{key}"] = zjson(doc)
    files[f"{prefix}/.zmetadata"] = zjson({"metadata": dict(sorted(metadata.items())), "zarr_consolidated_format": 1})
    return dict(sorted(files.items()))


def _key(node: str, name: str) -> str:
    return f"{node}/{name}" if node else name
