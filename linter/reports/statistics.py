"""``--statistics``: per-rule counts instead of the findings, as ``ruff check --statistics``::

       12  M203  error    schema-violation   (4 assets, 3 new)
        3  N107  info     placeholder-time   (3 assets)

most findings first, then the summary line. Counts only: memory stays flat.
"""

from __future__ import annotations

from typing import IO

from linter.findings import AssetResult
from linter.overview import Overview
from linter.reports import BaseReporter, ReportOptions, RunFooter
from linter.reports.text import summary_line
from linter.terminal import Painter, plural


class StatisticsReporter(BaseReporter):
    def __init__(self, out: IO[str], options: ReportOptions) -> None:
        super().__init__(out, options)
        self.paint = Painter(options.color)
        self.overview = Overview(options.convention, options.fail_on, worst_limit=0)

    def asset(self, result: AssetResult) -> None:
        self.overview.add(result.name, result.objects, result.findings)

    def finish(self, footer: RunFooter) -> None:
        rules = sorted(self.overview.rules(), key=lambda r: (-r["findings"], r["code"]))
        history = "new" in footer.summary
        width = max((len(str(r["findings"])) for r in rules), default=1)
        names = max((len(r["name"]) for r in rules), default=0)
        for r in rules:
            extra = plural(r["assets"], "asset") + (f", {r['new']} new" if history else "")
            self.out.write(
                f"{r['findings']:>{width}}  {self.paint(r['code'], r['severity'])}  {r['severity']:<7}  "
                f"{r['name']:<{names}}  ({extra})\n"
            )
        self.out.write(summary_line(footer) + "\n")
