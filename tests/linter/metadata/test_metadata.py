"""linter.metadata and linter.validation: declared versions, validation by the release that
declares the version, JSON paths, lazy import.

The documents are the project's own (tests/fixtures.py: 2.x made by the installed models, 1.x
in the 1.x shape), valid as built or with one thing broken. The real aind-data-schema example
files and legacy files are read in place from ../shared/fixtures (skipped when it is absent).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from linter import validation
from linter.metadata import creation_moment, declared_version, source_names, validate_sidecar
from linter.validation import SchemaError, json_path
from tests import fixtures as fx
from tests.conftest import FIXTURES, REPO, upstream_files

EXAMPLES = "aind-metadata-examples"
V1 = FIXTURES / EXAMPLES / "v1.4.0"
RAW1 = "ecephys_12345_2022-02-21_16-30-01"
RAW2 = "123456_2022-02-21_16-30-01"
T0 = dt.datetime(2022, 2, 21, 16, 30, 1, tzinfo=fx.PACIFIC)
CORE_STEMS = (
    "data_description",
    "quality_control",
    "acquisition",
    "instrument",
    "procedures",
    "processing",
    "session",
    "subject",
    "model",
    "rig",
)
# aind-data-schema's own validators warn about deprecated fields of the (real) example files
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:aind_data_schema"),
]


def bare_name(path: Path) -> str:
    """The name a real asset stores an example under: ``ephys_rig.json`` -> ``rig.json``."""
    return next(f"{stem}.json" for stem in CORE_STEMS if path.stem.endswith(stem))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def errors(key: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e.json_path, e.message) for e in validate_sidecar(key, data).errors]


# --- declared version --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem", "message"),
    [
        (2, "malformed", "subject.json schema_version 2 is not a version MAJOR.MINOR.PATCH; it cannot be validated"),
        (
            "2.3",
            "malformed",
            "subject.json schema_version '2.3' is not a version MAJOR.MINOR.PATCH; it cannot be validated",
        ),
        (
            "v2.3.3",
            "malformed",
            "subject.json schema_version 'v2.3.3' is not a version MAJOR.MINOR.PATCH; it cannot be validated",
        ),
        (
            None,
            "malformed",
            "subject.json schema_version None is not a version MAJOR.MINOR.PATCH; it cannot be validated",
        ),
    ],
)
def test_declared_version_problems(value: object, problem: str, message: str) -> None:
    data = fx.subject_v2("123456") | {"schema_version": value}
    verdict = declared_version("subject.json", data)
    assert (verdict.problem, verdict.message) == (problem, message)
    result = validate_sidecar("subject.json", data)
    assert result.skipped and result.errors == () and not result.valid


def test_missing_schema_version() -> None:
    data = fx.subject_v2("123456")
    del data["schema_version"]
    verdict = declared_version("subject.json", data)
    assert (verdict.problem, verdict.message) == (
        "missing",
        "subject.json has no schema_version; it cannot be validated",
    )


@pytest.mark.parametrize(
    "path", upstream_files(f"{EXAMPLES}/legacy-data-description"), ids=lambda p: p.name if p else "absent"
)
def test_legacy_0x_files_are_validated_by_their_0x_release(path: Path) -> None:
    """Real 0.x files (upstream, read in place), each judged by the 0.x release that declares it."""
    data = load(path)
    result = validate_sidecar("data_description.json", data)
    assert result.version.problem is None and result.version.generation == 0
    assert result.verdict is not None and result.verdict.judged
    assert result.schema is not None and result.schema.startswith("aind-data-schema 0.")


def test_a_version_no_release_declares_names_the_nearest() -> None:
    data = fx.subject_v2("123456") | {"schema_version": "3.0.0"}
    result = validate_sidecar("subject.json", data)
    assert result.skipped and result.verdict is not None and result.verdict.status == "unknown-version"
    assert result.verdict.nearest == ("2.3.2", "2.3.3")
    assert result.verdict.message == (
        "no published aind-data-schema release declares subject schema_version 3.0.0; "
        "nearest published versions: 2.3.2, 2.3.3"
    )


def test_a_file_type_the_generation_does_not_have() -> None:
    rig = fx.rig_v1() | {"schema_version": "2.0.0"}
    verdict = validate_sidecar("rig.json", rig).verdict
    assert verdict is not None and verdict.status == "unknown-version"
    assert verdict.nearest == ("1.0.4", "1.1.1")
    model = fx.model_v2() | {"schema_version": "1.0.0"}
    assert validate_sidecar("model.json", model).verdict.nearest == ("0.0.1", "2.0.0")  # type: ignore[union-attr]
    assert validation.validate("notes", "1.0.0", "{}").message == "no aind-data-schema release has a notes model"


# --- validation: every fixture and every real example is valid against its own generation ----

FIXTURE_SETS = {
    "2.x raw": lambda: fx.v2_sidecars(RAW2),
    "2.x derived": lambda: fx.v2_sidecars(f"{RAW2}_sorted_2022-02-22_10-00-00"),
    "2.x SPIM": lambda: fx.v2_sidecars("SmartSPIM_651286_2023-01-01_10-00-00", modalities=["SPIM"]),
    "2.x behavior": lambda: fx.v2_sidecars("behavior_651286_2023-01-01_10-00-00", modalities=["behavior"]),
    "2.x others": lambda: {"quality_control.json": fx.quality_control_v2(T0), "model.json": fx.model_v2()},
    "1.x ecephys": lambda: fx.v1_sidecars(RAW1),
    "1.x derived": lambda: fx.v1_sidecars(f"{RAW1}_sorted_2022-02-22_10-00-00"),
    "1.x SPIM": lambda: fx.v1_sidecars("SmartSPIM_651286_2023-01-01_10-00-00", modality="SPIM"),
    "1.x others": lambda: {
        "quality_control.json": fx.quality_control_v1(T0),
        "session.json": fx.session_v1("651286", T0, modality="behavior"),
    },
}


@pytest.mark.parametrize("which", FIXTURE_SETS)
def test_every_fixture_sidecar_is_valid_against_its_declared_generation(which: str) -> None:
    docs = FIXTURE_SETS[which]()
    generation = int(which[0])
    for bare, doc in docs.items():
        text = fx.dump(doc)
        result = validate_sidecar(bare, json.loads(text), text)
        assert (bare, result.version.generation, result.errors) == (bare, generation, ())
        assert result.valid


@pytest.mark.parametrize(
    "path",
    upstream_files(f"{EXAMPLES}/v1.4.0") + upstream_files(f"{EXAMPLES}/v2.9.2"),
    ids=lambda p: p.parent.name + "/" + p.name if p else "absent",
)
def test_every_real_example_is_valid_against_its_declared_generation(path: Path) -> None:
    """The example files aind-data-schema ships (upstream, read in place)."""
    text = path.read_text(encoding="utf-8")
    result = validate_sidecar(bare_name(path), json.loads(text), text)
    generation = 1 if path.parent == V1 else 2
    assert result.version.generation == generation
    assert result.errors == ()
    assert result.valid
    assert result.schema is not None and result.schema.startswith(f"aind-data-schema {generation}.")


def test_1x_file_is_judged_by_its_1x_release_not_flooded_with_2x_errors() -> None:
    data = fx.data_description_v1(RAW1)
    result = validate_sidecar("data_description.json", data)
    assert result.valid and result.schema == "aind-data-schema 1.4.0 DataDescription"
    # what validating it with the installed 2.x model says instead
    flood = validation.validate("data_description", "2.4.2", json.dumps(data | {"schema_version": "2.4.2"}))
    assert [(e.json_path, e.kind) for e in flood.errors] == [
        ("$.institution.registry", "enum"),
        ("$.funding_source[0].funder.registry", "enum"),
        ("$.investigators[0].registry", "enum"),
        ("$.investigators[0].abbreviation", "extra_forbidden"),
        ("$.modalities", "missing"),
        ("$.platform", "extra_forbidden"),
        ("$.label", "extra_forbidden"),
        ("$.modality", "extra_forbidden"),
        ("$.related_data", "extra_forbidden"),
    ]


def test_1x_derived_data_description_is_valid_when_either_model_accepts_it() -> None:
    """As 1.x Metadata does: a derived data_description is a DerivedDataDescription or a DataDescription."""
    data = fx.data_description_v1(RAW1) | {"data_level": "derived"}
    result = validate_sidecar("data_description.json", data)
    assert result.valid and result.schema == "aind-data-schema 1.4.0 DataDescription"
    assert validate_sidecar("data_description.json", data | {"input_data_name": "ecephys_1_2022-01-01_00-00-00"}).valid
    errors = validate_sidecar("data_description.json", data | {"data_level": "cooked"}).errors
    assert [(e.json_path, e.kind) for e in errors] == [("$.data_level", "enum")]


# --- errors: JSON paths and messages -------------------------------------------------------------


def test_2x_errors_have_json_paths_without_pydantic_union_tags() -> None:
    data = fx.subject_v2("123456")
    data["subject_details"]["sex"] = "Mal"
    data["subject_details"]["weight_g"] = 23.5
    del data["subject_id"]
    assert errors("subject.json", data) == [
        ("$.subject_id", "Field required"),
        ("$.subject_details.sex", "Input should be 'Female' or 'Male', got \"Mal\""),
        ("$.subject_details.weight_g", "Extra inputs are not permitted"),
    ]


def test_2x_errors_inside_arrays() -> None:
    data = fx.acquisition_v2("123456", T0)
    data["data_streams"][0]["modalities"][0]["abbreviation"] = "xx"
    data["data_streams"][0]["stream_start_time"] = "garbage"
    found = validate_sidecar("acquisition.json", data).errors
    assert [(e.json_path, e.kind) for e in found] == [
        ("$.data_streams[0].stream_start_time", "datetime_from_date_parsing"),
        ("$.data_streams[0].modalities[0]", "union_tag_invalid"),
    ]
    assert found[0].message == 'Input should be a valid datetime or date, input is too short, got "garbage"'
    assert found[1].message.startswith("Input tag 'xx' found using 'abbreviation' does not match any of the expected")
    assert len(found[1].message) <= validation.MESSAGE_LIMIT


def test_2x_cross_field_validator_error_sits_at_the_document() -> None:
    data = fx.data_description_v2(RAW2) | {"source_data": ["123456_2022-02-20_16-30-01"]}
    assert errors("data_description.json", data) == [
        ("$", "Value error, source_data must not be set when data_level is 'raw'")
    ]


def test_1x_errors_are_the_1x_models_own() -> None:
    data = fx.subject_v1("12345")
    data["sex"] = "Mal"
    data["extra"] = 1
    data["date_of_birth"] = "yesterday"
    del data["subject_id"]
    found = validate_sidecar("subject.json", data)
    assert found.schema == "aind-data-schema 1.4.0 Subject"
    assert [(e.json_path, e.kind) for e in found.errors] == [
        ("$.subject_id", "missing"),
        ("$.sex", "enum"),
        ("$.date_of_birth", "date_from_datetime_parsing"),
        ("$.extra", "extra_forbidden"),
    ]


def test_1x_discriminated_unions_report_the_tag_as_pydantic_does() -> None:
    data = fx.session_v1("12345", T0)
    data["data_streams"][0]["stream_modalities"][0] = {"name": "x", "abbreviation": "zzz"}
    found = validate_sidecar("session.json", data).errors
    assert [(e.json_path, e.kind) for e in found] == [("$.data_streams[0].stream_modalities[0]", "union_tag_invalid")]
    assert found[0].message.startswith("Input tag 'zzz' found using 'abbreviation' does not match any of the expected")


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([], "$"),
        (["subject_id"], "$.subject_id"),
        (["data_streams", 0, "modalities", 1], "$.data_streams[0].modalities[1]"),
        (["tags", "odd key", "it's"], "$.tags['odd key']['it\\'s']"),
    ],
)
def test_json_path_format(parts: list[str | int], expected: str) -> None:
    assert json_path(parts) == expected


# --- validation is shared by threads -----------------------------------------------------------


def test_validation_is_shared_across_threads() -> None:
    texts = {"subject.json": fx.dump(fx.subject_v2("123456")), "session.json": fx.dump(fx.session_v1("12345", T0))}
    broken = fx.subject_v2("123456")
    broken["subject_details"]["sex"] = "Mal"
    results: list[tuple[SchemaError, ...]] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for key, text in texts.items():
            assert validate_sidecar(key, json.loads(text), text).valid
        results.append(validate_sidecar("subject.json", broken).errors)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert set(results) == {
        (SchemaError("$.subject_details.sex", "Input should be 'Female' or 'Male', got \"Mal\"", "enum", "Mal"),)
    }


# --- fields every generation shares ----------------------------------------------------------------


def test_creation_moment_across_generations() -> None:
    legacy = fx.legacy_data_description("661279_2023-03-23_15-31-18", "661279", dt.datetime(2023, 3, 23, 22, 31, 18))
    assert creation_moment(fx.data_description_v2(RAW2)) == dt.datetime(2022, 2, 21, 16, 30, 1)
    assert creation_moment(legacy) == dt.datetime(2023, 3, 23, 22, 31, 18)
    assert creation_moment({"creation_time": "2022-02-21T16:30:01.999-08:00"}) == dt.datetime(2022, 2, 21, 16, 30, 1)
    assert creation_moment({"creation_time": "soon"}) is None
    assert creation_moment({}) is None


def test_source_names_across_generations() -> None:
    assert source_names({"source_data": ["a_1", "s3://aind-open-data/b_2/"]}) == ["a_1", "b_2"]
    assert source_names({"input_data_name": "c_3"}) == ["c_3"]
    assert source_names({"source_data": None}) is None
    assert source_names({"source_data": []}) is None


# --- aind-data-schema is imported only when a 2.x file is validated ---------------------------


@pytest.mark.parametrize(
    "argv", [["--help"], ["rules"], ["rules", "--format", "markdown"], ["explain", "M203"]], ids=" ".join
)
def test_help_and_rules_do_not_import_aind_data_schema(argv: list[str]) -> None:
    code = (
        "import sys, contextlib, io\n"
        "from linter.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('aind_data_schema', 'pydantic'))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_a_1x_only_bucket_never_imports_aind_data_schema(tmp_path: Path) -> None:
    asset = tmp_path / "ecephys_12345_2022-02-21_16-30-01"
    asset.mkdir()
    (asset / "data_description.json").write_text(fx.dump(fx.data_description_v1(asset.name)), encoding="utf-8")
    (asset / "subject.json").write_text(fx.dump(fx.subject_v1("12345")), encoding="utf-8")
    code = (
        "import sys, contextlib, io\n"
        "from linter.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main(['check', {str(tmp_path)!r}, '--select', 'M203'])\n"
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] in ('aind_data_schema', 'pydantic')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "0 []"
