"""``aind-bucket-lint check TARGET...``: audit targets and report the findings."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import stat
import sys
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from linter import __version__
from linter.baseline import Baseline
from linter.commands import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, UsageError
from linter.commands.common import (
    AuditOptions,
    ReportSpec,
    build_plan,
    load_config,
    load_run_convention,
    open_ledger,
    report_specs,
)
from linter.config import Config, ConfigError
from linter.findings import AssetResult, Finding, Severity
from linter.ignores import AssetIgnores, IgnoreError
from linter.plan import RunPlan
from linter.progress import Progress
from linter.registry import UNREADABLE, load_rules
from linter.reports import Reporter, Tee, get_reporter
from linter.sources import SourceError
from linter.store.audits import AuditHistory
from linter.terminal import use_color

if TYPE_CHECKING:
    from linter.store.db import Ledger


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
    # with history (--ledger): the worst new finding, how many were new and which were fixed
    history: bool = False
    worst_new: Severity | None = None
    new: int = 0
    fixed: list[Finding] = field(default_factory=list)
    ignored: int = 0

    def add(self, result: AssetResult) -> None:
        if result.name is not None:
            self.assets += 1
        self.objects += result.objects
        self.complete = self.complete and result.complete
        for f in result.findings:
            self.by_rule[f.rule] += 1
            self.by_severity[str(f.severity)] += 1
            self.worst = f.severity if self.worst is None else max(self.worst, f.severity)
            if f.status == "new":
                self.new += 1
                self.worst_new = f.severity if self.worst_new is None else max(self.worst_new, f.severity)

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
        if self.history:
            summary["new"] = self.new
            summary["fixed"] = len(self.fixed)
        return summary

    def exit_code(self, fail_on: str, only_new: bool = False) -> int:
        """``only_new`` (``--fail-on-new``): only new findings at or above ``fail_on`` fail."""
        if not self.complete:
            return EXIT_ERROR
        worst = self.worst_new if only_new else self.worst
        if fail_on != "never" and worst is not None and worst >= Severity.parse(fail_on):
            return EXIT_FINDINGS
        return EXIT_OK


@dataclass
class _TargetTally:
    """One target's counts, for its line in the ledger's audit history."""

    assets: int = 0
    clean: int = 0
    objects: int = 0
    complete: bool = True
    by_severity: Counter[str] = field(default_factory=Counter)

    def add(self, result: AssetResult) -> None:
        self.objects += result.objects
        self.complete = self.complete and result.complete
        if result.name is not None:
            self.assets += 1
            self.clean += not result.findings
        for f in result.findings:
            self.by_severity[str(f.severity)] += 1

    def summary(self) -> dict[str, Any]:
        return {
            "assets": self.assets,
            "objects": self.objects,
            "by_severity": {s: self.by_severity.get(s, 0) for s in ("error", "warning", "info")},
        }


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
    ignores: AssetIgnores | None = None,
    history: bool = False,
) -> Outcome:
    """Run the plan over the targets, feeding the reporter as results come (header and footer
    included). ``ledger``: the plan's ledger, opened by the caller; ``only``: per target, the
    entries to check (the hook); ``out``: the report's stream, when it may share a terminal
    with the progress line; ``ignores``: the config's per-asset-ignores; ``history``: record
    the audit in the ledger and give each finding its status (new, existing; fixed ones in
    the footer) against the last complete audit of the same root."""
    from linter.engine import Linter

    progress = Progress.for_stream(sys.stderr, quiet)
    linter = Linter(plan, ledger=ledger, on_listed=progress.listed)
    outcome = Outcome(history=history and ledger is not None)
    footer_extra: dict[str, Any] = {}
    started = now()
    try:
        reporter.start(
            {
                "report_version": 1,
                "tool": {"name": "aind-bucket-lint", "version": __version__},
                "target": list(targets),
                "convention": plan.convention.name,
                "started_at": started,
            }
        )
        failure: Exception | None = None
        for target in targets:
            reporter.target(target)
            tally = _TargetTally()
            record: AuditHistory | None = None
            try:
                for linted in linter.lint_target(target, only=(only or {}).get(target)):
                    if outcome.history and record is None and ledger is not None and linter.last_source is not None:
                        record = ledger.audit_history(linter.last_source.root_url, started)
                        if not footer_extra:
                            footer_extra = _trend(record)
                    # per-asset-ignores say what is no finding at all; the history records what
                    # the bucket has (a baseline only hides known findings, it fixes none of them)
                    result = ignores.filter(linted) if ignores else linted
                    if record is not None:
                        result = _with_history(record, result)
                    tally.add(result)
                    if baseline is not None:
                        result = baseline.filter(result)
                    if result.findings and out is not None and _is_terminal(out):
                        progress.close()  # the report goes to the same terminal: no line in its way
                    reporter.asset(result)
                    progress.update(result.name is not None, result.objects, len(result.findings))
                    outcome.add(result)
                    if result.name is None:
                        for f in result.findings:
                            if f.rule == UNREADABLE and "target" in f.details:  # e.g. an empty target
                                progress.close()
                                print(f"aind-bucket-lint: {f.message}", file=sys.stderr)
            except SourceError as exc:
                # the target cannot be audited at all (no such folder or bucket, refused
                # credentials, an unusable inventory): said on stderr and in the report
                progress.close()
                print(f"aind-bucket-lint: {exc}", file=sys.stderr)
                result = target_error(plan, target, str(exc))
                reporter.asset(result)
                outcome.add(result)
                tally.complete = False
            except Exception as exc:  # escaped the engine: the report still ends, saying incomplete
                if isinstance(exc, sqlite3.Error) and ledger is not None:  # the ledger's history tables
                    from linter.store.errors import ledger_failure

                    exc = ledger_failure(ledger.path, exc)
                failure = exc
                outcome.complete = False
                tally.complete = False
            if record is not None and failure is None:
                # a run over part of the root (the hook, one asset folder) or one that could not
                # read everything must not mark what it did not see as fixed
                whole = only is None and linter.last_source is not None and not linter.last_source.single_asset
                outcome.fixed += record.finish(tally.complete, tally.summary(), tally.clean, partial=not whole)
            if failure is not None:
                break
        progress.close()
        if linter.timed_out:
            print(
                f"aind-bucket-lint: the --timeout of {plan.timeout:g} s ran out; every asset not finished is reported "
                "(E901) and the report is incomplete",
                file=sys.stderr,
            )
        baselined = baseline.matched if baseline is not None else None
        outcome.ignored = ignores.ignored if ignores else 0
        footer: dict[str, Any] = {"finished_at": now(), "complete": outcome.complete}
        footer["summary"] = outcome.summary(baselined)
        if outcome.history:
            footer.update(footer_extra)
            footer["fixed"] = outcome.fixed
        reporter.finish(footer)
        if failure is not None:
            raise IncompleteAudit(failure)
    finally:
        progress.close()
        linter.close()
    return outcome


class IncompleteAudit(Exception):
    """An exception escaped the engine after the reports were finished (saying incomplete):
    they are whole and are kept; ``cause`` is what escaped."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def target_error(plan: RunPlan, target: str, message: str) -> AssetResult:
    """The report's E901 for a target that could not be audited at all."""
    finding = plan.engine_finding(UNREADABLE, None, None, message, target=target)
    assert finding is not None  # E901 is never turned off
    return AssetResult(None, None, None, 0, [finding], complete=False)


