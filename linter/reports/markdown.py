"""``markdown``: a report for people, the GitHub Action's job summary and usable anywhere.

The verdict; assets clean and failing; counts by severity; findings by rule (each rule's
one-line summary and how to ``explain`` it); with ``--ledger`` new and fixed since the last
complete audit and the trend over the last audits; the worst assets; findings by modality, by
declared schema-version line and by acquisition year; then the most severe findings (at most
``max_rows``, default 25): new ones first, then taken in turn from each rule, so one rule with
thousands of findings does not hide the others. It keeps only counts and that many findings
per rule, so memory stays flat however many findings the run has.

Text from the data (object keys, messages) is escaped: paths go in code spans, messages are
backslash-escaped, newlines never reach the output, so a key cannot inject Markdown or HTML
or break a table.
"""

from __future__ import annotations

import heapq
import itertools
import re
from typing import IO

from linter.findings import AssetResult, Finding, Severity
from linter.overview import Overview
from linter.reports import BaseReporter, ReportOptions, RunFooter
from linter.safetext import printable
from linter.terminal import plural

_PUNCTUATION = re.compile(r"([\\`*_\[\]<>|~&#!])")
_BACKTICKS = re.compile(r"`+")


def text(value: str) -> str:
    """Inline Markdown for plain text: one line, punctuation that could start markup escaped."""
    return _PUNCTUATION.sub(r"\\\1", printable(value.replace("\r", " ").replace("\n", " ")))


