"""Real files validated through the real environments of older releases (one per release line).

The files are AIND's own, from ../shared/fixtures/upstream-truth/ (read in place); each is
validated by the release that declares its version, in that release's environment (prepared in
the cache on first need; ``.ci/run`` prepares them beforehand):

- 0.x: a pydantic 1 release (0.13.22) and a pydantic 2 one (0.38.6);
- 1.x before 1.4.0: 1.2.0, with the cross-field rule JSON Schemas lack;
- 2.x before 2.9.2: 2.0.0, whose MRI acquisition 2.9.2 would reject.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from linter.metadata import validate_sidecar
from tests.conftest import FIXTURES, lint_findings, make_tree

SIDECARS = FIXTURES / "upstream-truth" / "sidecars"
pytestmark = pytest.mark.skipif(not SIDECARS.is_dir(), reason="../shared/fixtures/upstream-truth is absent")


def text(rel: str) -> str:
    return gzip.decompress((SIDECARS / rel).read_bytes()).decode("utf-8")


def check(rel: str, stem: str, data: dict[str, Any] | None = None) -> tuple[str | None, str | None, list]:
    raw = json.dumps(data) if data is not None else text(rel)
    result = validate_sidecar(f"{stem}.json", json.loads(raw), raw)
    assert result.verdict is not None
    return result.verdict.status, result.schema, [(e.json_path, e.message) for e in result.errors]


def test_0x_pydantic1_release() -> None:
    rel = "0.3.0/upgrader-c6263bc6__subject.json.gz"
    assert check(rel, "subject") == ("valid", "aind-data-schema 0.13.22 Subject", [])
    broken = json.loads(text(rel))
    broken["sex"] = "Mal"
    del broken["subject_id"]
    status, schema, errors = check(rel, "subject", broken)
    assert (status, schema) == ("invalid", "aind-data-schema 0.13.22 Subject")
    assert errors == [
        ("$.subject_id", "field required"),
        ("$.sex", "value is not a valid enumeration member; permitted: 'Female', 'Male'"),
    ]


def test_0x_pydantic2_release() -> None:
    rel = "0.13.11/ex-v0.38.6__data_description.json.gz"
    assert check(rel, "data_description") == ("valid", "aind-data-schema 0.38.6 DataDescription", [])
    broken = json.loads(text(rel)) | {"data_level": "cooked"}
    status, schema, errors = check(rel, "data_description", broken)
    assert (status, schema) == ("invalid", "aind-data-schema 0.38.6 DataDescription")
    assert errors[0][0] == "$.data_level"


def test_1x_release_before_1_4_runs_its_cross_field_rules(tmp_path: Path) -> None:
    rel = "1.1.3/upgrader-00266698__processing.json.gz"
    make_tree(tmp_path, {"ecephys_1_2024-01-01_00-00-00/processing.json": text(rel)})
    found = lint_findings(tmp_path, select=["M203", "M204"])
    assert [(f.rule, f.details["json_path"], f.details["schema"]) for f in found] == [
        ("M203", "$.processing_pipeline.data_processes[1].notes", "aind-data-schema 1.2.0 Processing")
    ]
    assert found[0].message == (
        "$.processing_pipeline.data_processes[1].notes: Value error, Notes cannot be empty if 'name' is Other. "
        "Describe the process name in the notes field., got null"
    )
    fixed = json.loads(text(rel))
    fixed["processing_pipeline"]["data_processes"][1]["notes"] = "a process of our own"
    assert check(rel, "processing", fixed) == ("valid", "aind-data-schema 1.2.0 Processing", [])


def test_2x_release_before_2_9_2_accepts_what_2_9_2_rejects() -> None:
    rel = "2.0.34/gen-v2.0.0__mri_acquisition.json.gz"
    assert check(rel, "acquisition") == ("valid", "aind-data-schema 2.0.0 Acquisition", [])
    # the same file declared as 2.9.2's Acquisition version is judged by 2.9.2, in-process
    as_new = json.loads(text(rel)) | {"schema_version": "2.5.4"}
    status, schema, errors = check(rel, "acquisition", as_new)
    assert (status, schema) == ("invalid", "aind-data-schema 2.9.2 Acquisition")
    assert errors[0] == ("$.data_streams[0].configurations[0].index", "Field required")
