"""L3xx rules over real folders."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import brief, lint_findings, make_tree

RAW = "SmartSPIM_623711_2022-10-27_16-48-54"
DERIVED = f"{RAW}_stitched_2022-11-01_08-00-00"


def test_l301_nested_derived_asset_reported_once_at_its_outermost_folder(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{RAW}/SPIM/tile.txt": "t", f"{RAW}/{DERIVED}/stitched/inner/a.txt": "s"})
    found = lint_findings(tmp_path, select=["L301"])
    assert brief(found) == [("L301", RAW, f"{RAW}/{DERIVED}/")]
    assert found[0].message == (
        f"folder {DERIVED!r} is an asset inside asset {RAW!r} "
        "(its name is a derived asset name); move it to the top level"
    )


def test_l301_folder_holding_data_description(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{RAW}/SPIM/tile.txt": "t", f"{RAW}/results/data_description.json": "{}"})
    found = lint_findings(tmp_path, select=["L301"])
    assert brief(found) == [("L301", RAW, f"{RAW}/results/")]
    assert "it holds data_description.json" in found[0].message


def test_l301_quiet_for_ordinary_data_folders(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{RAW}/SPIM/Ex_488_Em_525/0/0/1": "c", f"{RAW}/SPIM/derivatives/mip.png": "p"})
    assert lint_findings(tmp_path, select=["L301"]) == []


def test_l302_orphan_file_at_the_root(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{RAW}/a.txt": "a", "notes.txt": "n", ".hidden": "ignored by layout.ignore"})
    found = lint_findings(tmp_path, select=["L302"])
    assert brief(found) == [("L302", None, "notes.txt")]
    assert found[0].message == "file 'notes.txt' at the target root belongs to no asset"


def test_l302_quiet_when_the_target_is_an_asset(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{RAW}/a.txt": "a"})
    assert lint_findings(tmp_path / RAW, select=["L"]) == []


def test_l303_missing_source(tmp_path: Path) -> None:
    other = "ecephys_1_2023-01-01_00-00-01_sorted_2023-01-02_00-00-00"
    make_tree(tmp_path, {f"{RAW}/a": "a", f"{DERIVED}/b": "b", f"{other}/c": "c"})
    found = lint_findings(tmp_path, select=["L303"])
    assert brief(found) == [("L303", other, other)]
    assert found[0].message == (
        f"source asset 'ecephys_1_2023-01-01_00-00-01' of derived asset {other!r} is not in the target"
    )
