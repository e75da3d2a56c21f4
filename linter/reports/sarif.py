"""``sarif``: SARIF 2.1.0 for GitHub code scanning (``github/codeql-action/upload-sarif``).

One run: ``tool.driver`` lists every registered rule (id, name, short and full description,
help, default level); each finding is a result with its rule, level, message, one location
whose ``artifactLocation.uri`` is the finding's path relative to the target root (percent-
encoded, with ``uriBaseId`` ``TARGETROOT``; the run's ``originalUriBaseIds`` says what that
is: a ``file://`` folder or an ``s3://`` prefix), and ``partialFingerprints`` holding the
finding's stable identity (the same one baselines use), so code scanning tracks an alert
across runs. A region is always given (GitHub shows a location only with ``startLine``):
the line and column a finding's details name (a JSON syntax error), else line 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from linter.baseline import FINGERPRINT_KEY, finding_identity
from linter.findings import AssetResult, Finding, Severity
from linter.registry import Rule, load_rules
from linter.reports import writes_utf8
from linter.safetext import scrub_obj

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/AllenNeuralDynamics/aind-bucket-lint"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
BASE_ID = "TARGETROOT"


def local_root(target: str, convention: Any = None) -> Path:
    """The folder a local target's finding paths are relative to.

    A folder that is itself an asset has its parent as root (paths start with the asset's
    name), as :class:`linter.sources.local.LocalSource` decides.
    """
    path = Path(target).resolve()
    if convention is not None:
        from linter.sources.local import is_asset_folder

        if path.is_dir() and is_asset_folder(path, convention):
            path = path.parent
    return path


def target_root(target: str, convention: Any = None) -> str:
    """The folder or prefix finding paths are relative to, as an absolute URI ending in '/'."""
    if "://" in target:
        return target if target.endswith("/") else target + "/"
    uri = local_root(target, convention).as_uri()
    return uri if uri.endswith("/") else uri + "/"


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


class SarifReporter:
    def __init__(self, out: IO[str], options: dict[str, Any]) -> None:
        self.out = out
        self.convention = options.get("convention")
        self.baseline = bool(options.get("baseline"))
        self.rules = load_rules()
        self.rule_index = {code: i for i, code in enumerate(self.rules)}
        self.header: dict[str, Any] = {}
        self.results: list[dict[str, Any]] = []
        self.bases: dict[str, dict[str, Any]] = {}
        self.base = BASE_ID

    def start(self, header: dict[str, Any]) -> None:
        self.header = header

    def target(self, label: str) -> None:
        """Called before each target's results: later targets get their own uriBaseId."""
        self.base = BASE_ID if not self.bases else f"{BASE_ID}{len(self.bases) + 1}"
        self.bases[self.base] = {
            "uri": target_root(label, self.convention),
            "description": {"text": f"The root of the target {label}: finding paths are relative to it."},
        }

    def asset(self, result: AssetResult) -> None:
        if not self.bases:  # a caller that never announced its target: describe the first one
            targets = self.header.get("target") or ["."]
            self.target(targets[0])
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
        elif self.baseline:
            out["baselineState"] = "new"
        return out

    def finish(self, footer: dict[str, Any]) -> None:
        tool = self.header.get("tool", {})
        version = str(tool.get("version", ""))
        invocation: dict[str, Any] = {"executionSuccessful": bool(footer.get("complete", True))}
        if self.header.get("started_at"):
            invocation["startTimeUtc"] = self.header["started_at"]
        if footer.get("finished_at"):
            invocation["endTimeUtc"] = footer["finished_at"]
        run: dict[str, Any] = {
            "tool": {
                "driver": {
                    "name": tool.get("name", "aind-bucket-lint"),
                    "version": version,
                    "informationUri": INFORMATION_URI,
                    "rules": [rule_descriptor(r) for r in self.rules.values()],
                }
            },
            "originalUriBaseIds": self.bases,
            "invocations": [invocation],
            "results": self.results,
            "properties": {
                "target": self.header.get("target", []),
                "convention": self.header.get("convention"),
                "complete": bool(footer.get("complete", True)),
                "summary": footer.get("summary", {}),
            },
        }
        doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
        json.dump(scrub_obj(doc), self.out, indent=2, ensure_ascii=not writes_utf8(self.out))
        self.out.write("\n")
