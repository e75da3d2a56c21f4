"""M211-M214 and M203's asset-level part over the project's own assets (tests/fixtures.py): 2.x
files made by the installed aind-data-schema (judged in-process by its Metadata), 1.x files
judged by a 1.x release's Metadata in that release's worker. Each asset is a valid one with one
thing changed; every test runs the real engine and asserts the exact findings.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from linter import validation
from linter.findings import Finding, Severity
from linter.validation import envs
from rules.asset import canonical
from tests import fixtures as fx
from tests.conftest import lint_findings, make_tree
from tests.fixtures import dump
from tests.rules.test_metadata import convention_with, lint

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:aind_data_schema"),
]

RAW2 = "123456_2022-02-21_16-30-01"
DERIVED2 = f"{RAW2}_sorted_2022-02-22_10-00-00"
RAW1 = "ecephys_12345_2022-02-21_16-30-01"
SPIM1 = "SmartSPIM_12345_2022-02-21_16-30-01"
DERIVED1 = f"{RAW1}_sorted_2022-02-22_10-00-00"
T0 = dt.datetime(2022, 2, 21, 16, 30, 1, tzinfo=fx.PACIFIC)
ASSET_RULES = ["M203", "M211", "M212", "M213", "M214"]
METADATA_2 = "aind-data-schema 2.9.2 Metadata"
EVERY_FILE = "the newest release declaring every core file's version"


def found(findings: Iterable[Finding]) -> list[tuple[str, str, str | None, str]]:
    return [(f.rule, str(f.severity), f.path, f.message) for f in findings]


def docs_of(name: str, generation: int = 2, **changes: Any) -> dict[str, dict[str, Any]]:
    return fx.sidecars(name, generation, **changes)


def write(root: Path, name: str, docs: dict[str, Any]) -> None:
    make_tree(root, {f"{name}/{bare}": dump(doc) if isinstance(doc, dict) else doc for bare, doc in docs.items()})


# --- whole assets that upstream accepts --------------------------------------------------------------


def test_complete_assets_are_valid_as_a_whole(tmp_path: Path) -> None:
    write(tmp_path, RAW2, docs_of(RAW2))
    write(tmp_path, DERIVED2, docs_of(DERIVED2))
    write(tmp_path, RAW1, docs_of(RAW1, 1))
    write(tmp_path, SPIM1, docs_of(SPIM1, 1, modality="SPIM"))
    # a 1.x derived asset: 1.x Metadata's DataDescription field rejects the derived fields that
    # 1.x's own DerivedDataDescription accepts (an upstream quirk the linter does not follow)
    write(tmp_path, DERIVED1, docs_of(DERIVED1, 1))
    assert lint(tmp_path, ASSET_RULES) == []


# --- M211 asset-validation ----------------------------------------------------------------------------


def test_m211_an_active_device_neither_instrument_nor_procedures_has(tmp_path: Path) -> None:
    docs = docs_of(RAW2)
    docs["acquisition.json"]["data_streams"][0]["active_devices"].append("Camera 9")
    write(tmp_path, RAW2, docs)
    findings = lint(tmp_path, ASSET_RULES)
    assert found(findings) == [
        (
            "M211",
            "error",
            f"{RAW2}/procedures.json",
            f"validate_acquisition_active_devices ({METADATA_2}) rejects the asset: Active devices "
            "'{'Camera 9'}' were not found in either the Instrument.components or in an individual procedure's "
            "implanted_device field. [files: procedures.json, acquisition.json, instrument.json]",
        )
    ]
    assert findings[0].details == {
        "validator": "validate_acquisition_active_devices",
        "schema": METADATA_2,
        "release": "2.9.2",
        "basis": EVERY_FILE,
        "files": ["procedures.json", "acquisition.json", "instrument.json"],
        "outcome": "raised",
        "error": "Active devices '{'Camera 9'}' were not found in either the Instrument.components or in an "
        "individual procedure's implanted_device field.",
    }


def test_m211_each_failing_validator_is_its_own_finding_and_a_warning_stays_a_warning(tmp_path: Path) -> None:
    docs = docs_of(RAW2)
    acquisition = docs["acquisition.json"]
    acquisition["subject_details"] = None  # in vivo: Metadata requires them
    acquisition["acquisition_end_time"] = (T0 + dt.timedelta(days=2)).isoformat()  # two days after the name
    write(tmp_path, RAW2, docs)
    findings = lint(tmp_path, ASSET_RULES)
    assert found(findings) == [
        (
            "M211",
            "error",
            f"{RAW2}/acquisition.json",
            f"validate_subject_details_if_not_specimen ({METADATA_2}) rejects the asset: Acquisition.subject_details "
            "are required for in vivo experiments [files: acquisition.json]",
        ),
        (
            "M211",
            "warning",
            f"{RAW2}/data_description.json",
            f"validate_data_description_name_time_consistency ({METADATA_2}) warns: Creation time from "
            "data_description.name (2022-02-21 16:30:01) should be close to the acquisition end time "
            "(2022-02-23 16:30:01-08:00) [files: data_description.json, acquisition.json]",
        ),
    ]
    assert findings[1].severity is Severity.WARNING and findings[1].details["outcome"] == "warned"


def test_m211_1x_rig_and_session_disagree(tmp_path: Path) -> None:
    docs = docs_of(RAW1, 1)
    docs["session.json"]["rig_id"] = "323_EPHYS2_20210601"
    write(tmp_path, RAW1, docs)
    findings = lint(tmp_path, ASSET_RULES)
    assert found(findings) == [
        (
            "M211",
            "error",
            f"{RAW1}/rig.json",
            "validate_rig_session_compatibility (aind-data-schema 1.4.0 Metadata) rejects the asset: "
            '["Rig ID in session 323_EPHYS2_20210601 does not match the rig\'s 323_EPHYS1_20210601."] '
            "[files: rig.json, session.json]",
        )
    ]
    assert findings[0].details["basis"] == EVERY_FILE


def test_m211_1x_expected_files_of_the_modality(tmp_path: Path) -> None:
    docs = docs_of(SPIM1, 1, modality="SPIM")
    del docs["procedures.json"]
    write(tmp_path, SPIM1, docs)
    assert found(lint(tmp_path, ASSET_RULES)) == [
        (
            "M211",
            "error",
            f"{SPIM1}/data_description.json",
            "validate_expected_files_by_modality (aind-data-schema 1.4.0 Metadata) rejects the asset: SPIM "
            "metadata missing required file: procedures [files: data_description.json, subject.json, "
            "processing.json, acquisition.json, instrument.json]",
        )
    ]


def test_m211_1x_expected_files_of_a_derived_asset_are_a_warning(tmp_path: Path) -> None:
    """Upstream's 1.x Metadata rejects every derived asset before its expected-files validator
    (the DataDescription quirk): that check never ran on derived data, and M201 judges its files."""
    docs = docs_of(DERIVED1, 1)
    del docs["procedures.json"]
    write(tmp_path, DERIVED1, docs)
    findings = lint(tmp_path, ASSET_RULES)
    assert found(findings) == [
        (
            "M211",
            "warning",
            f"{DERIVED1}/data_description.json",
            "validate_expected_files_by_modality (aind-data-schema 1.4.0 Metadata) would reject the asset: "
            "ECEPHYS metadata missing required file: procedures [files: data_description.json, subject.json, "
            "processing.json, rig.json, session.json]; upstream's 1.x Metadata never reached this check for "
            "derived data (its DataDescription field rejects DerivedDataDescription), so which files a derived "
            "asset needs is M201's",
        )
    ]
    assert findings[0].details["derived_1x"] is True


# --- M203: a validator of upstream's Metadata that crashes on valid files -----------------------------


def test_m203_a_validator_crashing_on_valid_files_is_named(tmp_path: Path) -> None:
    spim = "SmartSPIM_123456_2022-02-21_16-30-01"
    write(tmp_path, spim, docs_of(spim, modalities=("SPIM",)))  # its stream is an ExternalDataStream
    findings = lint(tmp_path, ASSET_RULES)
    assert found(findings) == [
        (
            "M203",
            "error",
            f"{spim}/acquisition.json",
            f"$: validate_instrument_acquisition_compatibility of {METADATA_2} raised AttributeError: "
            "'ExternalDataStream' object has no attribute 'active_devices' on files that are valid "
            "[files: acquisition.json, instrument.json]",
        )
    ]
    assert findings[0].details == {
        "json_path": "$",
        "error": "validator_error",
        "schema": METADATA_2,
        "validator": "validate_instrument_acquisition_compatibility",
        "files": ["acquisition.json", "instrument.json"],
        "basis": EVERY_FILE,
    }


def test_a_crash_caused_by_a_file_that_failed_is_that_files_finding(tmp_path: Path) -> None:
    spim = "SmartSPIM_123456_2022-02-21_16-30-01"
    docs = docs_of(spim, modalities=("SPIM",))
    docs["acquisition.json"]["acquisition_type"] = 7  # invalid alone: it enters unvalidated
    write(tmp_path, spim, docs)
    assert [(f.rule, f.path, f.details.get("json_path")) for f in lint(tmp_path, ASSET_RULES)] == [
        ("M203", f"{spim}/acquisition.json", "$.acquisition_type")
    ]


# --- M213 release-mix ---------------------------------------------------------------------------------


def test_m213_a_file_valid_alone_that_the_assets_release_rejects(tmp_path: Path) -> None:
    docs: dict[str, Any] = docs_of(RAW2)
    docs["subject.json"] = fx.subject_v1("123456")  # a 1.x subject, valid by 1.4.0, beside 2.x files
    write(tmp_path, RAW2, docs)
    findings = lint(tmp_path, ["M213"])
    assert len(findings) == 1
    assert findings[0].path == f"{RAW2}/subject.json"
    assert findings[0].message.startswith(
        f"subject.json fails validation by {METADATA_2}'s release, which judges the asset (no release declares "
        "every core file's version; the release of data_description 2.4.2): "
    )
    assert findings[0].message.endswith("(valid alone by aind-data-schema 1.4.0 Subject)")
    assert findings[0].details["alone"] == "valid alone by aind-data-schema 1.4.0 Subject"
    assert findings[0].details["errors"] > 0


# --- M214 asset-not-validated -------------------------------------------------------------------------


def test_m214_a_0x_asset_is_said_not_validated_as_a_whole(tmp_path: Path) -> None:
    # Processing 0.0.1: declared by releases 0.0.13 to 0.3.7, long before Metadata existed
    processing = {"describedBy": "x", "schema_version": "0.0.1", "data_processes": []}
    make_tree(tmp_path, {f"{RAW1}/processing.json": json.dumps(processing)})
    findings = lint(tmp_path, ["M211", "M213", "M214"])
    assert found(findings) == [
        (
            "M214",
            "warning",
            RAW1,
            f"the asset is not validated as a whole (aind-data-schema 0.3.7: {EVERY_FILE}): aind-data-schema 0.3.7 "
            "has no Metadata model (it came with late 0.x releases); its files are validated one by one",
        )
    ]


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    monkeypatch.setenv(envs.CACHE_ENV, str(folder))
    monkeypatch.setenv(envs.OFFLINE_ENV, "1")
    validation.reset()
    yield folder
    validation.reset()


def test_m214_the_assets_release_cannot_be_prepared(tmp_path: Path, fresh_cache: Path) -> None:
    write(tmp_path / "b", RAW1, docs_of(RAW1, 1))
    findings = lint(tmp_path / "b", ["M211", "M214"])
    assert found(findings) == [
        (
            "M214",
            "warning",
            RAW1,
            f"the asset is not validated as a whole (aind-data-schema 1.4.0: {EVERY_FILE}): aind-data-schema 1.4.0 "
            "is not prepared and cannot be offline (run `aind-bucket-lint schemas install 1.4.0` with network); "
            "prepare it with `aind-bucket-lint schemas install 1.4.0`; its files are validated one by one",
        )
    ]
    assert findings[0].details["command"] == "aind-bucket-lint schemas install 1.4.0"


# --- metadata.nd.json: M203 and M212 --------------------------------------------------------------------


def record_of(name: str, docs: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The record of an asset whose core files are ``docs`` (``fields`` replace some)."""
    return fx.metadata_record(name, {bare[:-5]: doc for bare, doc in docs.items()} | fields)


