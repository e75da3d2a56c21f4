"""Sidecar metadata: the policy for it, which schema generation a file declares, and validation.

Every sidecar names the aind-data-schema release that wrote it in ``schema_version``. Files are
validated against the generation they declare, never against whatever happens to be installed:

- **2.x**: the installed aind-data-schema models, ``Model.model_validate_json(text)``. They are
  imported on first use only (about 1.2 s and 120 MB), so ``--help`` and ``rules`` never pay.
- **1.x**: the JSON Schemas of the aind-data-schema 1.4.0 models, committed under
  ``linter/schemas/v1/`` (made by ``scripts/generate_v1_schemas.py``), with ``jsonschema``.
- anything else: not validated; the M204 rule says which generations are supported.

The pydantic models silently replace a missing or wrong ``schema_version`` with their own, and
the 1.x schemas pin it with ``const``; both are kept out of validation, because
``declared_version`` judges that field itself.

Each validator is built once per process, under a lock, and shared by all threads.

Errors are reported with a JSON path in the JSONPath style: ``$`` is the document,
``.name`` a member (``['odd key']`` when the name is not an identifier), ``[0]`` an array
element, e.g. ``$.subject_details.strain.name`` or ``$.data_streams[0].modalities[1]``.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import importlib
import json
import logging
import re
import threading
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata as importlib_metadata
from importlib import resources
from typing import Any, Literal, Protocol

import jsonschema
from jsonschema import validators
from jsonschema.exceptions import ValidationError, best_match

from linter.conventions import Convention

DEFAULT_MAX_JSON_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_ERRORS_PER_FILE = 20
MESSAGE_LIMIT = 300

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

# The aind-data-schema 2.x core models, by file stem: (module, class).
V2_MODELS: dict[str, tuple[str, str]] = {
    "data_description": ("aind_data_schema.core.data_description", "DataDescription"),
    "subject": ("aind_data_schema.core.subject", "Subject"),
    "procedures": ("aind_data_schema.core.procedures", "Procedures"),
    "processing": ("aind_data_schema.core.processing", "Processing"),
    "instrument": ("aind_data_schema.core.instrument", "Instrument"),
    "acquisition": ("aind_data_schema.core.acquisition", "Acquisition"),
    "quality_control": ("aind_data_schema.core.quality_control", "QualityControl"),
    "model": ("aind_data_schema.core.model", "Model"),
}

VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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

    @cached_property
    def core_names(self) -> frozenset[str]:
        return frozenset(self.core_files)

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
        )
        _policies[convention.digest] = pol
        return pol


# --------------------------------------------------------------------------------------------
# Declared version
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Generation:
    """A schema generation this linter can validate."""

    major: int
    release: str
    how: str
    stems: frozenset[str]

    @property
    def label(self) -> str:
        return f"{self.major}.x (aind-data-schema {self.release}, {self.how})"


@dataclass(frozen=True, slots=True)
class VersionVerdict:
    """How a file's ``schema_version`` was judged. ``problem`` is None when it can be validated."""

    declared: Any
    generation: int | None
    problem: Literal["missing", "malformed", "unsupported", "no-schema"] | None
    message: str | None = None


def _v1_index() -> dict[str, dict[str, str]]:
    text = resources.files("linter").joinpath("schemas/v1/index.json").read_text(encoding="utf-8")
    index: dict[str, dict[str, str]] = json.loads(text)
    return index


