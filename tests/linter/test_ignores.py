"""``per-asset-ignores``: an engine finding (``registry.is_engine_rule``) is never ignored,
whatever code or prefix names it."""

from __future__ import annotations

import pytest

from linter.findings import AssetResult, Finding, Severity
from linter.ignores import AssetIgnores, IgnoreError
from linter.registry import load_rules

HCR = "HCR_703179_2024-03-24_00-00-00"


@pytest.mark.parametrize("code", ["E", "e9", "E90", "E902"])
def test_no_code_or_prefix_of_an_engine_rule_can_be_ignored(code: str) -> None:
    with pytest.raises(IgnoreError) as raised:
        AssetIgnores({"HCR_*": [code]}, load_rules(), "cfg.yaml")
    assert str(raised.value) == (
        f"cfg.yaml: per-asset-ignores 'HCR_*': {code.upper()} cannot be ignored: engine findings say "
        "part of the audit could not be done"
    )


def test_the_findings_a_glob_names_are_ignored_and_counted() -> None:
    ignores = AssetIgnores({"HCR_*": ["N1", "L302"]}, load_rules())
    placeholder = Finding("N107", "placeholder-time", Severity.INFO, HCR, HCR, "placeholder time")
    unreadable = Finding("E901", "unreadable", Severity.ERROR, HCR, f"{HCR}/x", "cannot read x")
    layout = Finding("L301", "nested-asset", Severity.ERROR, HCR, f"{HCR}/a/", "nested")
    result = ignores.filter(AssetResult(HCR, "raw", None, 2, [placeholder, unreadable, layout]))
    assert (result.findings, ignores.ignored) == ([unreadable, layout], 1)
    name = "ecephys_1_2023-01-01_10-00-00"
    other = AssetResult(name, "raw", None, 1, [Finding("N107", "placeholder-time", Severity.INFO, name, name, "x")])
    assert ignores.filter(other) is other  # another asset's findings stay