def _trend(record: AuditHistory) -> dict[str, Any]:
    previous = record.previous
    return {
        "trend": [a.to_dict() for a in record.trend()],
        "previous_audit": previous.started_at if previous is not None else None,
    }


def _with_history(record: AuditHistory, result: AssetResult) -> AssetResult:
    from dataclasses import replace

    version = record.schema_version(result.name, result.schema_version) if result.name is not None else None
    findings = record.mark(result.name, result.findings)
    if version == result.schema_version and findings is result.findings:
        return result
    return replace(result, findings=findings, schema_version=version)


def run(
    targets: Sequence[str],
    given: AuditOptions,
    *,
    only: Mapping[str, Collection[str]] | None = None,
    report_options: Mapping[str, Any] | None = None,
) -> int:
    """``only``: per target, the entries to check (the hook); ``report_options``: more options
    for the reporters (the hook's ``relocate``)."""
    config = load_config(given)
    convention = load_run_convention(given, config)
    plan = build_plan(list(targets), given, config, convention)
    fail_on = given.fail_on or config.get("fail-on", "error")
    specs = report_specs(given, config)
    if given.statistics:  # per-rule counts on standard output instead of its report
        specs = [s for s in specs if s.path is not None]
        specs.insert(0, ReportSpec("statistics", None))
    if given.fail_on_new and not plan.ledger:
        raise UsageError("--fail-on-new needs --ledger: new findings are new against the ledger's last audit")
    ignores = per_asset_ignores(config, plan)
    baseline = load_baseline(given, config)
    ledger = open_ledger(plan)
    outputs = Outputs()
    try:
        reporters: list[Reporter] = []
        for spec in specs:
            out = outputs.open(spec.path)
            options = {
                **(report_options or {}),
                "fail_on": fail_on,
                "convention": convention,
                "baseline": baseline is not None,
                "color": spec.format in ("text", "statistics") and use_color(out, given.color),
            }
            reporters.append(get_reporter(spec.format, out, options))
        reporter = reporters[0] if len(reporters) == 1 else Tee(reporters)
        outcome = audit(
            targets,
            plan,
            reporter,
            ledger=ledger,
            quiet=given.quiet,
            baseline=baseline,
            only=only,
            out=sys.stdout if any(s.path is None for s in specs) else None,
            ignores=ignores,
            history=plan.ledger is not None,
        )
        outputs.commit()
    except IncompleteAudit as exc:
        outputs.commit()  # whole reports that say the run is incomplete replace the old ones
        raise exc.cause from None
    finally:
        outputs.discard()
        if ledger is not None:
            ledger.close()
    return outcome.exit_code(fail_on, only_new=given.fail_on_new)


