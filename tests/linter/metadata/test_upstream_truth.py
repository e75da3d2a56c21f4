"""The linter's verdicts against AIND's own, on ../shared/fixtures/upstream-truth/ (read in place).

Every sidecar of the corpus is written as ``<stem>.json`` into an asset of its own and the real
linter (M203, M204) runs over them, validating each file with the release that declares its
version: the installed aind-data-schema in-process, every other release in its own environment
(prepared on first need in the cache; ``.ci/run`` prepares them beforehand with
``schemas install --for``). The figures the issue asks for are asserted exactly where they are
exact (no false M203, every planted defect found at its field) and as bounds where they are
rates. The names of ``names.tsv`` are parsed and compared with the judged verdicts.
"""

from __future__ import annotations

import csv
import gzip
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from linter.conventions import load_convention
from linter.findings import Severity
from linter.names import parse_name
from tests.conftest import CORPUS_EXECUTOR, FIXTURES, lint_findings

TRUTH = FIXTURES / "upstream-truth"
pytestmark = pytest.mark.skipif(not TRUTH.is_dir(), reason="../shared/fixtures/upstream-truth is absent")


@dataclass(frozen=True)
class Row:
    path: str
    stem: str
    version: str
    upstream_valid: str
    planted: str
    releases: str
    note: str

    @property
    def asset(self) -> str:
        return "f" + Path(self.path).name.removesuffix(".json.gz").replace(".", "_")


def rows() -> list[Row]:
    with open(TRUTH / "sidecars" / "manifest.tsv", encoding="utf-8") as handle:
        raw = [r for r in csv.reader(handle, delimiter="\t") if r and not r[0].startswith("#")]
    return [Row(r[0], r[1], r[2], r[3], r[4], r[5], r[8]) for r in raw]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Row], dict[str, list]]:
    """Lint the whole corpus once: {asset: findings}."""
    root = tmp_path_factory.mktemp("upstream-truth")
    all_rows = rows()
    for row in all_rows:
        folder = root / row.asset
        folder.mkdir()
        (folder / f"{row.stem}.json").write_bytes(gzip.decompress((TRUTH / row.path).read_bytes()))
    findings = lint_findings(root, select=["M203", "M204"], jobs=4, executor=CORPUS_EXECUTOR)
    by_asset: dict[str, list] = {}
    for f in findings:
        by_asset.setdefault(f.asset or "", []).append(f)
    return all_rows, by_asset


def test_no_false_m203_on_upstream_valid_files(corpus: tuple[list[Row], dict[str, list]]) -> None:
    all_rows, by_asset = corpus
    valid = [r for r in all_rows if r.upstream_valid == "yes"]
    assert len(valid) == 607
    false_m203 = [(r.path, f.message) for r in valid for f in by_asset.get(r.asset, []) if f.rule == "M203"]
    assert false_m203 == []
    # and none of them is left unjudged either
    assert [(r.path, f.message) for r in valid for f in by_asset.get(r.asset, []) if f.rule == "M204"] == []


def _field(planted: str) -> str:
    """The JSONPath a planted defect sits at: 'missing-required:subject_id' -> '$.subject_id'."""
    if planted == "extra-field":
        return "$.planted_extra_field"
    return "$." + planted.split(":", 1)[1]


def test_every_planted_defect_is_found_at_its_field(corpus: tuple[list[Row], dict[str, list]]) -> None:
    all_rows, by_asset = corpus
    planted = [r for r in all_rows if r.planted != "-"]
    assert len(planted) == 140
    missed = []
    for row in planted:
        paths = {f.details.get("json_path") for f in by_asset.get(row.asset, []) if f.rule == "M203"}
        if _field(row.planted) not in paths:
            missed.append((row.path, row.planted, sorted(p for p in paths if p)))
    assert missed == []


