"""The unit of work: checking one asset, as plain data in and plain data out.

:func:`check_asset` is a function of the asset's listing, its ledger history and the run plan
(with the target's shared facts and a reader for its bytes, all picklable), returning the
asset's findings and what the ledger should remember. It touches no ledger, report or output,
so the same function runs in a thread, a worker process or a Dask worker; the driver
(:class:`linter.engine.Linter`) alone owns the ledger, the reports and the order of output.
"""

from __future__ import annotations

import os
import pickle
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from linter.context import AssetContext, ContentVerdicts, TargetInfo
from linter.findings import AssetResult, Finding, Violation
from linter.metadata.policy import policy
from linter.names import parse_name
from linter.plan import RunPlan
from linter.registry import RULE_CRASHED, UNREADABLE, Rule
from linter.sources import Asset, Reader, ReadError

if TYPE_CHECKING:
    from linter.store.records import AssetHistory


@dataclass(frozen=True)
class TargetJob:
    """What every worker needs for one target, sent to each worker once: the plan, the target's
    shared facts and a reader for its bytes. ``threads``: assets a worker checks at once."""

    token: str
    plan: RunPlan
    target: TargetInfo
    reader: Reader
    threads: int = 1


@dataclass
class WorkItem:
    """One asset to check: its listing and history, and what the driver already knows."""

    asset: Asset
    history: AssetHistory | None = None
    content: list[Finding] | None = None
    """The content rules' findings the ledger kept for this very listing: they are not run again."""
    known: dict[str, Any] = field(default_factory=dict)
    """Verdicts by content the driver has for this asset's objects (see ``AssetContext.by_content``)."""
    late: bool = False
    """The ``--timeout`` ran out before the asset was listed: it is reported as not checked."""


@dataclass
class AssetOutcome:
    """One asset checked: its result, the content rules' findings (None when they did not run)
    and the verdicts by content it computed ({cache key: (content identity, value)})."""

    result: AssetResult
    content: list[Finding] | None = None
    learned: dict[str, tuple[str, Any]] = field(default_factory=dict)
    unfinished: bool = False
    """Not checked (the ``--timeout`` ran out): nothing of it is remembered."""


