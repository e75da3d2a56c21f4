"""``aind-bucket-lint check TARGET...``: audit targets and report the findings."""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from linter import __version__
from linter.baseline import Baseline
from linter.commands import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, UsageError
from linter.commands.common import (
    CHECK_FORMATS,
    AuditOptions,
    build_plan,
    load_config,
    load_run_convention,
    open_ledger,
)
from linter.config import Config
from linter.findings import Severity
from linter.plan import RunPlan
from linter.progress import Progress
from linter.reports import Reporter, Tee, get_reporter
from linter.sources import SourceError

if TYPE_CHECKING:
    from linter.ledger import Ledger


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Outcome:
    """What an audit added up to, for the summary and the exit code."""

    by_rule: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)
    assets: int = 0
    objects: int = 0
    complete: bool = True
    worst: Severity | None = None

    def summary(self, baselined: int | None = None) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "assets": self.assets,
            "objects": self.objects,
            "findings": sum(self.by_severity.values()),
            "by_severity": {s: self.by_severity.get(s, 0) for s in ("error", "warning", "info")},
            "by_rule": dict(sorted(self.by_rule.items())),
        }
        if baselined is not None:
            summary["baselined"] = baselined
        return summary

    def exit_code(self, fail_on: str) -> int:
        if not self.complete:
            return EXIT_ERROR
        if fail_on != "never" and self.worst is not None and self.worst >= Severity.parse(fail_on):
            return EXIT_FINDINGS
        return EXIT_OK


def load_baseline(given: AuditOptions, config: Config) -> Baseline | None:
    """``--baseline FILE``, else the config's ``baseline`` (relative to the config file)."""
    path = given.baseline or (config.resolve_path(config.get("baseline")) if config.get("baseline") else None)
    return Baseline.load(path) if path else None


def audit(
    targets: Sequence[str],
    plan: RunPlan,
    reporter: Reporter,
    *,
    ledger: Ledger | None = None,
    quiet: bool = False,
    baseline: Baseline | None = None,
    only: Mapping[str, Collection[str]] | None = None,
    out: IO[str] | None = None,
) -> Outcome:
    """Run the plan over the targets, feeding the reporter as results come (header and footer
    included). ``ledger``: the plan's ledger, opened by the caller; ``only``: per target, the
    entries to check (the hook); ``out``: the report's stream, when it may share a terminal
    with the progress line."""
    from linter.engine import Linter

    progress = Progress.for_stream(sys.stderr, quiet)
    linter = Linter(plan, ledger=ledger, on_listed=progress.listed)
    outcome = Outcome()
    try:
        reporter.start(
            {
                "report_version": 1,
                "tool": {"name": "aind-bucket-lint", "version": __version__},
                "target": list(targets),
                "convention": plan.convention.name,
                "started_at": now(),
            }
        )
        for target in targets:
            reporter.target(target)
            try:
                for linted in linter.lint_target(target, only=(only or {}).get(target)):
                    result = baseline.filter(linted) if baseline is not None else linted
                    if result.findings and out is not None and _is_terminal(out):
                        progress.close()  # the report goes to the same terminal: no line in its way
                    reporter.asset(result)
                    progress.update(result.name is not None, result.objects, len(result.findings))
                    if result.name is not None:
                        outcome.assets += 1
                    outcome.objects += result.objects
                    outcome.complete = outcome.complete and result.complete
                    for f in result.findings:
                        outcome.by_rule[f.rule] += 1
                        outcome.by_severity[str(f.severity)] += 1
                        outcome.worst = f.severity if outcome.worst is None else max(outcome.worst, f.severity)
            except SourceError as exc:
                progress.close()
                print(f"aind-bucket-lint: {exc}", file=sys.stderr)
                outcome.complete = False
        progress.close()
        baselined = baseline.matched if baseline is not None else None
        reporter.finish({"finished_at": now(), "complete": outcome.complete, "summary": outcome.summary(baselined)})
    finally:
        progress.close()
        linter.close()
    return outcome


def run(
    targets: Sequence[str],
    given: AuditOptions,
    *,
    extra_reports: Sequence[tuple[str, IO[str]]] = (),
    only: Mapping[str, Collection[str]] | None = None,
    report_options: Mapping[str, Any] | None = None,
) -> int:
    """``extra_reports``: more (format, stream) reports of the same run (the GitHub Action);
    ``only``: per target, the entries to check (the hook); ``report_options``: more options
    for the reporters (the hook's ``relocate``)."""
    config = load_config(given)
    convention = load_run_convention(given, config)
    plan = build_plan(list(targets), given, config, convention)
    fail_on = given.fail_on or config.get("fail-on", "error")
    fmt = given.format or config.get("format", "text")
    if fmt not in CHECK_FORMATS:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(CHECK_FORMATS)})")
    baseline = load_baseline(given, config)
    ledger = open_ledger(plan)
    try:
        out = open_output(given.output)
        try:
            report_options = {
                **(report_options or {}),
                "fail_on": fail_on,
                "convention": convention,
                "baseline": baseline is not None,
            }
            reporter: Reporter = get_reporter(fmt, out, report_options)
            if extra_reports:
                reporter = Tee([reporter, *(get_reporter(f, stream, report_options) for f, stream in extra_reports)])
            outcome = audit(
                targets, plan, reporter, ledger=ledger, quiet=given.quiet, baseline=baseline, only=only, out=out
            )
        finally:
            if out is sys.stdout:
                out.flush()
            else:
                out.close()
    finally:
        if ledger is not None:
            ledger.close()
    return outcome.exit_code(fail_on)


def open_output(path: str | None) -> IO[str]:
    if not path:
        return sys.stdout
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the report: {exc.strerror or exc}") from None


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
