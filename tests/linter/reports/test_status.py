"""`--output status:PATH`: per asset, per core file and per top-level field, the state in
aind-metadata-validator's vocabulary (VALID, PRESENT, OPTIONAL, MISSING, CORRUPT) with the release
that judged it, one JSON object a line; derived from the findings and the asset's recorded
sidecars, so `report` renders it again from a saved json report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from linter.findings import AssetResult, Finding, Severity
from linter.reports import ReportOptions, RunFooter, RunHeader
from linter.reports.status import StatusReporter, _field_of
from tests import fixtures as fx
from tests.conftest import run_cli

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:aind_data_schema"),
]

GOOD = "123456_2022-02-21_16-30-01"
BAD = "123457_2022-02-21_16-30-01"
DD = "aind-data-schema 2.9.2 DataDescription"
SUBJECT = "aind-data-schema 2.9.2 Subject"
ASSET_RULES = "M201,M202,M203,M204,M211,M212,M213,M214"


def bucket(root: Path) -> Path:
    """A complete valid 2.x asset, and one holding only a data_description.json (valid), a
    subject.json with a wrong subject_id, a null notes and no subject_details, and a
    processing.json that is not JSON."""
    subject = fx.sidecars(BAD)["subject.json"]
    subject["subject_id"] = 5
    subject["notes"] = None
    del subject["subject_details"]
    bad = fx.asset_files(BAD, sidecars={"subject.json": subject, "processing.json": "not json"})
    keep = {f"{BAD}/{k}" for k in ("data_description.json", "subject.json", "processing.json")}
    return fx.write_files(root, {**fx.asset_files(GOOD), **{k: v for k, v in bad.items() if k in keep}})


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def brief(rows: list[dict[str, Any]], asset: str) -> list[tuple[Any, ...]]:
    return [(r["key"], r["state"], r["release"], r["rules"]) for r in rows if r["asset"] == asset]


BAD_STATES = [
    ("metadata", "PRESENT", None, ["M201", "M202", "M203"]),
    ("data_description", "VALID", DD, []),
    ("subject", "PRESENT", SUBJECT, ["M203"]),
    ("procedures", "MISSING", None, ["M201"]),
    ("processing", "CORRUPT", None, ["M202"]),
    # the convention's 'published' set: one of rig/instrument, one of session/acquisition; none is
    # there, so each is MISSING
    ("acquisition", "MISSING", None, ["M201"]),
    ("instrument", "MISSING", None, ["M201"]),
    ("quality_control", "OPTIONAL", None, []),
    ("model", "OPTIONAL", None, []),
    ("rig", "MISSING", None, ["M201"]),
    ("session", "MISSING", None, ["M201"]),
    # the fields of each present file, in its order (describedBy, schema_version, creation_time
    # and object_type left out, as aind-metadata-validator does); null, "", [] and {} are OPTIONAL
    # where the file validates
    ("data_description.license", "VALID", DD, []),
    ("data_description.subject_id", "VALID", DD, []),
    ("data_description.tags", "OPTIONAL", DD, []),
    ("data_description.name", "VALID", DD, []),
    ("data_description.institution", "VALID", DD, []),
    ("data_description.funding_source", "VALID", DD, []),
    ("data_description.data_level", "VALID", DD, []),
    ("data_description.group", "OPTIONAL", DD, []),
    ("data_description.investigators", "VALID", DD, []),
    ("data_description.project_name", "VALID", DD, []),
    ("data_description.restrictions", "OPTIONAL", DD, []),
    ("data_description.modalities", "VALID", DD, []),
    ("data_description.source_data", "OPTIONAL", DD, []),
    ("data_description.data_summary", "OPTIONAL", DD, []),
    ("subject.subject_id", "PRESENT", SUBJECT, ["M203"]),
    ("subject.notes", "OPTIONAL", SUBJECT, []),
    ("subject.subject_details", "MISSING", SUBJECT, ["M203"]),  # absent, and M203 says it is required
]


def test_states_of_a_small_bucket(tmp_path: Path) -> None:
    root = bucket(tmp_path / "bucket")
    out = tmp_path / "status.jsonl"
    res = run_cli("check", str(root), "--select", ASSET_RULES, "--output", f"status:{out}")
    assert res.code == 1
    rows = lines(out)
    location = root.resolve().as_uri() + "/"
    assert rows[0] == {
        "asset": GOOD,
        "location": location + GOOD,
        "key": "metadata",
        "file": None,
        "field": None,
        "state": "VALID",
        "value": 2,
        "release": "aind-data-schema 2.9.2 Metadata",
        "rules": [],
    }
    good = brief(rows, GOOD)
    assert good[:11] == [
        ("metadata", "VALID", "aind-data-schema 2.9.2 Metadata", []),
        ("data_description", "VALID", DD, []),
        ("subject", "VALID", SUBJECT, []),
        ("procedures", "VALID", "aind-data-schema 2.9.2 Procedures", []),
        ("processing", "VALID", "aind-data-schema 2.9.2 Processing", []),
        ("acquisition", "VALID", "aind-data-schema 2.9.2 Acquisition", []),
        ("instrument", "VALID", "aind-data-schema 2.9.2 Instrument", []),
        ("quality_control", "OPTIONAL", None, []),
        ("model", "OPTIONAL", None, []),
        ("rig", "OPTIONAL", None, []),
        ("session", "OPTIONAL", None, []),
    ]
    assert [(k, s) for k, s, _r, _c in good[11:] if s not in ("VALID", "OPTIONAL")] == []
    assert len(good) == 68
    assert brief(rows, BAD) == BAD_STATES
    by_key = {(r["asset"], r["key"]): r for r in rows}
    assert by_key[(BAD, "subject.subject_id")] == {
        "asset": BAD,
        "location": location + BAD,
        "key": "subject.subject_id",
        "file": "subject.json",
        "field": "subject_id",
        "state": "PRESENT",
        "value": 1,
        "release": SUBJECT,
        "rules": ["M203"],
    }
    assert by_key[(BAD, "processing")]["value"] == -3
    assert by_key[(BAD, "procedures")]["value"] == -1
    assert by_key[(BAD, "model")]["value"] == 0


def test_report_renders_it_again_from_the_json_and_jsonl_reports(tmp_path: Path) -> None:
    root = bucket(tmp_path / "bucket")
    live, saved, jsonl = tmp_path / "status.jsonl", tmp_path / "report.json", tmp_path / "report.jsonl"
    res = run_cli(
        "check",
        str(root),
        "--select",
        ASSET_RULES,
        "--output",
        f"status:{live}",
        "--output",
        f"json:{saved}",
        "--output",
        f"jsonl:{jsonl}",
    )
    assert res.code == 1
    doc = json.loads(saved.read_text(encoding="utf-8"))
    assert doc["assets"][1]["judged"]["files"]["processing.json"] is None  # not JSON: nothing judged
    assert doc["assets"][1]["judged"]["files"]["subject.json"] == {
        "schema": SUBJECT,
        "fields": {
            "object_type": "set",
            "describedBy": "set",
            "schema_version": "set",
            "subject_id": "set",
            "notes": "empty",
        },
    }
    for report in (saved, jsonl):
        again = tmp_path / f"again-{report.suffix[1:]}.jsonl"
        assert run_cli("report", str(report), "--output", f"status:{again}").code == 0
        assert again.read_text(encoding="utf-8") == live.read_text(encoding="utf-8")


def test_reports_with_the_record_still_match_their_schema(tmp_path: Path) -> None:
    root = bucket(tmp_path / "bucket")
    res = run_cli(
        "check",
        str(root),
        "--select",
        ASSET_RULES,
        "--format",
        "jsonl",
        "--output",
        "-",
        "--output",
        f"status:{tmp_path / 's.jsonl'}",
    )
    assert res.code == 1
    assets = [r for r in res.lines() if r["type"] == "asset"]  # checked against the report schema
    assert [sorted(a["judged"]["files"]) for a in assets] == [
        [
            "acquisition.json",
            "data_description.json",
            "instrument.json",
            "procedures.json",
            "processing.json",
            "subject.json",
        ],
        ["data_description.json", "processing.json", "subject.json"],
    ]


def test_a_json_report_without_the_record_gives_what_the_findings_say(tmp_path: Path) -> None:
    """A json report of a run without a status report does not record the sidecars: a file
    without findings may be valid or absent, and its state is null with the reason."""
    root = bucket(tmp_path / "bucket")
    saved, status = tmp_path / "report.json", tmp_path / "status.jsonl"
    assert run_cli("check", str(root), "--select", ASSET_RULES, "--output", f"json:{saved}").code == 1
    assert "judged" not in json.loads(saved.read_text(encoding="utf-8"))["assets"][0]
    assert run_cli("report", str(saved), "--output", f"status:{status}").code == 0
    rows = lines(status)
    assert {(r["state"], r["reason"]) for r in rows if r["asset"] == GOOD} == {
        (None, "the report did not record the asset's sidecars (a run with a status report does)"),
    }
    assert brief(rows, BAD) == [
        ("metadata", "PRESENT", None, ["M201", "M202", "M203"]),
        ("data_description", None, None, []),
        ("subject", "PRESENT", SUBJECT, ["M203"]),
        ("procedures", "MISSING", None, ["M201"]),
        ("processing", "CORRUPT", None, ["M202"]),
        ("acquisition", "MISSING", None, ["M201"]),
        ("instrument", "MISSING", None, ["M201"]),
        ("quality_control", None, None, []),
        ("model", None, None, []),
        ("rig", "MISSING", None, ["M201"]),
        ("session", "MISSING", None, ["M201"]),
        ("subject.subject_details", "MISSING", SUBJECT, ["M203"]),  # pydantic's error says 'missing'
        ("subject.subject_id", "PRESENT", SUBJECT, ["M203"]),
    ]


def _finding(rule: str, path: str, severity: Severity = Severity.ERROR, **details: Any) -> Finding:
    return Finding(rule, "name", severity, "A", path, "message", details)


def test_states_not_judged_are_null_with_the_reason() -> None:
    """M204 (the file's release could not judge it) and M214 (the asset not judged as a whole)
    give no state: AIND's vocabulary has none for 'not judged', and none is guessed."""
    out = __import__("io").StringIO()
    reporter = StatusReporter(out, ReportOptions())
    reporter.start(RunHeader(("/b",), "aind-open-data"))
    judged = {
        "files": {"data_description.json": {"schema": None, "fields": {"name": "set"}}},
        "metadata": None,
    }
    m204 = _finding("M204", "A/data_description.json", Severity.WARNING, problem="unknown-version")
    m214 = _finding("M214", "A", Severity.WARNING, release="2.0.0")
    reporter.asset(AssetResult("A", "raw", None, 1, [m204, m214], judged=judged))
    reporter.finish(RunFooter(None, True, {}))
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["key"], r["state"], r["value"], r["release"], r["rules"], r.get("reason")) for r in rows[:2]] == [
        ("metadata", None, None, "aind-data-schema 2.0.0 Metadata", ["M214"], "message"),
        ("data_description", None, None, None, ["M204"], "message"),
    ]
    assert rows[-1]["key"] == "data_description.name" and rows[-1]["state"] is None


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("$.subject_details.sex", "subject_details"),
        ("$.subject_procedures[0]", "subject_procedures"),
        ("$['odd.key']", "odd.key"),
        ("$", None),
        (None, None),
    ],
)
def test_the_field_a_json_path_is_at(path: str | None, field: str | None) -> None:
    assert _field_of(path) == field
