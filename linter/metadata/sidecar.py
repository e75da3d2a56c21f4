"""One sidecar's judgement: its declared version, then validation by the release declaring it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from linter import validation
from linter.metadata.versions import VersionVerdict, declared_version, stem
from linter.plan import SchemaSettings


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
        """False when the verdict may change without the file changing (its release not prepared)."""
        return self.verdict is None or self.verdict.status != "unavailable"

    @property
    def valid(self) -> bool:
        return self.verdict is not None and self.verdict.status == "valid"


def validate_sidecar(
    key: str, data: Mapping[str, Any], text: str | bytes | None = None, settings: SchemaSettings | None = None
) -> Validation:
    """Validate one parsed sidecar with the release that declares its version.

    ``key`` is the file's name (its last path part names the model); ``text`` is its JSON text
    when at hand (the models then parse it as JSON themselves); ``settings``: the run's schema
    cache and offline mode (:func:`linter.validation.validate`).
    """
    file_name = key.rsplit("/", 1)[-1]
    verdict = declared_version(file_name, data)
    if verdict.problem is not None:
        return Validation(key, verdict, None)
    raw = text if text is not None else json.dumps(data)
    return Validation(key, verdict, validation.validate(stem(file_name), verdict.declared, raw, data, settings))
