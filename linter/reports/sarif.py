"""``sarif``: SARIF 2.1.0 for GitHub code scanning (``github/codeql-action/upload-sarif``).

One run: ``tool.driver`` lists every registered rule (id, name, short and full description,
help, default level); each finding is a result with its rule, level, message, one location
whose ``artifactLocation.uri`` is the finding's path relative to the target root (percent-
encoded, with ``uriBaseId`` ``TARGETROOT``; the run's ``originalUriBaseIds`` says what that
is: the target's root, a ``file://`` folder or an ``s3://`` prefix, as the engine found it), and
``partialFingerprints`` holding the
finding's stable identity (the same one baselines use), so code scanning tracks an alert
across runs. A region is always given (GitHub shows a location only with ``startLine``):
the line and column a finding's details name (a JSON syntax error), else line 1.
"""

from __future__ import annotations

import json
from typing import IO, Any
from urllib.parse import quote

from linter.baseline import FINGERPRINT_KEY, finding_identity
from linter.events import TargetStarted
from linter.findings import AssetResult, Finding, Severity
from linter.registry import Rule, load_rules
from linter.reports import TOOL, BaseReporter, ReportOptions, RunFooter, writes_utf8
from linter.safetext import scrub_obj

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/AllenNeuralDynamics/aind-bucket-lint"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
BASE_ID = "TARGETROOT"


def relative_uri(path: str | None) -> str:
    """A path relative to the target root as a relative URI reference (so ':' '%' ' ' are encoded)."""
    return quote(path, safe="/") if path else "."


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def region(f: Finding) -> dict[str, int]:
    """The line (and column) a finding's details name, e.g. a JSON syntax error; else line 1."""
    out = {"startLine": _positive(f.details.get("line")) or 1}
    column = _positive(f.details.get("column"))
    if column is not None and "line" in f.details:
        out["startColumn"] = column
    return out


def rule_descriptor(r: Rule) -> dict[str, Any]:
    doc = r.doc
    return {
        "id": r.code,
        "name": r.name,
        "shortDescription": {"text": r.summary},
        "fullDescription": {"text": doc},
        "help": {"text": doc, "markdown": f"**{r.code} {r.name}** ({r.severity})\n\n{doc}"},
        "defaultConfiguration": {"level": LEVELS[r.severity]},
        "properties": {"tags": [r.origin]},
    }


class SarifReporter(BaseReporter):
    def __init__(self, out: IO[str], options: ReportOptions) -> None:
        super().__init__(out, options)
        self.rules = load_rules()
        self.rule_index = {code: i for i, code in enumerate(self.rules)}
        self.results: list[dict[str, Any]] = []
        self.bases: dict[str, dict[str, Any]] = {}
        self.base = BASE_ID

    def target_started(self, target: TargetStarted) -> None:
        """Each target gets its own uriBaseId (the first ``TARGETROOT``, then ``TARGETROOT2``...)."""
        super().target_started(target)
        self.base = BASE_ID if not self.bases else f"{BASE_ID}{len(self.bases) + 1}"
        self.bases[self.base] = {
            "uri": target.base,
            "description": {"text": f"The root of the target {target.label}: finding paths are relative to it."},
        }

    def asset(self, result: AssetResult) -> None:
        self.target()  # a saved report of an older version announces none: its first target
        self.results.extend(self.result(f) for f in result.findings)

    def result(self, f: Finding) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ruleId": f.rule,
            "level": LEVELS[f.severity],
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": relative_uri(f.path), "uriBaseId": self.base},
                        "region": region(f),
                    }
                }
            ],
            "partialFingerprints": {FINGERPRINT_KEY: finding_identity(f)},
            "properties": {"asset": f.asset, "rule_name": f.name, "details": f.details},
        }
        if f.rule in self.rule_index:
            out["ruleIndex"] = self.rule_index[f.rule]
        if f.status is not None:  # with --ledger: against the last complete audit of the root
            out["baselineState"] = "new" if f.status == "new" else "unchanged"
        elif self.options.baseline:
            out["baselineState"] = "new"
        return out

    def finish(self, footer: RunFooter) -> None:
        header = self.header
        invocation: dict[str, Any] = {"executionSuccessful": footer.complete}
        if header.started_at:
            invocation["startTimeUtc"] = header.started_at
        if footer.finished_at:
            invocation["endTimeUtc"] = footer.finished_at
        run: dict[str, Any] = {
            "tool": {
                "driver": {
                    "name": TOOL,
                    "version": header.version,
                    "informationUri": INFORMATION_URI,
                    "rules": [rule_descriptor(r) for r in self.rules.values()],
                }
            },
            "originalUriBaseIds": self.bases,
            "invocations": [invocation],
            "results": self.results,
            "properties": {
                "target": list(header.targets),
                "convention": header.convention,
                "complete": footer.complete,
                "summary": footer.summary,
            },
        }
        doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
        json.dump(scrub_obj(doc), self.out, indent=2, ensure_ascii=not writes_utf8(self.out))
        self.out.write("\n")
