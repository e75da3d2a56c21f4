"""Judging a sidecar's declared ``schema_version`` before it is validated.

The pydantic models of every generation replace a missing or wrong ``schema_version`` with their
own (1.x and 2.x skip its validation), so the linter reads the field itself: it must be present
and shaped ``MAJOR.MINOR.PATCH``. Which release declares it is the release table's business
(``linter.validation``), which also names the nearest published versions of one no release declares.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True, slots=True)
class VersionVerdict:
    """How a file's ``schema_version`` was judged. ``problem`` is None when it can be looked up."""

    declared: Any
    generation: int | None
    problem: Literal["missing", "malformed"] | None
    message: str | None = None


def stem(file_name: str) -> str:
    """The model a sidecar file holds: its name without ``.json`` (``subject.json`` -> ``subject``)."""
    base = file_name.rsplit("/", 1)[-1]
    return base[:-5] if base.endswith(".json") else base


def declared_version(file_name: str, data: Mapping[str, Any]) -> VersionVerdict:
    """Judge a sidecar's ``schema_version``: present and shaped ``MAJOR.MINOR.PATCH``."""
    if "schema_version" not in data:
        return VersionVerdict(None, None, "missing", f"{file_name} has no schema_version; it cannot be validated")
    value = data["schema_version"]
    match = VERSION_RE.match(value) if isinstance(value, str) else None
    if match is None:
        return VersionVerdict(
            value,
            None,
            "malformed",
            f"{file_name} schema_version {value!r} is not a version MAJOR.MINOR.PATCH; it cannot be validated",
        )
    return VersionVerdict(value, int(match.group(1)), None)