class Checker:
    """Runs rules and turns their violations into findings, by the plan's severities."""

    def __init__(self, plan: RunPlan) -> None:
        self.plan = plan
        enabled = plan.rules.values()
        self.asset_rules = [r for r in enabled if r.scope == "asset" and not r.reads_content]
        self.content_rules = [r for r in enabled if r.scope == "asset" and r.reads_content]
        self.target_rules: list[tuple[Rule, Callable[..., Any]]] = [
            (r, fn) for r in enabled for fn in (r.func if r.scope == "target" else r.target_func,) if fn is not None
        ]

    def clear_condition(self) -> str | None:
        """When an asset needs no checking at all: every asset rule's :attr:`~Rule.clears`
        condition, joined by AND; None when one of them has none."""
        parts = []
        for rule in [*self.asset_rules, *self.content_rules]:
            condition = rule.clear_condition(self.plan.convention)
            if condition is None:
                return None
            parts.append(f"({condition})")
        return " AND ".join(parts) or "true"

    def finding(self, rule: Rule, v: Violation, asset: str | None) -> Finding:
        return self.plan.finding(rule, v, asset)

    def engine_finding(
        self, code: str, asset: str | None, path: str | None, message: str, **details: Any
    ) -> Finding | None:
        return self.plan.engine_finding(code, asset, path, message, **details)

    def unreadable(self, errors: Iterable[ReadError], asset: str | None) -> list[Finding]:
        seen: set[tuple[str, str]] = set()
        out = []
        for err in errors:
            if (err.path, err.message) in seen:
                continue
            seen.add((err.path, err.message))
            f = self.engine_finding(UNREADABLE, asset, err.path, f"cannot read {err.path}: {err.message}")
            if f is not None:
                out.append(f)
        return out

    def run_rule(
        self, rule: Rule, ctx: Any, asset: str | None, func: Callable[..., Any] | None = None
    ) -> list[Finding]:
        """The rule's findings on ``ctx`` (``func``: the part to call, default the rule's own)."""
        func = func or rule.func
        assert func is not None
        try:
            return [self.finding(rule, v, v.asset or asset) for v in func(ctx)]
        except Exception as exc:  # a crashing rule becomes a finding; the run goes on
            frames = traceback.extract_tb(exc.__traceback__)[-3:]
            crash = self.engine_finding(
                RULE_CRASHED,
                asset,
                None,
                f"rule {rule.code} {rule.name} crashed: {type(exc).__name__}: {exc}",
                rule_code=rule.code,
                exception=type(exc).__name__,
                traceback=[f"{f.filename}:{f.lineno} in {f.name}" for f in frames],
            )
            return [crash] if crash is not None else []

    def judged(self, ctx: AssetContext) -> dict[str, Any]:
        """:attr:`AssetResult.judged`: each core sidecar at the root (the listing says which; None
        where this run did not judge its content: remembered findings, a rule not selected) and
        the Metadata that judged the asset."""
        files = {key: ctx.judged.get(key) for key in policy(self.plan.convention).sidecar_files if ctx.has(key)}
        return {"files": files, "metadata": ctx.judged.get("metadata")}

    def check(
        self, target: TargetInfo, reader: Reader, item: WorkItem, verdicts: ContentVerdicts | None = None
    ) -> AssetOutcome:
        """Check one listed asset: the unit of work."""
        if item.late:
            return unfinished(self.plan, item.asset.name)
        asset = item.asset
        name = asset.name
        ctx = AssetContext(
            asset, target, reader, item.history, verdicts=verdicts, known=item.known, schemas=self.plan.schemas
        )
        findings: list[Finding] = []
        # When nothing of the asset could be listed, only the name can be judged: rules about its
        # objects would report everything as missing.
        listing_failed = bool(asset.errors) and not asset.objects
        for rule in self.asset_rules:
            if listing_failed and rule.needs_listing:
                continue
            if asset.partial and rule.judges_absence:  # a key the listing lacks may exist
                continue
            findings.extend(self.run_rule(rule, ctx, name))
        content: list[Finding] | None = None
        declared: str | None = None
        if not listing_failed and self.content_rules:
            if item.content is not None:
                findings.extend(item.content)
            else:
                content = []
                budget = sidecar_budget(self.plan.sidecar_budget)
                held = budget.acquire(sidecar_bytes(asset, self.plan))
                try:
                    for rule in self.content_rules:
                        if not (asset.partial and rule.judges_absence):
                            content.extend(self.run_rule(rule, ctx, name))
                finally:
                    declared = ctx.declared_schema_version()  # before the documents are let go
                    ctx.release_documents()
                    budget.release(held)
                findings.extend(content)
        errors = [*asset.errors, *ctx.read_errors]
        findings.extend(self.unreadable(errors, name))
        findings.sort(key=Finding.sort_key)
        parsed = ctx.parsed
        result = AssetResult(
            name,
            parsed.level,
            parsed.source,
            len(asset.objects),
            findings,
            complete=not errors,
            schema_version=declared if declared is not None else ctx.declared_schema_version(),
            judged=self.judged(ctx) if self.plan.record_judged and not listing_failed else None,
        )
        # a verdict reached while something could not be read is not worth remembering
        final = not ctx.read_errors and not asset.errors and not ctx.provisional
        keep = content if content is not None and final else None
        return AssetOutcome(result, keep, ctx.learned)


def unfinished(plan: RunPlan, asset: str) -> AssetOutcome:
    """An asset the run's ``--timeout`` left unchecked: one E901 says so."""
    message = f"not checked: the audit's --timeout of {plan.timeout:g} s ran out before this asset was finished"
    finding = plan.engine_finding(UNREADABLE, asset, asset, message, timeout=plan.timeout)
    assert finding is not None  # E901 is never turned off
    parsed = parse_name(asset, plan.convention)
    result = AssetResult(asset, parsed.level, parsed.source, 0, [finding], complete=False)
    return AssetOutcome(result, unfinished=True)


