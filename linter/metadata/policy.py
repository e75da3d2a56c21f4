"""The convention's ``metadata`` section: core file names, required sets, pairs, limits."""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from linter.conventions import DEFAULT_CORE_FILES, Convention

DEFAULT_MAX_JSON_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_ERRORS_PER_FILE = 20


# --------------------------------------------------------------------------------------------
# Policy: the convention's ``metadata`` section
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequiredClause:
    """One clause of a required set: when it applies, which files it requires.

    All conditions given must hold: ``levels`` (the asset's level is one of them),
    ``modalities`` (one of the asset's modalities is one of them), ``when_present`` (one of
    these files is present). Then every file of ``require`` must be present, and at least one
    file of each group of ``one_of``.
    """

    require: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    levels: frozenset[str] | None = None
    modalities: frozenset[str] | None = None
    when_present: tuple[str, ...] = ()

    def applies(self, level: str, modalities: frozenset[str] | None, present: set[str]) -> bool:
        if self.levels is not None and level not in self.levels:
            return False
        if self.when_present and not any(f in present for f in self.when_present):
            return False
        return not (self.modalities is not None and not (modalities or frozenset()) & self.modalities)

    def why(self) -> str:
        """The clause's conditions in words, for messages ('' when it always applies)."""
        parts = []
        if self.levels is not None:
            parts.append(f"for {' and '.join(sorted(self.levels))} assets")
        if self.modalities is not None:
            parts.append(f"for modality {', '.join(sorted(self.modalities))}")
        if self.when_present:
            parts.append(f"when {' or '.join(self.when_present)} is present")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class RequiredSet:
    name: str
    description: str
    clauses: tuple[RequiredClause, ...]

    @property
    def uses_modalities(self) -> bool:
        return any(c.modalities is not None for c in self.clauses)


@dataclass(frozen=True, slots=True)
class Alias:
    """Another name a core file was stored under: the 0.x line wrote each class's file under the
    class's own name (``EphysRig`` -> ``ephys_rig.json``). It counts as the file it ``stands_for``
    and is validated with its ``classes`` (unless its ``describedBy`` names its class)."""

    name: str
    stands_for: str
    classes: tuple[str, ...]


@dataclass(frozen=True)
class MetadataPolicy:
    """What the M2xx rules enforce, read from a convention's ``metadata`` section."""

    max_json_bytes: int
    max_errors_per_file: int
    core_files: tuple[str, ...]
    exclusive_pairs: tuple[tuple[str, str], ...]
    subject_id_files: tuple[str, ...]
    misplaced_ignore: tuple[str, ...]
    required: RequiredSet | None
    aliases: tuple[Alias, ...] = ()

    @cached_property
    def sidecar_files(self) -> tuple[str, ...]:
        """The core files, then the other names they may be stored under."""
        return self.core_files + tuple(a.name for a in self.aliases if a.name not in self.core_files)

    @cached_property
    def core_names(self) -> frozenset[str]:
        return frozenset(self.sidecar_files)

    @cached_property
    def alias_of(self) -> dict[str, Alias]:
        return {a.name: a for a in self.aliases}

    def stands_for(self, name: str) -> str:
        """The core file a sidecar name counts as (itself, unless it is an alias)."""
        alias = self.alias_of.get(name)
        return alias.stands_for if alias is not None else name

    def stored_as(self, core_file: str, present: Iterable[str]) -> str | None:
        """The name under which ``core_file`` is present (itself first, then an alias), or None."""
        names = set(present)
        if core_file in names:
            return core_file
        return next((a.name for a in self.aliases if a.stands_for == core_file and a.name in names), None)

    def ignored_below_root(self, key: str) -> bool:
        return any(fnmatch.fnmatchcase(key, pattern) for pattern in self.misplaced_ignore)


def _clause(raw: Mapping[str, Any]) -> RequiredClause:
    levels = raw.get("levels")
    modalities = raw.get("modalities")
    return RequiredClause(
        require=tuple(raw.get("require", ())),
        one_of=tuple(tuple(group) for group in raw.get("one_of", ())),
        levels=frozenset(levels) if levels is not None else None,
        modalities=frozenset(modalities) if modalities is not None else None,
        when_present=tuple(raw.get("when_present", ())),
    )


_policies: dict[str, MetadataPolicy] = {}
_policies_lock = threading.Lock()


def policy(convention: Convention) -> MetadataPolicy:
    """The convention's metadata policy (parsed once per convention content).

    A convention without a ``metadata`` section requires no files and pairs none; the core file
    names then default to those of aind-data-schema 1.x and 2.x.
    """
    with _policies_lock:
        cached = _policies.get(convention.digest)
        if cached is not None:
            return cached
        section = convention.section("metadata")
        sets = section.get("required_sets", {}) or {}
        chosen = section.get("required_set")
        required = None
        if chosen is not None and chosen in sets:
            raw = sets[chosen]
            required = RequiredSet(
                chosen, str(raw.get("description", "")), tuple(_clause(c) for c in raw.get("clauses", ()))
            )
        pol = MetadataPolicy(
            max_json_bytes=int(section.get("max_json_bytes", DEFAULT_MAX_JSON_BYTES)),
            max_errors_per_file=int(section.get("max_errors_per_file", DEFAULT_MAX_ERRORS_PER_FILE)),
            core_files=tuple(section.get("core_files", DEFAULT_CORE_FILES)),
            exclusive_pairs=tuple((a, b) for a, b in section.get("exclusive_pairs", ())),
            subject_id_files=tuple(section.get("subject_id_files", ())),
            misplaced_ignore=tuple(section.get("misplaced_ignore", ())),
            required=required,
            aliases=tuple(
                Alias(name, str(raw["stands_for"]), tuple(raw.get("classes", ())))
                for name, raw in (section.get("aliases", {}) or {}).items()
            ),
        )
        _policies[convention.digest] = pol
        return pol
