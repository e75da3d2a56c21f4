"""The driver: lists each target's assets, hands them to an executor as plain work items
(``linter.work``), and streams the results out in order. It alone owns the ledger and the
order of output; the rules run wherever the executor puts them."""

from __future__ import annotations

import functools
import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from linter import __version__
from linter.context import ContentVerdicts, TargetContext, TargetInfo
from linter.conventions import Convention
from linter.executors import Runner, ThreadRunner, choose_executor, new_token, open_runner, ordered_map
from linter.findings import AssetResult, Finding, Severity
from linter.plan import RunPlan
from linter.registry import UNREADABLE, Rule
from linter.safetext import scrub
from linter.sources import Asset, ClearedAsset, Source, SourceError, SourceFactory, SummarizingSource, open_source
from linter.work import VERDICTS, AssetOutcome, Checker, WorkItem, unfinished

if TYPE_CHECKING:
    from linter.store.db import Ledger
    from linter.store.objects import TargetLedger

__all__ = ["AssetResult", "Linter", "SourceError", "VerdictStore", "content_fingerprint", "ordered_map"]


class VerdictStore(Protocol):
    """Remembers the findings of content-reading rules per asset, keyed by a fingerprint of the
    asset's root-level objects (the sidecars), so an unchanged asset is not fetched again."""

    def get_verdicts(self, asset: str, fingerprint: str) -> list[Finding] | None: ...

    def put_verdicts(self, asset: str, fingerprint: str, findings: list[Finding]) -> None: ...


def content_fingerprint(
    asset: Asset, rules: Iterable[Rule], convention: Convention, overrides: Mapping[str, Severity] | None = None
) -> str:
    """What the content rules' findings depend on: the root-level objects' identities, the
    rules that ran (and their severities), the convention and the linter's version."""
    h = hashlib.sha256()
    h.update(f"{__version__}\0{convention.digest}\0".encode())
    for r in rules:
        h.update(f"{r.code}:{(overrides or {}).get(r.code, r.severity)}\0".encode())
    for o in sorted(asset.objects, key=lambda o: o.key):
        if "/" not in o.key:
            stamp = o.etag or (o.last_modified.isoformat() if o.last_modified else "")
            h.update(f"{o.key}\0{o.size}\0{stamp}\0".encode())
    return h.hexdigest()


