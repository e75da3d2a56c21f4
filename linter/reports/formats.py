"""The report formats: the built-in ones and those that installed distributions declare under
the entry-point group ``aind_bucket_lint.reports``, as flake8 finds its formatters.

A format is a class made as ``cls(out, options)`` (a text stream and a
:class:`~linter.reports.ReportOptions`) with the methods of :class:`~linter.reports.Reporter`.
A distribution adds one in its ``pyproject.toml``::

    [project.entry-points."aind_bucket_lint.reports"]
    gitlab = "labreports.gitlab:GitlabReporter"

and ``gitlab`` becomes a choice of ``--format`` and ``--output FORMAT:FILE``. A plugin cannot
replace a built-in format; one that cannot be imported is an error when it is asked for, and
only then.
"""

from __future__ import annotations

import functools
import importlib
import re
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "aind_bucket_lint.reports"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]+$")


class FormatError(Exception):
    """A report format that does not exist or cannot be loaded; the message says which and why."""


@dataclass(frozen=True)
class ReportFormat:
    name: str
    value: str
    """Where its class is: ``module:attribute``."""
    origin: str = "linter"
    """``linter`` for a built-in format, else the distribution that declares it."""
    choice: bool = True
    """A choice of ``--format`` and ``--output FORMAT:FILE`` (not so: what ``--statistics`` and
    ``aind-bucket-lint baseline`` write)."""

    def load(self) -> Any:
        """The reporter class."""
        module, _, attribute = self.value.partition(":")
        try:
            found: Any = importlib.import_module(module.strip())
            for part in attribute.strip().split("."):
                found = getattr(found, part)
        except Exception as exc:
            raise FormatError(f"cannot load report format {self.name!r} ({self.value}): {exc}") from None
        return found


BUILTIN = (
    ReportFormat("text", "linter.reports.text:TextReporter"),
    ReportFormat("json", "linter.reports.json:JsonReporter"),
    ReportFormat("jsonl", "linter.reports.json:JsonLinesReporter"),
    ReportFormat("sarif", "linter.reports.sarif:SarifReporter"),
    ReportFormat("github", "linter.reports.github:GithubReporter"),
    ReportFormat("markdown", "linter.reports.markdown:MarkdownReporter"),
    ReportFormat("html", "linter.reports.html:HtmlReporter"),
    ReportFormat("status", "linter.reports.status:StatusReporter"),
    ReportFormat("statistics", "linter.reports.statistics:StatisticsReporter", choice=False),
    ReportFormat("baseline", "linter.baseline:BaselineWriter", choice=False),
)


@functools.cache
def formats() -> dict[str, ReportFormat]:
    """Every format by name: the built-in ones, then the plugins' (read once)."""
    found = {f.name: f for f in BUILTIN}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        origin = ep.dist.name if ep.dist is not None else "a plugin"
        if ep.name in found:
            print(
                f"aind-bucket-lint: report format plugin {ep.name!r} ({ep.value}, from {origin}) is not used: "
                f"{_owner(found[ep.name])} has a format of that name",
                file=sys.stderr,
            )
        elif not NAME_RE.match(ep.name):
            print(
                f"aind-bucket-lint: report format plugin {ep.name!r} ({ep.value}, from {origin}) is not used: "
                "a format's name is lower-case letters, digits, '-' and '_'",
                file=sys.stderr,
            )
        else:
            found[ep.name] = ReportFormat(ep.name, ep.value, origin)
    return found


def _owner(f: ReportFormat) -> str:
    return "aind-bucket-lint" if f.origin == "linter" else f.origin


def choices() -> tuple[str, ...]:
    """The names ``--format`` and ``--output FORMAT:FILE`` accept, built-in ones first."""
    return tuple(name for name, f in formats().items() if f.choice)


def reporter_class(name: str) -> Any:
    """The class of the format ``name``; raises :class:`FormatError` for an unknown format or
    one that cannot be loaded."""
    found = formats().get(name)
    if found is None:
        raise FormatError(f"unknown format {name!r} (choose from {', '.join(choices())})")
    return found.load()
