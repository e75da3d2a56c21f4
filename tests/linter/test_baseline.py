"""Baselines: `baseline TARGET --output FILE` records findings; `check --baseline FILE` reports
and fails only on the others, and says how many it absorbed."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from linter import __version__
from linter.baseline import Baseline, BaselineWriter, finding_identity, identity, message_key
from linter.engine import AssetResult
from linter.findings import Finding, Severity
from tests.conftest import BAD_MODALITY, PLACEHOLDER, make_tree, run_cli, small_bucket
from tests.repo_copy import readme_blocks

NEW_BAD = "ecephys_123456_2022-13-45_05-06-07"


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    return small_bucket(tmp_path / "bucket")


def baseline_schema() -> dict:  # type: ignore[type-arg]
    return json.loads(resources.files("linter").joinpath("schemas/baseline-v1.json").read_text(encoding="utf-8"))


def record(bucket: Path, out: Path, *args: str) -> dict:  # type: ignore[type-arg]
    res = run_cli("baseline", str(bucket), "--select", "N,L", "--output", str(out), *args)
    assert res.code == 0, res.err
    assert res.out == ""
    doc = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(baseline_schema()).validate(doc)
    return doc


def test_message_key_normalises_what_changes_between_runs() -> None:
    assert message_key("subject.json is not valid JSON: Expecting value at line 2, column 8") == (
        "subject.json is not valid JSON: Expecting value at line #, column #"
    )
    assert message_key('ETag "d41d8cd98f00b204e9800998ecf8427e" changed, version 3HL4kqtJlcpXroDTDmJ') == (
        'ETag "<hex>" changed, version #HL#kqtJlcpXroDTDmJ'
    )
    assert message_key("request 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 failed") == "request <hex> failed"
    # words made of hex letters alone are words, not ids
    assert message_key("deadbeef facade added") == "deadbeef facade added"


def test_identity_is_rule_asset_path_and_message_key_not_severity_or_details() -> None:
    a = Finding("M202", "invalid-json", Severity.ERROR, "x", "x/s.json", "bad at line 2, column 8", {"line": 2})
    moved = Finding("M202", "invalid-json", Severity.WARNING, "x", "x/s.json", "bad at line 9, column 1", {"line": 9})
    assert (
        finding_identity(a) == finding_identity(moved) == identity("M202", "x", "x/s.json", "bad at line 0, column 0")
    )
    assert len(finding_identity(a)) == 32
    for other in (
        identity("M203", "x", "x/s.json", "bad at line 2, column 8"),
        identity("M202", "y", "x/s.json", "bad at line 2, column 8"),
        identity("M202", "x", "x/t.json", "bad at line 2, column 8"),
        identity("M202", "x", "x/s.json", "worse at line 2, column 8"),
    ):
        assert other != finding_identity(a)


def test_baseline_records_the_current_findings(bucket: Path, tmp_path: Path) -> None:
    doc = record(bucket, tmp_path / "baseline.json")
    assert doc["baseline_version"] == 1
    assert doc["tool"] == {"name": "aind-bucket-lint", "version": __version__}
    assert doc["target"] == [str(bucket)]
    assert doc["convention"] == "aind-open-data"
    assert doc["created_at"].endswith("Z")
    assert doc["findings"] == [
        {
            "rule": "L302",
            "asset": None,
            "path": "notes.txt",
            "message": "file 'notes.txt' at the target root belongs to no asset",
            "count": 1,
        },
        {
            "rule": "N107",
            "asset": PLACEHOLDER,
            "path": PLACEHOLDER,
            "message": "time '00-00-00' in 2024-03-24_00-00-00 looks like a placeholder",
            "count": 1,
        },
        {
            "rule": "N102",
            "asset": BAD_MODALITY,
            "path": BAD_MODALITY,
            "message": "modality 'smartspim' is not in the vocabulary; did you mean 'SmartSPIM'?",
            "count": 1,
        },
    ]


def test_baseline_rejects_report_options(bucket: Path, tmp_path: Path) -> None:
    for extra in (["--format", "json"], ["--fail-on", "warning"], ["--baseline", "b.json"]):
        res = run_cli("baseline", str(bucket), "--output", str(tmp_path / "b.json"), *extra)
        assert res.code == 2, extra
        assert "unrecognized arguments" in res.err
    res = run_cli("baseline", str(bucket))
    assert res.code == 2 and "the following arguments are required: --output/-o" in res.err


def test_check_with_the_baseline_is_clean_and_counts_what_it_absorbed(bucket: Path, tmp_path: Path) -> None:
    base = tmp_path / "baseline.json"
    record(bucket, base)
    res = run_cli("check", str(bucket), "--select", "N,L", "--baseline", str(base))
    assert (res.code, res.err) == (0, "")
    assert res.out.splitlines() == [
        "3 assets, 4 objects: 0 findings (0 errors, 0 warnings, 0 info); 3 baselined findings not shown"
    ]
    doc = run_cli("check", str(bucket), "--select", "N,L", "--baseline", str(base), "--format", "json").json()
    assert doc["summary"] == {
        "assets": 3,
        "objects": 4,
        "findings": 0,
        "baselined": 3,
        "by_severity": {"error": 0, "warning": 0, "info": 0},
        "by_rule": {},
    }
    assert doc["findings"] == []
    lines = run_cli("check", str(bucket), "--select", "N,L", "--baseline", str(base), "--format", "jsonl").lines()
    assert lines[-1]["summary"]["baselined"] == 3


def test_without_a_baseline_the_summary_has_no_baselined_count(bucket: Path) -> None:
    doc = run_cli("check", str(bucket), "--select", "N,L", "--format", "json").json()
    assert "baselined" not in doc["summary"]


def test_only_new_findings_are_reported_and_fail(bucket: Path, tmp_path: Path) -> None:
    base = tmp_path / "baseline.json"
    record(bucket, base)
    # a new broken asset, and new assets that move the old findings' positions in the report
    make_tree(bucket, {f"{NEW_BAD}/ecephys/a.bin": "a", "HCR_1_2020-01-01_10-00-00/x": "x", "aaa.txt": "a"})
    res = run_cli("check", str(bucket), "--select", "N,L", "--baseline", str(base))
    assert res.code == 1
    assert res.out.splitlines() == [
        "aaa.txt: L302 [warning] file 'aaa.txt' at the target root belongs to no asset",
        f"{NEW_BAD}: N103 [error] date '2022-13-45' does not exist on the calendar",
        "5 assets, 7 objects: 2 findings (1 error, 1 warning, 0 info); 3 baselined findings not shown",
        "  assets: 4 clean, 1 failing (at or above error), 0 with findings below it",
        "  top rules: N103 invalid-datetime 1, L302 orphan-object 1; `aind-bucket-lint explain CODE` tells more",
        f"  worst assets: {NEW_BAD} (1 finding)",
    ]
    # a finding that is fixed simply stops being absorbed: no error, fewer baselined
    (bucket / "notes.txt").unlink()
    res = run_cli("check", str(bucket), "--select", "N,L", "--baseline", str(base), "--format", "json")
    assert res.json()["summary"]["baselined"] == 2


def test_identity_survives_a_changed_number_in_the_message(tmp_path: Path) -> None:
    """A broken sidecar whose syntax error moves to another line is still the baselined problem."""
    asset = "123456_2022-02-21_16-30-01"
    bucket = make_tree(tmp_path / "bucket", {f"{asset}/subject.json": '{"a": 1,\n  "b": }'})
    base = tmp_path / "baseline.json"
    res = run_cli("baseline", str(bucket), "--select", "M202", "--output", str(base))
    assert res.code == 0
    entry = json.loads(base.read_text())["findings"]
    assert [(e["rule"], e["path"], e["message"]) for e in entry] == [
        ("M202", f"{asset}/subject.json", "subject.json is not valid JSON: Expecting value at line 2, column 8")
    ]
    (bucket / asset / "subject.json").write_text('{\n\n\n "a": 1, "b": }')
    res = run_cli("check", str(bucket), "--select", "M202", "--baseline", str(base), "--format", "json")
    assert res.code == 0
    assert res.json()["summary"]["baselined"] == 1
    # a different problem in the same file is new
    (bucket / asset / "subject.json").write_text("[1, 2]")
    res = run_cli("check", str(bucket), "--select", "M202", "--baseline", str(base), "--format", "json")
    assert res.code == 1
    assert [f["rule"] for f in res.json()["findings"]] == ["M202"]


def test_counts_match_as_many_occurrences_as_recorded() -> None:
    f = Finding("N101", "name-grammar", Severity.ERROR, "a", "a", "bad name")
    writer = BaselineWriter(None, {})  # type: ignore[arg-type]
    writer.add([f, f])
    doc = writer.document()
    assert [e["count"] for e in doc["findings"]] == [2]
    doc["findings"][0]["count"] = 1
    baseline = Baseline.from_document(doc)
    result = AssetResult("a", "unknown", None, 1, [f, f, f])
    assert baseline.filter(result).findings == [f, f]
    assert baseline.matched == 1
    # a hand-written entry without count matches once
    hand = Baseline.from_document(
        {"baseline_version": 1, "findings": [{"rule": "N101", "asset": "a", "path": "a", "message": "bad name"}]}
    )
    assert hand.filter(result).findings == [f, f] and hand.matched == 1


def test_engine_findings_are_never_baselined() -> None:
    unreadable = Finding("E901", "unreadable", Severity.ERROR, "a", "a/x", "cannot read a/x: denied")
    writer = BaselineWriter(None, {})  # type: ignore[arg-type]
    writer.add([unreadable])
    assert writer.document()["findings"] == []
    forged = Baseline.from_document(
        {
            "baseline_version": 1,
            "findings": [{"rule": "E901", "asset": "a", "path": "a/x", "message": unreadable.message}],
        }
    )
    assert forged.absorb(unreadable) is False and forged.matched == 0


def test_baseline_is_not_written_when_the_target_could_not_be_read(bucket: Path, tmp_path: Path) -> None:
    base = tmp_path / "baseline.json"
    base.write_text("previous")
    res = run_cli("baseline", str(bucket), str(tmp_path / "missing"), "--output", str(base))
    assert res.code == 2
    assert f"{base} not written: part of the target could not be read" in res.err
    assert base.read_text() == "previous"


def test_baseline_replaces_an_existing_file(bucket: Path, tmp_path: Path) -> None:
    base = tmp_path / "baseline.json"
    base.write_text("previous")
    res = run_cli("baseline", str(bucket), "--select", "N107", "--output", str(base))
    assert res.code == 0
    assert res.err == f"aind-bucket-lint: wrote {base}: 1 finding\n"
    assert [e["rule"] for e in json.loads(base.read_text())["findings"]] == ["N107"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json", "bucket"]


def test_baseline_into_a_missing_folder_exits_2(bucket: Path, tmp_path: Path) -> None:
    res = run_cli("baseline", str(bucket), "--output", str(tmp_path / "no" / "b.json"))
    assert res.code == 2
    assert f"{tmp_path / 'no' / 'b.json'}: cannot write the baseline" in res.err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "baseline file not found"),
        ("{", "not valid JSON"),
        ('{"baseline_version": 2, "findings": []}', "baseline_version 2 is not supported (this aind-bucket-lint"),
        ('{"findings": []}', "not a baseline file: at (top): 'baseline_version' is a required property"),
        (
            '{"baseline_version": 1, "findings": [{"rule": "N1", "asset": null, "path": null, "message": "m"}]}',
            "not a baseline file: at findings/0/rule: 'N1' does not match",
        ),
    ],
)
def test_a_bad_baseline_file_exits_2(bucket: Path, tmp_path: Path, text: str | None, message: str) -> None:
    base = tmp_path / "b.json"
    if text is not None:
        base.write_text(text)
    res = run_cli("check", str(bucket), "--baseline", str(base))
    assert res.code == 2
    assert res.out == ""
    assert res.err.startswith(f"aind-bucket-lint: {base}: ") and message in res.err


def test_baseline_named_in_the_config_is_relative_to_it(bucket: Path, tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    record(bucket, tmp_path / "ci" / "legacy.json")
    cfg = tmp_path / "ci" / "lint.yaml"
    cfg.write_text("baseline: legacy.json\nselect: [N, L]\n")
    res = run_cli("check", str(bucket), "--config", str(cfg), "--format", "json")
    assert res.code == 0
    assert res.json()["summary"]["baselined"] == 3
    # recording a baseline never reads the configured one
    res = run_cli("baseline", str(bucket), "--config", str(cfg), "--output", str(tmp_path / "again.json"))
    assert res.code == 0
    assert len(json.loads((tmp_path / "again.json").read_text())["findings"]) == 3


def test_the_baseline_matches_across_targets_of_the_same_tree(bucket: Path, tmp_path: Path) -> None:
    """Paths are relative to the target root, so a baseline made here works on a copy elsewhere."""
    import shutil

    base = tmp_path / "baseline.json"
    record(bucket, base)
    copy = tmp_path / "elsewhere" / "bucket"
    shutil.copytree(bucket, copy)
    res = run_cli("check", str(copy), "--select", "N,L", "--baseline", str(base))
    assert res.code == 0 and "3 baselined findings not shown" in res.out


def test_readme_baseline_example_is_a_valid_baseline() -> None:
    [example] = readme_blocks("json")
    doc = json.loads(example)
    jsonschema.Draft202012Validator(baseline_schema()).validate(doc)
    finding = Finding(
        "N102",
        "unknown-modality",
        Severity.ERROR,
        BAD_MODALITY,
        BAD_MODALITY,
        "modality 'smartspim' is not in the vocabulary; did you mean 'SmartSPIM'?",
    )
    assert Baseline.from_document(doc).absorb(finding)
    [commands] = readme_blocks("bash")
    assert "aind-bucket-lint baseline s3://aind-open-data/ --no-sign-request --output legacy-baseline.json" in commands
