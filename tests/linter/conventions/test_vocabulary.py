"""The vocabulary of every era: read from wheels the test makes in the shapes the releases used,
written into the convention between its markers, narrowed by the convention."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from linter.conventions import ConventionError, load_convention, parse_convention
from linter.conventions.vocabulary import BEGIN, END, collect, read_wheel, render, replace_block
from tests.package_index import fake_wheel

# aind-data-schema 0.13: Modality members with abbreviation keywords, ExperimentType plain strings
DATA_DESCRIPTION_0X = """
from enum import Enum

class Modality(Enum):
    ECEPHYS = BaseName(name="Extracellular electrophysiology", abbreviation="ecephys")
    SPIM = BaseName(name="Selective plane illumination microscopy", abbreviation="SPIM")

class ExperimentType(Enum):
    DISPIM = "diSPIM"
    ECEPHYS = "ecephys"

class Institution(Enum):
    AIND = BaseName(name="Allen Institute for Neural Dynamics", abbreviation="AIND")
"""
# aind-data-schema 0.14: a Platform enum
PLATFORM_0X = """
class Platform(Enum):
    SMARTSPIM = BaseName(name="SmartSPIM platform", abbreviation="smartSPIM")
"""
# aind-data-schema-models: one class per entry with a Literal default, in modalities.py / platforms.py
MODALITIES = """
class _Ecephys(ModalityModel):
    name: Literal["Extracellular electrophysiology"] = "Extracellular electrophysiology"
    abbreviation: Literal["ecephys"] = "ecephys"

class _Barseq(ModalityModel):
    abbreviation: Literal["BARseq"] = "BARseq"
"""
PLATFORMS = """
class _Smartspim(PlatformModel):
    abbreviation: Literal["SmartSPIM"] = "SmartSPIM"

class Platform:
    SMARTSPIM = _Smartspim()
    ALL = {"abbreviation": "HCR"}
"""


def wheels(tmp_path: Path) -> list[tuple[str, Version, Path]]:
    old = fake_wheel(
        tmp_path, "aind-data-schema", "0.13.0", {"aind_data_schema/data_description.py": DATA_DESCRIPTION_0X}
    )
    later = fake_wheel(
        tmp_path,
        "aind-data-schema",
        "0.14.0",
        {"aind_data_schema/data_description.py": DATA_DESCRIPTION_0X + PLATFORM_0X},
    )
    models = fake_wheel(
        tmp_path,
        "aind-data-schema-models",
        "6.3.1",
        {"aind_data_schema_models/modalities.py": MODALITIES, "aind_data_schema_models/platforms.py": PLATFORMS},
    )
    return [
        ("aind-data-schema", Version("0.13.0"), old),
        ("aind-data-schema", Version("0.14.0"), later),
        ("aind-data-schema-models", Version("6.3.1"), models),
    ]


def test_every_shape_of_abbreviation_is_read(tmp_path: Path) -> None:
    found = wheels(tmp_path)
    assert read_wheel(found[0][2]) == {
        "ecephys": {"modality", "experiment type"},
        "SPIM": {"modality"},
        "diSPIM": {"experiment type"},
    }
    assert read_wheel(found[2][2]) == {
        "ecephys": {"modality"},
        "BARseq": {"modality"},
        "SmartSPIM": {"platform"},
        "HCR": {"platform"},
    }


def test_the_block_says_where_each_entry_comes_from(tmp_path: Path) -> None:
    entries = collect(wheels(tmp_path))
    assert render(entries) == [
        "    - BARseq     # modality: models 6.3.1",
        "    - diSPIM     # experiment type: aind-data-schema 0.13.0-0.14.0",
        "    - ecephys    # experiment type: aind-data-schema 0.13.0-0.14.0; modality: aind-data-schema 0.13.0-0.14.0,"
        " models 6.3.1",
        "    - HCR        # platform: models 6.3.1",
        "    - SmartSPIM  # platform: models 6.3.1",
        "    - smartSPIM  # platform: aind-data-schema 0.14.0",
        "    - SPIM       # modality: aind-data-schema 0.13.0-0.14.0",
    ]
    text = f"names:\n  modalities:\n    {BEGIN} (generated)\n    - old\n    {END}\n  other: 1\n"
    assert replace_block(text, ["    - a", "    - b"]) == (
        f"names:\n  modalities:\n    {BEGIN} (generated)\n    - a\n    - b\n    {END}\n  other: 1\n"
    )
    with pytest.raises(ValueError, match="lacks the"):
        replace_block("names: {}\n", [])


def test_the_shipped_vocabulary_covers_every_era_and_is_narrowed() -> None:
    convention = load_convention("aind-open-data")
    text = (Path(__file__).resolve().parents[3] / "linter/conventions/aind-open-data.yaml").read_text()
    assert BEGIN in text and END in text
    # a 0.x experiment type, the 0.14 platform spelling, 1.x platforms, current modalities
    assert {
        "diSPIM",
        "smartSPIM",
        "SmartSPIM",
        "exaSPIM",
        "multiplane-ophys",
        "BARseq",
        "SPIM",
    } <= convention.modalities
    # case kept: no spelling nobody published
    assert not {"dispim", "smartspim", "exaspim", "barseq", "EFIP"} & convention.modalities
    # listed, but narrowed away by the convention
    assert "- Other " in text and "Other" not in convention.modalities
    assert len(convention.modalities) == 40


def test_a_convention_narrows_its_vocabulary() -> None:
    text = (
        "convention_version: 1\nname: lab\nnames:\n"
        "  modalities: [ecephys, SPIM, Other]\n  excluded_modalities: [Other]\n"
    )
    assert parse_convention(text, "lab.yaml").modalities == {"ecephys", "SPIM"}
    with pytest.raises(ConventionError, match="at names/excluded_modalities"):
        parse_convention(text.replace("[Other]\n", "Other\n"), "lab.yaml")


def test_aliases_must_name_a_sidecar_and_classes() -> None:
    base = "convention_version: 1\nname: lab\nnames: {modalities: [ecephys]}\nmetadata:\n  aliases:\n"
    good = parse_convention(base + "    ephys_rig.json: {stands_for: rig.json, classes: [EphysRig]}\n", "lab.yaml")
    assert good.data["metadata"]["aliases"]["ephys_rig.json"]["stands_for"] == "rig.json"
    for bad, where in (
        ("    ephys_rig: {stands_for: rig.json}\n", "at metadata/aliases"),
        ("    ephys_rig.json: {stands_for: rig}\n", "at metadata/aliases/ephys_rig.json/stands_for"),
        ("    ephys_rig.json: {classes: [EphysRig]}\n", "at metadata/aliases/ephys_rig.json"),
        ("    ephys_rig.json: {stands_for: rig.json, classes: []}\n", "at metadata/aliases/ephys_rig.json/classes"),
    ):
        with pytest.raises(ConventionError, match=where):
            parse_convention(base + bad, "lab.yaml")
