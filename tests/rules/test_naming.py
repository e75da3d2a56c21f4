"""N1xx rules over real folders: each fires where it should, with the exact message, and stays quiet otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from linter.conventions import load_convention
from linter.findings import Severity
from linter.names import parse_name
from tests.conftest import lint_findings, make_tree

VALID = [
    "ecephys_123456_2022-12-12_05-06-07",
    "ecephys_123456_2022-12-12_05-06-07_sorted-ks2.5_2022-12-12_06-07-08",
    "795133_2026-02-10_11-06-18",
    "HCR_732195-ROI2-cell15_2024-06-15_06-00-00",
    "multiplane-ophys_453990_2019-08-08_15-53-23",
]


def lint_names(tmp_path: Path, *names: str, code: str) -> list[tuple[str, str, str, Severity]]:
    make_tree(tmp_path, {f"{n}/data.bin": "x" for n in names})
    return [(f.rule, f.asset or "", f.message, f.severity) for f in lint_findings(tmp_path, select=[code])]


@pytest.mark.parametrize("code", ["N101", "N102", "N103", "N104", "N105", "N106", "N107", "N108"])
def test_valid_names_fire_no_naming_rule(tmp_path: Path, code: str) -> None:
    assert lint_names(tmp_path, *VALID, code=code) == []


def test_n101_name_grammar(tmp_path: Path) -> None:
    name = "exaSPIM_1_2023-08-23_14-58-20_fusion_2023-09-18"
    assert lint_names(tmp_path, name, code="N101") == [
        (
            "N101",
            name,
            f"{name!r} is not a raw or derived asset name: derived suffix 'fusion_2023-09-18' has a date but no "
            "time: expected _<label>_<YYYY-MM-DD>_<HH-MM-SS>",
            Severity.ERROR,
        )
    ]


def test_a_label_with_underscores_is_derived_and_n108_warns(tmp_path: Path) -> None:
    name = "ecephys_699847_2024-04-17_12-12-44_dlc_face_2024-04-25_12-15-20"
    parsed = parse_name(name, load_convention("aind-open-data"))
    assert (parsed.level, parsed.source, parsed.labels) == (
        "derived",
        "ecephys_699847_2024-04-17_12-12-44",
        ("dlc_face",),
    )
    assert lint_names(tmp_path, name, code="N101") == []
    assert lint_names(tmp_path, name, code="N108") == [
        ("N108", name, "label 'dlc_face' contains '_'; join its words with '-' ('dlc-face')", Severity.WARNING)
    ]
    # chained: each label is what lies between two timestamps
    chained = "a_1_2020-01-01_00-00-00_x_y_2020-01-02_00-00-00_z_2020-01-03_00-00-00"
    parsed = parse_name(chained, load_convention("aind-open-data"))
    assert (parsed.source, parsed.labels) == ("a_1_2020-01-01_00-00-00_x_y_2020-01-02_00-00-00", ("x_y", "z"))


def test_the_1x_analysis_form_only_where_the_convention_allows_it(tmp_path: Path) -> None:
    name = "project_analysis_3033-12-21_04-22-11"
    assert lint_names(tmp_path, name, code="N102")[0][:2] == ("N102", name)
    conv = tmp_path / "conv.yaml"
    text = (Path(__file__).resolve().parents[2] / "linter/conventions/aind-open-data.yaml").read_text()
    conv.write_text(text.replace("analysis_form: false", "analysis_form: true"), encoding="utf-8")
    parsed = parse_name(name, load_convention(str(conv)))
    assert (parsed.level, parsed.project, parsed.labels, parsed.modality, parsed.subject) == (
        "raw",
        "project",
        ("analysis",),
        None,
        None,
    )
    # a known modality keeps its meaning
    assert parse_name("ecephys_analysis_2020-01-01_00-00-00", load_convention(str(conv))).modality == "ecephys"


def test_n102_suggests_the_vocabulary_spelling(tmp_path: Path) -> None:
    found = lint_names(
        tmp_path, "smartspim_653158_2023-02-01_10-00-00", "Other_667826_2023-04-10_16-08-00", code="N102"
    )
    assert found == [
        (
            "N102",
            "Other_667826_2023-04-10_16-08-00",
            "modality 'Other' is not in the vocabulary; see the convention's names.modalities",
            Severity.ERROR,
        ),
        (
            "N102",
            "smartspim_653158_2023-02-01_10-00-00",
            "modality 'smartspim' is not in the vocabulary; did you mean 'SmartSPIM'?",
            Severity.ERROR,
        ),
    ]


def test_n103_invalid_date_and_time(tmp_path: Path) -> None:
    found = lint_names(tmp_path, "ecephys_1_2023-02-29_10-00-00", "ecephys_2_2024-02-29_24-61-00", code="N103")
    assert [(f[1], f[2]) for f in found] == [
        ("ecephys_1_2023-02-29_10-00-00", "date '2023-02-29' does not exist on the calendar"),
        ("ecephys_2_2024-02-29_24-61-00", "time '24-61-00' does not exist on a 24-hour clock (HH-MM-SS)"),
    ]


def test_n104_empty_token_and_forbidden_character(tmp_path: Path) -> None:
    found = lint_names(tmp_path, "ecephys__2022-12-12_05-06-07", "ecephys_12 34_2022-12-12_05-06-07", code="N104")
    assert [(f[1], f[2]) for f in found] == [
        ("ecephys_12 34_2022-12-12_05-06-07", "token '12 34' contains forbidden character(s) ' '; e.g. '12-34'"),
        ("ecephys__2022-12-12_05-06-07", "empty token at position 2 of the name (a stray '_')"),
    ]


def test_n104_ascii_control_character(tmp_path: Path) -> None:
    """Printable ASCII skips the invisible-character scan; an ASCII control character does not."""
    name = "ecephys_1234\x1b56_2022-12-12_05-06-07"
    found = lint_names(tmp_path, name, "ecephys_123456_2022-12-12_05-06-07", code="N104")
    assert [(f[1], f[2]) for f in found] == [
        (
            name,
            "the name holds invisible character(s) U+001B; it shows as 'ecephys_123456_2022-12-12_05-06-07' "
            "but is another name",
        )
    ]


def test_n105_derived_before_source(tmp_path: Path) -> None:
    name = "ecephys_1_2023-04-10_17-09-26_sorted_2023-04-09_10-00-00"
    assert lint_names(tmp_path, name, "ecephys_1_2023-04-10_17-09-26_sorted_2023-04-10_17-09-26", code="N105") == [
        (
            "N105",
            name,
            "derived timestamp 2023-04-09_10-00-00 precedes its source's timestamp 2023-04-10_17-09-26",
            Severity.ERROR,
        )
    ]


def test_n106_daisy_chain_suggests_a_name_after_the_raw_source(tmp_path: Path) -> None:
    name = "exaSPIM_1_2023-09-12_12-37-37_flatfield-correction_2023-11-17_00-21-42_fusion_2023-12-02_23-56-00"
    assert lint_names(tmp_path, name, code="N106") == [
        (
            "N106",
            name,
            "source part 'exaSPIM_1_2023-09-12_12-37-37_flatfield-correction_2023-11-17_00-21-42' is itself a "
            "derived name; name the asset after its raw source, "
            "e.g. 'exaSPIM_1_2023-09-12_12-37-37_fusion_2023-12-02_23-56-00'",
            Severity.ERROR,
        )
    ]


def test_n107_placeholder_time_is_info(tmp_path: Path) -> None:
    assert lint_names(tmp_path, "HCR_703179_2024-03-24_00-00-00", "HCR_703179_2024-03-24_00-00-01", code="N107") == [
        (
            "N107",
            "HCR_703179_2024-03-24_00-00-00",
            "time '00-00-00' in 2024-03-24_00-00-00 looks like a placeholder",
            Severity.INFO,
        )
    ]


def test_naming_findings_point_at_the_asset(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Other_1_2023-04-10_16-08-00/a.txt": "x"})
    [f] = lint_findings(tmp_path, select=["N"])
    assert (f.asset, f.path, f.details) == (
        "Other_1_2023-04-10_16-08-00",
        "Other_1_2023-04-10_16-08-00",
        {"token": "Other", "suggestion": None},
    )
