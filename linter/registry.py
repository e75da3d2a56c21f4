"""Rule registration: the ``@rule`` decorator, built-in and entry-point rules, select/ignore."""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Literal

from linter.findings import Severity

if TYPE_CHECKING:
    from linter.conventions import Convention

ENTRY_POINT_GROUP = "aind_bucket_lint.rules"
CODE_RE = re.compile(r"^[A-Z][0-9]{3}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
BUILTIN_MODULES = (
    "rules.naming",
    "rules.layout",
    "rules.metadata",
    "rules.asset",
    "rules.immutability",
    "rules.stores",
)

Scope = Literal["asset", "target", "engine"]


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    func: Callable[..., Any] | None
    scope: Scope
    origin: str
    reads_content: bool = False
    needs_listing: bool = True
    """False for rules that judge the asset's name alone: they still run when nothing of the
    asset could be listed, when every other rule would see an empty asset."""
    needs_versions: bool = False
    """The rule looks at every version and delete marker (sources then list versions)."""
    judges_absence: bool = False
    """The rule reports what is *not* in the listing (a missing sidecar, a deleted key): it does
    not run on an asset whose listing stopped partway, where absent may mean unlisted."""
    clears: str | Callable[[Convention], str] | None = None
    """An SQL condition over an asset's listing summary (the columns of
    :data:`linter.sources.SUMMARY_COLUMNS`), or a function of the convention giving one, that
    holds only when the rule certainly finds nothing in the asset, on a run without a ledger.
    A source that summarizes its listing in SQL (an S3 Inventory) hands out no listing for an
    asset every selected rule clears; the rule still judges every asset the condition does not
    clear. A condition may be stricter than the rule (it only costs speed), never looser."""
    target_func: Callable[..., Any] | None = None
    """An asset rule's part that judges the target as a whole (``func(ctx: TargetContext)``),
    e.g. from facts no single asset holds: assets the ledger recorded that are gone."""

    @property
    def doc(self) -> str:
        """The rule's documentation: its function's docstring, dedented."""
        if self.func is None:
            return ENGINE_RULE_DOCS.get(self.code, self.summary)
        return inspect.cleandoc(self.func.__doc__ or self.summary)

    def clear_condition(self, convention: Convention) -> str | None:
        """The rule's :attr:`clears` condition for this convention, or None."""
        return self.clears(convention) if callable(self.clears) else self.clears


_REGISTRY: dict[str, Rule] = {}


def rule(
    code: str,
    name: str,
    severity: str,
    summary: str,
    *,
    scope: Scope = "asset",
    reads_content: bool = False,
    needs_listing: bool = True,
    needs_versions: bool = False,
    judges_absence: bool = False,
    clears: str | Callable[[Convention], str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a rule function.

    An ``asset`` rule is called as ``func(ctx: AssetContext)`` once per asset; a ``target``
    rule as ``func(ctx: TargetContext)`` once per target. Both yield ``Violation``.

    ``reads_content`` marks a rule that reads objects' bytes through the context: the sidecars at
    the asset root, and below it only Zarr metadata documents and the first bytes of NWB files
    (:func:`linter.stores.is_metadata_key`). Its findings may depend on those objects' bytes and
    on the names of the asset's other keys, nothing else, so the engine may reuse them from a
    verdict store (the ledger) while those objects' ETags and the listing's key names are
    unchanged (:func:`linter.engine.content_fingerprint`), and skip fetching them again. A rule
    that reads any other object must not declare it (its findings would be reused wrongly).

    ``needs_listing=False`` marks a rule that judges the asset's name alone (it also runs on an
    asset whose listing failed); ``needs_versions`` one that looks at every version and delete
    marker, which the sources then list; ``judges_absence`` one that reports what the listing
    lacks (it is skipped on an asset whose listing failed partway); ``clears`` an SQL condition
    under which it finds nothing (see :attr:`Rule.clears`).
    """
    if not CODE_RE.match(code):
        raise ValueError(f"rule code {code!r} must be a capital letter and three digits")
    if not NAME_RE.match(name):
        raise ValueError(f"rule name {name!r} must be kebab-case")
    sev = Severity.parse(severity)

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        register(
            Rule(
                code,
                name,
                sev,
                summary,
                func,
                scope,
                func.__module__,
                reads_content,
                needs_listing,
                needs_versions,
                judges_absence=judges_absence,
                clears=clears,
            )
        )
        return func

    return decorate


def target_part(code: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give the asset rule ``code`` (registered above it) a part called once per target, as
    ``func(ctx: TargetContext)``; its violations may name the asset they are about
    (``Violation.asset``)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        existing = _REGISTRY.get(code)
        if existing is None or existing.scope != "asset":
            raise ValueError(f"target_part({code!r}): no asset rule {code} is registered")
        _REGISTRY[code] = replace(existing, target_func=func)
        return func

    return decorate


def register(new: Rule) -> None:
    existing = _REGISTRY.get(new.code)
    if existing is not None and existing.func is not None and new.func is not None:
        same = (existing.func.__module__, existing.func.__qualname__) == (
            new.func.__module__,
            new.func.__qualname__,
        )
        if not same:
            raise ValueError(f"rule code {new.code} is registered twice ({existing.origin}, {new.origin})")
    if existing is not None and existing.target_func is not None and new.target_func is None:
        new = replace(new, target_func=existing.target_func)
    _REGISTRY[new.code] = new


ENGINE_RULE_DOCS = {
    "E901": (
        "Part of the target could not be read: a folder or object that could not be listed "
        "or read, a symlink pointing out of the target, or an S3 request that still failed "
        "after retries. The finding names the object and the error. The report is then "
        "marked incomplete and the exit code is 2, whatever `--fail-on` says, because a "
        "part that was not read was not checked."
    ),
    "E902": (
        "A rule raised an exception on this asset. The finding names the rule and the "
        "exception; the other rules and assets are still checked. Please report it: a rule "
        "crash is a bug in the rule."
    ),
}
register(Rule("E901", "unreadable", Severity.ERROR, "Part of the target could not be read.", None, "engine", "linter"))
register(
    Rule("E902", "rule-crashed", Severity.ERROR, "A rule raised an exception on an asset.", None, "engine", "linter")
)

UNREADABLE = "E901"
"""The engine's own finding for what could not be read; reported whatever the selection."""
RULE_CRASHED = "E902"
"""The engine's own finding for a rule that raised."""


def is_engine_rule(code: str) -> bool:
    """The engine's own findings (E9xx): an incomplete run or a broken rule, never baselined."""
    found = _REGISTRY.get(code)
    return found is not None and found.scope == "engine"


_loaded = False


def load_rules() -> dict[str, Rule]:
    """Import the built-in rules and every entry-point plugin, once; return all rules by code."""
    global _loaded
    if not _loaded:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                ep.load()
            except Exception as exc:  # a broken plugin must not take the linter down
                print(f"aind-bucket-lint: cannot load rule plugin {ep.name!r} ({ep.value}): {exc}", file=sys.stderr)
        _loaded = True
    return dict(sorted(_REGISTRY.items()))


def parse_codes(text: str | Iterable[str] | None) -> list[str]:
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    return [item.strip().upper() for item in items if item.strip()]


def _longest_match(code: str, prefixes: Sequence[str]) -> int:
    best = -1
    for prefix in prefixes:
        if prefix == "ALL":
            best = max(best, 0)
        elif code.startswith(prefix):
            best = max(best, len(prefix))
    return best


def select_rules(rules: dict[str, Rule], select: Sequence[str], ignore: Sequence[str]) -> dict[str, Rule]:
    """Enable rules as ruff does: the most specific matching prefix wins.

    Raises ValueError for a code or prefix that matches no rule, so a typo never silently
    disables nothing.
    """
    for prefix in [*select, *ignore]:
        if prefix != "ALL" and not any(code.startswith(prefix) for code in rules):
            raise ValueError(f"{prefix!r} matches no rule code (see `aind-bucket-lint rules`)")
    chosen = select or ["ALL"]
    enabled = {}
    for code, r in rules.items():
        sel = _longest_match(code, chosen)
        ign = _longest_match(code, ignore)
        if sel >= 0 and sel > ign:
            enabled[code] = r
    return enabled
