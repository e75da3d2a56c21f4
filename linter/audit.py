"""The audit: each target's stream from the engine, through the stages that decide what is
reported, to the reporters; then the summary and the footer.

    engine ──> per-asset ignores ──> history ──> tally ──> baseline ──> reporters, progress line, outcome

A :class:`Stage` sees each target start, each result (and returns it, changed or not) and each
target finish, in that order, and knows nothing of the others but what it is handed:

- a :class:`Filter` of the config's ``per-asset-ignores``: what is no finding at all;
- :class:`History`: with a ledger, each finding's status (new, existing) against the last
  complete audit of the root, the audit recorded, and the findings fixed since;
- :class:`Tally`: one target's counts, for its line in the ledger's history (what the bucket
  has: a baseline hides known findings, it fixes none of them);
- a :class:`Filter` of the ``--baseline``: the findings it knows are left out of the report.

:class:`Audit` runs them and says on stderr what the report alone would not: a target that
cannot be audited, an executor that failed, the ``--timeout``, a rule that turns a source's
listing summary off. It returns an :class:`Outcome`; the command turns that into an exit code.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import sys
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, Any, Protocol

from linter.baseline import Baseline
from linter.engine import Linter
from linter.events import TargetFinished, TargetStarted
from linter.executors import ExecutorError
from linter.findings import AssetResult, Finding, Severity
from linter.ignores import AssetIgnores
from linter.plan import RunPlan
from linter.progress import Progress
from linter.registry import UNREADABLE
from linter.reports import Reporter, RunFooter, RunHeader
from linter.sources import SourceError
from linter.store.audits import AuditHistory
from linter.store.errors import ledger_failure

if TYPE_CHECKING:
    from linter.store.db import Ledger

SEVERITIES = ("error", "warning", "info")


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
            "by_severity": {s: self.by_severity.get(s, 0) for s in SEVERITIES},
            "by_rule": dict(sorted(self.by_rule.items())),
        }
        if baselined is not None:
            summary["baselined"] = baselined
        if self.history:
            summary["new"] = self.new
            summary["fixed"] = len(self.fixed)
        return summary

    def fails(self, fail_on: str, only_new: bool = False) -> bool:
        """Whether a finding at or above ``fail_on`` was reported (``only_new``, as
        ``--fail-on-new``: a new one); an incomplete audit is for the caller to judge."""
        worst = self.worst_new if only_new else self.worst
        return fail_on != "never" and worst is not None and worst >= Severity.parse(fail_on)


class IncompleteAudit(Exception):
    """An exception escaped the engine after the reports were finished (saying incomplete):
    they are whole and are kept; ``cause`` is what escaped."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


# -- the stages ---------------------------------------------------------------------------------


class Stage(Protocol):
    def target_started(self, target: TargetStarted) -> None: ...

    def asset(self, result: AssetResult) -> AssetResult:
        """The result as the next stage should see it."""
        ...

    def target_finished(self, finished: TargetFinished) -> None: ...


class ResultStage:
    """A stage that needs neither a target's start nor its end: it only passes results on."""

    def target_started(self, target: TargetStarted) -> None:
        pass

    def asset(self, result: AssetResult) -> AssetResult:
        return result

    def target_finished(self, finished: TargetFinished) -> None:
        pass


class LeavesOut(Protocol):
    def filter(self, result: AssetResult) -> AssetResult:
        """The result without the findings this leaves out."""
        ...


class Filter(ResultStage):
    """Leaves findings out: ``per-asset-ignores`` (:class:`~linter.ignores.AssetIgnores`: the
    findings an asset's globs switch off are no findings at all) or ``--baseline``
    (:class:`~linter.baseline.Baseline`: the findings it knows are left out of the report)."""

    def __init__(self, leaves_out: LeavesOut) -> None:
        self.leaves_out = leaves_out

    def asset(self, result: AssetResult) -> AssetResult:
        return self.leaves_out.filter(result)


