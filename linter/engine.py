"""The driver: lists each target's assets, hands them to an executor as plain work items
(``linter.work``), and streams the results out in order, as the typed events of
``linter.events``. It alone owns the ledger and the order of output; the rules run wherever
the executor puts them."""

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
from linter.events import TargetEvent, TargetFinished, TargetStarted, root_uri
from linter.executors import Runner, ThreadRunner, choose_executor, new_token, open_runner, ordered_map
from linter.findings import AssetResult, Finding, Severity
from linter.plan import RunPlan
from linter.registry import UNREADABLE, Rule
from linter.safetext import scrub
from linter.sources import (
    Asset,
    ClearedAsset,
    ObjectInfo,
    Source,
    SourceError,
    SourceFactory,
    SummarizingSource,
    open_source,
)
from linter.stores import is_metadata_key
from linter.validation.workers import stop_all as stop_workers
from linter.work import VERDICTS, AssetOutcome, Checker, WorkItem, unfinished

if TYPE_CHECKING:
    from linter.store.db import Ledger
    from linter.store.objects import TargetLedger
    from linter.store.records import VanishedAsset

__all__ = ["AssetResult", "Linter", "SourceError", "VerdictStore", "content_fingerprint", "ordered_map"]


class VerdictStore(Protocol):
    """Remembers the findings of content-reading rules per asset, keyed by a fingerprint of the
    asset's root-level objects (the sidecars), so an unchanged asset is not fetched again."""

    def get_verdicts(self, asset: str, fingerprint: str) -> list[Finding] | None: ...

    def put_verdicts(self, asset: str, fingerprint: str, findings: list[Finding]) -> None: ...


def content_fingerprint(
    asset: Asset, rules: Iterable[Rule], convention: Convention, overrides: Mapping[str, Severity] | None = None
) -> str:
    """What the content rules' findings depend on: the root-level objects' identities and those of
    the Zarr metadata documents and NWB files below (:func:`linter.stores.is_metadata_key`), the
    other keys' names, the rules that ran (and their severities), the convention and the linter's version."""
    h = hashlib.sha256()
    h.update(f"{__version__}\0{convention.digest}\0".encode())
    for r in rules:
        h.update(f"{r.code}:{(overrides or {}).get(r.code, r.severity)}\0".encode())
    for o in sorted(asset.objects, key=lambda o: o.key):
        if "/" not in o.key or is_metadata_key(o.key):  # the sidecars, and what the Z rules read
            stamp = o.etag or (o.last_modified.isoformat() if o.last_modified else "")
            h.update(f"{o.key}\0{o.size}\0{stamp}\0".encode())
        else:  # the Z rules also judge the listing (a chunk outside its grid, a level gone)
            h.update(f"{o.key}\0".encode())
    return h.hexdigest()