class _Generations:
    """The supported generations, found without importing aind-data-schema."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: dict[int, Generation] | None = None

    def get(self) -> dict[int, Generation]:
        with self._lock:
            if self._value is None:
                self._value = self._find()
            return self._value

    @staticmethod
    def _find() -> dict[int, Generation]:
        out: dict[int, Generation] = {}
        index = _v1_index()
        releases = {entry["aind_data_schema"] for entry in index.values()}
        out[1] = Generation(1, ", ".join(sorted(releases)), "JSON Schemas", frozenset(index))
        try:
            installed = importlib_metadata.version("aind-data-schema")
        except importlib_metadata.PackageNotFoundError:
            return out
        match = VERSION_RE.match(installed)
        if match and int(match.group(1)) == 2:
            out[2] = Generation(2, installed, "installed models", frozenset(V2_MODELS))
        return out


GENERATIONS = _Generations()


def supported_text() -> str:
    return "; ".join(g.label for g in GENERATIONS.get().values())


def declared_version(file_name: str, data: Mapping[str, Any]) -> VersionVerdict:
    """Judge a sidecar's ``schema_version``: present, shaped ``MAJOR.MINOR.PATCH``, and of a
    generation that has a schema for this file."""
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
    major = int(match.group(1))
    generations = GENERATIONS.get()
    gen = generations.get(major)
    if gen is None:
        return VersionVerdict(
            value,
            major,
            "unsupported",
            f"{file_name} declares schema_version {value} (generation {major}.x), which this linter cannot "
            f"validate; supported generations: {supported_text()}",
        )
    if _stem(file_name) not in gen.stems:
        return VersionVerdict(
            value,
            major,
            "no-schema",
            f"{file_name} declares schema_version {value}, but generation {major}.x has no {_stem(file_name)} "
            f"model; supported: {', '.join(sorted(gen.stems - {'metadata', 'derived_data_description'}))}",
        )
    return VersionVerdict(value, major, None)


def _stem(file_name: str) -> str:
    return file_name[:-5] if file_name.endswith(".json") else file_name


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchemaError:
    """One validation error: where in the document (JSONPath), the schema's message, its kind."""

    json_path: str
    message: str
    kind: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class Validation:
    """The outcome of validating one sidecar. ``schema`` names what it was validated against;
    ``errors`` is empty for a valid file; ``skipped`` is True when it could not be validated
    (see the version verdict)."""

    key: str
    version: VersionVerdict
    schema: str | None
    errors: tuple[SchemaError, ...]

    @property
    def skipped(self) -> bool:
        return self.schema is None

    @property
    def valid(self) -> bool:
        return not self.skipped and not self.errors


class Validator(Protocol):
    label: str

    def errors(self, text: str | None, data: Mapping[str, Any]) -> list[SchemaError]: ...


def json_path(parts: Iterable[str | int]) -> str:
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}")
        else:
            out.append("['" + part.replace("\\", "\\\\").replace("'", "\\'") + "']")
    return "".join(out)


def _short(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 1] + "…"


def _resolve_loc(data: Any, loc: Sequence[str | int], missing: bool) -> list[str | int]:
    """Map a pydantic error ``loc`` onto the document: keep the parts that are real members or
    indexes, drop the ones pydantic adds for union members and validators ('Mouse subject',
    'function-after[...]'). A missing field is kept as the last part."""
    parts: list[str | int] = []
    current = data
    for i, item in enumerate(loc):
        member = isinstance(current, dict) and isinstance(item, str) and item in current
        element = isinstance(current, list) and isinstance(item, int) and 0 <= item < len(current)
        if member or element:
            parts.append(item)
            current = current[item]  # type: ignore[index]
        elif missing and i == len(loc) - 1 and isinstance(current, dict) and isinstance(item, str):
            parts.append(item)
    return parts


_SCALARS = (str, int, float, bool, type(None))


