"""Convention files: the policy the rules enforce, kept as data (YAML, validated by JSON Schema)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from linter.findings import Severity
from linter.yamlsafe import YamlError, load_yaml

BUILTIN = ("aind-open-data",)
DEFAULT_UPLOAD_WINDOW = "48h"
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# The core sidecar file names of both generations, used when a convention does not list them.
DEFAULT_CORE_FILES = (
    "data_description.json",
    "subject.json",
    "procedures.json",
    "processing.json",
    "acquisition.json",
    "instrument.json",
    "quality_control.json",
    "model.json",
    "rig.json",
    "session.json",
)


MAX_DURATION = dt.timedelta(days=36500)


def parse_duration(text: str) -> dt.timedelta:
    """``"48h"``, ``"2d"``, ``"90m"``, ``"1.5s"``: a number and a unit (s, m, h, d), at most
    100 years (a longer one is refused, never an overflow later)."""
    text = text.strip()
    try:
        seconds = float(text[:-1]) * _DURATION_UNITS[text[-1:]]
    except (KeyError, ValueError):
        raise ValueError(f"{text!r} is not a duration (a number and a unit: s, m, h or d)") from None
    if not 0 <= seconds <= MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is out of range (0s to {MAX_DURATION.days}d)")
    return dt.timedelta(seconds=seconds)


class ConventionError(Exception):
    """A convention file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Convention:
    name: str
    source: str
    data: dict[str, Any] = field(repr=False)

    @cached_property
    def modalities(self) -> frozenset[str]:
        """``names.modalities`` less ``names.excluded_modalities`` (a vocabulary a convention narrows)."""
        names = self.data["names"]
        return frozenset(names["modalities"]) - frozenset(names.get("excluded_modalities", ()))

    @cached_property
    def modalities_by_lower(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for m in sorted(self.modalities):
            out.setdefault(m.lower(), []).append(m)
        return out

    @property
    def modality_optional(self) -> bool:
        return bool(self.data["names"].get("modality_optional", False))

    @cached_property
    def forbidden_characters(self) -> frozenset[str]:
        return frozenset(self.data["names"].get("forbidden_characters", ""))

    @cached_property
    def analysis_form(self) -> bool:
        """``names.analysis_form``: accept the 1.x analysis name ``<project>_<analysis>_<date>_<time>``."""
        return bool(self.data["names"].get("analysis_form", False))

    @cached_property
    def placeholder_times(self) -> frozenset[str]:
        return frozenset(self.data["names"].get("placeholder_times", []))

    @cached_property
    def layout_ignore(self) -> tuple[str, ...]:
        return tuple(self.data.get("layout", {}).get("ignore", []))

    @cached_property
    def upload_window(self) -> dt.timedelta:
        """How long after its first object an asset may still receive objects (I404)."""
        text = str(self.section("immutability").get("upload_window", DEFAULT_UPLOAD_WINDOW))
        return parse_duration(text)

    @cached_property
    def immutability_exempt(self) -> tuple[str, ...]:
        """Glob patterns of keys (relative to the asset root) the immutability rules ignore."""
        return tuple(self.section("immutability").get("exempt", []))

    @cached_property
    def severity_overrides(self) -> dict[str, Severity]:
        return {code: Severity.parse(sev) for code, sev in self.data.get("severity", {}).items()}

    @cached_property
    def digest(self) -> str:
        """Identifies the policy's content, for caches that must not outlive a policy change."""
        return hashlib.sha256(json.dumps(self.data, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def section(self, key: str) -> dict[str, Any]:
        value = self.data.get(key, {})
        return value if isinstance(value, dict) else {}


def _schema() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8"))


def parse_convention(text: str, source: str) -> Convention:
    try:
        data = load_yaml(text)
    except YamlError as exc:
        raise ConventionError(f"{source}: {exc}") from None
    if not isinstance(data, dict):
        raise ConventionError(f"{source}: a convention file must be a YAML mapping")
    errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        lines = [f"  at {'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}" for e in errors[:10]]
        raise ConventionError(f"{source}: invalid convention file:\n" + "\n".join(lines))
    metadata = data.get("metadata", {})
    chosen = metadata.get("required_set")
    if chosen is not None and chosen not in metadata.get("required_sets", {}):
        known = ", ".join(sorted(metadata.get("required_sets", {}))) or "none defined"
        raise ConventionError(
            f"{source}: invalid convention file:\n  at metadata/required_set: {chosen!r} is not one of "
            f"metadata.required_sets ({known})"
        )
    window = data.get("immutability", {}).get("upload_window")
    if window is not None:
        try:
            parse_duration(str(window))
        except ValueError as exc:
            where = "at immutability/upload_window"
            raise ConventionError(f"{source}: invalid convention file:\n  {where}: {exc}") from None
    return Convention(name=data["name"], source=source, data=data)


def load_convention(name_or_path: str) -> Convention:
    """Load a built-in convention by name, or a convention file by path."""
    if name_or_path in BUILTIN:
        text = resources.files(__package__).joinpath(f"{name_or_path}.yaml").read_text(encoding="utf-8")
        return parse_convention(text, name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise ConventionError(
            f"{name_or_path}: no such convention (built-in: {', '.join(BUILTIN)}; or give a YAML file path)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConventionError(f"{name_or_path}: cannot read: {exc}") from None
    return parse_convention(text, str(path))
