"""The linter's asset-level verdicts against upstream's ``Metadata``, on
../shared/fixtures/upstream-assets/ (read in place; issue 21).

140 whole real assets (see its README): each core file as ``<stem>.json.gz`` and the record as
``metadata.nd.json.gz``, with the verdict of upstream's ``Metadata`` built from them
(``upstream_category``), its errors and warnings, and the record validated as it is stored
(``record_as_is``). Each asset is decompressed into a folder of its own name (every name is a
valid AIND asset name; the two that occur twice, under ``assets-2/``, form a second target) and
the real linter runs over them once, every rule selected, each release in its own environment
(``.ci/run`` prepares them beforehand with ``tests.prepare_schemas``; the test skips, naming
them, when one is not prepared).
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from linter.findings import Finding, Severity
from tests.conftest import CORPUS_EXECUTOR, FIXTURES, lint_findings

ASSETS = FIXTURES / "upstream-assets"
pytestmark = [
    pytest.mark.skipif(not ASSETS.is_dir(), reason="../shared/fixtures/upstream-assets is absent"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

RECORD = "metadata.nd.json"
VALID = "valid"
DERIVED_QUIRK = "invalid:derived-dd-rejected-by-1.x-Metadata"
ACTIVE_DEVICES = (
    "were not found in either the Instrument.components or in an individual procedure's implanted_device field"
)
NAME_TIME = "should be close to the acquisition end time"


@dataclass(frozen=True)
class Row:
    fields: dict[str, str]

    def __getattr__(self, name: str) -> str:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def top(self) -> str:
        return self.fields["folder"].split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.fields["folder"].split("/", 1)[1]

    @property
    def key(self) -> tuple[str, str]:
        return self.top, self.name


def rows() -> list[Row]:
    with open(ASSETS / "manifest.tsv", encoding="utf-8") as handle:
        lines = list(csv.reader(handle, delimiter="\t"))
    header = [h.strip() for h in lines[0]]
    header[0] = header[0].lstrip("# ")
    return [Row(dict(zip(header, r, strict=False))) for r in lines[1:] if r and not r[0].startswith("#")]


def unprepared() -> list[str]:
    """The releases the sample needs that are neither installed nor prepared in the cache."""
    from linter.validation import envs, installed_release
    from tests.prepare_schemas import upstream_assets_releases

    return [r for r in upstream_assets_releases() if r != installed_release() and not envs.is_ready(r)]


Corpus = tuple[list[Row], dict[tuple[str, str], list[Finding]]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """The whole sample linted once: {(target, asset): findings}."""
    missing = unprepared()
    if missing:
        pytest.skip(
            f"aind-data-schema {', '.join(missing)} not prepared (run `python -m tests.prepare_schemas`, which "
            "needs the network once)"
        )
    root = tmp_path_factory.mktemp("upstream-assets")
    all_rows = rows()
    for row in all_rows:
        folder = root / row.top / row.name
        folder.mkdir(parents=True)
        for packed in (ASSETS / row.folder).glob("*.json.gz"):
            (folder / packed.name.removesuffix(".gz")).write_bytes(gzip.decompress(packed.read_bytes()))
    by_asset: dict[tuple[str, str], list[Finding]] = {}
    for top in sorted({r.top for r in all_rows}):
        for f in lint_findings(root / top, jobs=2, executor=CORPUS_EXECUTOR):
            by_asset.setdefault((top, f.asset or ""), []).append(f)
    return all_rows, by_asset


def _errors(findings: list[Finding], *codes: str) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.ERROR and (not codes or f.rule in codes)]


def _on_record(f: Finding, row: Row) -> bool:
    return f.path == f"{row.name}/{RECORD}"


def test_the_sample_is_the_one_described() -> None:
    all_rows = rows()
    assert len(all_rows) == 140
    assert Counter(r.line for r in all_rows) == {"1.x": 125, "2.x": 15}
    assert Counter(r.upstream_category for r in all_rows) == {
        "invalid:file": 115,
        DERIVED_QUIRK: 14,
        VALID: 7,
        "invalid:version-mix": 2,
        "invalid:upstream-crash": 1,
        "invalid:cross-file": 1,
    }
    assert Counter(r.record_as_is for r in all_rows) == {
        "crashed": 75,
        "core-invalid-logged": 29,
        "missing-subject": 15,
        "raised": 14,
        VALID: 7,
    }
    assert sum(ACTIVE_DEVICES in r.metadata_from_dicts_errors for r in all_rows) == 3
    assert len({r.key for r in all_rows}) == 140


def figures(corpus: Corpus) -> dict[str, Any]:
    """What the linter makes of each category of the sample, counted per asset."""
    all_rows, by_asset = corpus
    out: dict[str, Counter[str]] = {}
    for row in all_rows:
        found = by_asset.get(row.key, [])
        seen = out.setdefault(row.upstream_category, Counter())
        seen["assets"] += 1
        seen["an error"] += bool(_errors(found))
        seen["an M211 error"] += bool(_errors(found, "M211"))
        seen["an M211 warning"] += any(f.rule == "M211" and f.severity is Severity.WARNING for f in found)
        seen["an M213 error"] += bool(_errors(found, "M213"))
        seen["an M214"] += any(f.rule == "M214" and not _on_record(f, row) for f in found)
        seen["an M203 on a core file"] += any(f.rule == "M203" and not _on_record(f, row) for f in found)
    return {category: dict(sorted(c.items())) for category, c in sorted(out.items())}


def record_figures(corpus: Corpus) -> dict[tuple[str, str], int]:
    """(upstream's record_as_is, what the linter finds at metadata.nd.json): how many assets."""
    all_rows, by_asset = corpus
    got: Counter[tuple[str, str]] = Counter()
    for row in all_rows:
        at = sorted({f.rule for f in by_asset.get(row.key, []) if _on_record(f, row)})
        got[(row.record_as_is, ",".join(at) or "-")] += 1
    return dict(sorted(got.items()))


def test_the_linter_agrees_with_upstreams_metadata_on_every_asset(corpus: Corpus) -> None:
    """One test over the one lint of the sample (it takes minutes: tests spread over
    pytest-xdist workers would each lint it)."""
    every_rejected_asset_is_flagged(corpus)
    the_active_devices_failures_are_m211(corpus)
    the_name_time_warning_is_an_m211_warning(corpus)
    no_asset_level_error_where_upstream_accepts_or_the_quirk_rejects(corpus)
    every_record_rejected_as_stored_is_an_m203(corpus)
    the_figures_per_category(corpus)


def every_rejected_asset_is_flagged(corpus: Corpus) -> None:
    all_rows, by_asset = corpus
    rejected = [r for r in all_rows if r.upstream_category != VALID]
    assert len(rejected) == 133
    assert [r.id for r in rejected if not _errors(by_asset.get(r.key, []))] == []


def the_active_devices_failures_are_m211(corpus: Corpus) -> None:
    all_rows, by_asset = corpus
    rows_ = [r for r in all_rows if ACTIVE_DEVICES in r.metadata_from_dicts_errors]
    assert [r.id for r in rows_] == ["030", "043", "061"]
    for row in rows_:
        found = [f for f in _errors(by_asset.get(row.key, []), "M211") if ACTIVE_DEVICES in f.message]
        assert [f.details["validator"] for f in found] == ["validate_acquisition_active_devices"], row.id
        assert found[0].details["release"] == row.metadata_release, row.id


def the_name_time_warning_is_an_m211_warning(corpus: Corpus) -> None:
    all_rows, by_asset = corpus
    (row,) = [r for r in all_rows if NAME_TIME in r.metadata_warnings]
    found = [f for f in by_asset.get(row.key, []) if f.rule == "M211"]
    assert [(str(f.severity), f.details["validator"], f.details["release"]) for f in found] == [
        ("warning", "validate_data_description_name_time_consistency", "2.7.1")
    ]
    assert row.metadata_warnings.removeprefix("UserWarning: ") in found[0].message


def no_asset_level_error_where_upstream_accepts_or_the_quirk_rejects(corpus: Corpus) -> None:
    """The 7 assets upstream accepts, and the 14 derived 1.x assets its Metadata rejects only for
    typing data_description as DataDescription: no M211 or M213 error (the latter hold only a
    data_description.json; 1.x's expected-files check, which upstream never reached for them,
    is a warning, and M201 says which files are missing)."""
    all_rows, by_asset = corpus
    for category in (VALID, DERIVED_QUIRK):
        chosen = [r for r in all_rows if r.upstream_category == category]
        assert [(r.id, f.message) for r in chosen for f in _errors(by_asset.get(r.key, []), "M211", "M213")] == []


def every_record_rejected_as_stored_is_an_m203(corpus: Corpus) -> None:
    all_rows, by_asset = corpus
    raised = [r for r in all_rows if r.record_as_is == "raised"]
    assert len(raised) == 14
    missed = [r.id for r in raised if not any(f.rule == "M203" and _on_record(f, r) for f in by_asset[r.key])]
    assert missed == []


def the_figures_per_category(corpus: Corpus) -> None:
    assert figures(corpus) == EXPECTED_FIGURES
    assert record_figures(corpus) == EXPECTED_RECORDS


def _figures(assets: int, error: int, m211: int, m211_warning: int, m213: int, m214: int, m203: int) -> dict[str, int]:
    return {
        "an M203 on a core file": m203,
        "an M211 error": m211,
        "an M211 warning": m211_warning,
        "an M213 error": m213,
        "an M214": m214,
        "an error": error,
        "assets": assets,
    }


EXPECTED_FIGURES: dict[str, Any] = {
    # 036: 1.2.0's validate_expected_files_by_modality, "SPIM metadata missing required file: procedures"
    "invalid:cross-file": _figures(1, error=1, m211=1, m211_warning=0, m213=0, m214=0, m203=0),
    # each holds only a data_description.json (M201 errors); on the 13 ecephys ones 1.0.0's
    # validate_ecephys_metadata finds files missing, a warning (1.0.0 checks no behavior asset's)
    DERIVED_QUIRK: _figures(14, error=14, m211=0, m211_warning=13, m213=0, m214=0, m203=0),
    # every one has a file invalid alone (M203); M214: a 0.12.15 asset (no Metadata yet) and a
    # 0.15.19 one (a pydantic 1 Metadata)
    "invalid:file": _figures(115, error=115, m211=35, m211_warning=5, m213=44, m214=2, m203=115),
    # 020: upstream's crash is in validate_metadata (Rig.model_dump), which the linter does not
    # call (it re-validates each file alone); 1.4.0's expected-files and rig/session checks reject it
    "invalid:upstream-crash": _figures(1, error=1, m211=1, m211_warning=0, m213=0, m214=0, m203=0),
    "invalid:version-mix": _figures(2, error=2, m211=1, m211_warning=1, m213=1, m214=0, m203=0),
    # errors of other rules: 035 (barseq: N102 'barseq' is 'BARseq'; M201; its procedures.json
    # 2.1.1 is invalid alone by 2.6.0, as the manifest's files_alone says, and valid at 2.7.1, the
    # asset's release), 086 (M201: only subject and processing), 088 (M206: the name differs)
    VALID: _figures(7, error=3, m211=0, m211_warning=1, m213=0, m214=0, m203=1),
}
EXPECTED_RECORDS: dict[tuple[str, str], int] = {
    ("core-invalid-logged", "-"): 29,
    ("crashed", "M203"): 75,
    ("missing-subject", "-"): 15,
    ("raised", "M203"): 14,
    ("valid", "-"): 6,
    # 035: the record declares Metadata 1.2.1 and is validated by that version's release (1.4.0),
    # whose validator crashes on its 2.x files; the manifest validated it with 2.7.1, the release
    # of its data_description's version
    ("valid", "M203"): 1,
}
