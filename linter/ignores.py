"""``per-asset-ignores`` in the config: rule codes switched off for the assets whose names match
a glob, as ruff's and flake8's ``per-file-ignores`` do for files::

    per-asset-ignores:
      "HCR_*": [N107]          # HCR acquisitions record no time: placeholder times are expected
      "*_sorted-ks25_*": [M2]  # a prefix switches off the family

Globs (``fnmatch``: ``*``, ``?``, ``[...]``) match the whole asset name, case-sensitively. Every
code must name a registered rule or be the prefix of one: a typo is a config error (exit 2),
never a silent no-op. Engine findings (E9xx: something could not be read, a rule crashed) say
the audit itself is incomplete and are never ignored.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from linter.registry import is_engine_rule

if TYPE_CHECKING:
    from linter.findings import AssetResult

_CODE = re.compile(r"^[A-Z][0-9]{0,3}$")


class IgnoreError(ValueError):
    pass


class AssetIgnores:
    def __init__(self, mapping: Mapping[str, Iterable[str]], known: Iterable[str], where: str = "config") -> None:
        codes = sorted(set(known))
        self.rules: list[tuple[re.Pattern[str], tuple[str, ...]]] = []
        for glob, listed in mapping.items():
            prefixes = []
            for raw in listed:
                code = str(raw).strip().upper()
                named = [c for c in codes if c.startswith(code)] if _CODE.match(code) else []
                if not named:
                    raise IgnoreError(
                        f"{where}: per-asset-ignores {glob!r}: unknown rule code {raw!r} (see `aind-bucket-lint rules`)"
                    )
                if any(is_engine_rule(c) for c in named):
                    raise IgnoreError(
                        f"{where}: per-asset-ignores {glob!r}: {code} cannot be ignored: engine findings say "
                        "part of the audit could not be done"
                    )
                prefixes.append(code)
            self.rules.append((re.compile(fnmatch.translate(glob)), tuple(prefixes)))
        self.ignored = 0

    def __bool__(self) -> bool:
        return bool(self.rules)

    def codes_for(self, asset: str | None) -> tuple[str, ...]:
        if asset is None:
            return ()
        return tuple(code for pattern, codes in self.rules if pattern.match(asset) for code in codes)

    def filter(self, result: AssetResult) -> AssetResult:
        """The result without the findings its asset's globs ignore."""
        if not result.findings or not self.rules:
            return result
        kept = []
        for f in result.findings:
            codes = self.codes_for(f.asset)
            if codes and f.rule.startswith(codes) and not is_engine_rule(f.rule):
                self.ignored += 1
            else:
                kept.append(f)
        return result if len(kept) == len(result.findings) else replace(result, findings=kept)
