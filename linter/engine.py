"""Runs the rules over the assets of each target, in parallel, streaming results out in order."""

from __future__ import annotations

import datetime as dt
import hashlib
import traceback
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from linter import __version__
from linter.context import AssetContext, TargetContext, TargetInfo
from linter.conventions import Convention
from linter.findings import Finding, Severity, Violation
from linter.registry import Rule, load_rules
from linter.sources import Asset, ReadError, Source, SourceError

if TYPE_CHECKING:
    from linter.ledger import Ledger, TargetLedger

T = TypeVar("T")
R = TypeVar("R")


class VerdictStore(Protocol):
    """Remembers the findings of content-reading rules per asset, keyed by a fingerprint of the
    asset's root-level objects (the sidecars), so an unchanged asset is not fetched again."""

    def get_verdicts(self, asset: str, fingerprint: str) -> list[Finding] | None: ...

    def put_verdicts(self, asset: str, fingerprint: str, findings: list[Finding]) -> None: ...


def content_fingerprint(
    asset: Asset, rules: Iterable[Rule], convention: Convention, overrides: dict[str, Severity] | None = None
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


@dataclass
class LintOptions:
    convention: Convention
    rules: dict[str, Rule]
    severity_overrides: dict[str, Severity] = field(default_factory=dict)
    jobs: int = 8
    verdicts: VerdictStore | None = None
    # Records each asset's listing and content verdicts between runs (immutability rules, reuse).
    ledger: Ledger | None = None
    # Options for sources and rules added by later features (S3 settings, ledger, destination).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AssetResult:
    """One asset's outcome; ``name`` is None for findings about the target as a whole."""

    name: str | None
    level: str | None
    source: str | None
    objects: int
    findings: list[Finding]
    complete: bool = True


def open_source(target: str, options: LintOptions) -> Source:
    if target.startswith("s3://"):
        if options.extra.get("inventory"):
            from linter.sources.inventory import InventorySource

            return InventorySource(target, options)
        from linter.sources.s3 import S3Source  # imported only when needed: boto3 is slow to import

        return S3Source(target, options)
    from linter.sources.local import LocalSource

    try:
        return LocalSource(target, options.convention)
    except OSError as exc:
        raise SourceError(str(exc)) from None


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
    def __init__(self, options: LintOptions) -> None:
        self.options = options
        enabled = options.rules.values()
        self.asset_rules = [r for r in enabled if r.scope == "asset" and not r.reads_content]
        self.content_rules = [r for r in enabled if r.scope == "asset" and r.reads_content]
        self.target_rules = [r for r in enabled if r.scope == "target"]
        # called with the number of assets once a target is listed (the progress line's total)
        self.on_listed: Callable[[int], None] | None = None
        # the source of the latest target, for its request counts (tests, benchmarks)
        self.last_source: Source | None = None

    def finding(self, rule: Rule, v: Violation, asset: str | None) -> Finding:
        severity = self.options.severity_overrides.get(rule.code, v.severity or rule.severity)
        return Finding(rule.code, rule.name, severity, asset, v.path, v.message, dict(v.details))

    def engine_finding(
        self, code: str, asset: str | None, path: str | None, message: str, **details: Any
    ) -> Finding | None:
        rule = self.options.rules.get(code)
        if rule is None and code == "E901":
            # what could not be read is always said, whatever --select/--ignore chose: an
            # unread part must never look like a clean pass
            rule = load_rules()["E901"]
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
            f = self.engine_finding("E901", asset, err.path, f"cannot read {err.path}: {err.message}")
            if f is not None:
                out.append(f)
        return out

    def run_rule(self, rule: Rule, ctx: Any, asset: str | None) -> list[Finding]:
        assert rule.func is not None
        try:
            return [self.finding(rule, v, asset) for v in rule.func(ctx)]
        except Exception as exc:  # a crashing rule becomes a finding; the run goes on
            frames = traceback.extract_tb(exc.__traceback__)[-3:]
            crash = self.engine_finding(
                "E902",
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
        # objects would report everything as missing. The N family judges names alone.
        listing_failed = bool(asset.errors) and not asset.objects
        for rule in self.asset_rules:
            if not listing_failed or rule.code.startswith("N"):
                findings.extend(self.run_rule(rule, ctx, name))
        if not listing_failed:
            findings.extend(self.content_findings(ctx, ledger if ledger is not None else self.options.verdicts))
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
            fingerprint = content_fingerprint(
                ctx.asset, self.content_rules, self.options.convention, self.options.severity_overrides
            )
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
        """
        source = open_source(target, self.options)
        self.last_source = source
        names = sorted(set(source.asset_names()))
        info = TargetInfo(source.label, frozenset(names), self.options.convention, self.options.extra)
        root_objects = source.root_objects()
        if only is not None:
            names = [n for n in names if n in only]
            root_objects = [o for o in root_objects if o.key in only]
        destination_errors = self.check_destination(info, names)
        tctx = TargetContext(info, root_objects)
        findings: list[Finding] = []
        for rule in self.target_rules:
            findings.extend(self.run_rule(rule, tctx, None))
        root_errors = [*source.root_errors(), *destination_errors]
        findings.extend(self.unreadable(root_errors, None))
        ledger = None
        if self.options.ledger is not None:
            root = getattr(source, "root_url", None) or str(getattr(source, "root", source.label))
            ledger = self.options.ledger.target(root, self.options.convention.upload_window)
            # a partial listing or run cannot tell a deleted asset from one it did not look at
            if not source.root_errors() and only is None and not getattr(source, "single_asset", False):
                findings.extend(self.vanished_assets(ledger, info.asset_names))
        findings.sort(key=Finding.sort_key)
        if self.on_listed is not None:
            self.on_listed(len(names))
        yield AssetResult(None, None, None, len(root_objects), findings, complete=not root_errors)

        jobs = max(1, self.options.jobs)
        try:
            with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="lint") as pool:
                yield from ordered_map(pool, lambda n: self.lint_asset(source, info, n, ledger), names, window=jobs * 4)
        finally:
            if ledger is not None:
                ledger.finish()

    def check_destination(self, info: TargetInfo, names: list[str]) -> list[ReadError]:
        """With ``--destination``, find which of the assets already exist there (I405)."""
        destination = self.options.extra.get("destination")
        if not destination or "I405" not in self.options.rules:
            return []
        from linter.sources.s3 import existing_assets

        info.destination = destination
        info.at_destination, errors = existing_assets(destination, names, self.options)
        return errors

    def vanished_assets(self, ledger: TargetLedger, listed: frozenset[str]) -> list[Finding]:
        """I402 for each asset the ledger recorded under this root that is no longer listed."""
        gone = ledger.vanished(listed)
        ledger.mark_vanished(gone)
        out = []
        for v in gone:
            last_seen = v.last_seen.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            f = self.engine_finding(
                "I402",
                v.name,
                v.name,
                f"asset {v.name!r} is gone: its {v.keys} keys recorded by the ledger are no longer listed "
                f"(last seen {last_seen})",
                keys=v.keys,
                last_seen=last_seen,
                gone_since=v.gone_since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            if f is not None:
                out.append(f)
        return out
