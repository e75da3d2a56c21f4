"""``aind-bucket-lint report SAVED``: a saved json or jsonl report re-renders, in every format,
exactly what the live run wrote; each target's root travels in the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import make_tree, run_cli

BAD_MODALITY = "smartspim_653158_2023-02-01_10-00-00"
PLACEHOLDER = "HCR_703179_2024-03-24_00-00-00"
FORMATS = ("json", "jsonl", "sarif", "github", "markdown", "html", "text")


def same(text: str) -> str:
    """The report as it must be the same: pygal gives each chart of the html page a random id."""
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "uuid", text)


def outputs(folder: Path) -> list[str]:
    folder.mkdir()
    return [f"--output={fmt}:{folder / fmt}" for fmt in FORMATS]


def test_a_saved_report_renders_as_the_live_run_did(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three targets: a folder of assets, a folder that is one asset (its root is its parent, so
    SARIF's base and GitHub's file= come from the engine, not from the label) and one that
    cannot be opened."""
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    bucket = make_tree(tmp_path / "bucket", {f"{BAD_MODALITY}/SPIM/t.txt": "t", "notes.txt": "n"})
    staging = make_tree(tmp_path / "staging", {f"{PLACEHOLDER}/x": "x"})
    targets = [str(bucket), str(staging / PLACEHOLDER), str(tmp_path / "missing")]
    res = run_cli("check", *targets, "--select", "N,L", *outputs(tmp_path / "live"))
    assert (res.code, res.out) == (2, "")
    live = {fmt: (tmp_path / "live" / fmt).read_text(encoding="utf-8") for fmt in FORMATS}

    doc = json.loads(live["json"])
    assert doc["targets"] == [
        {"label": str(bucket), "root": bucket.as_uri() + "/", "assets": 1, "findings": 2},
        {"label": str(staging / PLACEHOLDER), "root": staging.as_uri() + "/", "assets": 1, "findings": 1},
        {"label": str(tmp_path / "missing"), "root": None, "assets": 0, "findings": 1},
    ]
    assert json.loads(live["jsonl"].splitlines()[-1])["targets"] == doc["targets"]
    sarif = json.loads(live["sarif"])["runs"][0]
    assert {k: v["uri"] for k, v in sarif["originalUriBaseIds"].items()} == {
        "TARGETROOT": bucket.as_uri() + "/",
        "TARGETROOT2": staging.as_uri() + "/",
        "TARGETROOT3": (tmp_path / "missing").as_uri() + "/",
    }
    assert [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in sarif["results"]] == [
        {"uri": "notes.txt", "uriBaseId": "TARGETROOT"},
        {"uri": BAD_MODALITY, "uriBaseId": "TARGETROOT"},
        {"uri": PLACEHOLDER, "uriBaseId": "TARGETROOT2"},
        {"uri": ".", "uriBaseId": "TARGETROOT3"},
    ]
    assert [line.split("::")[1] for line in live["github"].splitlines()[:4]] == [
        f"error file=bucket/{BAD_MODALITY},title=N102 unknown-modality",
        "error title=E901 unreadable",
        "warning file=bucket/notes.txt,title=L302 orphan-object",
        f"notice file=staging/{PLACEHOLDER},title=N107 placeholder-time",  # the asset's parent is its root
    ]

    for saved in ("json", "jsonl"):
        again = tmp_path / f"from-{saved}"
        res = run_cli("report", str(tmp_path / "live" / saved), *outputs(again))
        assert (res.code, res.out, res.err) == (0, "", "")
        for fmt in FORMATS:
            assert same((again / fmt).read_text(encoding="utf-8")) == same(live[fmt]), (saved, fmt)


def test_a_report_that_records_no_targets_still_renders(tmp_path: Path) -> None:
    """A report of an earlier version has no ``targets``: its findings are one group, under the
    first target as given."""
    bucket = make_tree(tmp_path / "bucket", {f"{BAD_MODALITY}/SPIM/t.txt": "t", "notes.txt": "n"})
    saved = tmp_path / "audit.json"
    assert run_cli("check", str(bucket), "--select", "N,L", "--output", f"json:{saved}").code == 1
    doc = json.loads(saved.read_text(encoding="utf-8"))
    del doc["targets"]
    saved.write_text(json.dumps(doc), encoding="utf-8")
    res = run_cli("report", str(saved), "--format", "sarif")
    assert res.code == 0
    run = json.loads(res.out)["runs"][0]
    assert run["originalUriBaseIds"]["TARGETROOT"]["uri"] == bucket.as_uri() + "/"
    assert [r["ruleId"] for r in run["results"]] == ["L302", "N102"]
    res = run_cli("report", str(saved), "--format", "json")
    assert "targets" not in json.loads(res.out)