def per_asset_ignores(config: Config, plan: RunPlan) -> AssetIgnores | None:
    mapping = config.get("per-asset-ignores")
    if not mapping:
        return None
    try:
        return AssetIgnores(mapping, load_rules(), str(config.path or "config"))
    except IgnoreError as exc:
        raise ConfigError(str(exc)) from None


class Outputs:
    """The run's report files: each written to a temporary file beside it and renamed into
    place when the run is over, so a report file is never seen half-written and a failed run
    leaves the previous night's report as it was."""

    def __init__(self) -> None:
        self.files: list[tuple[IO[str], str | None, str]] = []

    def open(self, path: str | None) -> IO[str]:
        if path is None:
            return sys.stdout
        tmp: str | None = None
        if not os.path.exists(path) or stat.S_ISREG(os.stat(path).st_mode):
            tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp-{os.getpid()}")
        # else a device or pipe (/dev/null, a FIFO): written in place, since renaming onto it
        # would replace the device with a plain file
        try:
            fh = open(tmp or path, "w", encoding="utf-8")  # noqa: SIM115  (closed by commit or discard)
        except OSError as exc:
            raise UsageError(f"{path}: cannot write the report: {exc.strerror or exc}") from None
        self.files.append((fh, tmp, path))
        return fh

    def commit(self) -> None:
        sys.stdout.flush()
        files, self.files = self.files, []
        for fh, tmp, path in files:
            try:
                fh.close()
                if tmp is not None:
                    os.replace(tmp, path)
            except OSError as exc:
                if tmp is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                raise UsageError(f"{path}: cannot write the report: {exc.strerror or exc}") from None

    def discard(self) -> None:
        for fh, tmp, _ in self.files:
            fh.close()
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        self.files = []


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