def test_m212_the_record_agrees_with_the_sidecars(tmp_path: Path) -> None:
    docs = docs_of(RAW2)
    write(tmp_path, RAW2, {**docs, "metadata.nd.json": record_of(RAW2, docs, quality_control=None)})
    assert lint(tmp_path, ASSET_RULES) == []


def test_m212_each_disagreement_between_record_and_sidecars(tmp_path: Path) -> None:
    docs = docs_of(RAW2)
    stored = json.loads(json.dumps(docs))
    stored["subject.json"]["subject_details"]["sex"] = "Female"
    stored["subject.json"]["subject_details"]["genotype"] = "wt/Cre"
    record = record_of(RAW2, stored, processing=None, quality_control=fx.quality_control_v2(T0))
    write(tmp_path, RAW2, {**docs, "metadata.nd.json": record})
    findings = lint(tmp_path, ["M212"])
    assert found(findings) == [
        (
            "M212",
            "error",
            f"{RAW2}/processing.json",
            "metadata.nd.json holds no processing (null), but processing.json is at the root (the indexer would "
            "delete it)",
        ),
        (
            "M212",
            "error",
            f"{RAW2}/quality_control.json",
            "metadata.nd.json holds a quality_control, but quality_control.json is not at the root",
        ),
        (
            "M212",
            "error",
            f"{RAW2}/subject.json",
            "metadata.nd.json's subject differs from subject.json at $.subject_details.genotype, "
            "$.subject_details.sex (the indexer would rewrite subject.json from the record)",
        ),
    ]
    assert findings[2].details == {
        "field": "subject",
        "record": "metadata.nd.json",
        "sidecar": "subject.json",
        "problem": "differs",
        "differences": ["$.subject_details.genotype", "$.subject_details.sex"],
        "count": 2,
    }