def code(value: str) -> str:
    """A code span holding ``value`` literally (safe inside a table cell)."""
    value = printable(value).replace("|", "\\|")
    runs = [len(m) for m in _BACKTICKS.findall(value)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") or not value.strip() else ""
    return f"{fence}{pad}{value}{pad}{fence}"


TREND_ROWS = 10
FIXED_ROWS = 25


class MarkdownReporter(BaseReporter):
    def __init__(self, out: IO[str], options: ReportOptions) -> None:
        super().__init__(out, options)
        self.fail_on = options.fail_on
        self.limit = max(0, options.max_rows)
        self.overview = Overview(options.convention, self.fail_on)
        # per rule, a min-heap of (new, severity, -order, finding): the rule's most telling findings
        self.candidates: dict[str, list[tuple[int, int, int, Finding]]] = {}
        self.order = itertools.count()
        self.total = 0

    def asset(self, result: AssetResult) -> None:
        self.overview.add(result.name, result.objects, result.findings, result.schema_version)
        for f in result.findings:
            self.total += 1
            heap = self.candidates.setdefault(f.rule, [])
            item = (int(f.status == "new"), int(f.severity), -next(self.order), f)
            if len(heap) < self.limit:
                heapq.heappush(heap, item)
            elif self.limit and item[:3] > heap[0][:3]:
                heapq.heapreplace(heap, item)

    def shown(self) -> list[Finding]:
        """At most ``limit`` findings: new first, most severe first, in turn from each rule."""
        queues = [sorted(h, key=lambda i: i[:3], reverse=True) for h in self.candidates.values()]
        queues.sort(key=lambda q: q[0][:3], reverse=True)
        picked: list[tuple[int, int, int, Finding]] = []
        depth = 0
        while len(picked) < self.limit and any(depth < len(q) for q in queues):
            picked.extend(q[depth] for q in queues if depth < len(q))
            depth += 1
        picked = sorted(picked, key=lambda i: i[:3], reverse=True)[: self.limit]
        return [i[3] for i in picked]

    def verdict(self, footer: RunFooter) -> str:
        sev = footer.summary["by_severity"]
        if not footer.complete:
            return "**Incomplete**: part of the target could not be read (see E901)"
        if self.fail_on != "never":
            threshold = Severity.parse(self.fail_on)
            failing = sum(sev[str(s)] for s in Severity if s >= threshold)
            if failing:
                return f"**Failed**: {plural(failing, 'finding')} at or above `{self.fail_on}`"
        return f"**Passed** (fails on `{self.fail_on}`)"

    def finish(self, footer: RunFooter) -> None:
        s = footer.summary
        sev = s["by_severity"]
        ov = self.overview
        ov.fixed = list(footer.fixed or ())
        targets = ", ".join(code(t) for t in self.header.targets)
        lines = [
            "## aind-bucket-lint",
            "",
            self.verdict(footer),
            "",
            f"Target {targets}, convention {code(self.header.convention)}: "
            f"{plural(s['assets'], 'asset')}, {plural(s['objects'], 'object')}, "
            f"{plural(s['findings'], 'finding')}.",
        ]
        if ov.assets:
            other = ov.assets - ov.clean - ov.failing
            parts = [f"{ov.clean} clean", f"{ov.failing} failing (a finding at or above `{self.fail_on}`)"]
            if other:
                parts.append(f"{other} with findings below `{self.fail_on}`")
            lines += ["", f"Assets: {', '.join(parts)}."]
        if "new" in s:
            previous = footer.previous_audit
            since = f", {previous}," if previous else " (none before: every finding is new)"
            lines += [
                "",
                f"Since the last complete audit{since}: **{s['new']} new**, **{s.get('fixed', 0)} fixed**.",
            ]
        baselined = s.get("baselined")
        if baselined:
            lines += ["", f"{plural(baselined, 'finding')} matched the baseline and are not shown."]
        lines += [
            "",
            "| Severity | Findings |",
            "| --- | ---: |",
            *(f"| {name} | {sev[name]} |" for name in ("error", "warning", "info")),
        ]
        rules = ov.rules()
        if rules:
            history = "new" in s
            head = "| Rule | Name | Severity | Findings | Assets |" + (" New |" if history else "") + " Summary |"
            rule_line = "| --- | --- | --- | ---: | ---: |" + (" ---: |" if history else "") + " --- |"
            lines += ["", "### Findings by rule", "", head, rule_line]
            for r in rules:
                new = f" {r['new']} |" if history else ""
                lines.append(
                    f"| {r['code']} | {text(r['name'])} | {r['severity']} | {r['findings']} | {r['assets']} |{new}"
                    f" {text(r['summary'])} |"
                )
            lines += ["", "`aind-bucket-lint explain CODE` tells what a rule checks and how to fix its findings."]
        lines += self.trend_section(footer)
        worst = ov.worst_assets()
        if worst:
            lines += ["", "### Worst assets", "", "| Asset | Errors | Warnings | Info | Findings |"]
            lines.append("| --- | ---: | ---: | ---: | ---: |")
            lines += [
                f"| {code(w['name'])} | {w['error']} | {w['warning']} | {w['info']} | {w['findings']} |" for w in worst
            ]
        if ov.assets:
            for title, column, groups in (
                ("By modality", "Modality", ov._groups(ov.by_modality)),
                ("By declared schema version", "data_description schema", ov._groups(ov.by_schema)),
                ("By acquisition year", "Year", ov._groups(ov.by_year, numeric=True)),
            ):
                lines += ["", f"### {title}", "", f"| {text(column)} | Assets | Failing | Findings |"]
                lines.append("| --- | ---: | ---: | ---: |")
                lines += [f"| {text(g['label'])} | {g['assets']} | {g['failing']} | {g['findings']} |" for g in groups]
        if ov.fixed:
            lines += ["", "### Fixed since the last audit", "", "| Severity | Rule | Path | Message |"]
            lines.append("| --- | --- | --- | --- |")
            for f in ov.fixed[:FIXED_ROWS]:
                lines.append(f"| {f.severity} | {f.rule} | {code(f.path or f.asset or '.')} | {text(f.message)} |")
            if len(ov.fixed) > FIXED_ROWS:
                lines += ["", f"{plural(len(ov.fixed) - FIXED_ROWS, 'more fixed finding')} not listed here."]
        shown = self.shown()
        if shown:
            history = "new" in s
            title = "### Findings" if len(shown) == self.total else f"### The {len(shown)} most severe findings"
            if history:
                lines += ["", title, "", "| Severity | Rule | Status | Path | Message |"]
                lines.append("| --- | --- | --- | --- | --- |")
            else:
                lines += ["", title, "", "| Severity | Rule | Path | Message |", "| --- | --- | --- | --- |"]
            for f in shown:
                where = code(f.path or f.asset or ".")
                status = f" {f.status} |" if history else ""
                lines.append(f"| {f.severity} | {f.rule} |{status} {where} | {text(f.message)} |")
            rest = self.total - len(shown)
            if rest:
                more = plural(rest, "more finding")
                lines += ["", f"{more} not listed here; see the full report (HTML, SARIF or JSON)."]
        elif not s["findings"]:
            lines += ["", "No findings."]
        self.out.write("\n".join(lines) + "\n")

    def trend_section(self, footer: RunFooter) -> list[str]:
        """The last audits of the root and, as the last row, this one."""
        trend = list(footer.trend or ())[-(TREND_ROWS - 1) :]
        if not trend:
            return []
        s = footer.summary
        trend.append(
            {
                "started_at": f"{self.header.started_at or ''} (this audit)",
                "complete": footer.complete,
                "assets": s["assets"],
                "clean_assets": self.overview.clean,
                "by_severity": s["by_severity"],
                "new": s.get("new", 0),
                "fixed": s.get("fixed", 0),
            }
        )
        lines = ["", "### Trend", "", "| Audit | Assets | Clean | Errors | Warnings | Info | New | Fixed |"]
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for a in trend:
            sev = a["by_severity"]
            when = a["started_at"] + ("" if a["complete"] else " (incomplete)")
            lines.append(
                f"| {when} | {a['assets']} | {a['clean_assets']} | {sev['error']} | {sev['warning']} | {sev['info']} |"
                f" {a['new']} | {a['fixed']} |"
            )
        return lines
