"""``aind-bucket-lint report SAVED --output FORMAT:PATH ...``: render a saved ``json`` or
``jsonl`` report in other formats without auditing again (as ``dandi validate --load``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from linter.commands import EXIT_ERROR, EXIT_OK, UsageError
from linter.commands.common import AuditOptions, report_specs
from linter.config import Config
from linter.conventions import BUILTIN, load_convention
from linter.reports import Reporter, ReportOptions, Tee, get_reporter
from linter.reports.load import ReportError, load_report
from linter.reports.outputs import Outputs
from linter.terminal import use_color


def run(saved: str, outputs: Sequence[str], fmt: str | None, fail_on: str | None, color: str | None) -> int:
    """Exit 0 when every report was written, 2 when the saved report cannot be read."""
    try:
        report = load_report(saved)
    except ReportError as exc:
        print(f"aind-bucket-lint: {exc}", file=sys.stderr)
        return EXIT_ERROR
    given = AuditOptions(format=fmt, outputs=tuple(outputs))
    specs = report_specs(given, Config())
    name = report.header.convention
    # the saved report names its convention; a convention file is not part of it
    convention = load_convention(name if name in BUILTIN else "aind-open-data")
    files = Outputs()
    try:
        reporters: list[Reporter] = []
        for spec in specs:
            out = files.open(spec.path)
            options = ReportOptions(
                fail_on=fail_on or "error",
                convention=convention,
                baseline="baselined" in report.footer.summary,
                color=spec.format == "text" and use_color(out, color),
            )
            reporters.append(get_reporter(spec.format, out, options))
        try:
            report.replay(reporters[0] if len(reporters) == 1 else Tee(reporters))
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{saved}: the saved report is missing a part: {exc}") from None
        files.commit()
    finally:
        files.discard()
    return EXIT_OK
