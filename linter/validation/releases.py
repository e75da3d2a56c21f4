"""The release table: which aind-data-schema release declares which (model, schema_version).

``linter/data/releases.json`` is made by ``scripts/make_release_table.py`` from the published
releases (their wheels, read statically; see ``linter.validation.tablemaker``). For each core
model (file stem) and version it names every release whose model declares that version and the
one to validate with (the newest); the same per class (the 0.x line had several classes per file,
each with its own versions); and for each release the classes to validate with and era-compatible
pins of pydantic and aind-data-schema-models.

``aind-bucket-lint schemas update`` adds the releases published since into the cache folder
(``releases.json`` there); :func:`table` uses the newer of the packaged table and that one (the
cache folder is the run's, :class:`~linter.plan.SchemaSettings`, handed over by the caller).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Collection
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from linter.plan import SchemaSettings

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)")
CACHED_TABLE = "releases.json"
"""The refreshed table's file name in the cache folder."""


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

    def classes(self, stem: str, version: str, only: Collection[str] | None = None) -> list[tuple[str, str]]:
        """The classes of this release that declare ``version`` for ``stem`` ((module, class), in the
        order to try: the plain model first, e.g. DataDescription before DerivedDataDescription),
        among ``only`` when given."""
        found = [(m, c) for m, c, v in self.models.get(stem, ()) if v == version and (only is None or c in only)]
        return sorted(found, key=lambda mc: (len(mc[1]), mc[1]))


@dataclass(frozen=True, slots=True)
class Resolution:
    """What the table says of (stem, version): the release to use and the classes to try in it,
    or the nearest versions. ``named`` are the classes the file was resolved for (empty: any
    class of the file)."""

    stem: str
    version: str
    release: Release | None
    declared_by: tuple[str, ...]
    nearest: tuple[str, ...] = ()
    classes: tuple[tuple[str, str], ...] = ()
    named: tuple[str, ...] = ()


class ReleaseTable:
    def __init__(self, data: dict[str, Any], source: str = "packaged") -> None:
        self.data = data
        """The table as read (``schemas update`` adds to a copy of it)."""
        self.source = source
        self.made = str(data.get("made", ""))
        self.index = data.get("index")
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
        self.classes: dict[str, dict[str, dict[str, dict[str, Any]]]] = data.get("classes", {})
        self.modules: dict[str, dict[str, list[str]]] = data.get("modules", {})
        self.known: dict[str, str] = data.get("known", {})
        self.digest = hashlib.sha256(
            json.dumps([data["releases"], data["models"], self.classes], sort_keys=True).encode()
        ).hexdigest()[:16]
        """Identifies what the table says (not when it was made): verdicts cached under it stay
        good as long as no release is added."""

    @property
    def day(self) -> str:
        """The day the table was made (``YYYY-MM-DD``)."""
        return self.made[:10]

    def stems(self) -> list[str]:
        return sorted(self.models)

    def described(self, stem: str, module: str) -> tuple[str, ...]:
        """The classes of ``stem`` that the module a ``describedBy`` names holds in some release."""
        return tuple(self.modules.get(stem, {}).get(module, ()))

    def _known_classes(self, stem: str, classes: Collection[str]) -> tuple[str, ...]:
        known = self.classes.get(stem, {})
        return tuple(c for c in classes if c in known)

    def resolve(self, stem: str, version: str, classes: Collection[str] = ()) -> Resolution:
        """The release that validates ``version`` of ``stem``: the newest where one of ``classes``
        declares it (when the table knows any of them), else where any class of the file does."""
        named = self._known_classes(stem, classes)
        if named:
            declared: set[str] = set()
            for cls in named:
                declared.update(self.classes[stem][cls].get(version, {}).get("declared_by", ()))
            if not declared:
                return Resolution(stem, version, None, (), self.nearest(stem, version, named), named=named)
            by = tuple(sorted(declared, key=version_key))
            release = self.releases[by[-1]]
            return Resolution(stem, version, release, by, (), tuple(release.classes(stem, version, named)), named)
        slot = self.models.get(stem, {}).get(version)
        if slot is not None:
            release = self.releases[slot["release"]]
            return Resolution(
                stem, version, release, tuple(slot["declared_by"]), (), tuple(release.classes(stem, version))
            )
        return Resolution(stem, version, None, (), self.nearest(stem, version))

    def versions(self, stem: str, classes: Collection[str] = ()) -> list[str]:
        """The published versions of ``stem`` (of those of its classes the table knows, when given)."""
        named = self._known_classes(stem, classes)
        found = {v for cls in named for v in self.classes[stem][cls]} if named else set(self.models.get(stem, {}))
        return sorted(found, key=version_key)

    def nearest(self, stem: str, version: str, classes: Collection[str] = (), count: int = 2) -> tuple[str, ...]:
        """The published versions of ``stem`` (or of its ``classes``) just below and just above ``version``."""
        known = self.versions(stem, classes)
        key = version_key(version)
        below = [v for v in known if version_key(v) < key][-count:]
        above = [v for v in known if version_key(v) > key][:count]
        return (*below, *above)

    def beyond(self, stem: str, version: str, classes: Collection[str] = ()) -> bool:
        """True when ``version`` is newer than every published version of the model (or class): one
        a release published after the table was made may declare."""
        known = self.versions(stem, classes)
        return not known or version_key(version) > version_key(known[-1])

    def needed_releases(self) -> list[str]:
        """Every release the table validates some (model, version) or (class, version) with."""
        chosen = {slot["release"] for versions in self.models.values() for slot in versions.values()}
        chosen |= {
            slot["release"] for classes in self.classes.values() for vs in classes.values() for slot in vs.values()
        }
        return sorted(chosen, key=version_key)


def read_table(path: Path) -> ReleaseTable | None:
    """A table file (the cache folder's), or None when it is absent or not a table."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ReleaseTable(data, str(path))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


_packaged: ReleaseTable | None = None
_tables: dict[str, ReleaseTable] = {}
_lock = threading.Lock()


def packaged() -> ReleaseTable:
    """The table shipped with the linter (the offline default)."""
    global _packaged
    with _lock:
        if _packaged is None:
            text = resources.files("linter").joinpath("data/releases.json").read_text(encoding="utf-8")
            _packaged = ReleaseTable(json.loads(text))
        return _packaged


def cached_table_path(settings: SchemaSettings | None = None) -> Path:
    """The refreshed table's file in the settings' cache folder (None: this process's own)."""
    return (settings if settings is not None else SchemaSettings.resolve()).cache / CACHED_TABLE


def table(settings: SchemaSettings | None = None) -> ReleaseTable:
    """The table in use for a run with ``settings`` (its cache folder; None: this process's own,
    from its environment): the newer (by the time it was made) of the packaged one and the one
    ``schemas update`` wrote into that cache folder. Kept per cache folder."""
    path = cached_table_path(settings)
    key = str(path)
    found = _tables.get(key)
    if found is not None:
        return found
    base = packaged()
    cached = read_table(path) if path.is_file() else None
    chosen = cached if cached is not None and cached.made > base.made else base
    with _lock:
        return _tables.setdefault(key, chosen)


def forget() -> None:
    """Read the tables again on next use (after ``schemas update`` wrote one)."""
    with _lock:
        _tables.clear()