class Linter:
    """Runs a :class:`~linter.plan.RunPlan`. Use as a context manager (or call :meth:`close`)
    so executors it started (worker processes, a local Dask cluster) are stopped.

    ``ledger``: the opened ledger of ``plan.ledger`` (the caller opens and closes it);
    ``verdicts``: a store of content verdicts when there is no ledger; ``open_source``: how
    targets are opened (default: the registered sources); ``on_listed``: called with the
    number of assets once a target is listed (the progress line's total).
    """

    def __init__(
        self,
        plan: RunPlan,
        *,
        ledger: Ledger | None = None,
        verdicts: VerdictStore | None = None,
        open_source: SourceFactory = open_source,
        on_listed: Callable[[int], None] | None = None,
    ) -> None:
        self.plan = plan
        self.ledger = ledger
        self.verdicts = verdicts
        self.open_source = open_source
        self.on_listed = on_listed
        self.checker = Checker(plan)
        self.content_rules = self.checker.content_rules
        self._runners: dict[str, Runner] = {}
        # verdicts by content this run learned, by content identity, for the items that follow
        self._known = ContentVerdicts(capacity=4096)
        # the source of the latest target, for its request counts (tests, benchmarks)
        self.last_source: Source | None = None
        self.last_executor: str | None = None
        self.deadline = time.monotonic() + plan.timeout if plan.timeout is not None else None
        """When the run's ``--timeout`` runs out (``time.monotonic()``), or None."""
        self.timed_out = False
        self.prefilter = True
        """Let a summarizing source clear assets no rule can find anything in (off: every asset is
        listed and checked in Python; the findings are the same)."""
        self.cleared = 0
        """Assets of the latest target that the source's summary cleared (never listed one by one)."""

    def close(self) -> None:
        runners, self._runners = self._runners, {}
        for runner in runners.values():
            runner.close()

    def __enter__(self) -> Linter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def runner(self, kind: str) -> Runner:
        if kind not in self._runners:
            self._runners[kind] = open_runner(kind, self.plan)
        return self._runners[kind]

    def runner_for(self, kind: str) -> Runner:
        """The runner of ``kind`` for a target; an inventory's assets checked by rules that read
        no object are checked in this thread: the listing is in memory and nothing waits on I/O,
        so more threads would only contend for the GIL (measured: 23.2 s with 8 threads against
        13.7 s with one, on 10^6 objects)."""
        if kind == "threads" and self.plan.inventory is not None and not self.content_rules:
            return self._runners.setdefault("threads-inline", ThreadRunner(1))
        return self.runner(kind)

    # -- one asset, here ----------------------------------------------------------------------

    def lint_asset(
        self, source: Source, target: TargetInfo, name: str, ledger: TargetLedger | None = None
    ) -> AssetResult:
        """List and check one asset in this thread (what each executor does, without one)."""
        item = self.work_item(source, name, ledger)
        outcome = self.checker.check(target, source, item, VERDICTS)
        self.remember(item, outcome, ledger)
        return outcome.result

    def work_item(self, source: Source, name: str, ledger: TargetLedger | None) -> WorkItem:
        """List one asset and gather what the driver knows about it (the listing stage)."""
        asset = source.load_asset(name)
        # the ledger's records of earlier runs are handed to the rules; they never query it
        history = ledger.history(name) if ledger is not None else None
        item = WorkItem(asset, history)
        if not self.content_rules:
            return item
        store: VerdictStore | None = ledger if ledger is not None else self.verdicts
        if store is not None and not asset.errors:
            fingerprint = content_fingerprint(asset, self.content_rules, self.plan.convention, self.plan.severities)
            item.content = store.get_verdicts(name, fingerprint)
        if item.content is None:
            identities = {o.content_id for o in asset.objects if "/" not in o.key and o.content_id}
            for identity in sorted(identities):
                found = self._known.get(identity)
                if found is None and ledger is not None:
                    found = ledger.content_verdicts(identity)
                    if found:
                        self._known.put(identity, found)
                if found:
                    item.known.update(found)
        return item

    def remember(self, item: WorkItem, outcome: AssetOutcome, ledger: TargetLedger | None) -> None:
        """What the ledger (or verdict store) keeps of one checked asset; in the driver, in order."""
        asset = item.asset
        store: VerdictStore | None = ledger if ledger is not None else self.verdicts
        if outcome.content is not None and store is not None:
            fingerprint = content_fingerprint(asset, self.content_rules, self.plan.convention, self.plan.severities)
            store.put_verdicts(asset.name, fingerprint, outcome.content)
        for key, (identity, value) in outcome.learned.items():
            known = self._known.get(identity) or {}
            known[key] = value
            self._known.put(identity, known)
            if ledger is not None:
                ledger.put_content_verdict(identity, key, value)
        if ledger is not None:
            ledger.record(asset)

    # -- a target -----------------------------------------------------------------------------

    def lint_target(self, target: str, only: Collection[str] | None = None) -> Iterator[AssetResult]:
        """Yield the target's own result first (asset None), then each asset's, sorted by name.

        ``only`` limits the run to these top-level entries of the target (asset names and keys of
        root objects), as the pre-commit hook does for the assets a commit touches; the target's
        other assets still count as present (e.g. as a derived asset's source).

        A target rule's finding about one of the checked assets is reported with that asset.
        """
        plan = self.plan
        source = self.open_source(target, plan)
        self.last_source = source
        self.cleared = 0
        summary: SummarizingSource | None = None  # the source, when it summarizes this listing
        # a run with a ledger records every object, and the hook checks a few entries: no summary
        if self.prefilter and self.ledger is None and only is None and isinstance(source, SummarizingSource):
            condition = self.checker.clear_condition()
            if condition is not None and source.prefilter(condition):
                summary = source
        listed = self.list_assets(source)
        if listed is None:  # the --timeout ran out before the target was even listed
            self.timed_out = True
            f = self.checker.engine_finding(
                UNREADABLE,
                None,
                None,
                f"{source.label}: not audited: the audit's --timeout of {plan.timeout:g} s ran out while listing it",
                target=source.label,
                timeout=plan.timeout,
            )
            yield AssetResult(None, None, None, 0, [f] if f is not None else [], complete=False)
            return
        names = listed
        info = TargetInfo(source.label, frozenset(names), plan.convention, plan.destination)
        root_objects = source.root_objects()
        if only is not None:
            only = {scrub(n) for n in only}  # names as the sources show them (not UTF-8: escaped)
            names = [n for n in names if n in only]
            root_objects = [o for o in root_objects if o.key in only]
        ledger = None
        vanished = None
        if self.ledger is not None:
            ledger = self.ledger.target(source.root_url, plan.convention.upload_window)
            # a partial listing or run cannot tell a deleted asset from one it did not look at
            if not source.root_errors() and only is None and not source.single_asset:
                vanished = ledger.vanished(info.asset_names)
                ledger.mark_vanished(vanished)
        destination: Callable[[], Source] | None = None
        if plan.destination is not None:
            # the destination is listed itself, never taken from the target's inventory
            destination = functools.partial(self.open_source, plan.destination, replace(plan, inventory=None))

        tctx = TargetContext(info, root_objects, linted=names, vanished=vanished, destination=destination)
        findings: list[Finding] = []
        for rule, func in self.checker.target_rules:
            findings.extend(self.checker.run_rule(rule, tctx, None, func))
        root_errors = [*source.root_errors(), *tctx.read_errors]
        findings.extend(self.checker.unreadable(root_errors, None))
        empty = not info.asset_names and not source.root_errors() and only is None and not plan.allow_empty
        if empty:  # a typo in the target must never pass as a clean audit
            f = self.checker.engine_finding(
                UNREADABLE,
                None,
                None,
                f"{source.label}: no assets found (is the target right? with --allow-empty an empty target "
                "is not an error)",
                target=source.label,
            )
            if f is not None:
                findings.append(f)
        checked = info.asset_names if only is None else set(names)  # one set of the names, not two
        about_assets: dict[str, list[Finding]] = {}
        for f in findings:
            if f.asset is not None and f.asset in checked:
                about_assets.setdefault(f.asset, []).append(f)
        findings = [f for f in findings if f.asset is None or f.asset not in checked]
        findings.sort(key=Finding.sort_key)
        if self.on_listed is not None:
            self.on_listed(len(names))
        yield AssetResult(None, None, None, len(root_objects), findings, complete=not root_errors and not empty)

        pending = names if summary is None else summary.pending()  # the assets listed and checked
        self.cleared = len(names) - len(pending)
        kind = choose_executor(plan, len(pending))
        self.last_executor = kind
        try:
            runner = self.runner_for(kind)
            job = runner.job(new_token(), plan, info, source.reader())
            runner.start(job)
            stream = runner.run_listed(
                job, pending, lambda n: self.work_item(source, n, ledger), self.deadline, self.unfinished
            )
            outcomes = stream if summary is None else _with_cleared(names, pending, summary.cleared(), stream)
            try:
                for item, outcome in outcomes:
                    if item.late:
                        outcome = self.unfinished(item)
                    if outcome.unfinished:
                        self.timed_out = True
                    else:  # an asset not checked is not recorded: its keys would look deleted
                        self.remember(item, outcome, ledger)
                    result = outcome.result
                    extra = about_assets.pop(result.name or "", None)
                    if extra:
                        result.findings = sorted([*result.findings, *extra], key=Finding.sort_key)
                    yield result
            finally:
                stream.close()
        finally:
            if ledger is not None:
                ledger.finish()

    def unfinished(self, item: WorkItem) -> AssetOutcome:
        self.timed_out = True
        return unfinished(self.plan, item.asset.name)

    def list_assets(self, source: Source) -> list[str] | None:
        """The target's asset names, sorted; None when the ``--timeout`` ran out first (the
        listing then goes on in a thread nobody waits for)."""
        if self.deadline is None:
            return _sorted_names(source.asset_names())
        box: list[list[str]] = []
        failure: list[BaseException] = []

        def work() -> None:
            try:
                box.append(_sorted_names(source.asset_names()))
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=work, name="lint-listing", daemon=True)
        thread.start()
        thread.join(max(0.0, self.deadline - time.monotonic()))
        if failure:
            raise failure[0]
        return box[0] if box else None