class Tally(ResultStage):
    """One target's counts (assets, clean ones, objects, findings by severity), for its line in
    the ledger's audit history."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.assets = self.clean = self.objects = 0
        self.complete = True
        self.by_severity: Counter[str] = Counter()

    def target_started(self, target: TargetStarted) -> None:
        self.reset()

    def asset(self, result: AssetResult) -> AssetResult:
        self.objects += result.objects
        self.complete = self.complete and result.complete
        if result.name is not None:
            self.assets += 1
            self.clean += not result.findings
        for f in result.findings:
            self.by_severity[str(f.severity)] += 1
        return result

    def summary(self) -> dict[str, Any]:
        return {
            "assets": self.assets,
            "objects": self.objects,
            "by_severity": {s: self.by_severity.get(s, 0) for s in SEVERITIES},
        }


def audit_history(ledger: Ledger, root_url: str, started_at: str) -> AuditHistory:
    """The history of the audits of ``root_url`` in the ledger, for the audit that started at
    ``started_at`` (the one place the audit reaches into the store)."""
    return ledger.audit_history(root_url, started_at)


class History:
    """Each finding's status against the last complete audit of the target's root (and each
    asset's remembered schema version); at the target's end the audit is recorded and the
    findings of that audit that are gone are collected as fixed.

    ``tally``: the stage that counts what this one passes on (run after it); ``whole``: the run
    looks at whole targets (not the hook's few entries), so what it does not see is gone."""

    def __init__(self, ledger: Ledger, started_at: str, tally: Tally, whole: bool) -> None:
        self.ledger = ledger
        self.started_at = started_at
        self.tally = tally
        self.whole = whole
        self.record: AuditHistory | None = None
        self.single_asset = False
        self.fixed: list[Finding] = []
        self.trend: tuple[tuple[dict[str, Any], ...], str | None] | None = None
        """The first root's earlier audits and when the last complete one started, for the footer."""

    def target_started(self, target: TargetStarted) -> None:
        self.record = None if target.root_url is None else audit_history(self.ledger, target.root_url, self.started_at)
        self.single_asset = target.single_asset
        if self.record is not None and self.trend is None:
            previous = self.record.previous
            earlier = tuple(a.to_dict() for a in self.record.trend())
            self.trend = (earlier, previous.started_at if previous is not None else None)

    def asset(self, result: AssetResult) -> AssetResult:
        record = self.record
        if record is None:
            return result
        version = record.schema_version(result.name, result.schema_version) if result.name is not None else None
        findings = record.mark(result.name, result.findings)
        if version == result.schema_version and findings is result.findings:
            return result
        return replace(result, findings=findings, schema_version=version)

    def target_finished(self, finished: TargetFinished) -> None:
        record, self.record = self.record, None
        if record is None:
            return
        # a run over part of the root (the hook, one asset folder) or one that could not read
        # everything must not mark what it did not see as fixed
        whole = self.whole and not self.single_asset
        tally = self.tally
        complete = tally.complete and finished.complete
        self.fixed += record.finish(complete, tally.summary(), tally.clean, partial=not whole)


# -- the audit ----------------------------------------------------------------------------------


def target_error(plan: RunPlan, target: str, message: str) -> AssetResult:
    """The report's E901 for a target that could not be audited (to the end)."""
    finding = plan.engine_finding(UNREADABLE, None, None, message, target=target)
    assert finding is not None  # E901 is never turned off
    return AssetResult(None, None, None, 0, [finding], complete=False)


def summary_off_message(rules: Sequence[tuple[str, str]], named: int = 3) -> str:
    """``the inventory summary is off: rule X123 (name) states no `clears` condition``."""
    shown = ", ".join(f"{code} ({name})" for code, name in rules[:named])
    more = f" and {len(rules) - named} more" if len(rules) > named else ""
    verb = "rule" if len(rules) == 1 else "rules"
    state = "states" if len(rules) == 1 else "state"
    return (
        f"the inventory summary is off: {verb} {shown}{more} {state} no `clears` condition, "
        "so every asset is listed and checked one by one"
    )


class Audit:
    """One audit of a plan's targets, feeding ``reporter`` as results come (header and footer
    included). ``ledger``: the plan's ledger, opened by the caller; ``only``: per target, the
    entries to check (the hook); ``out``: the report's stream, when it may share a terminal
    with the progress line; ``ignores``: the config's per-asset-ignores; ``history``: record the
    audit in the ledger and give each finding its status (new, existing; fixed ones in the
    footer) against the last complete audit of the same root."""

    def __init__(
        self,
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
    ) -> None:
        self.plan = plan
        self.reporter = reporter
        self.ledger = ledger
        self.only = only
        self.out = out
        self.started_at = now()
        self.progress = Progress.for_stream(sys.stderr, quiet)
        self.outcome = Outcome(history=history and ledger is not None)
        self.ignores = ignores or None
        self.baseline = baseline
        self.tally = Tally()
        self.history = History(ledger, self.started_at, self.tally, only is None) if history and ledger else None
        stages: list[Stage | None] = [
            Filter(self.ignores) if self.ignores is not None else None,
            self.history,
            self.tally,
            Filter(self.baseline) if self.baseline is not None else None,
        ]
        self.stages: list[Stage] = [s for s in stages if s is not None]
        self.timed_out = False
        self.said: set[str] = set()

    def run(self, targets: Sequence[str]) -> Outcome:
        linter = Linter(self.plan, ledger=self.ledger)
        self.progress.watch()  # a release being prepared or its models imported: the line says so
        try:
            self.reporter.start(RunHeader(tuple(targets), self.plan.convention.name, self.started_at))
            failure: Exception | None = None
            for target in targets:
                failure = self.audit_target(linter, target)
                if failure is not None:
                    break
            self.progress.close()
            if self.timed_out:
                self.say(
                    f"the --timeout of {self.plan.timeout:g} s ran out; every asset not finished is reported "
                    "(E901) and the report is incomplete"
                )
            self.reporter.finish(self.footer())
            if failure is not None:
                raise IncompleteAudit(failure)
        except BaseException:  # Ctrl-C, an internal error: the run's workers are not waited for
            linter.close(abandon=True)
            raise
        finally:
            self.progress.unwatch()
            self.progress.close()
            linter.close()
        return self.outcome

    def audit_target(self, linter: Linter, target: str) -> Exception | None:
        """Run one target's stream through the stages; an exception that escaped the engine is
        returned (the audit stops there, its reports saying incomplete)."""
        started: TargetStarted | None = None
        finished: TargetFinished | None = None
        try:
            for event in linter.run_target(target, only=(self.only or {}).get(target)):
                if isinstance(event, TargetStarted):
                    started = event
                    self.target_started(event)
                elif isinstance(event, TargetFinished):
                    finished = event
                else:
                    self.asset(event)
        except ExecutorError as exc:
            # the worker pool or the cluster failed: the target is not audited to the end, and
            # says so; it is not a target that cannot be audited
            if started is None:
                self.target_started(TargetStarted(target))
            self.say(f"{target}: the executor failed, the audit is incomplete: {exc}")
            self.report(
                target_error(self.plan, target, f"{target}: not audited to the end: the executor failed ({exc})")
            )
        except SourceError as exc:
            # the target cannot be audited at all (no such folder or bucket, refused
            # credentials, an unusable inventory): said on stderr and in the report
            if started is None:
                self.target_started(TargetStarted(target))
            self.say(str(exc))
            self.report(target_error(self.plan, target, str(exc)))
        except Exception as exc:  # escaped the engine: the report still ends, saying incomplete
            self.outcome.complete = False
            return self.ledger_failure(exc)
        self.target_finished(finished or TargetFinished(target, complete=False))
        return None

    def target_started(self, target: TargetStarted) -> None:
        self.reporter.target_started(target)
        if target.root is not None:  # the engine opened and listed it
            self.progress.listed(target.assets)
        for stage in self.stages:
            stage.target_started(target)

    def asset(self, result: AssetResult) -> None:
        for stage in self.stages:
            result = stage.asset(result)
        if result.findings and self.out is not None and _is_terminal(self.out):
            self.progress.close()  # the report goes to the same terminal: no line in its way
        self.report(result)
        self.progress.update(result.name is not None, result.objects, len(result.findings))
        if result.name is None:
            for f in result.findings:
                if f.rule == UNREADABLE and "target" in f.details:  # e.g. an empty target
                    self.say(f.message)

    def report(self, result: AssetResult) -> None:
        self.reporter.asset(result)
        self.outcome.add(result)

    def target_finished(self, finished: TargetFinished) -> None:
        for stage in self.stages:
            stage.target_finished(finished)
        self.timed_out = self.timed_out or finished.timed_out
        if finished.summary_off_by:
            self.say(summary_off_message(finished.summary_off_by), once=True)

    def say(self, message: str, once: bool = False) -> None:
        """One line on stderr, the progress line out of its way."""
        if once and message in self.said:
            return
        self.said.add(message)
        self.progress.close()
        print(f"aind-bucket-lint: {message}", file=sys.stderr)

    def ledger_failure(self, exc: Exception) -> Exception:
        """An SQLite error of the ledger's history tables, as the ledger names it."""
        if isinstance(exc, sqlite3.Error) and self.ledger is not None:
            return ledger_failure(self.ledger.path, exc)
        return exc

    def footer(self) -> RunFooter:
        outcome = self.outcome
        outcome.ignored = self.ignores.ignored if self.ignores else 0
        history = self.history
        outcome.fixed = history.fixed if history is not None else []
        summary = outcome.summary(self.baseline.matched if self.baseline is not None else None)
        if history is None:
            return RunFooter(now(), outcome.complete, summary)
        trend, previous = history.trend if history.trend is not None else ((), None)
        return RunFooter(now(), outcome.complete, summary, tuple(outcome.fixed), trend, previous)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