class Linter:
    """Runs a :class:`~linter.plan.RunPlan`. Use as a context manager (or call :meth:`close`)
    so executors it started (worker processes, a local Dask cluster) are stopped.

    ``ledger``: the opened ledger of ``plan.ledger`` (the caller opens and closes it);
    ``verdicts``: a store of content verdicts when there is no ledger; ``open_source``: how
    targets are opened (default: the registered sources); ``prefilter``: let a summarizing
    source clear the assets no rule can find anything in (off: every asset is listed and
    checked in Python; the findings are the same).

    What a run learns about a target (its root, the executor, request counts, a time-out) is
    in the stream :meth:`run_target` yields; nothing of it is kept here.
    """

    def __init__(
        self,
        plan: RunPlan,
        *,
        ledger: Ledger | None = None,
        verdicts: VerdictStore | None = None,
        open_source: SourceFactory = open_source,
        prefilter: bool = True,
    ) -> None:
        self.plan = plan
        self._ledger = ledger
        self._verdicts = verdicts
        self._open_source = open_source
        self._prefilter = prefilter
        self._checker = Checker(plan)
        self._content_rules = self._checker.content_rules
        self._runners: dict[str, Runner] = {}
        # verdicts by content this run learned, by content identity, for the items that follow
        self._known = ContentVerdicts(capacity=4096)
        # when the run's --timeout runs out (time.monotonic()), or None
        self._deadline = time.monotonic() + plan.timeout if plan.timeout is not None else None

    def close(self, abandon: bool = False) -> None:
        """Stop the executors; ``abandon``: the run ends on an exception (Ctrl-C, an internal
        error), so the release workers are stopped first (a thread waiting for one of their
        replies, e.g. while a 1.x release imports its models for tens of seconds, gets an error
        at once) and work in flight is not waited for."""
        runners, self._runners = self._runners, {}
        if abandon:
            stop_workers()
        for runner in runners.values():
            if abandon:
                runner.abandon()
            else:
                runner.close()

    def __enter__(self) -> Linter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(abandon=exc_type is not None)

    def _runner(self, kind: str) -> Runner:
        if kind not in self._runners:
            self._runners[kind] = open_runner(kind, self.plan)
        return self._runners[kind]

    def _runner_for(self, kind: str) -> Runner:
        """The runner of ``kind`` for a target; an inventory's assets checked by rules that read
        no object are checked in this thread: the listing is in memory and nothing waits on I/O,
        so more threads would only contend for the GIL (measured: 23.2 s with 8 threads against
        13.7 s with one, on 10^6 objects)."""
        if kind == "threads" and self.plan.inventory is not None and not self._content_rules:
            return self._runners.setdefault("threads-inline", ThreadRunner(1))
        return self._runner(kind)

    # -- one asset, here ----------------------------------------------------------------------

    def lint_asset(
        self, source: Source, target: TargetInfo, name: str, ledger: TargetLedger | None = None
    ) -> AssetResult:
        """List and check one asset in this thread (what each executor does, without one)."""
        item = self._work_item(source, name, ledger)
        outcome = self._checker.check(target, source, item, VERDICTS)
        self._remember(item, outcome, ledger)
        return outcome.result

    def _work_item(self, source: Source, name: str, ledger: TargetLedger | None) -> WorkItem:
        """List one asset and gather what the driver knows about it (the listing stage)."""
        asset = source.load_asset(name)
        # the ledger's records of earlier runs are handed to the rules; they never query it
        history = ledger.history(name) if ledger is not None else None
        item = WorkItem(asset, history)
        if not self._content_rules:
            return item
        store: VerdictStore | None = ledger if ledger is not None else self._verdicts
        if store is not None and not asset.errors:
            fingerprint = content_fingerprint(asset, self._content_rules, self.plan.convention, self.plan.severities)
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

    def _remember(self, item: WorkItem, outcome: AssetOutcome, ledger: TargetLedger | None) -> None:
        """What the ledger (or verdict store) keeps of one checked asset; in the driver, in order."""
        asset = item.asset
        store: VerdictStore | None = ledger if ledger is not None else self._verdicts
        if outcome.content is not None and store is not None:
            fingerprint = content_fingerprint(asset, self._content_rules, self.plan.convention, self.plan.severities)
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

    def run_target(self, target: str, only: Collection[str] | None = None) -> Iterator[TargetEvent]:
        """Audit one target: :class:`~linter.events.TargetStarted`, the target's own result
        (asset None), each asset's result sorted by name, then
        :class:`~linter.events.TargetFinished`. Raises :class:`~linter.sources.SourceError`
        when the target cannot be opened or listed.

        ``only`` limits the run to these top-level entries of the target (asset names and keys of
        root objects), as the pre-commit hook does for the assets a commit touches; the target's
        other assets still count as present (e.g. as a derived asset's source).

        A target rule's finding about one of the checked assets is reported with that asset.
        """
        return _TargetRun(self, target, only).events()

    def lint_target(self, target: str, only: Collection[str] | None = None) -> Iterator[AssetResult]:
        """The results of :meth:`run_target` alone (the target's own first), for callers with no
        use for the rest of the stream."""
        for event in self.run_target(target, only):
            if isinstance(event, AssetResult):
                yield event

    def _summary_for(
        self, source: Source, only: Collection[str] | None
    ) -> tuple[SummarizingSource | None, tuple[tuple[str, str], ...]]:
        """The source, when its listing summary clears the assets no selected rule can find
        anything in; else None, with the rules that kept it from doing so (those that state no
        ``clears`` condition). A run with a ledger records every object, and the hook checks a
        few entries: neither uses a summary."""
        if not self._prefilter or self._ledger is not None or only is not None:
            return None, ()
        if not isinstance(source, SummarizingSource) or source.single_asset:
            return None, ()
        condition = self._checker.clear_condition()
        if condition is None:
            rules = sorted([*self._checker.asset_rules, *self._content_rules], key=lambda r: r.code)
            return None, tuple((r.code, r.name) for r in rules if r.clear_condition(self.plan.convention) is None)
        return (source if source.prefilter(condition) else None), ()

    def _list_assets(self, source: Source) -> list[str] | None:
        """The target's asset names, sorted; None when the ``--timeout`` ran out first (the
        listing then goes on in a thread nobody waits for)."""
        if self._deadline is None:
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
        thread.join(max(0.0, self._deadline - time.monotonic()))
        if failure:
            raise failure[0]
        return box[0] if box else None