def test_m212_a_record_the_convention_expects(tmp_path: Path) -> None:
    conv = convention_with(tmp_path, record_expected=True)
    write(tmp_path / "b", RAW2, docs_of(RAW2))
    assert found(lint(tmp_path / "b", ["M212"], conv)) == [
        (
            "M212",
            "error",
            f"{RAW2}/metadata.nd.json",
            "metadata.nd.json is missing; the convention expects the asset's record at its root",
        )
    ]


def test_m212_a_sidecar_written_as_the_indexer_writes_it_agrees_by_its_fingerprint(tmp_path: Path) -> None:
    docs = docs_of(RAW2)
    write(tmp_path, RAW2, {"metadata.nd.json": record_of(RAW2, docs)})
    for bare, doc in docs.items():
        (tmp_path / RAW2 / bare).write_bytes(canonical(doc))
    assert lint(tmp_path, ["M212"]) == []


def test_m203_a_record_its_own_metadata_rejects(tmp_path: Path) -> None:
    docs = docs_of(RAW2)
    stored = json.loads(json.dumps(docs))
    stored["acquisition.json"]["data_streams"][0]["active_devices"].append("Camera 9")
    write(tmp_path, RAW2, {**docs, "metadata.nd.json": record_of(RAW2, stored)})
    findings = [f for f in lint(tmp_path, ["M203"]) if f.path == f"{RAW2}/metadata.nd.json"]
    assert found(findings) == [
        (
            "M203",
            "error",
            f"{RAW2}/metadata.nd.json",
            "$: Value error, Active devices '{'Camera 9'}' were not found in either the Instrument.components or in "
            "an individual procedure's implanted_device field.",
        )
    ]
    assert findings[0].details["schema"] == METADATA_2


def test_the_asset_rules_run_by_default(tmp_path: Path) -> None:
    docs = docs_of(RAW2)
    docs["acquisition.json"]["data_streams"][0]["active_devices"].append("Camera 9")
    write(tmp_path, RAW2, docs)
    assert [f.rule for f in lint_findings(tmp_path)] == ["M211"]
