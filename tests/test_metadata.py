"""linter.metadata: declared versions, validation by generation, JSON paths, lazy import.

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

import jsonschema
import pytest

from linter import metadata
from linter.metadata import (
    VALIDATORS,
    SchemaError,
    creation_moment,
    declared_version,
    json_path,
    source_names,
    supported_text,
    validate_sidecar,
)
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
SUPPORTED = "1.x (aind-data-schema 1.4.0, JSON Schemas); 2.x (aind-data-schema 2.9.2, installed models)"


def bare_name(path: Path) -> str:
    """The name a real asset stores an example under: ``ephys_rig.json`` -> ``rig.json``."""
    return next(f"{stem}.json" for stem in CORE_STEMS if path.stem.endswith(stem))


# a 1.x surgery with one procedure: the shape of a discriminated union (procedure_type) inside
# another, for the fast-keyword test
SURGERY = {
    "procedure_type": "Surgery",
    "start_date": "2022-01-10",
    "experimenter_full_name": "Jane Doe",
    "protocol_id": "dx.doi.org/10.17504/protocols.io.example",
    "animal_weight_prior": "22.1",
    "procedures": [
        {
            "procedure_type": "Perfusion",
            "protocol_id": "dx.doi.org/10.17504/protocols.io.example2",
            "output_specimen_ids": ["12345-001"],
        }
    ],
}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def errors(key: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e.json_path, e.message) for e in validate_sidecar(key, data).errors]


# --- declared version --------------------------------------------------------------------------


def test_supported_generations_are_named() -> None:
    assert supported_text() == SUPPORTED


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
        (
            "3.0.0",
            "unsupported",
            "subject.json declares schema_version 3.0.0 (generation 3.x), which this linter cannot validate; "
            f"supported generations: {SUPPORTED}",
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
def test_legacy_0x_files_are_unsupported_and_not_validated(path: Path) -> None:
    """Real 0.x files (upstream, read in place)."""
    data = load(path)
    result = validate_sidecar("data_description.json", data)
    assert result.version.problem == "unsupported" and result.version.generation == 0
    assert result.version.message == (
        f"data_description.json declares schema_version {data['schema_version']} (generation 0.x), which this "
        f"linter cannot validate; supported generations: {SUPPORTED}"
    )
    assert result.skipped


def test_a_file_type_the_generation_does_not_have() -> None:
    rig = fx.rig_v1() | {"schema_version": "2.0.0"}
    verdict = declared_version("rig.json", rig)
    assert verdict.problem == "no-schema"
    assert verdict.message == (
        "rig.json declares schema_version 2.0.0, but generation 2.x has no rig model; supported: acquisition, "
        "data_description, instrument, model, procedures, processing, quality_control, subject"
    )
    model = fx.model_v2() | {"schema_version": "1.0.0"}
    assert declared_version("model.json", model).problem == "no-schema"


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


def test_1x_file_is_judged_by_1x_not_flooded_with_2x_errors() -> None:
    data = fx.data_description_v1(RAW1)
    result = validate_sidecar("data_description.json", data)
    assert result.valid and result.schema == "aind-data-schema 1.4.0 DataDescription (JSON Schema)"
    # what validating it with the installed 2.x model would have said instead
    flood = VALIDATORS.get(2, "data_description").errors(None, data)
    assert [(e.json_path, e.kind) for e in flood] == [
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


def test_1x_derived_data_description_uses_derived_model() -> None:
    data = fx.data_description_v1(RAW1) | {"data_level": "derived"}
    result = validate_sidecar("data_description.json", data)
    assert result.schema == "aind-data-schema 1.4.0 DerivedDataDescription (JSON Schema)"
    assert [(e.json_path, e.message) for e in result.errors] == [
        ("$.input_data_name", "'input_data_name' is a required property")
    ]
    assert validate_sidecar("data_description.json", data | {"input_data_name": "ecephys_1_2022-01-01_00-00-00"}).valid


def test_a_minor_version_difference_is_not_a_schema_error() -> None:
    """Within a generation the declared version is judged by M204 alone (1.x schemas pin it with const)."""
    assert validate_sidecar("subject.json", fx.subject_v1("12345") | {"schema_version": "1.0.0"}).valid
    assert validate_sidecar("subject.json", fx.subject_v2("123456") | {"schema_version": "2.0.1"}).valid


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
    assert len(found[1].message) <= metadata.MESSAGE_LIMIT


def test_2x_cross_field_validator_error_sits_at_the_document() -> None:
    data = fx.data_description_v2(RAW2) | {"source_data": ["123456_2022-02-20_16-30-01"]}
    assert errors("data_description.json", data) == [
        ("$", "Value error, source_data must not be set when data_level is 'raw'")
    ]


def test_1x_errors_have_json_paths_and_jsonschema_messages() -> None:
    data = fx.subject_v1("12345")
    data["sex"] = "Mal"
    data["extra"] = 1
    data["date_of_birth"] = "yesterday"
    del data["subject_id"]
    assert errors("subject.json", data) == [
        ("$", "Additional properties are not allowed ('extra' was unexpected)"),
        ("$.date_of_birth", "'yesterday' is not a 'date'"),
        ("$.sex", "'Mal' is not one of ['Female', 'Male']"),
        ("$.subject_id", "'subject_id' is a required property"),
    ]


def test_1x_discriminated_unions_report_the_branch_the_file_meant() -> None:
    data = fx.session_v1("12345", T0)
    module = data["data_streams"][0]["ephys_modules"][0]
    module["primary_targeted_structure"] = {"name": "Nowhere"}
    data["data_streams"][0]["stream_modalities"][0] = {"name": "x", "abbreviation": "zzz"}
    data["session_start_time"] = None
    assert errors("session.json", data) == [
        (
            "$.data_streams[0].ephys_modules[0].primary_targeted_structure.name",
            "'Nowhere' is not a known name (expected one of 840: 'Abducens nucleus', 'Accessory facial motor "
            "nucleus', 'Accessory olfactory bulb', 'Accessory olfactory bulb, glomerular layer', 'Accessory "
            "olfactory bulb, granular layer', ...)",
        ),
        (
            "$.data_streams[0].stream_modalities[0].abbreviation",
            "'zzz' is not a known abbreviation (expected one of 14: 'EMG', 'ISI', 'MRI', 'SPIM', 'behavior', ...)",
        ),
        ("$.session_start_time", "None is not of type 'string'"),
    ]


def test_1x_formats_follow_pydantic_leniency() -> None:
    base = fx.data_description_v1(RAW1)
    for good in ("2022-02-21T16:30:01Z", "2022-02-21T16:30:01", "2022-02-21 16:30:01.123456+02:00"):
        assert validate_sidecar("data_description.json", base | {"creation_time": good}).valid, good
    assert errors("data_description.json", base | {"creation_time": "10:31:30"}) == [
        ("$.creation_time", "'10:31:30' is not a 'date-time'")
    ]


def test_fast_1x_keywords_agree_with_plain_jsonschema() -> None:
    """The discriminator/Optional shortcuts give the same verdicts as jsonschema's own oneOf/anyOf."""
    schema = json.loads((REPO / "linter/schemas/v1/procedures.json").read_text(encoding="utf-8"))
    schema["properties"]["schema_version"] = {"type": "string"}
    plain = jsonschema.Draft202012Validator(schema)
    fast = metadata.FastDraft202012(schema)
    good = fx.procedures_v1("12345") | {"subject_procedures": [SURGERY]}
    bad_tag = json.loads(json.dumps(good))
    bad_tag["subject_procedures"][0]["procedures"][0]["procedure_type"] = "Teleportation"
    bad_optional = json.loads(json.dumps(good))
    bad_optional["subject_procedures"][0]["animal_weight_prior"] = {"grams": 20}
    for doc in (good, bad_tag, bad_optional):
        assert plain.is_valid(doc) == fast.is_valid(doc)
    assert fast.is_valid(good) and not fast.is_valid(bad_tag) and not fast.is_valid(bad_optional)


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


# --- validators are built once and shared by threads -----------------------------------------


def test_validators_are_built_once_and_shared_across_threads() -> None:
    texts = {"subject.json": fx.dump(fx.subject_v2("123456")), "session.json": fx.dump(fx.session_v1("12345", T0))}
    broken = fx.subject_v2("123456")
    broken["subject_details"]["sex"] = "Mal"
    results: list[tuple[int, int, tuple[SchemaError, ...]]] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        a = VALIDATORS.get(2, "subject")
        b = VALIDATORS.get(1, "session")
        for key, text in texts.items():
            assert validate_sidecar(key, json.loads(text), text).valid
        results.append((id(a), id(b), validate_sidecar("subject.json", broken).errors))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert len({(a, b) for a, b, _ in results}) == 1
    assert {errs for _, _, errs in results} == {
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
