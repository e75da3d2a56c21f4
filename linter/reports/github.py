"""``github``: GitHub Actions workflow-command annotations, one line a finding.

    ::error file=bucket/ecephys_1_2022-12-12_05-06-07/subject.json,title=M201 ...::message

GitHub reads these lines from a step's log and shows them on the run (and on the file, when
the file is in the repository). Everything from the data reaches the line escaped as the
workflow-command syntax requires, so an object key holding ``%``, ``,``, ``:`` or a newline
can neither end the annotation early nor start a command of its own.

GitHub shows at most 10 errors and 10 warnings a step and 50 annotations a job, so only the
most severe ``max_annotations`` findings (default 50; first come first within a severity)
become annotations, followed by one notice counting the rest, then the text summary line.
Local targets are annotated with ``file=`` (relative to ``$GITHUB_WORKSPACE``, else the
working directory, from the target's root); an ``s3://`` target has no file in the repository,
so its annotations carry the object's URL (the root and the path) in the message instead.
"""

from __future__ import annotations

import heapq
import itertools
import os
import re
from pathlib import Path
from typing import IO

from linter.events import TargetStarted
from linter.findings import AssetResult, Finding, Severity
from linter.reports import BaseReporter, ReportOptions, RunFooter
from linter.safetext import printable

_LINE_BREAK = re.compile(r"([\r\n])")
COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    """Escape a command's message (after ``::``); control, bidirectional and zero-width
    characters are shown as escapes first (line breaks keep the protocol's own escapes)."""
    text = "".join(part if part in ("\r", "\n") else printable(part) for part in _LINE_BREAK.split(text))
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value (``file=``, ``title=``): also ':' and ',' which delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: str) -> str:
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def summary_line(footer: RunFooter) -> str:
    from linter.reports.text import summary_line as text_line

    return f"aind-bucket-lint: {text_line(footer)}"


class GithubReporter(BaseReporter):
    def __init__(self, out: IO[str], options: ReportOptions) -> None:
        super().__init__(out, options)
        self.limit = max(0, options.max_annotations)
        self.workspace = Path(os.environ.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
        self.root: str | None = None
        """The target's root relative to the workspace (None: a remote target, no file)."""
        self.kept: list[tuple[int, int, str]] = []  # (severity, -order, line): a min-heap of the worst
        self.order = itertools.count()
        self.total = 0

    def target_started(self, target: TargetStarted) -> None:
        super().target_started(target)
        local = target.local_base
        self.root = None if local is None else os.path.relpath(local, self.workspace).replace(os.sep, "/")

    def annotation(self, f: Finding) -> str:
        title = f"{f.rule} {f.name}"
        path = f.path or f.asset
        target = self.target()
        if self.root is None:
            return command(COMMANDS[f.severity], f"{target.base}{path or ''}: {f.message}", title=title)
        if path is None:
            return command(COMMANDS[f.severity], f.message, title=title)
        file = path if self.root == "." else f"{self.root}/{path}"
        return command(COMMANDS[f.severity], f.message, file=file, title=title)

    def asset(self, result: AssetResult) -> None:
        self.target()  # a saved report of an older version announces none: its first target
        for f in result.findings:
            self.total += 1
            item = (int(f.severity), -next(self.order), self.annotation(f))
            if len(self.kept) < self.limit:
                heapq.heappush(self.kept, item)
            elif self.limit and item > self.kept[0]:
                heapq.heapreplace(self.kept, item)

    def finish(self, footer: RunFooter) -> None:
        for _, _, line in sorted(self.kept, reverse=True):
            self.out.write(line + "\n")
        rest = self.total - len(self.kept)
        if rest:
            self.out.write(
                command(
                    "notice",
                    f"{rest} more findings not annotated (at most {self.limit} annotations); "
                    "see the job summary or the SARIF report",
                    title="aind-bucket-lint",
                )
                + "\n"
            )
        self.out.write(summary_line(footer) + "\n")
