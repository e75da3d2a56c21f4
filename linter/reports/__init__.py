"""Output formats. A reporter is fed the run's header, then each asset's result as it is
produced, then the summary; streaming formats write as they go, whole-document ones at the end."""

from __future__ import annotations

import codecs
import importlib
import io
from typing import IO, Any, Protocol

from linter.findings import AssetResult

FORMATS: dict[str, str] = {
    "text": "linter.reports.text:TextReporter",
    "json": "linter.reports.json:JsonReporter",
    "jsonl": "linter.reports.json:JsonLinesReporter",
    "sarif": "linter.reports.sarif:SarifReporter",
    "github": "linter.reports.github:GithubReporter",
    "markdown": "linter.reports.markdown:MarkdownReporter",
    "html": "linter.reports.html:HtmlReporter",
    # not a --format choice: what --statistics prints on standard output
    "statistics": "linter.reports.statistics:StatisticsReporter",
    # not a --format choice: what ``aind-bucket-lint baseline`` writes
    "baseline": "linter.baseline:BaselineWriter",
}


class Reporter(Protocol):
    def __init__(self, out: IO[str], options: dict[str, Any]) -> None: ...

    def start(self, header: dict[str, Any]) -> None: ...

    def target(self, label: str) -> None:
        """Called before each target's results (``label`` as given on the command line)."""
        ...

    def asset(self, result: AssetResult) -> None: ...

    def finish(self, footer: dict[str, Any]) -> None: ...


def writes_utf8(out: IO[str]) -> bool:
    """Whether the stream encodes as UTF-8 (a file we opened, or a UTF-8 terminal or pipe);
    JSON formats write other streams as ASCII with ``\\u`` escapes."""
    encoding = getattr(out, "encoding", None)
    if not isinstance(encoding, str):
        return True  # an in-memory stream holds str, whatever it is
    return codecs.lookup(encoding).name == "utf-8"


def get_reporter(fmt: str, out: IO[str], options: dict[str, Any] | None = None) -> Reporter:
    try:
        module_name, cls_name = FORMATS[fmt].split(":")
    except KeyError:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})") from None
    if not writes_utf8(out) and isinstance(out, io.TextIOWrapper):
        # stdout of a C/ASCII locale: a character it cannot encode is written as an escape,
        # never raised on in the middle of a report
        out.reconfigure(errors="backslashreplace")
    cls = getattr(importlib.import_module(module_name), cls_name)
    reporter: Reporter = cls(out, options or {})
    return reporter


class Tee:
    """Feeds one run to several reporters (the GitHub Action writes annotations, a job summary and
    SARIF from a single audit)."""

    def __init__(self, reporters: list[Reporter]) -> None:
        self.reporters = reporters

    def start(self, header: dict[str, Any]) -> None:
        for r in self.reporters:
            r.start(header)

    def target(self, label: str) -> None:
        for r in self.reporters:
            r.target(label)

    def asset(self, result: AssetResult) -> None:
        for r in self.reporters:
            r.asset(result)

    def finish(self, footer: dict[str, Any]) -> None:
        for r in self.reporters:
            r.finish(footer)
