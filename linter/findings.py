"""The one record every part of the linter speaks: a finding."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from linter.safetext import has_surrogates, needs_scrub, scrub, scrub_obj


class Severity(enum.IntEnum):
    """Ordered so that ``a >= b`` means *a is at least as severe as b*."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (expected error, warning or info)") from None


@dataclass(frozen=True, slots=True)
class Violation:
    """What a rule yields: the engine adds the rule's code, name, severity and asset."""

    message: str
    path: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None
    asset: str | None = None
    """Only for target rules: the asset the violation is about (an asset rule's is its own)."""


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    name: str
    severity: Severity
    asset: str | None
    path: str | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    status: str | None = None
    """With ``--ledger``: ``new`` or ``existing`` against the last complete audit of the same root
    (``fixed`` for a finding of that audit that is gone); None without history."""

    def __post_init__(self) -> None:
        # Names and sidecars may hold text no report can encode (lone surrogates from a file
        # name that is not UTF-8, or a JSON "\ud800"): a finding holds it escaped, once, so
        # every format, the ledger and baselines can write it.
        for name in ("asset", "path", "message"):
            value = getattr(self, name)
            if value is not None and has_surrogates(value):
                object.__setattr__(self, name, scrub(value))
        if needs_scrub(self.details):
            object.__setattr__(self, "details", scrub_obj(self.details))

    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.asset or "", self.path or "", self.rule, self.message)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "name": self.name,
            "severity": str(self.severity),
            "asset": self.asset,
            "path": self.path,
            "message": self.message,
            "details": self.details,
        }
        if self.status is not None:
            out["status"] = self.status
        return out

    @classmethod
    def from_dict(cls, d: Any) -> Finding:
        """The finding :meth:`to_dict` wrote (a report's, a baseline's, the store's); raises
        ``ValueError`` saying what is missing or wrong when ``d`` is not one."""
        try:
            return cls(
                str(d["rule"]),
                str(d["name"]),
                Severity.parse(str(d["severity"])),
                d.get("asset"),
                d.get("path"),
                str(d["message"]),
                dict(d.get("details") or {}),
                d.get("status"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(str(exc)) from None


@dataclass
class AssetResult:
    """One asset's outcome; ``name`` is None for findings about the target as a whole."""

    name: str | None
    level: str | None
    source: str | None
    objects: int
    findings: list[Finding]
    complete: bool = True
    schema_version: str | None = None
    """The ``schema_version`` its data_description.json declares, when read (or remembered)."""
    judged: dict[str, Any] | None = None
    """Recorded when a report asks for it (the ``status`` format; ``RunPlan.record_judged``):
    ``{"files": {key: {"schema": ..., "fields": {name: "set" | "empty"}} | None}, "metadata":
    schema | None}``: each core sidecar at the asset root (None when its content was not judged
    in this run), what judged it and the top-level fields it holds, and the ``Metadata`` that
    judged the asset as a whole; what the findings cannot say of a valid file."""
