"""The audit (``linter.audit``): its stages in their order, what it says on stderr (a rule that
turns a source's listing summary off, an executor that failed), the exit code it leads to."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linter.audit import Audit
from linter.commands.common import exit_code
from linter.conventions import load_convention
from linter.engine import Linter
from linter.events import TargetFinished
from linter.findings import Severity, Violation
from linter.plan import RunPlan, S3Settings
from linter.registry import Rule, load_rules, select_rules
from linter.reports import ReportOptions, get_reporter
from tests.conftest import EXAMPLES, REPORT_SCHEMA, make_tree, run_cli
from tests.linter.sources.test_inventory_summary import BUCKET, SELECT, write_report

GOOD = "ecephys_123456_2022-12-12_05-06-07"
BAD_MODALITY = "smartspim_653158_2023-02-01_10-00-00"
PLACEHOLDER = "HCR_703179_2024-03-24_00-00-00"
DRIVER = os.getpid()


def json_audit(plan: RunPlan, targets: list[str]) -> tuple[int, dict[str, Any]]:
    """An audit written as a json report: the exit code and the document."""
    out = io.StringIO()
    outcome = Audit(plan, get_reporter("json", out, ReportOptions()), quiet=True).run(targets)
    doc = json.loads(out.getvalue())
    REPORT_SCHEMA.validate(doc)
    return exit_code(outcome, "error"), doc


def _probe(ctx: Any) -> Iterator[Violation]:
    """Finds nothing, and says so for no asset in particular."""
    return iter(())


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An S3 Inventory report on local disk (its bucket is never asked for anything)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return str(write_report(tmp_path, versions=False))


def inventory_plan(manifest: str, rules: dict[str, Rule]) -> RunPlan:
    settings = S3Settings(endpoint_url="http://127.0.0.1:9", region="us-east-1", max_attempts=1)
    return RunPlan(load_convention("aind-open-data"), rules, s3=settings, inventory=manifest)


def test_a_rule_that_turns_the_inventory_summary_off_is_named(
    inventory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = select_rules(load_rules(), SELECT, [])
    probe = Rule("X901", "probe", Severity.WARNING, "Sees every asset.", _probe, "asset", "tests")
    plan = inventory_plan(inventory, {**rules, "X901": probe})
    with Linter(plan) as linter:
        finished = list(linter.run_target(f"s3://{BUCKET}"))[-1]
    assert isinstance(finished, TargetFinished)
    assert (finished.summary_off_by, finished.cleared) == ((("X901", "probe"),), 0)
    code, doc = json_audit(plan, [f"s3://{BUCKET}"])
    assert code == 1 and doc["complete"] is True
    assert capsys.readouterr().err == (
        "aind-bucket-lint: the inventory summary is off: rule X901 (probe) states no `clears` condition, "
        "so every asset is listed and checked one by one\n"
    )
    # every selected rule clears: the summary is on and nothing is said
    with Linter(inventory_plan(inventory, rules)) as linter:
        finished = list(linter.run_target(f"s3://{BUCKET}"))[-1]
    assert isinstance(finished, TargetFinished)
    assert finished.summary_off_by == () and finished.cleared > 0
    assert json_audit(inventory_plan(inventory, rules), [f"s3://{BUCKET}"])[1]["findings"] == doc["findings"]
    assert capsys.readouterr().err == ""


def test_the_built_in_rules_that_turn_the_summary_off_are_named_three_and_a_count(
    inventory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = select_rules(load_rules(), ["N101", "L304", "M"], [])
    json_audit(inventory_plan(inventory, rules), [f"s3://{BUCKET}"])
    assert capsys.readouterr().err == (
        "aind-bucket-lint: the inventory summary is off: rules L304 (source-mismatch), M201 (missing-sidecar), "
        "M202 (invalid-json) and 12 more state no `clears` condition, so every asset is listed and checked "
        "one by one\n"
    )


def _dies(ctx: Any) -> Iterator[Violation]:
    """Kills the worker process that runs it (never the driver): a worker pool that dies."""
    if os.getpid() != DRIVER:
        os._exit(1)
    return iter(())


def test_a_dead_worker_pool_ends_the_target_incomplete_and_says_the_executor_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = make_tree(tmp_path / "bucket", {f"{GOOD}/a.bin": "a", f"{PLACEHOLDER}/x": "x", "notes.txt": "n"})
    rules = select_rules(load_rules(), ["L302"], [])
    dies = Rule("X902", "kills-its-worker", Severity.ERROR, "Kills its worker.", _dies, "asset", "tests")
    plan = RunPlan(load_convention("aind-open-data"), {**rules, "X902": dies}, jobs=2, executor="processes")
    code, doc = json_audit(plan, [str(bucket)])
    assert (code, doc["complete"]) == (2, False)
    found = [(f["rule"], f["asset"], f["message"].split(" (")[0]) for f in doc["findings"]]
    assert found == [
        ("L302", None, "file 'notes.txt' at the target root belongs to no asset"),
        ("E901", None, f"{bucket}: not audited to the end: the executor failed"),
    ]
    assert doc["findings"][1]["message"].startswith(
        f"{bucket}: not audited to the end: the executor failed (the processes executor failed: BrokenProcessPool: "
    )
    assert doc["findings"][1]["details"] == {"target": str(bucket)}
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"aind-bucket-lint: {bucket}: the executor failed, the audit is incomplete: "
        "the processes executor failed: BrokenProcessPool: "
    )


def test_ignores_come_before_the_ledger_and_the_baseline_after_it(tmp_path: Path) -> None:
    """What the ledger records of an audit is what the bucket has: per-asset-ignores take their
    findings out of it, a baseline hides findings from the report only."""
    bucket = make_tree(
        tmp_path / "bucket",
        {f"{GOOD}/ecephys/a.bin": "a", f"{BAD_MODALITY}/SPIM/t.txt": "t", f"{PLACEHOLDER}/x": "x", "notes.txt": "n"},
    )
    config, base, ledger = tmp_path / "cfg.yaml", tmp_path / "baseline.json", tmp_path / "ledger.db"
    config.write_text('per-asset-ignores:\n  "HCR_*": [N107]\n')
    assert run_cli("baseline", str(bucket), "--select", "N,L", "--output", str(base)).code == 0
    args = ["--select", "N,L", "--config", str(config), "--ledger", str(ledger), "--format", "json"]
    res = run_cli("check", str(bucket), *args, "--baseline", str(base))
    doc = res.json()
    assert (res.code, doc["findings"], doc["summary"]["baselined"], doc["summary"]["new"]) == (0, [], 2, 0)
    [line] = run_cli("history", str(ledger)).out.splitlines()
    assert line.split("  ", 1)[1] == "3 assets  2 findings (1 error, 1 warning, 0 info)  2 new  0 fixed"


def test_a_run_ended_by_an_exception_leaves_the_next_run_its_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that ends on Ctrl-C stops its release workers at once; the process goes on (a test
    process, a service) and its next run starts workers anew and gives the same findings."""
    legacy = "ecephys_664438_2023-04-13_14-35-51"  # its data_description is judged by a 0.x release's worker
    shutil.copytree(EXAMPLES / legacy, tmp_path / legacy)
    args = ("check", str(tmp_path), "--select", "M203,M204", "--format", "json")
    before = run_cli(*args)
    assert [(f["rule"], f["path"]) for f in before.json()["findings"]] == [
        ("M203", f"{legacy}/data_description.json"),
        ("M203", f"{legacy}/data_description.json"),
        ("M204", f"{legacy}/subject.json"),
    ]

    def interrupted(self: Audit, linter: Linter, target: str) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(Audit, "audit_target", interrupted)
        assert run_cli(*args).code == 130
    from linter.work import VERDICTS

    monkeypatch.setattr(VERDICTS, "_items", type(VERDICTS._items)())  # judged again, not remembered
    after = run_cli(*args)
    assert (after.code, after.json()["findings"]) == (before.code, before.json()["findings"])