class ByteBudget:
    """At most ``capacity`` bytes held at once across threads; a request larger than the whole
    budget is granted when nothing else holds any (it runs alone), so nothing waits forever."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.held = 0
        self.peak = 0
        self._cond = threading.Condition()

    def acquire(self, amount: int) -> int:
        amount = min(max(0, amount), self.capacity)
        with self._cond:
            while self.held and self.held + amount > self.capacity:
                self._cond.wait()
            self.held += amount
            self.peak = max(self.peak, self.held)
        return amount

    def release(self, amount: int) -> None:
        with self._cond:
            self.held -= amount
            self._cond.notify_all()


_BUDGETS: dict[int, ByteBudget] = {}


def sidecar_budget(capacity: int) -> ByteBudget:
    """This process's budget of sidecar bytes parsed and validated at once (``--sidecar-budget``),
    shared by all its threads whatever ``--jobs`` is; each worker process has its own."""
    with _LOCK:
        budget = _BUDGETS.get(capacity)
        if budget is None:
            budget = _BUDGETS[capacity] = ByteBudget(capacity)
        return budget


def sidecar_bytes(asset: Asset, plan: RunPlan) -> int:
    """What the content rules may read of the asset: its root-level JSON files, each up to the
    convention's size limit (larger ones are never read)."""
    limit = policy(plan.convention).max_json_bytes
    return sum(min(o.size, limit) for o in asset.objects if "/" not in o.key and o.key.endswith(".json"))


# -- in a worker ------------------------------------------------------------------------------

VERDICTS = ContentVerdicts()
"""This process's verdicts by content, shared by every asset it checks."""

_LOCK = threading.Lock()
_CHECKERS: dict[str, tuple[TargetJob, Checker]] = {}
_POOLS: dict[int, ThreadPoolExecutor] = {}
_INSTALLED: dict[str, TargetJob] = {}


def _reset_in_child() -> None:
    """A forked worker process has none of its parent's threads: its thread pools are its own."""
    global _LOCK
    _LOCK = threading.Lock()
    _POOLS.clear()  # the parent's executors, whose threads did not survive the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)


def check_asset(job: TargetJob, item: WorkItem) -> AssetOutcome:
    """Check one asset of the job's target, in whatever thread or process this runs."""
    with _LOCK:
        entry = _CHECKERS.get(job.token)
        if entry is None:
            entry = _CHECKERS[job.token] = (job, Checker(job.plan))
            while len(_CHECKERS) > 4:  # a long-lived worker forgets old targets
                del _CHECKERS[next(iter(_CHECKERS))]
    _, checker = entry
    return checker.check(job.target, job.reader, item, VERDICTS)


def check_batch(job: TargetJob, items: list[WorkItem]) -> list[AssetOutcome]:
    """Check several assets, ``job.threads`` at a time (their GETs overlap), in their order."""
    if len(items) <= 1 or job.threads <= 1:
        return [check_asset(job, item) for item in items]
    with _LOCK:
        pool = _POOLS.get(job.threads)
        if pool is None:
            pool = _POOLS[job.threads] = ThreadPoolExecutor(job.threads, thread_name_prefix="lint-worker")
    return list(pool.map(lambda item: check_asset(job, item), items))


def install(job: TargetJob) -> None:
    """A worker process's initializer: the job its tasks name by token. The job is copied as if
    it had been sent (a forked worker must not share the driver's connections)."""
    _INSTALLED[job.token] = pickle.loads(pickle.dumps(job))
    parent = os.getppid()

    def watch() -> None:  # a worker outlives no driver (killed, even with kill -9)
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def check_installed(token: str, items: list[WorkItem]) -> list[AssetOutcome]:
    return check_batch(_INSTALLED[token], items)
