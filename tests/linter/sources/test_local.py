"""'Is this folder an asset?', decided once (``linter.names.is_asset_folder``) for the local
source, the pre-commit hook and the rules about nested assets."""

from __future__ import annotations

from pathlib import Path

import pytest

from linter.conventions import load_convention
from linter.names import is_asset_folder
from linter.precommit import select_assets
from linter.sources.local import LocalSource
from linter.sources.local import is_asset_folder as is_local_asset_folder
from tests.conftest import lint_findings, make_tree

CONVENTION = load_convention("aind-open-data")
RAW = "ecephys_123456_2022-12-12_05-06-07"


@pytest.mark.parametrize(
    ("name", "files", "expected"),
    [
        (RAW, set(), True),  # named like an asset
        ("misnamed", {"data_description.json"}, True),  # holds the description
        ("misnamed", {"subject.json"}, False),
        ("misnamed", set(), False),
    ],
)
def test_a_folder_is_an_asset_by_its_name_or_its_description(name: str, files: set[str], expected: bool) -> None:
    assert is_asset_folder(name, CONVENTION, files.__contains__) is expected


def test_the_name_decides_first_and_alone_where_the_files_are_not_known() -> None:
    asked: list[str] = []

    def holds(key: str) -> bool:
        asked.append(key)
        return True

    assert is_asset_folder(RAW, CONVENTION, holds) and asked == []
    assert not is_asset_folder("misnamed", CONVENTION)
    assert is_asset_folder("misnamed", CONVENTION, holds) and asked == ["data_description.json"]


def test_the_local_source_the_hook_and_l301_agree_on_every_folder(tmp_path: Path) -> None:
    bucket = make_tree(
        tmp_path / "bucket",
        {
            f"{RAW}/a.txt": "a",
            "misnamed/data_description.json": "{}",
            "misnamed/b.txt": "b",
            "plain/c.txt": "c",
        },
    )
    decided = {p.name: is_local_asset_folder(p, CONVENTION) for p in sorted(bucket.iterdir())}
    assert decided == {RAW: True, "misnamed": True, "plain": False}
    for folder, is_asset in decided.items():  # a target that is an asset is audited alone
        assert LocalSource(bucket / folder, CONVENTION).single_asset is is_asset
    staged = [f"{RAW}/a.txt", "misnamed/b.txt", "plain/c.txt"]
    assert select_assets(staged, CONVENTION, cwd=bucket) == {".": {RAW, "misnamed"}}
    # the same folders one level down are assets inside an asset (L301)
    outer = "ecephys_654321_2022-12-12_05-06-07"
    nested = make_tree(tmp_path / "nested", {f"{outer}/{k}": "x" for k in ["keep.txt", *staged]})
    nested_tree = {f"{outer}/misnamed/data_description.json": "{}"}
    make_tree(nested, nested_tree)
    found = lint_findings(nested, select=["L301"])
    assert [(f.path, f.message) for f in found] == [
        (
            f"{outer}/{RAW}/",
            f"folder {RAW!r} is an asset inside asset {outer!r} (its name is a raw asset name); "
            "move it to the top level",
        ),
        (
            f"{outer}/misnamed/",
            f"folder 'misnamed' is an asset inside asset {outer!r} (it holds data_description.json); "
            "move it to the top level",
        ),
    ]