def _sorted_names(names: Iterable[str]) -> list[str]:
    """The names sorted, each once (a source lists them sorted already: then checked, not sorted)."""
    listed = list(names)
    if all(a < b for a, b in itertools.pairwise(listed)):
        return listed
    return sorted(set(listed))


def _with_cleared(
    names: list[str],
    pending: list[str],
    cleared: Iterator[ClearedAsset],
    stream: Iterator[tuple[WorkItem, AssetOutcome]],
) -> Iterator[tuple[WorkItem, AssetOutcome]]:
    """Every listed name's outcome, in order: a pending one's from ``stream`` (which checks them
    in their order), a cleared one's made here (no finding)."""
    waiting = iter(pending)
    next_pending = next(waiting, None)
    for name in names:
        if name == next_pending:
            yield next(stream)
            next_pending = next(waiting, None)
            continue
        c = next(cleared, None)
        if c is None or c.name != name:
            raise SourceError(f"{name!r} is listed, but the listing summary neither cleared it nor left it to check")
        yield _CLEARED_ITEM, AssetOutcome(AssetResult(name, c.level, c.source, c.objects, []), None, _NOTHING)


_NOTHING: dict[str, tuple[str, object]] = {}
"""What a cleared asset's check learned: nothing (shared; never written to)."""
_CLEARED_ITEM = WorkItem(Asset(""))
"""The work item of a cleared asset: never checked, and nothing of it is remembered."""
