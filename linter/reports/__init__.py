"""Output formats. A reporter is fed the run's header, then per target its start (with the
root its findings' paths are relative to) and each asset's result as it is produced, then the
footer; streaming formats write as they go, whole-document ones at the end.

What a reporter is handed is typed and plain: :class:`ReportOptions` (how to report), a
:class:`RunHeader`, :class:`~linter.events.TargetStarted` (from the engine's stream, or from a
saved report), :class:`~linter.findings.AssetResult` and a :class:`RunFooter`. A reporter never
asks a source or the engine anything.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

from linter import __version__
from linter.events import TargetStarted
from linter.findings import AssetResult, Finding

if TYPE_CHECKING:
    from linter.conventions import Convention

REPORT_VERSION = 1
TOOL = "aind-bucket-lint"
DEFAULT_MAX_ANNOTATIONS = 50
DEFAULT_MAX_ROWS = 25
DEFAULT_MAX_TABLE_ROWS = 300_000


@dataclass(frozen=True)
class ReportOptions:
    """How to report; every format reads the options it knows and ignores the others."""

    fail_on: str = "error"
    """The lowest severity that fails the run (``--fail-on``): verdicts and overviews use it."""
    convention: Convention | None = None
    """The run's convention (the overviews group assets by what their names say)."""
    baseline: bool = False
    """A ``--baseline`` is in use: what is reported is new against it (SARIF ``baselineState``)."""
    color: bool = False
    """Colour the text (the caller decides: a terminal that wants it, ``--color``)."""
    relocate: Callable[[str, str], str] | None = None
    """``(target root, path) -> path`` as shown (the hook shows paths relative to the
    repository's root); None: paths relative to the target root."""
    overview: bool = True
    """``text``: the overview below the summary line (the hook leaves it out)."""
    max_annotations: int = DEFAULT_MAX_ANNOTATIONS
    """``github``: at most this many annotations, the most severe first."""
    max_rows: int = DEFAULT_MAX_ROWS
    """``markdown``: at most this many findings listed."""
    max_table_rows: int = DEFAULT_MAX_TABLE_ROWS
    """``html``: at most this many rows in the findings table."""


@dataclass(frozen=True)
class RunHeader:
    """What a report says first: what was audited, how, and when."""

    targets: tuple[str, ...]
    """The targets as given."""
    convention: str
    started_at: str | None = None
    version: str = __version__
    """The version of aind-bucket-lint that ran the audit."""

    def to_dict(self) -> dict[str, Any]:
        """The header's fields of the JSON report (``report_version`` 1)."""
        return {
            "report_version": REPORT_VERSION,
            "tool": {"name": TOOL, "version": self.version},
            "target": list(self.targets),
            "convention": self.convention,
            "started_at": self.started_at,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> RunHeader:
        """The header :meth:`to_dict` wrote."""
        tool = doc.get("tool")
        version = tool.get("version") if isinstance(tool, Mapping) else None
        return cls(
            tuple(str(t) for t in doc.get("target") or ()),
            str(doc.get("convention") or ""),
            doc.get("started_at"),
            str(version) if version is not None else "unknown",
        )


@dataclass(frozen=True)
class RunFooter:
    """What a report says last: whether the audit is complete, its summary and, with a ledger,
    its history."""

    finished_at: str | None
    complete: bool
    summary: Mapping[str, Any]
    """``assets``, ``objects``, ``findings``, ``by_severity``, ``by_rule``; ``baselined`` with a
    baseline; ``new`` and ``fixed`` (counts) with history: plain JSON, as the report writes it."""
    fixed: tuple[Finding, ...] | None = None
    """History: the findings of the last complete audit that are gone (None without history)."""
    trend: tuple[Mapping[str, Any], ...] | None = None
    """History: the earlier audits of the root, oldest first, as ``aind-bucket-lint history``
    prints them (plain JSON); None without history."""
    previous_audit: str | None = None
    """History: when the audit compared against started (None: the first)."""

    def to_dict(self) -> dict[str, Any]:
        """The closing fields of the JSON report (``fixed`` aside: a reporter writes those)."""
        out: dict[str, Any] = {"finished_at": self.finished_at, "complete": self.complete, "summary": self.summary}
        if self.trend is not None:
            out["trend"] = list(self.trend)
            out["previous_audit"] = self.previous_audit
        return out


class Reporter(Protocol):
    """A report format: made with ``(out, options)``, then fed the run in this order."""

    def __init__(self, out: IO[str], options: ReportOptions) -> None: ...

    def start(self, header: RunHeader) -> None: ...

    def target_started(self, target: TargetStarted) -> None:
        """Called before each target's results."""
        ...

    def asset(self, result: AssetResult) -> None: ...

    def finish(self, footer: RunFooter) -> None: ...


class BaseReporter:
    """What most reporters share: the stream, the options, the header and the current target.
    A reporter that needs a target before any was announced (a saved report of an older
    version) gets the header's first."""

    def __init__(self, out: IO[str], options: ReportOptions) -> None:
        self.out = out
        self.options = options
        self.header = RunHeader((), "")
        self.current: TargetStarted | None = None

    def start(self, header: RunHeader) -> None:
        self.header = header

    def target_started(self, target: TargetStarted) -> None:
        self.current = target

    def target(self) -> TargetStarted:
        """The target whose results come now."""
        if self.current is None:
            self.target_started(TargetStarted(self.header.targets[0] if self.header.targets else "."))
        assert self.current is not None
        return self.current

    def asset(self, result: AssetResult) -> None:
        raise NotImplementedError

    def finish(self, footer: RunFooter) -> None:
        raise NotImplementedError


def writes_utf8(out: IO[str]) -> bool:
    """Whether the stream encodes as UTF-8 (a file we opened, or a UTF-8 terminal or pipe);
    JSON formats write other streams as ASCII with ``\\u`` escapes."""
    encoding = getattr(out, "encoding", None)
    if not isinstance(encoding, str):
        return True  # an in-memory stream holds str, whatever it is
    return codecs.lookup(encoding).name == "utf-8"


def get_reporter(fmt: str, out: IO[str], options: ReportOptions | None = None) -> Reporter:
    """A reporter of the format ``fmt`` (built in, or a plugin's: ``linter.reports.formats``)
    writing to ``out``; raises :class:`~linter.reports.formats.FormatError` for an unknown
    format or one that cannot be loaded."""
    from linter.reports.formats import reporter_class

    cls = reporter_class(fmt)
    if not writes_utf8(out) and isinstance(out, io.TextIOWrapper):
        # stdout of a C/ASCII locale: a character it cannot encode is written as an escape,
        # never raised on in the middle of a report
        out.reconfigure(errors="backslashreplace")
    reporter: Reporter = cls(out, options or ReportOptions())
    return reporter


class Tee:
    """Feeds one run to several reporters (the GitHub Action writes annotations, a job summary and
    SARIF from a single audit)."""

    def __init__(self, reporters: list[Reporter]) -> None:
        self.reporters = reporters

    def start(self, header: RunHeader) -> None:
        for r in self.reporters:
            r.start(header)

    def target_started(self, target: TargetStarted) -> None:
        for r in self.reporters:
            r.target_started(target)

    def asset(self, result: AssetResult) -> None:
        for r in self.reporters:
            r.asset(result)

    def finish(self, footer: RunFooter) -> None:
        for r in self.reporters:
            r.finish(footer)