class ModelValidator:
    """A 2.x core model; ``model_validate_json`` on the file's text, as pydantic reads JSON."""

    def __init__(self, model: Any, release: str) -> None:
        self.model = model
        self.label = f"aind-data-schema {release} {model.__name__}"
        from pydantic import ValidationError as PydanticValidationError

        self._error_type = PydanticValidationError

    def errors(self, text: str | None, data: Mapping[str, Any]) -> list[SchemaError]:
        # The models replace schema_version with their own before validating it (declared_version
        # judges it), so the text goes in as it is.
        payload = text if text is not None else json.dumps(data)
        _quiet_aind_data_schema()
        try:
            self.model.model_validate_json(payload)
        except self._error_type as exc:
            out = []
            for err in exc.errors(include_url=False, include_context=False):
                kind = str(err.get("type", ""))
                path = json_path(_resolve_loc(data, err.get("loc", ()), missing=kind == "missing"))
                message = str(err.get("msg", ""))
                value = err.get("input")
                if kind not in ("missing", "extra_forbidden") and isinstance(value, _SCALARS):
                    message += f", got {json.dumps(value)}"
                else:
                    value = None
                out.append(SchemaError(path, _short(message), kind, value))
            return out
        return []


# jsonschema's own keyword implementations, which the fast ones below fall back to
_PLAIN = jsonschema.Draft202012Validator.VALIDATORS