class _TargetRun:
    """One target's pass through the engine, stage by stage: open, decide on the listing summary,
    list, select (``only``), open the ledger's view, judge the target as a whole, check the
    assets. What the stages share lives here and ends with the pass."""

    def __init__(self, linter: Linter, target: str, only: Collection[str] | None) -> None:
        self.linter = linter
        self.plan = linter.plan
        self.label = target
        # names as the sources show them (not UTF-8: escaped)
        self.only = None if only is None else {scrub(n) for n in only}
        self.source: Source | None = None
        self.summary: SummarizingSource | None = None
        self.summary_off_by: tuple[tuple[str, str], ...] = ()
        self.timed_out = False
        self.executor: str | None = None
        self.cleared = 0

    def events(self) -> Iterator[TargetEvent]:
        linter = self.linter
        source = self.source = linter._open_source(self.label, self.plan)
        self.summary, self.summary_off_by = linter._summary_for(source, self.only)
        listed = linter._list_assets(source)
        if listed is None:  # the --timeout ran out before the target was even listed
            self.timed_out = True
            yield self.started(0)
            yield self.listing_timed_out()
            yield self.finished(complete=False)
            return
        info = TargetInfo(source.label, frozenset(listed), self.plan.convention, self.plan.destination)
        names, root_objects = self.select(listed, source.root_objects())
        ledger, vanished = self.open_ledger(info)
        try:
            yield self.started(len(names))
            target_result, about_assets = self.judge_target(info, names, root_objects, vanished)
            yield target_result
            complete = target_result.complete
            for result in self.check_assets(info, names, ledger, about_assets):
                complete = complete and result.complete
                yield result
            yield self.finished(complete=complete and not self.timed_out)
        finally:
            if ledger is not None:
                ledger.finish()

    def started(self, assets: int) -> TargetStarted:
        source = self.source
        assert source is not None
        root_url = source.root_url
        return TargetStarted(self.label, root_uri(root_url), root_url, source.single_asset, assets)

    def finished(self, complete: bool) -> TargetFinished:
        requests = getattr(self.source, "requests", None)  # S3 sources count theirs
        return TargetFinished(
            self.label,
            complete,
            timed_out=self.timed_out,
            executor=self.executor,
            cleared=self.cleared,
            summary_off_by=self.summary_off_by,
            requests=dict(requests) if isinstance(requests, Mapping) else {},
        )

    def listing_timed_out(self) -> AssetResult:
        assert self.source is not None
        label = self.source.label
        f = self.plan.engine_finding(
            UNREADABLE,
            None,
            None,
            f"{label}: not audited: the audit's --timeout of {self.plan.timeout:g} s ran out while listing it",
            target=label,
            timeout=self.plan.timeout,
        )
        return AssetResult(None, None, None, 0, [f] if f is not None else [], complete=False)

    def select(self, listed: list[str], root_objects: list[ObjectInfo]) -> tuple[list[str], list[ObjectInfo]]:
        """The assets and root objects to check: all of them, or those ``only`` names."""
        if self.only is None:
            return listed, root_objects
        return [n for n in listed if n in self.only], [o for o in root_objects if o.key in self.only]

    def open_ledger(self, info: TargetInfo) -> tuple[TargetLedger | None, list[VanishedAsset] | None]:
        """The ledger's view of the root for this run, and the assets it recorded that are gone
        (marked so); (None, None) without a ledger."""
        source = self.source
        assert source is not None
        if self.linter._ledger is None:
            return None, None
        ledger = self.linter._ledger.target(source.root_url, self.plan.convention.upload_window)
        vanished = None
        # a partial listing or run cannot tell a deleted asset from one it did not look at
        if not source.root_errors() and self.only is None and not source.single_asset:
            vanished = ledger.vanished(info.asset_names)
            ledger.mark_vanished(vanished)
        return ledger, vanished

    def judge_target(
        self, info: TargetInfo, names: list[str], root_objects: list[ObjectInfo], vanished: list[VanishedAsset] | None
    ) -> tuple[AssetResult, dict[str, list[Finding]]]:
        """The target's own result (target rules, unreadable root, an empty target), and the
        target rules' findings about checked assets, by asset (they go with the asset's result)."""
        plan, source, checker = self.plan, self.source, self.linter._checker
        assert source is not None
        destination: Callable[[], Source] | None = None
        if plan.destination is not None:
            # the destination is listed itself, never taken from the target's inventory
            destination = functools.partial(self.linter._open_source, plan.destination, replace(plan, inventory=None))
        tctx = TargetContext(info, root_objects, linted=names, vanished=vanished, destination=destination)
        findings: list[Finding] = []
        for rule, func in checker.target_rules:
            findings.extend(checker.run_rule(rule, tctx, None, func))
        root_errors = [*source.root_errors(), *tctx.read_errors]
        findings.extend(checker.unreadable(root_errors, None))
        empty = self.empty_target_finding(info)
        if empty is not None:
            findings.append(empty)
        checked = info.asset_names if self.only is None else set(names)  # one set of the names, not two
        about_assets: dict[str, list[Finding]] = {}
        for f in findings:
            if f.asset is not None and f.asset in checked:
                about_assets.setdefault(f.asset, []).append(f)
        findings = [f for f in findings if f.asset is None or f.asset not in checked]
        findings.sort(key=Finding.sort_key)
        complete = not root_errors and empty is None
        return AssetResult(None, None, None, len(root_objects), findings, complete=complete), about_assets

    def empty_target_finding(self, info: TargetInfo) -> Finding | None:
        """A typo in the target must never pass as a clean audit: no assets is an E901, unless
        ``--allow-empty`` (or the listing failed, or the hook checks some entries)."""
        source = self.source
        assert source is not None
        if info.asset_names or source.root_errors() or self.only is not None or self.plan.allow_empty:
            return None
        return self.plan.engine_finding(
            UNREADABLE,
            None,
            None,
            f"{source.label}: no assets found (is the target right? with --allow-empty an empty target "
            "is not an error)",
            target=source.label,
        )

    def check_assets(
        self, info: TargetInfo, names: list[str], ledger: TargetLedger | None, about_assets: dict[str, list[Finding]]
    ) -> Iterator[AssetResult]:
        """Each asset's result, in order: listed and checked by the executor, or cleared by the
        source's summary; what the ledger keeps of each is recorded here, in the driver."""
        plan, source, linter = self.plan, self.source, self.linter
        assert source is not None
        summary = self.summary
        pending = names if summary is None else summary.pending()  # the assets listed and checked
        self.cleared = len(names) - len(pending)
        kind = self.executor = choose_executor(plan, len(pending))
        runner = linter._runner_for(kind)
        job = runner.job(new_token(), plan, info, source.reader())
        runner.start(job)
        stream = runner.run_listed(
            job, pending, lambda n: linter._work_item(source, n, ledger), linter._deadline, self.unfinished
        )
        outcomes = stream if summary is None else _with_cleared(names, pending, summary.cleared(), stream)
        try:
            for item, outcome in outcomes:
                if item.late:
                    outcome = self.unfinished(item)
                if outcome.unfinished:
                    self.timed_out = True
                else:  # an asset not checked is not recorded: its keys would look deleted
                    linter._remember(item, outcome, ledger)
                result = outcome.result
                extra = about_assets.pop(result.name or "", None)
                if extra:
                    result.findings = sorted([*result.findings, *extra], key=Finding.sort_key)
                yield result
        finally:
            stream.close()

    def unfinished(self, item: WorkItem) -> AssetOutcome:
        self.timed_out = True
        return unfinished(self.plan, item.asset.name)


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
