"""M201-M210 and L304 over real folders holding the project's own sidecars (tests/fixtures.py):
2.x files made by the installed aind-data-schema models, 1.x files in the 1.x shape. A broken
file is a valid one with one thing changed. Every test runs the real engine and asserts the
exact findings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from linter.conventions import ConventionError, load_convention
from linter.engine import Linter
from linter.findings import Finding, Severity
from linter.plan import RunPlan
from linter.registry import load_rules, select_rules
from tests import fixtures as fx
from tests.conftest import brief, lint_findings, make_tree
from tests.fixtures import dump

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:aind_data_schema"),
]

CONVENTION = Path(__file__).resolve().parents[2] / "linter/conventions/aind-open-data.yaml"

RAW2 = "123456_2022-02-21_16-30-01"
RAW1 = "ecephys_12345_2022-02-21_16-30-01"
T0 = dt.datetime(2022, 2, 21, 16, 30, 1, tzinfo=fx.PACIFIC)


def v2_asset(name: str = RAW2, subject: str | None = None, **dd_changes: Any) -> dict[str, str]:
    """A complete, valid 2.x asset whose files agree with its name."""
    docs = fx.v2_sidecars(name, subject_id=subject)
    if dd_changes:
        docs["data_description.json"] = fx.data_description_v2(name, subject_id=subject, **dd_changes)
    return {f"{name}/{bare}": dump(doc) for bare, doc in docs.items()}


def v1_asset(name: str = RAW1, subject: str | None = None) -> dict[str, str]:
    """A complete, valid 1.x ecephys asset (session + rig)."""
    return {f"{name}/{bare}": dump(doc) for bare, doc in fx.v1_sidecars(name, subject_id=subject).items()}


def lint(target: Path, select: Iterable[str], convention: Path | None = None) -> list[Finding]:
    conv = load_convention(str(convention) if convention else "aind-open-data")
    linter = Linter(RunPlan(conv, select_rules(load_rules(), list(select), []), jobs=2))
    return [f for result in linter.lint_target(str(target)) for f in result.findings]


def convention_with(tmp_path: Path, **metadata: Any) -> Path:
    """The built-in convention with some of its metadata settings changed."""
    data = yaml.safe_load(CONVENTION.read_text(encoding="utf-8"))
    data["metadata"].update(metadata)
    path = tmp_path / "convention.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def messages(findings: Iterable[Finding]) -> list[tuple[str, str | None, str]]:
    return [(f.rule, f.path, f.message) for f in findings]


# --- complete, valid assets -------------------------------------------------------------------------


def test_complete_valid_assets_of_both_generations_have_no_findings(tmp_path: Path) -> None:
    derived = f"{RAW2}_sorted_2022-02-22_10-00-00"
    files = {
        **v2_asset(),
        **v1_asset(),
        **v2_asset(derived),
    }
    make_tree(tmp_path, files)
    assert lint_findings(tmp_path) == []


def test_rules_that_read_sidecars_declare_it() -> None:
    rules = load_rules()
    reading = {code for code, r in rules.items() if r.reads_content and (code[0] == "M" or code == "L304")}
    per_file = {"M201", "M202", "M203", "M204", "M206", "M207", "M208", "M209", "L304"}
    assert reading == per_file | {"M211", "M212", "M213", "M214"}  # the asset-level rules read them too
    assert not rules["M205"].reads_content and not rules["M210"].reads_content


# --- M201 missing-sidecar -----------------------------------------------------------------------------


def test_m201_published_set(tmp_path: Path) -> None:
    files = v2_asset()
    for bare in ("procedures.json", "instrument.json", "acquisition.json"):
        del files[f"{RAW2}/{bare}"]
    make_tree(tmp_path, files)
    assert messages(lint(tmp_path, ["M201"])) == [
        ("M201", f"{RAW2}/procedures.json", "required sidecar procedures.json is missing (set 'published')"),
        (
            "M201",
            f"{RAW2}/rig.json",
            "none of rig.json, instrument.json is present; one is required (set 'published')",
        ),
        (
            "M201",
            f"{RAW2}/session.json",
            "none of session.json, acquisition.json is present; one is required (set 'published')",
        ),
    ]


def test_m201_a_sidecar_below_the_root_does_not_count(tmp_path: Path) -> None:
    files = v2_asset()
    files[f"{RAW2}/results/procedures.json"] = files.pop(f"{RAW2}/procedures.json")
    make_tree(tmp_path, files)
    assert brief(lint(tmp_path, ["M201"])) == [("M201", RAW2, f"{RAW2}/procedures.json")]


def test_m201_aind_data_schema_2_set(tmp_path: Path) -> None:
    conv = convention_with(tmp_path, required_set="aind-data-schema-2")
    derived = f"{RAW2}_sorted_2022-02-22_10-00-00"
    only_subject = "654321_2022-02-21_16-30-01"
    make_tree(
        tmp_path / "b",
        {
            **v2_asset(),
            f"{derived}/results/units.csv": "u",
            f"{only_subject}/subject.json": dump(fx.subject_v2("654321")),
            "777777_2022-02-21_16-30-01/model.json": dump(fx.model_v2()),
        },
    )
    assert messages(lint(tmp_path / "b", ["M201"], conv)) == [
        (
            "M201",
            f"{derived}/data_description.json",
            "required sidecar data_description.json is missing (set 'aind-data-schema-2', for derived assets)",
        ),
        (
            "M201",
            f"{derived}/processing.json",
            "required sidecar processing.json is missing (set 'aind-data-schema-2', for derived assets)",
        ),
        (
            "M201",
            f"{only_subject}/acquisition.json",
            "required sidecar acquisition.json is missing (set 'aind-data-schema-2', when subject.json is present)",
        ),
        (
            "M201",
            f"{only_subject}/data_description.json",
            "required sidecar data_description.json is missing "
            "(set 'aind-data-schema-2', when subject.json is present)",
        ),
        (
            "M201",
            f"{only_subject}/instrument.json",
            "required sidecar instrument.json is missing (set 'aind-data-schema-2', when subject.json is present)",
        ),
        (
            "M201",
            f"{only_subject}/procedures.json",
            "required sidecar procedures.json is missing (set 'aind-data-schema-2', when subject.json is present)",
        ),
        (
            "M201",
            "777777_2022-02-21_16-30-01/data_description.json",
            "required sidecar data_description.json is missing "
            "(set 'aind-data-schema-2', when processing.json or model.json is present)",
        ),
    ]


def test_m201_aind_data_schema_1_set_follows_the_modality(tmp_path: Path) -> None:
    conv = convention_with(tmp_path, required_set="aind-data-schema-1")
    spim = "SmartSPIM_651286_2023-01-01_10-00-00"
    files: dict[str, str | bytes] = dict(v1_asset())
    del files[f"{RAW1}/rig.json"]
    files.update(fx.asset_files(spim, generation=1, modality="SPIM", drop=["acquisition.json", "processing.json"]))
    make_tree(tmp_path / "b", files)
    why = "set 'aind-data-schema-1', for modality"
    assert messages(lint(tmp_path / "b", ["M201"], conv)) == [
        (
            "M201",
            f"{spim}/acquisition.json",
            f"required sidecar acquisition.json is missing ({why} SPIM, confocal, fMOST, merfish)",
        ),
        (
            "M201",
            f"{spim}/processing.json",
            f"required sidecar processing.json is missing ({why} SPIM, confocal, fMOST, merfish)",
        ),
        (
            "M201",
            f"{RAW1}/rig.json",
            f"required sidecar rig.json is missing ({why} EMG, ISI, MRI, behavior, behavior-videos, ecephys, fib, "
            "icephys, pophys, slap)",
        ),
    ]


def test_m201_aind_upload_set(tmp_path: Path) -> None:
    conv = convention_with(tmp_path, required_set="aind-upload")
    files = v2_asset()
    del files[f"{RAW2}/processing.json"]  # not required by the upload check
    del files[f"{RAW2}/instrument.json"]
    make_tree(tmp_path, files)
    assert messages(lint(tmp_path, ["M201"], conv)) == [
        (
            "M201",
            f"{RAW2}/instrument.json",
            "none of instrument.json, rig.json is present; one is required (set 'aind-upload')",
        )
    ]


def test_required_set_must_be_defined(tmp_path: Path) -> None:
    conv = convention_with(tmp_path, required_set="nonesuch")
    with pytest.raises(ConventionError) as err:
        load_convention(str(conv))
    assert str(err.value) == (
        f"{conv}: invalid convention file:\n  at metadata/required_set: 'nonesuch' is not one of "
        "metadata.required_sets (aind-data-schema-1, aind-data-schema-2, aind-upload, published)"
    )


# --- M202 invalid-json -----------------------------------------------------------------------------------


def test_m202_each_way_a_sidecar_is_not_a_json_object(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = dict(v2_asset())
    subject = str(files[f"{RAW2}/subject.json"])
    processing = str(files[f"{RAW2}/processing.json"])
    files[f"{RAW2}/subject.json"] = subject.replace('"sex": "Male",', '"sex": "Male"')  # a lost comma
    files[f"{RAW2}/procedures.json"] = "[" + str(files[f"{RAW2}/procedures.json"]) + "]"
    files[f"{RAW2}/processing.json"] = processing.replace("Jane Doe", "Jane D\u00f6e").encode("latin-1")
    files[f"{RAW2}/quality_control.json"] = "\ufeff" + dump(fx.quality_control_v2(T0))
    make_tree(tmp_path, files)
    found = lint(tmp_path, ["M202"])
    offset = processing.index("Jane Doe") + len("Jane D")
    after = subject[subject.index('"sex": "Male",') :].split("\n")[1]
    line = subject[: subject.index('"sex": "Male",')].count("\n") + 2
    column = len(after) - len(after.lstrip()) + 1
    assert messages(found) == [
        ("M202", f"{RAW2}/procedures.json", "procedures.json is not a JSON object (top level is list)"),
        ("M202", f"{RAW2}/processing.json", f"processing.json is not UTF-8 (invalid byte at offset {offset})"),
        (
            "M202",
            f"{RAW2}/quality_control.json",
            "quality_control.json is not valid JSON: it starts with a UTF-8 byte order mark (U+FEFF), which "
            "aind-data-schema's model_validate_json rejects (expected value at line 1, column 1); save it as "
            "UTF-8 without BOM",
        ),
        (
            "M202",
            f"{RAW2}/subject.json",
            f"subject.json is not valid JSON: Expecting ',' delimiter at line {line}, column {column}",
        ),
    ]
    assert found[1].details == {"offset": offset}
    assert found[2].details == {"line": 1, "column": 1, "problem": "bom"}
    assert found[3].details == {"line": line, "column": column}


def test_m202_over_the_size_limit(tmp_path: Path) -> None:
    conv = convention_with(tmp_path, max_json_bytes=1536)
    make_tree(tmp_path / "b", v2_asset())
    size = {p.name: p.stat().st_size for p in (tmp_path / "b" / RAW2).iterdir()}
    # the limit sits between the asset's files: two are larger, the others are read and valid
    assert sorted(name for name, n in size.items() if n > 1536) == ["acquisition.json", "subject.json"]
    found = lint(tmp_path / "b", ["M202", "M203", "M204"], conv)
    assert messages(found) == [
        (
            "M202",
            f"{RAW2}/acquisition.json",
            "acquisition.json is larger than the limit of 1536 bytes; not read",
        ),
        (
            "M202",
            f"{RAW2}/subject.json",
            "subject.json is larger than the limit of 1536 bytes; not read",
        ),
    ]
    assert {f.path: f.details["size"] for f in found} == {
        f"{RAW2}/acquisition.json": size["acquisition.json"],
        f"{RAW2}/subject.json": size["subject.json"],
    }


# --- M203 schema-violation ---------------------------------------------------------------------------


def test_m203_one_finding_per_error_with_its_json_path(tmp_path: Path) -> None:
    files = v2_asset()
    subject = fx.subject_v2("123456")
    subject["subject_details"]["sex"] = "Mal"
    subject["subject_details"]["weight_g"] = 23.5
    files[f"{RAW2}/subject.json"] = dump(subject)
    make_tree(tmp_path, files)
    found = lint(tmp_path, ["M203"])
    assert messages(found) == [
        ("M203", f"{RAW2}/subject.json", "$.subject_details.sex: Input should be 'Female' or 'Male', got \"Mal\""),
        ("M203", f"{RAW2}/subject.json", "$.subject_details.weight_g: Extra inputs are not permitted"),
    ]
    assert found[0].details == {
        "json_path": "$.subject_details.sex",
        "error": "enum",
        "schema": "aind-data-schema 2.9.2 Subject",
        "schema_version": "2.3.3",
        "value": "Mal",
    }


def test_m203_1x_errors(tmp_path: Path) -> None:
    files = v1_asset()
    session = fx.session_v1("12345", T0)
    session["data_streams"][0]["stream_modalities"][0] = {"name": "x", "abbreviation": "zzz"}
    files[f"{RAW1}/session.json"] = dump(session)
    make_tree(tmp_path, files)
    found = lint(tmp_path, ["M"])
    assert messages(found) == [
        (
            "M203",
            f"{RAW1}/session.json",
            "$.data_streams[0].stream_modalities[0]: Input tag 'zzz' found using 'abbreviation' does not match "
            "any of the expected tags: 'behavior', 'behavior-videos', 'confocal', 'EMG', 'ecephys', 'fib', "
            "'fMOST', 'icephys', 'ISI', 'MRI', 'merfish', 'pophys', 'slap', 'SPIM'",
        )
    ]
    # judged by the release that declares Session 1.0.3 (1.4.0), in its own environment
    assert found[0].details["schema"] == "aind-data-schema 1.4.0 Session"


def test_m203_caps_errors_per_file_and_counts_the_rest(tmp_path: Path) -> None:
    conv = convention_with(tmp_path, max_errors_per_file=2)
    files = v2_asset()
    dd = fx.data_description_v2(RAW2)
    for field in ("license", "institution", "funding_source", "investigators", "data_level"):
        del dd[field]
    files[f"{RAW2}/data_description.json"] = dump(dd)
    make_tree(tmp_path / "b", files)
    found = lint(tmp_path / "b", ["M203"], conv)
    assert messages(found) == [
        ("M203", f"{RAW2}/data_description.json", "$.funding_source: Field required"),
        ("M203", f"{RAW2}/data_description.json", "$.institution: Field required"),
        (
            "M203",
            f"{RAW2}/data_description.json",
            "and 2 more schema errors in data_description.json (only the first 2 are listed; "
            "see metadata.max_errors_per_file)",
        ),
    ]
    assert found[2].details == {
        "more": 2,
        "total": 4,
        "schema": "aind-data-schema 2.9.2 DataDescription",
        "schema_version": "2.4.2",
    }


def test_m203_default_cap_is_20(tmp_path: Path) -> None:
    files = v2_asset()
    procedures = fx.procedures_v2("123456")
    procedures["subject_procedures"] = [{"object_type": "Surgery", "bogus": i} for i in range(30)]
    files[f"{RAW2}/procedures.json"] = dump(procedures)
    make_tree(tmp_path, files)
    found = lint(tmp_path, ["M203"])
    assert len(found) == 21
    assert found[-1].message.startswith("and ") and found[-1].details["total"] - 20 == found[-1].details["more"]


def test_m203_mixed_generations_are_each_judged_by_their_own(tmp_path: Path) -> None:
    """1.x and 2.x assets side by side, and a 2.x asset holding a 1.x data_description: no error
    at all, then exactly the one real 1.x error (not the 2.x model's flood). (The files taken
    together are the asset-level rules' to judge, M211-M214: tests/rules/test_asset.py.)"""
    mixed = "654321_2022-02-21_16-30-01"
    files = {**v2_asset(), **v1_asset(), **v2_asset(mixed)}
    files[f"{mixed}/data_description.json"] = dump(fx.data_description_v1(mixed))
    make_tree(tmp_path / "ok", files)
    per_file = ["M201", "M202", "M203", "M204", "M205", "M206", "M207", "M208", "M209", "M210", "L304"]
    assert lint(tmp_path / "ok", per_file) == []

    broken = fx.data_description_v1(mixed)
    del broken["platform"]
    files[f"{mixed}/data_description.json"] = dump(broken)
    make_tree(tmp_path / "bad", files)
    assert messages(lint(tmp_path / "bad", per_file)) == [
        ("M203", f"{mixed}/data_description.json", "$.platform: Field required")
    ]


# --- M204 schema-version -----------------------------------------------------------------------------


def test_m204_missing_malformed_and_unsupported(tmp_path: Path) -> None:
    legacy = "ecephys_664438_2023-04-13_14-35-51"
    files = v2_asset()
    subject = fx.subject_v2("123456")
    del subject["schema_version"]
    files[f"{RAW2}/subject.json"] = dump(subject)
    files[f"{RAW2}/procedures.json"] = dump(fx.procedures_v2("123456") | {"schema_version": "2.2"})
    files[f"{RAW2}/processing.json"] = dump(fx.processing_v2(T0) | {"schema_version": 2})
    _, moment = fx.name_facts(legacy)
    files[f"{legacy}/data_description.json"] = dump(fx.legacy_data_description(legacy, "664438", moment))
    files[f"{legacy}/rig.json"] = dump(fx.rig_v1() | {"schema_version": "2.0.0"})
    make_tree(tmp_path, files)
    found = lint(tmp_path, ["M203", "M204"])
    assert [(f.rule, f.severity, f.path, f.message) for f in found] == [
        (
            "M204",
            Severity.ERROR,
            f"{RAW2}/procedures.json",
            "procedures.json schema_version '2.2' is not a version MAJOR.MINOR.PATCH; it cannot be validated",
        ),
        (
            "M204",
            Severity.ERROR,
            f"{RAW2}/processing.json",
            "processing.json schema_version 2 is not a version MAJOR.MINOR.PATCH; it cannot be validated",
        ),
        (
            "M204",
            Severity.ERROR,
            f"{RAW2}/subject.json",
            "subject.json has no schema_version; it cannot be validated",
        ),
        # a 0.x file is validated by the 0.x release that declares its version
        (
            "M203",
            Severity.ERROR,
            f"{legacy}/data_description.json",
            "$.data_level: value is not a valid enumeration member; permitted: 'raw data', 'derived data'",
        ),
        (
            "M203",
            Severity.ERROR,
            f"{legacy}/data_description.json",
            "$.investigators: extra fields not permitted",
        ),
        (
            "M204",
            Severity.WARNING,
            f"{legacy}/rig.json",
            "rig.json: no published aind-data-schema release declares rig schema_version 2.0.0; nearest "
            "published versions: 1.0.4, 1.1.1; it cannot be validated",
        ),
    ]
    assert found[2].details == {"problem": "missing", "schema_version": None, "generation": None}
    assert found[3].details["schema"] == "aind-data-schema 0.13.1 DataDescription"
    assert found[-1].details == {
        "problem": "unknown-version",
        "schema_version": "2.0.0",
        "generation": 2,
        "nearest": ["1.0.4", "1.1.1"],
    }


def test_m204_quiet_for_declared_versions_of_both_generations(tmp_path: Path) -> None:
    make_tree(tmp_path, {**v2_asset(), **v1_asset()})
    assert lint(tmp_path, ["M204"]) == []


# --- M205 conflicting-sidecars -----------------------------------------------------------------------


def test_m205_both_files_of_a_pair(tmp_path: Path) -> None:
    files = v2_asset()
    files[f"{RAW2}/session.json"] = dump(fx.session_v1("123456", T0))
    files[f"{RAW2}/rig.json"] = dump(fx.rig_v1())
    make_tree(tmp_path, files)
    assert messages(lint(tmp_path, ["M205"])) == [
        (
            "M205",
            f"{RAW2}/acquisition.json",
            "session.json and acquisition.json are both present; an asset carries one or the other",
        ),
        (
            "M205",
            f"{RAW2}/instrument.json",
            "rig.json and instrument.json are both present; an asset carries one or the other",
        ),
    ]


def test_m205_quiet_with_one_of_each_pair(tmp_path: Path) -> None:
    make_tree(tmp_path, {**v2_asset(), **v1_asset()})
    assert lint(tmp_path, ["M205"]) == []


# --- M206 name-mismatch, M207 level-mismatch ---------------------------------------------------------


def test_m206_name_differs_from_folder(tmp_path: Path) -> None:
    second = "123456_2022-02-21_16-30-02"
    files = {**v2_asset(), **v2_asset(second)}
    files[f"{second}/data_description.json"] = dump(fx.data_description_v2(RAW2))
    make_tree(tmp_path, files)
    assert messages(lint(tmp_path, ["M206"])) == [
        (
            "M206",
            f"{second}/data_description.json",
            f"data_description.json name {RAW2!r} differs from the folder name {second!r}",
        )
    ]


def test_m207_level_contradicts_the_name(tmp_path: Path) -> None:
    derived = f"{RAW2}_sorted_2022-02-22_10-00-00"
    legacy_raw = "ecephys_624643_2022-07-26_10-52-15"
    files = {
        **v2_asset(),
        f"{derived}/data_description.json": dump(fx.data_description_v2(RAW2) | {"name": derived}),
        f"{RAW1}/data_description.json": dump(fx.data_description_v1(RAW1) | {"data_level": "derived"}),
        # legacy "raw data" is raw: no finding
        f"{legacy_raw}/data_description.json": dump(
            fx.legacy_data_description(legacy_raw, "624643", fx.name_facts(legacy_raw)[1])
            | {"schema_version": "0.3.0", "data_level": "raw data"}
        ),
    }
    make_tree(tmp_path, files)
    assert messages(lint(tmp_path, ["M207"])) == [
        (
            "M207",
            f"{RAW2}_sorted_2022-02-22_10-00-00/data_description.json",
            "data_description.json data_level 'raw' contradicts the name, which is a derived asset name",
        ),
        (
            "M207",
            f"{RAW1}/data_description.json",
            "data_description.json data_level 'derived' contradicts the name, which is a raw asset name",
        ),
    ]


# --- M208 subject-mismatch --------------------------------------------------------------------------


def test_m208_subject_ids_against_the_name(tmp_path: Path) -> None:
    files = v2_asset()
    files[f"{RAW2}/subject.json"] = dump(fx.subject_v2("123465"))
    files[f"{RAW1}/data_description.json"] = dump(fx.data_description_v1(RAW1, subject_id="54321"))
    files[f"{RAW1}/subject.json"] = dump(fx.subject_v1("12345"))
    make_tree(tmp_path, files)
    assert messages(lint(tmp_path, ["M208"])) == [
        (
            "M208",
            f"{RAW2}/subject.json",
            "subject.json subject_id '123465' differs from the name's subject id '123456'",
        ),
        (
            "M208",
            f"{RAW1}/data_description.json",
            "data_description.json subject_id '54321' differs from the name's subject id '12345'",
        ),
    ]


def test_m208_files_must_agree_when_the_name_has_no_subject(tmp_path: Path) -> None:
    odd = "behavior_754897_2025-03-12_12-23-09_sorted_2025-03-25"  # a date without a time: no parse
    make_tree(
        tmp_path,
        {
            f"{odd}/data_description.json": dump(fx.data_description_v2(odd, subject_id="754897")),
            f"{odd}/subject.json": dump(fx.subject_v2("754879")),
        },
    )
    assert messages(lint(tmp_path, ["M208"])) == [
        (
            "M208",
            f"{odd}/subject.json",
            "subject.json subject_id '754879' differs from data_description.json subject_id '754897'",
        )
    ]


# --- M209 time-mismatch ----------------------------------------------------------------------------------


def test_m209_compares_wall_clock_time_to_the_second(tmp_path: Path) -> None:
    utc = "123456_2022-02-21_08-30-01"
    fraction = "123456_2022-02-21_16-30-02"
    legacy = "661279_2023-03-23_15-31-18"  # a 0.6.2 file: creation_time 22:31:18 (UTC) and creation_date apart
    make_tree(
        tmp_path,
        {
            **v2_asset(),  # creation_time 2022-02-21T16:30:01-08:00: same wall clock as the name
            f"{utc}/data_description.json": dump(fx.data_description_v2(utc, creation_time=T0.replace(tzinfo=dt.UTC))),
            f"{fraction}/data_description.json": dump(
                fx.data_description_v2(fraction, creation_time=T0 + dt.timedelta(seconds=1.95))
            ),
            f"{legacy}/data_description.json": dump(
                fx.legacy_data_description(legacy, "661279", dt.datetime(2023, 3, 23, 22, 31, 18))
                | {"schema_version": "0.6.2"}
            ),
        },
    )
    found = lint(tmp_path, ["M209"])
    assert [(f.rule, f.severity, f.path, f.message) for f in found] == [
        (
            "M209",
            Severity.WARNING,
            f"{utc}/data_description.json",
            "the name's timestamp 2022-02-21_08-30-01 differs from data_description.json creation_time "
            "'2022-02-21T16:30:01Z' (8 h later)",
        ),
        (
            "M209",
            Severity.WARNING,
            f"{legacy}/data_description.json",
            "the name's timestamp 2023-03-23_15-31-18 differs from data_description.json creation_time "
            "'22:31:18' (7 h later)",
        ),
    ]
    assert found[0].details == {
        "name_time": "2022-02-21_08-30-01",
        "creation_time": "2022-02-21T16:30:01Z",
        "difference_seconds": 28800,
    }


def test_m209_derived_asset_uses_its_processing_time(tmp_path: Path) -> None:
    derived = f"{RAW2}_sorted_2022-02-22_10-00-00"
    make_tree(
        tmp_path,
        {
            f"{derived}/data_description.json": dump(
                fx.data_description_v2(derived, creation_time=dt.datetime(2022, 2, 22, 10, 1, 5, tzinfo=fx.PACIFIC))
            )
        },
    )
    assert [f.message for f in lint(tmp_path, ["M209"])] == [
        "the name's timestamp 2022-02-22_10-00-00 differs from data_description.json creation_time "
        "'2022-02-22T10:01:05-08:00' (1 min 5 s later)"
    ]


# --- M210 misplaced-sidecar ----------------------------------------------------------------------------


def test_m210_core_file_below_the_root(tmp_path: Path) -> None:
    files: dict[str, str] = dict(v2_asset())
    files[f"{RAW2}/results/processing.json"] = files[f"{RAW2}/processing.json"]
    files[f"{RAW2}/ecephys/sub/subject.json"] = files[f"{RAW2}/subject.json"]
    files[f"{RAW2}/original_metadata/subject.json"] = files[f"{RAW2}/subject.json"]  # the indexer's copies
    files[f"{RAW2}/original_metadata/subject.20250101.json"] = files[f"{RAW2}/subject.json"]
    files[f"{RAW2}/results/notes.json"] = "{}"  # not a core file name
    # an asset stored inside this one is L301's finding, not M210's
    files[f"{RAW2}/{RAW2}_sorted_2022-02-22_10-00-00/subject.json"] = files[f"{RAW2}/subject.json"]
    files[f"{RAW2}/copy/data_description.json"] = files[f"{RAW2}/data_description.json"]
    files[f"{RAW2}/copy/subject.json"] = files[f"{RAW2}/subject.json"]
    make_tree(tmp_path, files)
    found = lint(tmp_path, ["M210", "L301"])
    assert [(f.rule, f.severity, f.path, f.message) for f in found] == [
        ("L301", Severity.ERROR, f"{RAW2}/{RAW2}_sorted_2022-02-22_10-00-00/", found[0].message),
        ("L301", Severity.ERROR, f"{RAW2}/copy/", found[1].message),
        (
            "M210",
            Severity.WARNING,
            f"{RAW2}/ecephys/sub/subject.json",
            "subject.json is in ecephys/sub/ below the asset root; sidecars belong at the root, beside the data",
        ),
        (
            "M210",
            Severity.WARNING,
            f"{RAW2}/results/processing.json",
            "processing.json is in results/ below the asset root; sidecars belong at the root, beside the data",
        ),
    ]


# --- L304 source-mismatch -----------------------------------------------------------------------------


def test_l304_derived_asset_must_name_its_source(tmp_path: Path) -> None:
    base = f"{RAW2}_sorted_2022-02-22_10-00-00"
    named = f"{RAW2}_curated_2022-02-23_10-00-00"
    url = f"{RAW2}_qc_2022-02-24_10-00-00"
    none = f"{RAW2}_plots_2022-02-25_10-00-00"
    legacy = f"{RAW1}_sorted_2022-02-22_10-00-00"

    def dd(name: str, **changes: Any) -> str:
        doc = fx.data_description_v2(name, **changes)
        return dump(doc if changes.get("source_data", ()) is not None else doc | {"source_data": None})

    make_tree(
        tmp_path,
        {
            f"{RAW2}/data_description.json": dump(fx.data_description_v2(RAW2)),
            f"{base}/data_description.json": dd(base, source_data=["123456_2022-02-20_16-30-01"]),
            f"{named}/data_description.json": dd(named, source_data=["other_asset", RAW2]),
            f"{url}/data_description.json": dd(url, source_data=[f"s3://aind-open-data/{RAW2}/"]),
            f"{none}/data_description.json": dd(none, source_data=None),
            f"{legacy}/data_description.json": dump(fx.data_description_v1(legacy, input_data_name=RAW1)),
        },
    )
    assert messages(lint(tmp_path, ["L304"])) == [
        (
            "L304",
            f"{none}/data_description.json",
            f"data_description.json of derived asset names no source (source_data); expected {RAW2!r}",
        ),
        (
            "L304",
            f"{base}/data_description.json",
            f"data_description.json source_data ['123456_2022-02-20_16-30-01'] does not include {RAW2!r}, "
            "the source named in the asset's name",
        ),
    ]
