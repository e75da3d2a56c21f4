"""Saved reports read back, for ``aind-bucket-lint report``: a ``json`` or ``jsonl`` report is
replayed into any reporter as the run fed it (header, each target's start with its root and
its results, footer), so every format renders as it did live."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linter.events import TargetStarted
from linter.findings import AssetResult, Finding
from linter.reports import Reporter, RunFooter, RunHeader


class ReportError(Exception):
    """A saved report that cannot be read; the message names the file and what is wrong."""


def finding(d: Any, where: str) -> Finding:
    try:
        return Finding.from_dict(d)
    except ValueError as exc:
        raise ReportError(f"{where}: not a finding of an aind-bucket-lint report ({exc})") from None


@dataclass
class SavedReport:
    header: RunHeader
    targets: list[tuple[TargetStarted | None, list[AssetResult]]]
    """Each target's start (None: a report of an older version, which did not record its
    targets) and its results, the target's own first."""
    footer: RunFooter
    source: str = ""

    @property
    def results(self) -> list[AssetResult]:
        return [r for _, results in self.targets for r in results]

    def replay(self, reporter: Reporter) -> None:
        reporter.start(self.header)
        for target, results in self.targets:
            if target is not None:
                reporter.target_started(target)
            for r in results:
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
        judged=record.get("judged") if isinstance(record.get("judged"), dict) else None,
    )


def _results(assets: list[dict[str, Any]], findings: list[Finding]) -> list[AssetResult]:
    """One target's results: its own (the findings of no listed asset), then each asset's."""
    names = {a.get("name") for a in assets}
    by_asset: dict[str | None, list[Finding]] = {}
    for f in findings:
        by_asset.setdefault(f.asset if f.asset in names else None, []).append(f)
    return [
        _result({"objects": 0}, by_asset.pop(None, [])),
        *(_result(a, by_asset.get(a.get("name"), [])) for a in assets),
    ]


def _by_target(
    closing: dict[str, Any], assets: list[dict[str, Any]], findings: list[Finding]
) -> list[tuple[TargetStarted | None, list[AssetResult]]]:
    """The report's assets and findings split by target, as its ``targets`` counts them; one
    group of no known target when it has none (an older report) or they do not add up."""
    records = closing.get("targets")
    counts = [(r.get("assets"), r.get("findings")) for r in records] if isinstance(records, list) else []
    whole = all(isinstance(a, int) and isinstance(f, int) and a >= 0 and f >= 0 for a, f in counts)
    if (
        not counts
        or not whole
        or sum(a for a, _ in counts) != len(assets)
        or sum(f for _, f in counts) != len(findings)
    ):
        return [(None, _results(assets, findings))]
    groups: list[tuple[TargetStarted | None, list[AssetResult]]] = []
    a0 = f0 = 0
    for record, (a, f) in zip(records, counts, strict=True):
        root = record.get("root")
        target = TargetStarted(str(record.get("label", "")), root if isinstance(root, str) else None, assets=a)
        groups.append((target, _results(assets[a0 : a0 + a], findings[f0 : f0 + f])))
        a0, f0 = a0 + a, f0 + f
    return groups


def _footer(doc: dict[str, Any], fixed: list[Finding]) -> RunFooter:
    history = fixed or "fixed" in doc or "fixed" in doc["summary"]
    trend = doc.get("trend")
    return RunFooter(
        doc.get("finished_at"),
        bool(doc.get("complete", True)),
        doc["summary"],
        fixed=tuple(fixed) if history else None,
        trend=tuple(trend) if isinstance(trend, list) else None,
        previous_audit=doc.get("previous_audit"),
    )


def from_document(doc: Any, source: str) -> SavedReport:
    if not isinstance(doc, dict) or doc.get("report_version") != 1 or "summary" not in doc:
        raise ReportError(f"{source}: not an aind-bucket-lint JSON report (report_version 1)")
    assets = [a for a in doc.get("assets", []) if isinstance(a, dict)]
    findings = [finding(d, f"{source}: findings[{i}]") for i, d in enumerate(doc.get("findings", []))]
    fixed = [finding(d, f"{source}: fixed[{i}]") for i, d in enumerate(doc.get("fixed", []))]
    return SavedReport(RunHeader.from_dict(doc), _by_target(doc, assets, findings), _footer(doc, fixed), source)


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
    assets: list[dict[str, Any]] = []
    findings: list[Finding] = []
    fixed: list[Finding] = []
    for n, obj in _lines(path):
        kind = obj.pop("type")
        if kind == "header":
            header = obj
        elif kind == "asset":
            assets.append(obj)
        elif kind == "finding":
            findings.append(finding(obj, f"{path}:{n}"))
        elif kind == "fixed":
            fixed.append(finding(obj, f"{path}:{n}"))
        elif kind == "summary":
            summary = obj
    if header is None or summary is None or "summary" not in summary:
        what = "header" if header is None else "summary"
        raise ReportError(f"{path}: not a complete aind-bucket-lint jsonl report (no {what} line)")
    if header.get("report_version") != 1:
        raise ReportError(f"{path}: report_version {header.get('report_version')!r} is not supported")
    if not assets and findings:
        # a report written before asset lines existed: one result per asset named by its findings
        grouped: dict[str | None, list[Finding]] = {}
        for f in findings:
            grouped.setdefault(f.asset, []).append(f)
        target = grouped.pop(None, [])
        results = [_result({"name": name, "objects": 0}, fs) for name, fs in grouped.items()]
        targets: list[tuple[TargetStarted | None, list[AssetResult]]] = [
            (None, [_result({"objects": 0}, target), *results])
        ]
    else:
        targets = _by_target(summary, assets, findings)
    return SavedReport(RunHeader.from_dict(header), targets, _footer(summary, fixed), str(path))


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
