"""Baselines: remember today's findings so a later run reports and fails only on new ones.

A bucket with thousands of legacy violations still needs a useful nightly job: record the
findings once (``aind-bucket-lint baseline TARGET --output FILE``), then ``check --baseline
FILE`` shows only what is not in the file and says how many findings the baseline absorbed.

A finding's identity is stable across runs, never its position in a report:
``sha256(rule, asset, path, message key)``, where the message key is the message with its
volatile parts normalised (runs of digits become ``#``, long hexadecimal ids such as ETags,
version ids and request ids become ``<hex>``). The same identity is the SARIF result's
``partialFingerprints["aindBucketLint/v1"]``. Severity is not part of it, so changing a
rule's severity does not un-baseline its findings; a finding that occurs twice is matched
twice (the file keeps a count). Engine findings (E9xx: unreadable objects, crashed rules)
are never baselined: they say the run itself was incomplete or buggy.

File format (JSON Schema: ``linter/schemas/baseline-v1.json``)::

    {
      "baseline_version": 1,
      "tool": {"name": "aind-bucket-lint", "version": "0.1.0"},
      "created_at": "2026-01-01T00:00:00Z",
      "target": ["s3://aind-open-data/"],
      "convention": "aind-open-data",
      "findings": [
        {"rule": "N102", "asset": "smartspim_...", "path": "smartspim_...",
         "message": "modality 'smartspim' is not in the vocabulary; ...", "count": 1}
      ]
    }

Entries may be edited or added by hand: matching recomputes each entry's identity from its
``rule``, ``asset``, ``path`` and ``message``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import jsonschema

from linter.findings import AssetResult, Finding
from linter.registry import is_engine_rule

if TYPE_CHECKING:
    from linter.events import TargetStarted
    from linter.reports import ReportOptions, RunFooter, RunHeader

BASELINE_VERSION = 1
FINGERPRINT_KEY = "aindBucketLint/v1"
_HEX_ID = re.compile(r"\b(?=[0-9a-fA-F-]*[0-9])(?=[0-9a-fA-F-]*[a-fA-F])[0-9a-fA-F][0-9a-fA-F-]{7,}\b")
_DIGITS = re.compile(r"[0-9]+")


class BaselineError(Exception):
    """A baseline file that cannot be used; the message names the file and the problem."""


def message_key(message: str) -> str:
    """The message with what changes from run to run (counts, sizes, times, ids) normalised."""
    return _DIGITS.sub("#", _HEX_ID.sub("<hex>", message))


def identity(rule: str, asset: str | None, path: str | None, message: str) -> str:
    """A finding's stable identity: the same problem on the same object gets the same one."""
    text = "\0".join((rule, asset or "", path or "", message_key(message)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def finding_identity(f: Finding) -> str:
    return identity(f.rule, f.asset, f.path, f.message)


def baselinable(f: Finding) -> bool:
    """Engine findings (E9xx) mean the run was incomplete or a rule is broken: never hidden."""
    return not is_engine_rule(f.rule)


def _schema() -> dict[str, Any]:
    text = resources.files("linter").joinpath("schemas/baseline-v1.json").read_text(encoding="utf-8")
    return json.loads(text)


class Baseline:
    """The findings of a baseline file, as counts per identity; consumed as findings match."""

    def __init__(self, counts: Counter[str], source: str = "") -> None:
        self.remaining = counts
        self.source = source
        self.matched = 0

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BaselineError(f"{path}: baseline file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BaselineError(f"{path}: cannot read baseline file: {exc}") from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BaselineError(f"{path}: not valid JSON: {exc}") from None
        return cls.from_document(doc, str(path))

    @classmethod
    def from_document(cls, doc: Any, source: str = "baseline") -> Baseline:
        if isinstance(doc, dict) and doc.get("baseline_version") not in (None, BASELINE_VERSION):
            raise BaselineError(
                f"{source}: baseline_version {doc['baseline_version']!r} is not supported "
                f"(this aind-bucket-lint reads version {BASELINE_VERSION})"
            )
        errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            at = "/".join(str(p) for p in e.absolute_path) or "(top)"
            raise BaselineError(f"{source}: not a baseline file: at {at}: {e.message}")
        counts: Counter[str] = Counter()
        for entry in doc["findings"]:
            key = identity(entry["rule"], entry["asset"], entry["path"], entry["message"])
            counts[key] += entry.get("count", 1)
        return cls(counts, source)

    def absorb(self, finding: Finding) -> bool:
        """True (and one occurrence used up) when the finding is in the baseline."""
        if not baselinable(finding):
            return False
        key = finding_identity(finding)
        if self.remaining[key] <= 0:
            return False
        self.remaining[key] -= 1
        self.matched += 1
        return True

    def filter(self, result: AssetResult) -> AssetResult:
        """The result without its baselined findings."""
        kept = [f for f in result.findings if not self.absorb(f)]
        if len(kept) == len(result.findings):
            return result
        return replace(result, findings=kept)


class BaselineWriter:
    """A reporter that writes a baseline file of every finding of the run (E9xx excepted)."""

    def __init__(self, out: IO[str], options: ReportOptions) -> None:
        self.out = out
        self.header: RunHeader | None = None
        self.entries: dict[str, dict[str, Any]] = {}

    def start(self, header: RunHeader) -> None:
        self.header = header

    def target_started(self, target: TargetStarted) -> None:
        """Called before each target's results; this format does not need it."""

    def asset(self, result: AssetResult) -> None:
        self.add(result.findings)

    def add(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            if not baselinable(f):
                continue
            key = finding_identity(f)
            entry = self.entries.get(key)
            if entry is None:
                self.entries[key] = {"rule": f.rule, "asset": f.asset, "path": f.path, "message": f.message, "count": 1}
            else:
                entry["count"] += 1

    def document(self) -> dict[str, Any]:
        def order(e: dict[str, Any]) -> tuple[str, str, str, str]:
            return (e["asset"] or "", e["path"] or "", e["rule"], e["message"])

        header = self.header
        return {
            "baseline_version": BASELINE_VERSION,
            "tool": {"name": "aind-bucket-lint", "version": header.version if header else "unknown"},
            "created_at": header.started_at if header else None,
            "target": list(header.targets) if header else [],
            "convention": header.convention if header else None,
            "findings": sorted(self.entries.values(), key=order),
        }

    def finish(self, footer: RunFooter) -> None:
        json.dump(self.document(), self.out, indent=2, ensure_ascii=False)
        self.out.write("\n")
