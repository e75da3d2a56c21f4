"""The overview a person reads: what the markdown, html and text reports say above the detail.

Fed each asset's result as the run (or a saved report being re-rendered) produces it, it keeps
only counts, a bounded heap of the worst assets and (for the HTML table) one row per asset and
rule, so memory follows the number of assets, not of findings:

- assets clean (no finding), failing (a finding at or above ``--fail-on``) and the rest;
- findings by rule (with the rule's one-line summary and the ``explain`` command), by severity,
  by modality (the name's first token, the platform), by the declared schema-version line of
  ``data_description.json`` and by acquisition year (the name's first date);
- the worst assets (most errors, then warnings, then info);
- new and fixed since the last complete audit and the trend over the last audits (``--ledger``).
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from linter.findings import Finding, Severity

UNPARSED = "(unparsed name)"
NO_MODALITY = "(no modality)"
NOT_READ = "(not read)"
NO_YEAR = "(no date)"
WORST_ASSETS = 10
_DATE = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})-[0-9]{2}-[0-9]{2}(?![0-9])")
_VERSION = re.compile(r"^\s*([0-9]+)\.")
_LEVEL = {s: int(s) for s in Severity}
_NAME = {int(s): str(s) for s in Severity}


def schema_line(version: str | None) -> str:
    """``2.4.2`` -> ``2.x``: the generation the version belongs to."""
    if version is None:
        return NOT_READ
    m = _VERSION.match(str(version))
    return f"{m.group(1)}.x" if m else f"{version} (malformed)"


@dataclass
class Group:
    """Assets and findings of one modality, schema line or year."""

    assets: int = 0
    failing: int = 0
    findings: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"assets": self.assets, "failing": self.failing, "findings": self.findings}


@dataclass
class RuleCount:
    code: str
    name: str
    severity: Severity
    findings: int = 0
    assets: int = 0
    new: int = 0


@dataclass
class Overview:
    convention: Any = None
    fail_on: str = "error"
    worst_limit: int = WORST_ASSETS
    keep_rows: bool = False
    assets: int = 0
    clean: int = 0
    failing: int = 0
    objects: int = 0
    findings: int = 0
    new: int = 0
    by_severity: Counter[str] = field(default_factory=Counter)
    by_rule: dict[str, RuleCount] = field(default_factory=dict)
    by_modality: dict[str, Group] = field(default_factory=dict)
    by_schema: dict[str, Group] = field(default_factory=dict)
    by_year: dict[str, Group] = field(default_factory=dict)
    worst: list[tuple[tuple[int, int, int, int], int, str, dict[str, int]]] = field(default_factory=list)
    rows: list[tuple[str, str, int, int, int, str, str]] = field(default_factory=list)
    fixed: list[Finding] = field(default_factory=list)
    trend: list[dict[str, Any]] = field(default_factory=list)
    with_history: bool = False
    _order: int = 0

    @property
    def threshold(self) -> Severity:
        return Severity.ERROR if self.fail_on == "never" else Severity.parse(self.fail_on)

    def facets(self, name: str) -> tuple[str, str]:
        """(modality, acquisition year) from the asset's name."""
        parsed = None
        if self.convention is not None:
            from linter.names import parse_name

            parsed = parse_name(name, self.convention)
        if parsed is not None and parsed.grammar_error is None:
            modality = parsed.modality or NO_MODALITY
            year = parsed.stamps[0].date[:4] if parsed.stamps else NO_YEAR
        else:
            modality = UNPARSED
            m = _DATE.search(name)
            year = m.group(1) if m else NO_YEAR
        return modality, year

    def add(self, name: str | None, objects: int, findings: list[Finding], schema_version: str | None = None) -> None:
        """One asset's result (``name`` None: findings about the target as a whole)."""
        self.objects += objects
        threshold = self.threshold
        per_severity: Counter[str] = Counter()
        rules_seen: set[str] = set()
        rows: dict[tuple[str, str], list[Any]] = {}
        by_rule, keep_rows, worst_level = self.by_rule, self.keep_rows, 0
        for f in findings:  # the hot loop at 10^6 findings: plain ints and dict lookups only
            level = _LEVEL[f.severity]
            worst_level = max(worst_level, level)
            per_severity[_NAME[level]] += 1
            rc = by_rule.get(f.rule)
            if rc is None:
                rc = by_rule[f.rule] = RuleCount(f.rule, f.name, f.severity)
            rc.findings += 1
            if level > rc.severity:
                rc.severity = Severity(level)
            new = f.status == "new"
            if new:
                rc.new += 1
                self.new += 1
            if f.rule not in rules_seen:
                rules_seen.add(f.rule)
                rc.assets += name is not None
            if keep_rows:
                # one row per asset and rule; findings about the target as a whole, one per path
                key = (f.rule, f.path or "" if name is None else "")
                row = rows.get(key)
                if row is None:
                    row = rows[key] = [name or "", f.rule, level, 0, 0, f.path or "", f.message]
                elif level > row[2]:
                    row[2] = level
                row[3] += 1
                row[4] += new
        self.rows.extend(tuple(r) for r in rows.values())  # type: ignore[misc]
        self.findings += len(findings)
        self.by_severity.update(per_severity)
        if name is None:
            return
        self.assets += 1
        failing = bool(findings) and worst_level >= int(threshold)
        self.clean += not findings
        self.failing += failing
        modality, year = self.facets(name)
        for groups, key in (
            (self.by_modality, modality),
            (self.by_schema, schema_line(schema_version)),
            (self.by_year, year),
        ):
            g = groups.get(key)
            if g is None:
                g = groups[key] = Group()
            g.assets += 1
            g.failing += failing
            g.findings += len(findings)
        if findings and self.worst_limit:
            rank = (per_severity["error"], per_severity["warning"], per_severity["info"], len(findings))
            self._order += 1
            item = (rank, -self._order, name, dict(per_severity))
            if len(self.worst) < self.worst_limit:
                heapq.heappush(self.worst, item)
            elif item[:2] > self.worst[0][:2]:
                heapq.heapreplace(self.worst, item)

    # -- what the reports show ----------------------------------------------------------------

    def rules(self) -> list[dict[str, Any]]:
        """Rules with findings, most severe then most frequent first."""
        from linter.registry import load_rules

        registered = load_rules()
        out = []
        for rc in sorted(self.by_rule.values(), key=lambda r: (-int(r.severity), -r.findings, r.code)):
            rule = registered.get(rc.code)
            out.append(
                {
                    "code": rc.code,
                    "name": rc.name,
                    "severity": str(rc.severity),
                    "summary": rule.summary if rule is not None else "",
                    "findings": rc.findings,
                    "assets": rc.assets,
                    "new": rc.new,
                    "explain": f"aind-bucket-lint explain {rc.code}",
                }
            )
        return out

    def worst_assets(self) -> list[dict[str, Any]]:
        items = sorted(self.worst, key=lambda i: (i[0], i[1]), reverse=True)
        return [
            {
                "name": name,
                "findings": rank[3],
                "error": counts.get("error", 0),
                "warning": counts.get("warning", 0),
                "info": counts.get("info", 0),
            }
            for rank, _, name, counts in items
        ]

    @staticmethod
    def _groups(groups: dict[str, Group], numeric: bool = False) -> list[dict[str, Any]]:
        def key(kv: tuple[str, Group]) -> tuple[Any, ...]:
            label, g = kv
            if numeric:  # years in order, the unknown last
                return (not label[:1].isdigit(), label)
            return (label.startswith("("), -g.assets, label)

        return [{"label": label, **g.to_dict()} for label, g in sorted(groups.items(), key=key)]

    def to_dict(self) -> dict[str, Any]:
        """Everything the reports render, JSON-able."""
        return {
            "assets": {
                "total": self.assets,
                "clean": self.clean,
                "failing": self.failing,
                "other": self.assets - self.clean - self.failing,
            },
            "fail_on": self.fail_on,
            "findings": self.findings,
            "by_severity": {s: self.by_severity.get(s, 0) for s in ("error", "warning", "info")},
            "by_rule": self.rules(),
            "by_modality": self._groups(self.by_modality),
            "by_schema_line": self._groups(self.by_schema),
            "by_year": self._groups(self.by_year, numeric=True),
            "worst_assets": self.worst_assets(),
            "new": self.new,
            "fixed": len(self.fixed),
            "history": self.with_history,
            "trend": self.trend,
        }
