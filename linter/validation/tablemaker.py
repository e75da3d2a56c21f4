"""Making the release table from the releases themselves (shared by ``scripts/make_release_table.py``,
which builds it whole, and ``schemas update``, which adds the releases published since).

A release's wheel is read statically (``ast``, nothing is imported or installed): each class whose
``schema_version`` field has a version default is a core model declaring that version; classes
that inherit their ``schema_version`` (1.x ``DerivedDataDescription``) declare their base's. The
table records, for each file stem, which releases declare each version, both for the file as a
whole (``models``, any class of that file) and for each class on its own (``classes``): the 0.x
line had several classes per file (``EphysRig`` and ``OphysRig``; ``EphysSession``,
``OphysSession``, ``MriSession``, ``Session``), each with its own version numbers, so a file is
judged by a release where *its own* class declares its version. ``modules`` maps the module a
file's ``describedBy`` names to its classes. ``known`` lists every release read, so that an
update reads only the new ones.

Each release gets era-compatible pins of pydantic and aind-data-schema-models: the newest version
that satisfies the release's own requirement and was published before the next aind-data-schema
release (what a file written while that release was current was validated with). Releases of the
pydantic 1 era get the last pydantic 1.10. Where the index gives no upload times (a plain PEP 503
index), the newest version satisfying the requirement is taken.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

FORMAT = 2
ABOUT = (
    "Made by scripts/make_release_table.py (or `aind-bucket-lint schemas update`) from the published "
    "aind-data-schema releases; do not edit."
)
VERSION = re.compile(r"^\d+\.\d+\.\d+$")

# File stem -> how the core model classes of that file are named (0.x had several per stem).
STEM_CLASSES: dict[str, re.Pattern[str]] = {
    "data_description": re.compile(r"^(Derived|Raw)?DataDescription$"),
    "subject": re.compile(r"^Subject$"),
    "procedures": re.compile(r"^Procedures$"),
    "processing": re.compile(r"^Processing$"),
    "acquisition": re.compile(r"^Acquisition$"),
    "instrument": re.compile(r"^Instrument$"),
    "rig": re.compile(r"^[A-Z][A-Za-z]*Rig$|^Rig$"),
    "session": re.compile(r"^[A-Z][A-Za-z]*Session$|^Session$"),
    "quality_control": re.compile(r"^QualityControl$"),
    "model": re.compile(r"^Model$"),
    "metadata": re.compile(r"^Metadata$"),
}

Times = Mapping[Version, dt.datetime | None]


@dataclass(frozen=True, slots=True)
class Declaration:
    stem: str
    module: str
    cls: str
    version: str


@dataclass(frozen=True, slots=True)
class WheelFacts:
    declarations: tuple[Declaration, ...]
    requires: tuple[str, ...] = field(default=())


def _version_of(node: ast.expr | None) -> str | None:
    """The version string a ``schema_version`` default or ``Literal[...]`` annotation holds."""
    if node is None:
        return None
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and VERSION.match(sub.value):
            return sub.value
    return None


def _class_version(node: ast.ClassDef) -> str | None:
    version = None
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and getattr(item.target, "id", None) == "schema_version":
            version = _version_of(item.value) or _version_of(item.annotation)
        elif isinstance(item, ast.Assign) and any(getattr(t, "id", None) == "schema_version" for t in item.targets):
            version = _version_of(item.value)
    return version


def read_wheel(wheel: Path) -> WheelFacts:
    """The core models a wheel of aind-data-schema declares, and its requirements."""
    classes: dict[str, tuple[str, list[str], str | None]] = {}  # name -> (module, bases, version)
    requires: list[str] = []
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.endswith(".dist-info/METADATA"):
                for line in zf.read(name).decode("utf-8", "replace").splitlines():
                    if line.startswith("Requires-Dist:"):
                        requires.append(line.split(":", 1)[1].strip())
            if not (name.startswith("aind_data_schema/") and name.endswith(".py")):
                continue
            module = name[:-3].replace("/", ".").removesuffix(".__init__")
            try:
                tree = ast.parse(zf.read(name))
            except SyntaxError:
                continue
            for node in tree.body:
                if not isinstance(node, ast.ClassDef):
                    continue
                version = _class_version(node)
                bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
                classes.setdefault(node.name, (module, bases, version))
                if version is not None:
                    classes[node.name] = (module, bases, version)

    def resolved(name: str, seen: frozenset[str] = frozenset()) -> str | None:
        if name not in classes or name in seen:
            return None
        _module, bases, version = classes[name]
        if version is not None:
            return version
        for base in bases:
            found = resolved(base, seen | {name})
            if found is not None:
                return found
        return None

    out = []
    for name, (module, _bases, _v) in sorted(classes.items()):
        version = resolved(name)
        if version is None:
            continue
        out.extend(Declaration(stem, module, name, version) for stem, p in STEM_CLASSES.items() if p.match(name))
    return WheelFacts(tuple(out), tuple(requires))


def _requirement(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def pin(name: str, requires: list[str], when: dt.datetime | None, times: Times, v1: bool = False) -> str | None:
    """The version of ``name`` a release requiring ``requires`` ran with in its era: the newest
    that satisfies the requirement and was published by ``when`` (None: now). None when the
    release does not require ``name``."""
    spec = SpecifierSet()
    mentioned = False
    for text in requires:
        req = _requirement(text)
        if req is None or req.name.lower().replace("_", "-") != name:
            continue
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            spec &= req.specifier
            mentioned = True
    if not mentioned:
        return None
    allowed = sorted(v for v in times if spec.contains(v, prereleases=False))
    if v1:
        ones = [v for v in allowed if v.major == 1]
        if ones:
            return str(ones[-1])
    before = [v for v in allowed if when is None or (times[v] or when) <= when]
    chosen = before[-1] if before else (allowed[0] if allowed else None)
    return str(chosen) if chosen is not None else None


def pydantic1_era(requires: list[str], published: dt.datetime | None, pydantic_times: Times) -> bool:
    """True for a release of the pydantic 1 era: published before pydantic 2.0, or requiring
    ``pydantic<2``."""
    twos = [t for v, t in pydantic_times.items() if v.major == 2 and t is not None]
    if published is not None and twos and published < min(twos):
        return True
    for text in requires:
        req = _requirement(text)
        if req is None or req.name.lower() != "pydantic":
            continue
        for s in req.specifier:
            try:
                bound = Version(s.version)
            except InvalidVersion:
                continue
            if s.operator in ("<", "<=") and bound <= Version("2.0"):
                return True
    return False


def era_pins(
    requires: list[str],
    published: dt.datetime | None,
    era_end: dt.datetime | None,
    pydantic_times: Times,
    models_times: Times,
) -> tuple[dict[str, str], dict[str, str]]:
    """(pins of the release's era, pins of its own publication day)."""
    v1 = pydantic1_era(requires, published, pydantic_times)
    newest_pydantic = str(max(pydantic_times)) if pydantic_times else None
    out: list[dict[str, str]] = []
    for moment in (era_end, published):
        pins: dict[str, str] = {}
        chosen = pin("pydantic", requires or ["pydantic"], moment, pydantic_times, v1=v1) or newest_pydantic
        if chosen is not None:
            pins["pydantic"] = chosen
        models = pin("aind-data-schema-models", requires, moment, models_times)
        if models is not None:
            pins["aind-data-schema-models"] = models
        out.append(pins)
    return out[0], out[1]


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def empty_table() -> dict[str, Any]:
    return {"about": ABOUT, "format": FORMAT, "made": "", "known": {}, "releases": {}, "models": {}, "classes": {}}


def add_release(
    data: dict[str, Any],
    version: str,
    published: str,
    facts: WheelFacts | None,
    pins: dict[str, str] | None = None,
    pins_at_release: dict[str, str] | None = None,
) -> None:
    """Record one release in the table (``facts`` None: a release with no wheel to read)."""
    data["known"][version] = published
    if facts is None or not facts.declarations:
        return
    entry: dict[str, Any] = {"published": published, "pins": dict(pins or {}), "models": {}}
    if pins_at_release is not None:
        entry["pins_at_release"] = dict(pins_at_release)
    data["releases"][version] = entry
    modules = data.setdefault("modules", {})
    for d in facts.declarations:
        entry["models"].setdefault(d.stem, []).append({"module": d.module, "class": d.cls, "version": d.version})
        for slot in (
            data["models"].setdefault(d.stem, {}).setdefault(d.version, {"declared_by": []}),
            data["classes"].setdefault(d.stem, {}).setdefault(d.cls, {}).setdefault(d.version, {"declared_by": []}),
        ):
            if version not in slot["declared_by"]:
                slot["declared_by"].append(version)
                slot["declared_by"].sort(key=Version)
        listed = modules.setdefault(d.stem, {}).setdefault(d.module, [])
        if d.cls not in listed:
            listed.append(d.cls)
            listed.sort()


def finish(data: dict[str, Any], made: dt.datetime) -> dict[str, Any]:
    """Name the release each (model, version) and (class, version) is validated with (the newest
    declaring it: fewest environments, latest fixes), keep only the releases some slot names, and
    order everything for a stable file."""

    def slots() -> list[dict[str, Any]]:
        found = [slot for versions in data["models"].values() for slot in versions.values()]
        found += [slot for classes in data["classes"].values() for vs in classes.values() for slot in vs.values()]
        return found

    for slot in slots():
        slot["release"] = max(slot["declared_by"], key=Version)
    chosen = {slot["release"] for slot in slots()}
    data["releases"] = {
        v: data["releases"][v] for v in sorted(data["releases"], key=Version) if v in chosen and v in data["releases"]
    }
    for entry in data["releases"].values():
        entry["pydantic_major"] = Version(entry["pins"].get("pydantic", "2")).major

    def by_version(versions: dict[str, Any]) -> dict[str, Any]:
        return dict(sorted(versions.items(), key=lambda kv: Version(kv[0])))

    return {
        "about": ABOUT,
        "format": FORMAT,
        "made": stamp(made),
        **{k: data[k] for k in ("index", "checked") if k in data},
        "known": dict(sorted(data["known"].items(), key=lambda kv: Version(kv[0]))),
        "releases": data["releases"],
        "models": {stem: by_version(v) for stem, v in sorted(data["models"].items())},
        "classes": {
            stem: {cls: by_version(v) for cls, v in sorted(classes.items())}
            for stem, classes in sorted(data["classes"].items())
        },
        "modules": {stem: dict(sorted(m.items())) for stem, m in sorted(data.get("modules", {}).items())},
    }