def _keyword_one_of(validator: Any, one_of: list[Any], instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    """``oneOf`` that honours pydantic's ``discriminator``: the tag picks the one branch to check.

    Same verdict as plain ``oneOf`` for pydantic's tagged unions (each branch pins the tag with
    ``const``), but it checks one branch instead of all (840 for a brain structure), and its
    errors come from the branch the file meant, as pydantic's do.
    """
    disc = schema.get("discriminator")
    mapping = disc.get("mapping") if isinstance(disc, dict) else None
    if not mapping:
        yield from _PLAIN["oneOf"](validator, one_of, instance, schema)
        return
    if not validator.is_type(instance, "object"):
        yield ValidationError(f"{_repr(instance)} is not of type 'object'", validator="type", validator_value="object")
        return
    prop = disc.get("propertyName")
    if prop not in instance:
        yield ValidationError(f"{prop!r} is a required property (it selects the type)", validator="required")
        return
    tag = instance[prop]
    target = mapping.get(tag) if isinstance(tag, str) else None
    if target is None:
        shown = ", ".join(repr(t) for t in list(mapping)[:5]) + (", ..." if len(mapping) > 5 else "")
        yield ValidationError(
            f"{_repr(tag)} is not a known {prop} (expected one of {len(mapping)}: {shown})",
            validator="discriminator",
            path=[prop],
            instance=tag,
        )
        return
    yield from validator.descend(instance, {"$ref": target})


def _keyword_required(validator: Any, required: list[str], instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    """``required`` that points at the missing member (``$.subject_id``), as pydantic does."""
    if not validator.is_type(instance, "object"):
        return
    for name in required:
        if name not in instance:
            yield ValidationError(f"{name!r} is a required property", path=[name])


_NULL = {"type": "null"}


def _keyword_any_of(validator: Any, any_of: list[Any], instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    """``anyOf`` with pydantic's ``Optional`` shortcut: a null matches ``{"type": "null"}`` at
    once, and a non-null value is checked against the other branches only (directly when one is
    left, so its errors are the real ones, not 'is not valid under any of the given schemas')."""
    if _NULL not in any_of:
        yield from _PLAIN["anyOf"](validator, any_of, instance, schema)
        return
    if instance is None:
        return
    rest = [branch for branch in any_of if branch != _NULL]
    if len(rest) == 1:
        yield from validator.descend(instance, rest[0])
    else:
        yield from _PLAIN["anyOf"](validator, rest, instance, schema)


def _repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# Formats as lenient as pydantic's parsing, so a file pydantic 1.x accepted is not rejected here.
FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str) or _numeric(value):
        return True
    dt.datetime.fromisoformat(value.replace("z", "Z"))
    return True


@FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str) or _numeric(value):
        return True
    dt.datetime.fromisoformat(value)
    return True


@FORMATS.checks("time", raises=ValueError)
def _is_time(value: object) -> bool:
    if not isinstance(value, str) or _numeric(value):
        return True
    dt.time.fromisoformat(value.replace("z", "Z"))
    return True


@FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


FastDraft202012 = validators.extend(
    jsonschema.Draft202012Validator,
    {"oneOf": _keyword_one_of, "anyOf": _keyword_any_of, "required": _keyword_required},
)


class SchemaValidator:
    """A 1.x JSON Schema, compiled once, with ``jsonschema``."""

    def __init__(self, schema: dict[str, Any], label: str) -> None:
        schema = dict(schema)
        props = dict(schema.get("properties", {}))
        if "schema_version" in props:  # judged by declared_version, not pinned by const
            props["schema_version"] = {"type": "string"}
            schema["properties"] = props
        self.label = label
        self._validator = FastDraft202012(schema, format_checker=FORMATS)

    def errors(self, text: str | None, data: Mapping[str, Any]) -> list[SchemaError]:
        out = []
        for error in self._validator.iter_errors(data):
            leaf = best_match([error]) or error
            value = leaf.instance if isinstance(leaf.instance, _SCALARS) else None
            out.append(SchemaError(json_path(leaf.absolute_path), _short(leaf.message), str(leaf.validator), value))
        return out


class _Validators:
    """Every validator is built once, under a lock, and then shared by all threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[int, str], Validator] = {}

    def get(self, generation: int, stem: str) -> Validator:
        key = (generation, stem)
        found = self._cache.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                found = self._build(generation, stem)
                self._cache[key] = found
            return found

    @staticmethod
    def _build(generation: int, stem: str) -> Validator:
        gen = GENERATIONS.get()[generation]
        if generation == 1:
            text = resources.files("linter").joinpath(f"schemas/v1/{stem}.json").read_text(encoding="utf-8")
            model = _v1_index()[stem]["model"]
            return SchemaValidator(json.loads(text), f"aind-data-schema {gen.release} {model} (JSON Schema)")
        _quiet_aind_data_schema()
        module, cls = V2_MODELS[stem]
        return ModelValidator(getattr(importlib.import_module(module), cls), gen.release)


_AIND_MODULES = r"aind_data_schema(\.|$)"


def _quiet_aind_data_schema() -> None:
    """aind-data-schema's validators warn (deprecations, 'recommended' fields) and log; a lint
    run would print them once per location on stderr, unrelated to any finding. Checked before
    each validation, because whoever embeds the linter (pytest, for one) may reset the filters."""
    if not any(f[0] == "ignore" and getattr(f[3], "pattern", f[3]) == _AIND_MODULES for f in warnings.filters):
        warnings.filterwarnings("ignore", module=_AIND_MODULES)
    logging.getLogger("aind_data_schema").setLevel(logging.ERROR)


VALIDATORS = _Validators()


def schema_stem(file_name: str, data: Mapping[str, Any], generation: int) -> str:
    """Which schema of the generation describes this file. A 1.x derived asset's
    data_description.json is a DerivedDataDescription (it adds input_data_name)."""
    stem = _stem(file_name)
    if generation == 1 and stem == "data_description" and data.get("data_level") == "derived":
        return "derived_data_description"
    return stem


def validate_sidecar(key: str, data: Mapping[str, Any], text: str | None = None) -> Validation:
    """Validate one parsed sidecar against the generation it declares.

    ``key`` is the file's name (its last path part names the model); ``text`` is its JSON text
    when at hand (pydantic then parses it as JSON itself).
    """
    file_name = key.rsplit("/", 1)[-1]
    verdict = declared_version(file_name, data)
    if verdict.problem is not None or verdict.generation is None:
        return Validation(key, verdict, None, ())
    validator = VALIDATORS.get(verdict.generation, schema_stem(file_name, data, verdict.generation))
    return Validation(key, verdict, validator.label, tuple(validator.errors(text, data)))


# --------------------------------------------------------------------------------------------
# Reading fields that every generation shares
# --------------------------------------------------------------------------------------------

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
