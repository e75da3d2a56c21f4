"""The release table: which aind-data-schema release declares which (model, schema_version).

``linter/data/releases.json`` is made by ``scripts/make_release_table.py`` from the published
releases (their wheels, read statically). For each core model (file stem) and version it names
every release whose model declares that version and the one to validate with (the newest), and
for each release the classes to validate with and era-compatible pins of pydantic and
aind-data-schema-models.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)")


def version_key(text: str) -> tuple[int, ...]:
    match = _VERSION.match(text)
    return tuple(int(g) for g in match.groups()) if match else (-1,)


@dataclass(frozen=True, slots=True)
class Release:
    version: str
    published: str
    pins: dict[str, str]
    pydantic_major: int
    models: dict[str, tuple[tuple[str, str, str], ...]]  # stem -> ((module, class, version), ...)

    def requirements(self) -> list[str]:
        """What an environment of this release installs."""
        reqs = [f"aind-data-schema=={self.version}"]
        reqs += [f"{name}=={version}" for name, version in sorted(self.pins.items())]
        return reqs

    def classes(self, stem: str, version: str) -> list[tuple[str, str]]:
        """The classes of this release that declare ``version`` for ``stem`` ((module, class), in the
        order to try: the plain model first, e.g. DataDescription before DerivedDataDescription)."""
        found = [(m, c) for m, c, v in self.models.get(stem, ()) if v == version]
        return sorted(found, key=lambda mc: (len(mc[1]), mc[1]))


@dataclass(frozen=True, slots=True)
class Resolution:
    """What the table says of (stem, version): the release to use, or the nearest versions."""

    stem: str
    version: str
    release: Release | None
    declared_by: tuple[str, ...]
    nearest: tuple[str, ...] = ()


class ReleaseTable:
    def __init__(self, data: dict[str, Any]) -> None:
        self.made = str(data.get("made", ""))
        self.releases: dict[str, Release] = {}
        for version, raw in data["releases"].items():
            models = {
                stem: tuple((e["module"], e["class"], e["version"]) for e in entries)
                for stem, entries in raw["models"].items()
            }
            self.releases[version] = Release(
                version, raw["published"], dict(raw["pins"]), int(raw["pydantic_major"]), models
            )
        self.models: dict[str, dict[str, dict[str, Any]]] = data["models"]

    def stems(self) -> list[str]:
        return sorted(self.models)

    def resolve(self, stem: str, version: str) -> Resolution:
        slot = self.models.get(stem, {}).get(version)
        if slot is not None:
            return Resolution(stem, version, self.releases[slot["release"]], tuple(slot["declared_by"]))
        return Resolution(stem, version, None, (), self.nearest(stem, version))

    def nearest(self, stem: str, version: str, count: int = 2) -> tuple[str, ...]:
        """The published versions of ``stem`` just below and just above ``version``."""
        known = sorted(self.models.get(stem, {}), key=version_key)
        key = version_key(version)
        below = [v for v in known if version_key(v) < key][-count:]
        above = [v for v in known if version_key(v) > key][:count]
        return (*below, *above)

    def needed_releases(self) -> list[str]:
        """Every release the table validates some (model, version) with."""
        chosen = {slot["release"] for versions in self.models.values() for slot in versions.values()}
        return sorted(chosen, key=version_key)


_table: ReleaseTable | None = None
_lock = threading.Lock()


def table() -> ReleaseTable:
    global _table
    with _lock:
        if _table is None:
            text = resources.files("linter").joinpath("data/releases.json").read_text(encoding="utf-8")
            _table = ReleaseTable(json.loads(text))
        return _table
