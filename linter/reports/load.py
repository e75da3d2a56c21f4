"""Saved reports read back, for ``aind-bucket-lint report``: a ``json`` or ``jsonl`` report is
replayed into any reporter as the run fed it (header, each asset's result, footer)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linter.findings import AssetResult, Finding


class ReportError(Exception):
    """A saved report that cannot be read; the message names the file and what is wrong."""


def finding(d: Any, where: str) -> Finding:
    try:
        return Finding.from_dict(d)
    except ValueError as exc:
        raise ReportError(f"{where}: not a finding of an aind-bucket-lint report ({exc})") from None


@dataclass
class SavedReport:
    header: dict[str, Any]
    results: list[AssetResult]
    footer: dict[str, Any]
    source: str = ""
    fixed: list[Finding] = field(default_factory=list)

    def replay(self, reporter: Any) -> None:
        reporter.start(self.header)
        for r in self.results:
            reporter.asset(r)
        reporter.finish(self.footer)


def _result(record: dict[str, Any], findings: list[Finding]) -> AssetResult:
    return AssetResult(
        record.get("name"),
        record.get("level"),
        record.get("source"),
        int(record.get("objects", 0)),
        findings,
        schema_version=record.get("schema_version"),
    )


HEADER_KEYS = ("report_version", "tool", "target", "convention", "started_at")


def _footer(doc: dict[str, Any], fixed: list[Finding]) -> dict[str, Any]:
    footer: dict[str, Any] = {
        "finished_at": doc.get("finished_at"),
        "complete": bool(doc.get("complete", True)),
        "summary": doc["summary"],
    }
    for key in ("trend", "previous_audit"):
        if key in doc:
            footer[key] = doc[key]
    if fixed or "fixed" in doc or "fixed" in doc["summary"]:
        footer["fixed"] = fixed
    return footer


def from_document(doc: Any, source: str) -> SavedReport:
    if not isinstance(doc, dict) or doc.get("report_version") != 1 or "summary" not in doc:
        raise ReportError(f"{source}: not an aind-bucket-lint JSON report (report_version 1)")
    names = {a.get("name") for a in doc.get("assets", []) if isinstance(a, dict)}
    by_asset: dict[str | None, list[Finding]] = {}
    for i, d in enumerate(doc.get("findings", [])):
        f = finding(d, f"{source}: findings[{i}]")
        by_asset.setdefault(f.asset if f.asset in names else None, []).append(f)
    results = [_result({"objects": 0}, by_asset.pop(None, []))]
    for a in doc.get("assets", []):
        results.append(_result(a, by_asset.get(a.get("name"), [])))
    fixed = [finding(d, f"{source}: fixed[{i}]") for i, d in enumerate(doc.get("fixed", []))]
    header = {k: doc[k] for k in HEADER_KEYS if k in doc}
    return SavedReport(header, results, _footer(doc, fixed), source, fixed)


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ReportError(f"{path}:{n}: not valid JSON: {exc.msg}") from None
            if not isinstance(obj, dict) or "type" not in obj:
                raise ReportError(f"{path}:{n}: not a line of an aind-bucket-lint jsonl report")
            yield n, obj


def from_lines(path: Path) -> SavedReport:
    header: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    target: list[Finding] = []
    results: list[AssetResult] = []
    current: AssetResult | None = None
    fixed: list[Finding] = []
    for n, obj in _lines(path):
        kind = obj.pop("type")
        if kind == "header":
            header = obj
        elif kind == "asset":
            current = _result(obj, [])
            results.append(current)
        elif kind == "finding":
            f = finding(obj, f"{path}:{n}")
            if current is not None and f.asset == current.name:
                current.findings.append(f)
            else:
                target.append(f)
        elif kind == "fixed":
            fixed.append(finding(obj, f"{path}:{n}"))
        elif kind == "summary":
            summary = obj
    if header is None or summary is None or "summary" not in summary:
        what = "header" if header is None else "summary"
        raise ReportError(f"{path}: not a complete aind-bucket-lint jsonl report (no {what} line)")
    if header.get("report_version") != 1:
        raise ReportError(f"{path}: report_version {header.get('report_version')!r} is not supported")
    if not any(True for _ in results) and target:
        # a report written before asset lines existed: one result per asset named by its findings
        grouped: dict[str | None, list[Finding]] = {}
        for f in target:
            grouped.setdefault(f.asset, []).append(f)
        target = grouped.pop(None, [])
        results = [_result({"name": name, "objects": 0}, fs) for name, fs in grouped.items()]
    return SavedReport(header, [_result({"objects": 0}, target), *results], _footer(summary, fixed), str(path), fixed)


def load_report(path: str | Path) -> SavedReport:
    p = Path(path)
    if not p.is_file():
        raise ReportError(f"{path}: saved report not found")
    try:
        with p.open(encoding="utf-8") as fh:
            first = fh.read(1 << 16).lstrip()
        if first.startswith("{") and '"type"' in first.split("\n", 1)[0]:
            return from_lines(p)
        doc = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return from_document(doc, str(path))