def test_upstream_invalid_files_are_flagged(corpus: tuple[list[Row], dict[str, list]]) -> None:
    all_rows, by_asset = corpus
    invalid = [r for r in all_rows if r.upstream_valid == "no"]
    assert len(invalid) == 252
    flagged = [r for r in invalid if any(f.rule == "M203" for f in by_asset.get(r.asset, []))]
    missed = [r.path for r in invalid if r not in flagged]
    assert len(flagged) / len(invalid) >= 0.97, missed
    # The one miss, explained: upstream judged 2.0.0 with aind-data-schema-models 4.2.7 (the
    # release's own day), where a DAQ device's manufacturer cannot be Arduino; the linter pins
    # 2.0.0's era (4.2.10, the newest before 2.0.1), which added Arduino in 4.2.8, so a file
    # written in August 2025 with Arduino is valid. Release-day pins everywhere would trade it
    # for a false M203 (measured on this corpus: 1.2.0 with models 0.6.1 rejects the valid rig
    # 1.0.3 of upgrader-18e3a007; with its era's 0.7.5 it accepts it, as upstream does).
    assert missed == ["sidecars/2.0.38/upgrader-64bc1f4c__instrument.json.gz"]


def test_every_0x_file_is_validated_by_its_release_or_told_why_not(
    corpus: tuple[list[Row], dict[str, list]],
) -> None:
    all_rows, by_asset = corpus
    legacy = [r for r in all_rows if r.version.startswith("0.")]
    assert len(legacy) == 68
    outcome: Counter[str] = Counter()
    for row in legacy:
        found = by_asset.get(row.asset, [])
        m204 = [f for f in found if f.rule == "M204"]
        m203 = [f for f in found if f.rule == "M203"]
        if m204:
            # not validated: the finding names the release and the command that prepares it
            assert all(f.details["problem"] in ("not-prepared", "unknown-version") for f in m204), row.path
            assert all("schemas install" in f.message or "nearest published" in f.message for f in m204)
            outcome["told why not"] += 1
        else:
            assert all(f.details["schema"].startswith("aind-data-schema 0.") for f in m203), row.path
            outcome["invalid" if m203 else "valid"] += 1
    # with network (or a prepared cache) every 0.x file is judged by its own release
    if os.environ.get("AIND_BUCKET_LINT_OFFLINE", "") not in ("1", "true"):
        assert outcome["told why not"] == 0, outcome


def test_unknown_versions_get_m204_naming_the_nearest(corpus: tuple[list[Row], dict[str, list]]) -> None:
    all_rows, by_asset = corpus
    pre = {r.version: by_asset.get(r.asset, []) for r in all_rows if r.version in ("2.0.25", "2.0.29")}
    assert set(pre) == {"2.0.25", "2.0.29"}
    for version, found in pre.items():
        assert [f.rule for f in found] == ["M204"], version
        assert found[0].details["problem"] == "unknown-version"
        assert "nearest published versions" in found[0].message
        assert found[0].details["nearest"]


def test_files_without_schema_version_get_m204(corpus: tuple[list[Row], dict[str, list]]) -> None:
    all_rows, by_asset = corpus
    none = [r for r in all_rows if r.version == "None"]
    assert len(none) == 2
    for row in none:
        assert [(f.rule, f.details["problem"]) for f in by_asset[row.asset]] == [("M204", "missing")]


# --- names --------------------------------------------------------------------------------------


def name_rows() -> list[list[str]]:
    with open(TRUTH / "names.tsv", encoding="utf-8") as handle:
        return [r for r in csv.reader(handle, delimiter="\t") if r and not r[0].startswith("#")]


def verdicts(names: list[str], root: Path) -> dict[str, str]:
    """The linter's verdict on each name: 'invalid' when a name rule reports an error, else the
    parsed level. Each name is an (empty but for one file) asset folder the real engine lints."""
    for name in names:
        (root / name).mkdir()
        (root / name / "notes.txt").write_text("x", encoding="utf-8")
    errors = {f.asset for f in lint_findings(root, select=["N"]) if f.severity is Severity.ERROR}
    convention = load_convention("aind-open-data")
    out = {}
    for name in names:
        parsed = parse_name(name, convention)
        out[name] = "invalid" if name in errors or not parsed.is_asset_name else parsed.level
    return out


def test_names_agree_with_the_judged_verdicts(tmp_path: Path) -> None:
    scored = [r for r in name_rows() if r[2] != "tool-specific"]
    assert len(scored) == 225
    got_all = verdicts([r[0] for r in scored], tmp_path)
    disagree = []
    for row in scored:
        judged = row[5] if len(row) > 5 and row[5] else row[1]
        got = got_all[row[0]]
        if got != judged:
            disagree.append((row[0], judged, got))
    agreement = 1 - len(disagree) / len(scored)
    assert agreement >= 0.97, disagree
