"""Reading the sidecar fields every schema generation shares (level, modalities, sources, time)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

LEVEL_ALIASES = {"raw": "raw", "raw data": "raw", "derived": "derived", "derived data": "derived"}


def data_level(data: Mapping[str, Any]) -> str | None:
    """'raw' or 'derived' from ``data_level`` (0.x wrote 'raw data'); None when anything else."""
    value = data.get("data_level")
    return LEVEL_ALIASES.get(value.strip().lower()) if isinstance(value, str) else None


def modalities(data: Mapping[str, Any]) -> frozenset[str]:
    """The modality abbreviations a data_description lists (2.x ``modalities``, 1.x/0.x ``modality``)."""
    out: set[str] = set()
    for field_name in ("modalities", "modality"):
        value = data.get(field_name)
        items = value if isinstance(value, list) else [value] if value is not None else []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("abbreviation"), str):
                out.add(item["abbreviation"])
            elif isinstance(item, str):
                out.add(item)
    return frozenset(out)


def source_names(data: Mapping[str, Any]) -> list[str] | None:
    """The source assets a derived data_description names: 2.x ``source_data`` (a list), 1.x and
    0.x ``input_data_name``. Entries that are URLs or paths are reduced to their last part.
    None when the file names none."""
    found: list[str] = []
    for field_name in ("source_data", "input_data_name"):
        value = data.get(field_name)
        items = value if isinstance(value, list) else [value] if value is not None else []
        for item in items:
            if isinstance(item, str) and item.strip():
                found.append(item.strip().rstrip("/").rsplit("/", 1)[-1])
    return found or None


def creation_moment(data: Mapping[str, Any]) -> dt.datetime | None:
    """``creation_time`` as wall-clock time (its own time zone dropped, to the second); 0.x files
    kept the time and ``creation_date`` apart. None when absent or unparseable."""
    value = data.get("creation_time")
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        day = data.get("creation_date")
        if not isinstance(day, str):
            return None
        try:
            moment = dt.datetime.combine(dt.date.fromisoformat(day.strip()), dt.time.fromisoformat(value.strip()))
        except ValueError:
            return None
    return moment.replace(tzinfo=None, microsecond=0)
