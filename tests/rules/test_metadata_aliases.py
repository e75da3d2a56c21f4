"""M201, M204, M205 and M210 with the 0.x file names (the convention's ``metadata.aliases``):
``ephys_rig.json`` is the asset's rig, ``mri_session.json`` its session, each judged with its class."""

from __future__ import annotations

import json
from pathlib import Path

from linter.findings import Severity
from tests.conftest import lint_findings, make_tree

RAW = "ecephys_123456_2022-02-21_16-30-01"
CORE = ("data_description.json", "subject.json", "procedures.json", "processing.json")


def test_0x_file_names_count_as_rig_and_session(tmp_path: Path) -> None:
    files = {f"{RAW}/{name}": "{}" for name in CORE}
    files |= {f"{RAW}/ephys_rig.json": "{}", f"{RAW}/ephys_session.json": "{}"}
    other = "ophys_123456_2022-02-21_16-30-01"
    files |= {f"{other}/{name}": "{}" for name in CORE}
    files |= {f"{other}/ophys_rig.json": "{}", f"{other}/mri_session.json": "{}"}
    lonely = "ecephys_123456_2022-02-22_16-30-01"
    files |= {f"{lonely}/{name}": "{}" for name in CORE}
    files |= {f"{lonely}/ephys_rig_notes.json": "{}"}  # no alias: still no rig
    make_tree(tmp_path, files)
    found = lint_findings(tmp_path, select=["M201"])
    assert [(f.asset, f.message) for f in found] == [
        (
            lonely,
            "none of rig.json, instrument.json is present; one is required (set 'published')",
        ),
        (
            lonely,
            "none of session.json, acquisition.json is present; one is required (set 'published')",
        ),
    ]


def test_an_alias_and_the_file_it_stands_for_s_pair(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{RAW}/ephys_rig.json": "{}", f"{RAW}/instrument.json": "{}"})
    found = lint_findings(tmp_path, select=["M205"])
    assert [(f.rule, f.path, f.message, f.details) for f in found] == [
        (
            "M205",
            f"{RAW}/instrument.json",
            "ephys_rig.json and instrument.json are both present; an asset carries one or the other",
            {"files": ["ephys_rig.json", "instrument.json"]},
        )
    ]


def test_an_alias_below_the_root_is_misplaced(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{RAW}/notes/mri_session.json": "{}", f"{RAW}/original_metadata/ephys_rig.json": "{}"})
    found = lint_findings(tmp_path, select=["M210"])
    assert [(f.path, f.message) for f in found] == [
        (
            f"{RAW}/notes/mri_session.json",
            "mri_session.json is in notes/ below the asset root; sidecars belong at the root, beside the data",
        )
    ]


def test_an_alias_is_judged_with_its_class(tmp_path: Path) -> None:
    """A version only another session class reached is unknown for this one: the finding names
    the class and that class's versions (EphysSession stopped at 0.4.x)."""
    make_tree(
        tmp_path,
        {
            f"{RAW}/ephys_session.json": json.dumps({"schema_version": "0.9.0"}),
            f"{RAW}/session.json": json.dumps({"schema_version": "0.9.0"}),
        },
    )
    found = lint_findings(tmp_path, select=["M203", "M204"])
    assert [(f.path, f.severity, f.details["problem"]) for f in found] == [
        (f"{RAW}/ephys_session.json", Severity.WARNING, "unknown-version"),
        (f"{RAW}/session.json", Severity.WARNING, "unknown-version"),
    ]
    assert found[0].message.startswith(
        "ephys_session.json: no published aind-data-schema release declares session (EphysSession) "
        "schema_version 0.9.0; nearest published versions: "
    )
    assert "(EphysSession)" not in found[1].message
    assert found[0].details["nearest"] == ["0.4.13", "0.4.14"]
    assert found[1].details["nearest"] == ["0.4.13", "0.4.14", "1.0.0", "1.0.1"]
