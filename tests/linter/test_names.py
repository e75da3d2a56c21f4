"""The name grammar, and the verdicts on real asset names from the bucket."""

from __future__ import annotations

import pytest

from linter.context import AssetContext, TargetInfo
from linter.conventions import load_convention, parse_convention
from linter.names import parse_name
from linter.registry import load_rules, select_rules
from linter.sources import Asset
from tests.conftest import upstream

CONV = load_convention("aind-open-data")


def test_raw_name_with_modality() -> None:
    p = parse_name("ecephys_123456_2022-12-12_05-06-07", CONV)
    assert (p.level, p.modality, p.subject, p.source, p.grammar_error) == ("raw", "ecephys", "123456", None, None)
    assert [str(s) for s in p.stamps] == ["2022-12-12_05-06-07"]


def test_raw_name_without_modality_current_form() -> None:
    p = parse_name("795133_2026-02-10_11-06-18", CONV)
    assert (p.level, p.modality, p.subject) == ("raw", None, "795133")


def test_derived_name_keeps_its_source() -> None:
    p = parse_name("ecephys_123456_2022-12-12_05-06-07_sorted-ks2.5_2022-12-12_06-07-08", CONV)
    assert p.level == "derived"
    assert p.source == "ecephys_123456_2022-12-12_05-06-07"
    assert p.raw_name == p.source
    assert p.labels == ("sorted-ks2.5",)


def test_modality_with_dashes_is_one_token() -> None:
    p = parse_name("multiplane-ophys_453990_2019-08-08_15-53-23", CONV)
    assert (p.modality, p.subject) == ("multiplane-ophys", "453990")


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("integration_test", "no '_<YYYY-MM-DD>_<HH-MM-SS>' timestamp in the name"),
        ("ecephys_1_2022-12-12", "date '2022-12-12' is not followed by a time token HH-MM-SS"),
        ("ecephys__2022-12-12_05-06-07", "'ecephys_' before the first timestamp has an empty token"),
        (
            "ecephys_1_2022-12-12_05-06-07__x_2022-12-13_05-06-07",
            "label '_x' has an empty part",
        ),
        (
            "exaSPIM_1_2023-08-23_14-58-20_fusion_2023-09-18",
            "derived suffix 'fusion_2023-09-18' has a date but no time: expected _<label>_<YYYY-MM-DD>_<HH-MM-SS>",
        ),
        ("2022-12-12_05-06-07", "the name starts with a timestamp: a subject id must come first"),
        (
            "ecephys_1_2022-12-12_05-06-07_2022-12-13_05-06-07",
            "two timestamps in a row at 2022-12-13_05-06-07: a label must come between",
        ),
        (
            "ecephys_1_2022-12-12_05-06-07_extra",
            "'extra' after the last timestamp is not _<label>_<YYYY-MM-DD>_<HH-MM-SS>",
        ),
        (
            "a_b_c_2022-12-12_05-06-07",
            "'a_b_c' before the first timestamp has 3 tokens; "
            "expected [<modality>_]<subject-id> (a token never contains '_')",
        ),
    ],
)
def test_grammar_errors(name: str, error: str) -> None:
    p = parse_name(name, CONV)
    assert (p.level, p.grammar_error) == ("unknown", error)


def test_impossible_dates_still_parse_so_n103_can_name_them() -> None:
    p = parse_name("ecephys_1_2023-02-29_24-00-00", CONV)
    assert p.level == "raw"
    assert (p.stamps[0].date_valid, p.stamps[0].time_valid, p.stamps[0].value()) == (False, False, None)


def test_modality_required_when_the_convention_says_so() -> None:
    text = "convention_version: 1\nname: strict\nnames:\n  modality_optional: false\n  modalities: [ecephys]\n"
    strict = parse_convention(text, "strict.yaml")
    assert parse_name("123456_2022-12-12_05-06-07", strict).grammar_error == (
        "no modality before subject id '123456': expected <modality>_<subject-id>_<date>_<time>"
    )
    assert parse_name("ecephys_123456_2022-12-12_05-06-07", strict).level == "raw"


