"""Runs the rules over the assets of each target, in parallel, streaming results out in order."""

from __future__ import annotations

import functools
import hashlib
import traceback
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from linter import __version__
from linter.context import AssetContext, TargetContext, TargetInfo
from linter.conventions import Convention
from linter.findings import AssetResult, Finding, Severity, Violation
from linter.plan import RunPlan
from linter.registry import RULE_CRASHED, UNREADABLE, Rule, load_rules
from linter.sources import Asset, ReadError, Source, SourceError, SourceFactory, open_source

if TYPE_CHECKING:
    from linter.ledger import Ledger, TargetLedger

__all__ = ["AssetResult", "Linter", "SourceError", "VerdictStore", "content_fingerprint", "ordered_map"]

T = TypeVar("T")
R = TypeVar("R")


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


def ordered_map(executor: Executor, fn: Callable[[T], R], items: Iterable[T], window: int) -> Iterator[R]:
    """Like ``executor.map`` but with at most ``window`` items in flight, so memory stays flat."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(executor.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class Linter:
    """Runs a :class:`~linter.plan.RunPlan`. The driver's side (the ledger, the order of the
    results) stays here; each asset is checked by :meth:`lint_asset`.

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
        enabled = plan.rules.values()
        self.asset_rules = [r for r in enabled if r.scope == "asset" and not r.reads_content]
        self.content_rules = [r for r in enabled if r.scope == "asset" and r.reads_content]
        self.target_rules: list[tuple[Rule, Callable[..., Any]]] = [
            (r, fn) for r in enabled for fn in (r.func if r.scope == "target" else r.target_func,) if fn is not None
        ]
        # the source of the latest target, for its request counts (tests, benchmarks)
        self.last_source: Source | None = None

    def finding(self, rule: Rule, v: Violation, asset: str | None) -> Finding:
        severity = self.plan.severity(rule, v)
        return Finding(rule.code, rule.name, severity, asset, v.path, v.message, dict(v.details))

    def engine_finding(
        self, code: str, asset: str | None, path: str | None, message: str, **details: Any
    ) -> Finding | None:
        rule = self.plan.rules.get(code)
        if rule is None and code == UNREADABLE:
            # what could not be read is always said, whatever --select/--ignore chose: an
            # unread part must never look like a clean pass
            rule = load_rules()[UNREADABLE]
        if rule is None:
            return None
        return self.finding(rule, Violation(message, path, details), asset)

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

    def lint_asset(
        self, source: Source, target: TargetInfo, name: str, ledger: TargetLedger | None = None
    ) -> AssetResult:
        asset = source.load_asset(name)
        # the ledger's records of earlier runs are handed to the rules; they never query it
        history = ledger.history(name) if ledger is not None else None
        ctx = AssetContext(asset, target, source, history)
        findings: list[Finding] = []
        # When nothing of the asset could be listed, only the name can be judged: rules about its
        # objects would report everything as missing.
        listing_failed = bool(asset.errors) and not asset.objects
        for rule in self.asset_rules:
            if not listing_failed or not rule.needs_listing:
                findings.extend(self.run_rule(rule, ctx, name))
        if not listing_failed:
            findings.extend(self.content_findings(ctx, ledger if ledger is not None else self.verdicts))
        if ledger is not None:
            ledger.record(asset)
        errors = [*asset.errors, *ctx.read_errors]
        findings.extend(self.unreadable(errors, name))
        findings.sort(key=Finding.sort_key)
        parsed = ctx.parsed
        return AssetResult(name, parsed.level, parsed.source, len(asset.objects), findings, complete=not errors)

    def content_findings(self, ctx: AssetContext, store: VerdictStore | None = None) -> list[Finding]:
        """Run the content rules, or reuse their verdicts when the asset's sidecars are unchanged."""
        if not self.content_rules:
            return []
        fingerprint = ""
        if store is not None and not ctx.asset.errors:
            fingerprint = content_fingerprint(ctx.asset, self.content_rules, self.plan.convention, self.plan.severities)
            cached = store.get_verdicts(ctx.name, fingerprint)
            if cached is not None:
                return cached
        out: list[Finding] = []
        for rule in self.content_rules:
            out.extend(self.run_rule(rule, ctx, ctx.name))
        # a verdict reached while something could not be read is not worth remembering
        if store is not None and fingerprint and not ctx.read_errors:
            store.put_verdicts(ctx.name, fingerprint, out)
        return out

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
        names = sorted(set(source.asset_names()))
        info = TargetInfo(source.label, frozenset(names), plan.convention, plan.destination)
        root_objects = source.root_objects()
        if only is not None:
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
        for rule, func in self.target_rules:
            findings.extend(self.run_rule(rule, tctx, None, func))
        root_errors = [*source.root_errors(), *tctx.read_errors]
        findings.extend(self.unreadable(root_errors, None))
        checked = set(names)
        about_assets: dict[str, list[Finding]] = {}
        for f in findings:
            if f.asset is not None and f.asset in checked:
                about_assets.setdefault(f.asset, []).append(f)
        findings = [f for f in findings if f.asset is None or f.asset not in checked]
        findings.sort(key=Finding.sort_key)
        if self.on_listed is not None:
            self.on_listed(len(names))
        yield AssetResult(None, None, None, len(root_objects), findings, complete=not root_errors)

        jobs = max(1, plan.jobs)
        try:
            with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="lint") as pool:
                for result in ordered_map(
                    pool, lambda n: self.lint_asset(source, info, n, ledger), names, window=jobs * 4
                ):
                    extra = about_assets.pop(result.name or "", None)
                    if extra:
                        result.findings = sorted([*result.findings, *extra], key=Finding.sort_key)
                    yield result
        finally:
            if ledger is not None:
                ledger.finish()
