"""``text``: one line a finding, ``path: CODE [severity] message``, then a summary.

Below the summary line, when there are findings or history, a short overview: assets clean
and failing, new and fixed since the last audit, the rules with most findings and the worst
assets. Colour (severity, rule code) only when the stream is a terminal that wants it
(``--color``, ``NO_COLOR``, ``FORCE_COLOR``).
"""

from __future__ import annotations

from typing import IO

from linter.findings import AssetResult
from linter.overview import Overview
from linter.reports import BaseReporter, ReportOptions, RunFooter
from linter.safetext import printable
from linter.terminal import Painter, plural, severity_counts

TOP_RULES = 5
TOP_ASSETS = 5


def summary_line(footer: RunFooter) -> str:
    """``3 assets, 4 objects: 3 findings (1 error, 1 warning, 1 info)`` and what else is to say."""
    s = footer.summary
    line = (
        f"{plural(s['assets'], 'asset')}, {plural(s['objects'], 'object')}: {plural(s['findings'], 'finding')} "
        f"({severity_counts(s['by_severity'])})"
    )
    if "new" in s:
        line += f"; {s['new']} new, {s.get('fixed', 0)} fixed since the last audit"
    if not footer.complete:
        line += "; INCOMPLETE: part of the target could not be read (see E901)"
    baselined = s.get("baselined")
    if baselined:
        line += f"; {plural(baselined, 'baselined finding')} not shown"
    return line


class TextReporter(BaseReporter):
    """With ``options.relocate``, paths of a local target as it shows them (the hook: relative to
    the repository's root); else relative to the target root."""

    def __init__(self, out: IO[str], options: ReportOptions) -> None:
        super().__init__(out, options)
        self.paint = Painter(options.color)
        self.fail_on = options.fail_on
        self.overview = Overview(options.convention, self.fail_on, worst_limit=TOP_ASSETS)

    def asset(self, result: AssetResult) -> None:
        self.overview.add(result.name, result.objects, result.findings, result.schema_version)
        paint = self.paint
        relocate = self.options.relocate
        root = self.current.local_base if relocate is not None and self.current is not None else None
        for f in result.findings:
            where = f.path or f.asset or "."
            if relocate is not None and root is not None:
                where = relocate(str(root), where)
            status = " (new)" if f.status == "new" else ""
            self.out.write(
                f"{paint(printable(where), 'bold')}: {paint(f.rule, str(f.severity))} [{f.severity}] "
                f"{printable(f.message)}{status}\n"
            )

    def finish(self, footer: RunFooter) -> None:
        self.out.write(summary_line(footer) + "\n")
        ov = self.overview
        if not self.options.overview or (not ov.findings and not footer.fixed):
            return
        lines = []
        if ov.assets:
            lines.append(
                f"  assets: {ov.clean} clean, {ov.failing} failing (at or above {self.fail_on}), "
                f"{ov.assets - ov.clean - ov.failing} with findings below it"
            )
        rules = ov.rules()
        if rules:
            top = ", ".join(f"{r['code']} {r['name']} {r['findings']}" for r in rules[:TOP_RULES])
            more = f" (+{plural(len(rules) - TOP_RULES, 'more rule')})" if len(rules) > TOP_RULES else ""
            lines.append(f"  top rules: {top}{more}; `aind-bucket-lint explain CODE` tells more")
        worst = ov.worst_assets()
        if worst:
            named = (f"{printable(w['name'])} ({plural(w['findings'], 'finding')})" for w in worst)
            lines.append("  worst assets: " + ", ".join(named))
        fixed = footer.fixed or ()
        for f in fixed[:TOP_ASSETS]:
            lines.append(f"  fixed: {printable(f.path or f.asset or '.')}: {f.rule} {printable(f.message)}")
        if len(fixed) > TOP_ASSETS:
            lines.append(f"  fixed: {plural(len(fixed) - TOP_ASSETS, 'more finding')}")
        self.out.write("".join(line + "\n" for line in lines))
