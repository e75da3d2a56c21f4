"""``markdown``: a report for people, the GitHub Action's job summary and usable anywhere.

The verdict, counts by severity, counts by rule and severity, and the most severe findings
(at most ``max_rows``, default 25; first come first within a severity). It keeps only counts
and that many findings, so memory stays flat however many findings the run has.

Text from the data (object keys, messages) is escaped: paths go in code spans, messages are
backslash-escaped, newlines never reach the output, so a key cannot inject Markdown or HTML
or break a table.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections import Counter
from typing import IO, Any

from linter.findings import AssetResult, Finding, Severity

DEFAULT_MAX_ROWS = 25
_PUNCTUATION = re.compile(r"([\\`*_\[\]<>|~&#!])")
_BACKTICKS = re.compile(r"`+")


def text(value: str) -> str:
    """Inline Markdown for plain text: one line, punctuation that could start markup escaped."""
    return _PUNCTUATION.sub(r"\\\1", value.replace("\r", " ").replace("\n", " "))


def code(value: str) -> str:
    """A code span holding ``value`` literally (safe inside a table cell)."""
    value = value.replace("\r", "\\r").replace("\n", "\\n").replace("|", "\\|")
    runs = [len(m) for m in _BACKTICKS.findall(value)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") or not value.strip() else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class MarkdownReporter:
    def __init__(self, out: IO[str], options: dict[str, Any]) -> None:
        self.out = out
        self.fail_on = str(options.get("fail_on", "error"))
        self.limit = max(0, int(options.get("max_rows", DEFAULT_MAX_ROWS)))
        self.header: dict[str, Any] = {}
        self.by_rule: Counter[tuple[str, str, int]] = Counter()
        self.worst: list[tuple[int, int, Finding]] = []  # min-heap of (severity, -order, finding)
        self.order = itertools.count()
        self.total = 0

    def start(self, header: dict[str, Any]) -> None:
        self.header = header

    def target(self, label: str) -> None:
        """Called before each target's results; this format does not need it."""

    def asset(self, result: AssetResult) -> None:
        for f in result.findings:
            self.total += 1
            self.by_rule[(f.rule, f.name, int(f.severity))] += 1
            item = (int(f.severity), -next(self.order), f)
            if len(self.worst) < self.limit:
                heapq.heappush(self.worst, item)
            elif self.limit and item[:2] > self.worst[0][:2]:
                heapq.heapreplace(self.worst, item)

    def verdict(self, footer: dict[str, Any]) -> str:
        sev = footer["summary"]["by_severity"]
        if not footer.get("complete", True):
            return "**Incomplete**: part of the target could not be read (see E901)"
        if self.fail_on != "never":
            threshold = Severity.parse(self.fail_on)
            failing = sum(sev[str(s)] for s in Severity if s >= threshold)
            if failing:
                return f"**Failed**: {plural(failing, 'finding')} at or above `{self.fail_on}`"
        return f"**Passed** (fails on `{self.fail_on}`)"

    def finish(self, footer: dict[str, Any]) -> None:
        s = footer["summary"]
        sev = s["by_severity"]
        targets = ", ".join(code(t) for t in self.header.get("target", []))
        lines = [
            "## aind-bucket-lint",
            "",
            self.verdict(footer),
            "",
            f"Target {targets}, convention {code(str(self.header.get('convention', '')))}: "
            f"{plural(s['assets'], 'asset')}, {plural(s['objects'], 'object')}, "
            f"{plural(s['findings'], 'finding')}.",
        ]
        baselined = footer.get("baselined", s.get("baselined"))
        if baselined:
            lines += ["", f"{plural(baselined, 'finding')} matched the baseline and are not shown."]
        lines += [
            "",
            "| Severity | Findings |",
            "| --- | ---: |",
            *(f"| {name} | {sev[name]} |" for name in ("error", "warning", "info")),
        ]
        if self.by_rule:
            lines += [
                "",
                "### Findings by rule",
                "",
                "| Rule | Name | Severity | Findings |",
                "| --- | --- | --- | ---: |",
            ]
            for (rule, name, severity), count in sorted(self.by_rule.items(), key=lambda kv: (-kv[0][2], kv[0][0])):
                lines.append(f"| {rule} | {text(name)} | {Severity(severity)} | {count} |")
        if self.worst:
            shown = sorted(self.worst, key=lambda item: (-item[0], -item[1]))
            title = "### Findings" if len(shown) == self.total else f"### The {len(shown)} most severe findings"
            lines += ["", title, "", "| Severity | Rule | Path | Message |", "| --- | --- | --- | --- |"]
            for _, _, f in shown:
                where = code(f.path or f.asset or ".")
                lines.append(f"| {f.severity} | {f.rule} | {where} | {text(f.message)} |")
            rest = self.total - len(shown)
            if rest:
                lines += ["", f"{plural(rest, 'more finding')} not listed here; see the full report (SARIF or JSON)."]
        elif not s["findings"]:
            lines += ["", "No findings."]
        self.out.write("\n".join(lines) + "\n")
