"""Audit history in the ledger: new / existing / fixed by the findings' stable identity, against
the last complete audit of the same root; an incomplete audit fixes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from linter.commands.history import history_lines
from linter.findings import Finding, Severity
from linter.store.audits import AuditHistory, audits
from linter.store.db import Ledger, read_audits

A = "ecephys_123456_2022-12-12_05-06-07"
B = "HCR_703179_2024-03-24_00-00-00"


def f(rule: str, asset: str, message: str, severity: Severity = Severity.ERROR) -> Finding:
    return Finding(rule, "some-rule", severity, asset, f"{asset}/x.json", message)


def audit(
    path: Path, root: str, per_asset: dict[str, list[Finding]], complete: bool = True
) -> tuple[dict[str, list[str | None]], list[Finding], AuditHistory]:
    with Ledger(path) as ledger:
        h = ledger.audit_history(root)
        statuses = {}
        for asset, findings in per_asset.items():
            statuses[asset] = [x.status for x in h.mark(asset, findings)]
        n = sum(len(v) for v in per_asset.values())
        summary = {"assets": len(per_asset), "objects": 3, "by_severity": {"error": n, "warning": 0, "info": 0}}
        fixed = h.finish(complete, summary, clean_assets=sum(not v for v in per_asset.values()))
    return statuses, fixed, h


def test_new_existing_fixed_across_audits(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    root = "s3://bucket/"
    statuses, fixed, first = audit(ledger, root, {A: [f("M201", A, "missing subject.json")], B: []})
    assert statuses == {A: ["new"], B: []} and fixed == []
    assert first.previous is None

    # counts in the message are normalised: "3 keys" and "4 keys" are the same finding
    statuses, fixed, second = audit(
        ledger,
        root,
        {A: [f("M201", A, "missing subject.json"), f("L302", A, "3 keys")], B: [f("N107", B, "placeholder")]},
    )
    assert statuses == {A: ["existing", "new"], B: ["new"]} and fixed == []
    assert second.previous is not None and second.previous.id == first.audit_id

    # an incomplete audit that no longer sees A's findings: statuses against the last complete
    # audit, nothing recorded, nothing fixed
    statuses, fixed, _ = audit(ledger, root, {B: [f("N107", B, "placeholder")]}, complete=False)
    assert statuses == {B: ["existing"]} and fixed == []

    statuses, fixed, fourth = audit(ledger, root, {A: [f("L302", A, "4 keys")], B: []})
    assert fourth.previous is not None and fourth.previous.id == second.audit_id
    assert statuses == {A: ["existing"], B: []}
    assert [(x.rule, x.asset, x.message, x.status, x.name) for x in fixed] == [
        ("N107", B, "placeholder", "fixed", "placeholder-time"),
        ("M201", A, "missing subject.json", "fixed", "missing-sidecar"),
    ]  # by asset name, as the reports list them

    # a fixed finding that comes back is new again
    statuses, fixed, _ = audit(ledger, root, {A: [f("L302", A, "5 keys")], B: [f("N107", B, "placeholder")]})
    assert statuses == {A: ["existing"], B: ["new"]} and fixed == []

    rows = read_audits(ledger)
    assert [(a.complete, a.assets, a.errors, a.new, a.fixed) for a in rows] == [
        (True, 2, 1, 1, 0),
        (True, 2, 3, 2, 0),
        (False, 1, 1, 0, 0),
        (True, 2, 1, 0, 2),
        (True, 2, 2, 1, 0),
    ]
    lines = history_lines(rows)
    assert lines[2].endswith("1 asset  1 finding (1 error, 0 warnings, 0 info)  0 new  0 fixed  INCOMPLETE")
    assert lines[3].endswith("2 assets  1 finding (1 error, 0 warnings, 0 info)  0 new  2 fixed")


def test_roots_are_separate_and_old_ledgers_gain_the_tables(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    with Ledger(ledger):
        pass
    db = sqlite3.connect(ledger)
    assert audits(db) == []  # a ledger no audit used yet: no audits, no error
    db.close()
    audit(ledger, "s3://one/", {A: [f("M201", A, "m")]})
    statuses, fixed, _ = audit(ledger, "s3://two/", {A: []})
    assert fixed == [] and statuses == {A: []}  # another root's audit fixes nothing of the first
    statuses, _, _ = audit(ledger, "s3://one/", {A: [f("M201", A, "m")]})
    assert statuses == {A: ["existing"]}
    lines = history_lines(read_audits(ledger))
    assert [line.rsplit("  ", 1)[1] for line in lines] == ["s3://one/", "s3://two/", "s3://one/"]


def test_schema_version_is_remembered_for_reused_verdicts(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    with Ledger(ledger) as led:
        h = led.audit_history("s3://b/")
        assert h.schema_version(A, "2.4.2") == "2.4.2"
        assert h.schema_version(B, None) is None
        h.finish(True, {"assets": 2, "objects": 0, "by_severity": {}}, 2)
    with Ledger(ledger) as led:
        h = led.audit_history("s3://b/")
        assert h.schema_version(A, None) == "2.4.2"
        h.finish(True, {"assets": 2, "objects": 0, "by_severity": {}}, 2)


def test_a_partial_audit_leaves_no_line_and_fixes_nothing(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    audit(ledger, "s3://b/", {A: [f("M201", A, "m")], B: [f("N107", B, "p")]})
    with Ledger(ledger) as led:  # the hook: only B looked at, on purpose
        h = led.audit_history("s3://b/")
        assert [x.status for x in h.mark(B, [f("N107", B, "p")])] == ["existing"]
        assert h.finish(True, {"assets": 1, "objects": 1, "by_severity": {}}, 0, partial=True) == []
    assert [a.assets for a in read_audits(ledger)] == [2]
    statuses, fixed, _ = audit(ledger, "s3://b/", {A: [f("M201", A, "m")], B: []})
    assert statuses == {A: ["existing"], B: []}
    assert [(x.rule, x.asset) for x in fixed] == [("N107", B)]