# Verdicts decided from the grammar in the reference (not from the linter's output): every real
# name below breaks it as shown; every other name in the file is a valid raw or derived name.
REAL_NAME_VERDICTS = {
    # a four-token raw name whose first token is not a modality (subject_label_date_time)
    "669489_stan-model_2026-03-23_23-47-30": ["N102"],
    "749472_stan-model_2026-03-23_23-47-32": ["N102"],
    "Other_667826_2023-04-10_16-08-00": ["N102"],
    # placeholder times
    "HCR_703179_2024-03-24_00-00-00": ["N107"],
    "behavior_659250_2023-03-22_00-00-00": ["N107"],
    "ecephys_666986_2023-08-16_15-12-36_qc_2024-10-31_00-00-00": ["N107"],
    "ecephys_688539_2023-11-29_00-00-00": ["N107"],
    # labels with '_'
    # a label with '_': derived (as aind-data-schema 2.x builds it), N108 warns
    "behavior_754897_2025-03-12_12-23-09_sorted_curated_2025-03-25_22-33-24": ["N108"],
    "ecephys_699847_2024-04-17_12-12-44_dlc_face_2024-04-25_12-15-20": ["N108"],
    # a source with a date and no time
    "ecephys_791094_2025-10-09_sorted_2026-04-23_14-11-00": ["N101"],
    # derived suffixes with a date only
    "exaSPIM_516429_2023-08-23_14-58-20_fusion_2023-09-18": ["N101"],
    "exaSPIM_651895_2023-09-08_10-16-01_fusion_2023-09-26": ["N101"],
    "exaSPIM_658735_2023-08-15_16-13-50_fusion_2023-09-01": ["N101"],
    # daisy-chains
    "exaSPIM_674191_2023-09-12_12-37-37_flatfield-correction_2023-11-17_00-21-42_fusion_2023-12-02_23-56-00": ["N106"],
    "exaSPIM_709203_2024-06-23_22-20-39_flatfield-correction_2024-07-09_18-07-14_fusion_2024-07-25_16-59-08": ["N106"],
    "exaSPIM_720165_2024-07-20_20-55-58_flatfield-correction_2024-08-09_12-16-02_fusion_2024-09-30_18-56-25": ["N106"],
    "exaSPIM_730902_2024-11-04_09-41-47_flatfield-correction_2024-11-10_10-49-32_fusion_2024-11-13_00-54-06": ["N106"],
    "exaSPIM_737563_2024-11-13_12-16-55_flatfield-correction_2024-11-21_17-33-41_fusion_2024-11-28_00-16-41": ["N106"],
    # not asset names at all
    "integration_test": ["N101"],
    "merfish_609882_AIT17.1_annotated_TH_ZI_only_2023-02-16_00-00-00": ["N101"],
    "merfish_638850_AIT17.custom_CCF_annotated_TH_ZI_only_2023-05-04_00-00-00": ["N101"],
}


def real_names() -> list[str]:
    """Real asset names (upstream, ../shared/fixtures/real-asset-names.txt, read in place)."""
    lines = upstream("real-asset-names.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_real_asset_names_get_the_verdicts_of_the_grammar() -> None:
    names = real_names()
    assert len(names) > 250
    assert set(REAL_NAME_VERDICTS) <= set(names)
    rules = [r for r in select_rules(load_rules(), ["N"], []).values() if r.func is not None]
    target = TargetInfo("real-names", frozenset(names), CONV)
    verdicts = {}
    for name in names:
        ctx = AssetContext(Asset(name), target, source=None)  # type: ignore[arg-type]  # naming rules read nothing
        codes = sorted({r.code for r in rules for _ in r.func(ctx)})  # type: ignore[misc]
        if codes:
            verdicts[name] = codes
    assert verdicts == REAL_NAME_VERDICTS
