"""One sidecar's judgement: its declared version, then validation by the release declaring it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from linter import validation
from linter.metadata.versions import VersionVerdict, declared_version, stem
from linter.plan import SchemaSettings

if TYPE_CHECKING:
    from linter.metadata.policy import MetadataPolicy

_MODULE = re.compile(r"(aind_data_schema(?:/[A-Za-z_][A-Za-z0-9_]*)+)\.py\b")


@dataclass(frozen=True, slots=True)
class SidecarModel:
    """What a sidecar holds: its model (the stem of the core file it counts as) and, when known,
    its class(es), from its ``describedBy`` (which names the class's source file) or else from
    its file name (an alias such as ``ephys_rig.json``). ``source`` says which."""

    stem: str
    classes: tuple[str, ...] = ()
    source: str | None = None  # "describedBy" | "file name" | None


def described_module(data: Mapping[str, Any]) -> str | None:
    """The module ``describedBy`` names (``.../src/aind_data_schema/ephys/ephys_session.py`` ->
    ``aind_data_schema.ephys.ephys_session``), or None."""
    value = data.get("describedBy")
    match = _MODULE.search(value) if isinstance(value, str) else None
    return match.group(1).replace("/", ".") if match else None


def sidecar_model(
    key: str, data: Mapping[str, Any], pol: MetadataPolicy | None = None, settings: SchemaSettings | None = None
) -> SidecarModel:
    """The model and class(es) of the sidecar at ``key`` (its last path part is its file name);
    ``settings`` choose the release table (its cache folder's; None: this process's own)."""
    file_name = key.rsplit("/", 1)[-1]
    alias = pol.alias_of.get(file_name) if pol is not None else None
    model = stem(alias.stands_for if alias is not None else file_name)
    module = described_module(data)
    if module is not None:
        named = _own_class(validation.table(settings).described(model, module), module, data)
        if named:
            return SidecarModel(model, named, "describedBy")
    if alias is not None and alias.classes:
        return SidecarModel(model, alias.classes, "file name")
    return SidecarModel(model)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _own_class(classes: tuple[str, ...], module: str, data: Mapping[str, Any]) -> tuple[str, ...]:
    """The class a 0.x file's ``describedBy`` names among those its module holds: the module is
    named after its own class (``ophys_session.py``: ``OphysSession``), and the subclasses beside
    it (``FiberPhotometrySession``, which inherits OphysSession's version and wrote its describedBy)
    are not the file's class. That is upstream's reading: a 0.x file is judged by the class its
    describedBy names alone. The one exception is upstream's too: a ``data_description.json`` is
    a ``DataDescription`` or a ``DerivedDataDescription`` (a derived asset's), on every line. The
    1.x and 2.x lines keep every class of the module."""
    version = data.get("schema_version")
    if len(classes) < 2 or not isinstance(version, str) or not version.startswith("0."):
        return classes
    if module.endswith(".data_description"):
        return classes
    own = module.rsplit(".", 1)[-1]
    return tuple(c for c in classes if _snake(c) == own) or classes


@dataclass(frozen=True, slots=True)
class Validation:
    """The outcome for one sidecar: ``version`` judged first; ``verdict`` is None when the version
    could not be looked up (missing or malformed), else the validation's verdict."""

    key: str
    version: VersionVerdict
    verdict: validation.Verdict | None

    @property
    def errors(self) -> tuple[validation.SchemaError, ...]:
        return self.verdict.errors if self.verdict is not None else ()

    @property
    def schema(self) -> str | None:
        return self.verdict.schema if self.verdict is not None else None

    @property
    def skipped(self) -> bool:
        return self.verdict is None or not self.verdict.judged

    @property
    def cacheable(self) -> bool:
        """False when the verdict may change without the file changing: its release not prepared,
        or its version newer than the release table knows (a later release may declare it)."""
        return self.verdict is None or (self.verdict.status != "unavailable" and not self.verdict.awaits_release)

    @property
    def valid(self) -> bool:
        return self.verdict is not None and self.verdict.status == "valid"


def validate_sidecar(
    key: str,
    data: Mapping[str, Any],
    text: str | bytes | None = None,
    settings: SchemaSettings | None = None,
    pol: MetadataPolicy | None = None,
) -> Validation:
    """Validate one parsed sidecar with the release that declares its version.

    ``key`` is the file's name (its last path part names the model, or an alias of ``pol`` does);
    ``text`` is its JSON text when at hand (the models then parse it as JSON themselves);
    ``settings``: the run's schema cache and offline mode (:func:`linter.validation.validate`).
    The file's class, when its ``describedBy`` or its alias names one, chooses the release: a 0.x
    ``EphysSession`` 0.3.0 is judged by a release where EphysSession declares 0.3.0.
    """
    file_name = key.rsplit("/", 1)[-1]
    verdict = declared_version(file_name, data)
    if verdict.problem is not None:
        return Validation(key, verdict, None)
    raw = text if text is not None else json.dumps(data)
    model = sidecar_model(key, data, pol, settings)
    outcome = validation.validate(model.stem, verdict.declared, raw, data, settings, model.classes)
    return Validation(key, verdict, outcome)
