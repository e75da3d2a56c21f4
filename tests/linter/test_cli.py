"""The command line contract: subcommands, options, config, formats and exit codes."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from linter.commands.rules import rules_markdown
from linter.registry import load_rules
from tests.conftest import BAD_MODALITY, GOOD, PLACEHOLDER, REPO, CliResult, run_cli, small_bucket


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    return small_bucket(tmp_path / "bucket")


def check(bucket: Path, *args: str) -> CliResult:
    return run_cli("check", str(bucket), "--select", "N,L", *args)


def test_text_report_and_exit_1_on_an_error(bucket: Path) -> None:
    res = check(bucket)
    assert res.code == 1
    assert res.out.splitlines() == [
        "notes.txt: L302 [warning] file 'notes.txt' at the target root belongs to no asset",
        f"{PLACEHOLDER}: N107 [info] time '00-00-00' in 2024-03-24_00-00-00 looks like a placeholder",
        f"{BAD_MODALITY}: N102 [error] modality 'smartspim' is not in the vocabulary; did you mean 'SmartSPIM'?",
        "3 assets, 4 objects: 3 findings (1 error, 1 warning, 1 info)",
        "  assets: 1 clean, 1 failing (at or above error), 1 with findings below it",
        "  top rules: N102 unknown-modality 1, L302 orphan-object 1, N107 placeholder-time 1; "
        "`aind-bucket-lint explain CODE` tells more",
        f"  worst assets: {BAD_MODALITY} (1 finding), {PLACEHOLDER} (1 finding)",
    ]
    assert res.err == ""


def test_json_report_fields_and_schema(bucket: Path, report_schema) -> None:  # type: ignore[no-untyped-def]
    res = check(bucket, "--format", "json")
    assert res.code == 1
    doc = res.json()
    report_schema.validate(doc)
    assert doc["report_version"] == 1
    assert doc["tool"]["name"] == "aind-bucket-lint"
    assert doc["target"] == [str(bucket)]
    assert doc["convention"] == "aind-open-data"
    assert doc["complete"] is True
    assert doc["summary"] == {
        "assets": 3,
        "objects": 4,
        "findings": 3,
        "by_severity": {"error": 1, "warning": 1, "info": 1},
        "by_rule": {"L302": 1, "N102": 1, "N107": 1},
    }
    assert doc["assets"] == [
        {"name": PLACEHOLDER, "level": "raw", "source": None, "objects": 1},
        {"name": GOOD, "level": "raw", "source": None, "objects": 1},
        {"name": BAD_MODALITY, "level": "raw", "source": None, "objects": 1},
    ]
    assert doc["findings"][2] == {
        "rule": "N102",
        "name": "unknown-modality",
        "severity": "error",
        "asset": BAD_MODALITY,
        "path": BAD_MODALITY,
        "message": "modality 'smartspim' is not in the vocabulary; did you mean 'SmartSPIM'?",
        "details": {"token": "smartspim", "suggestion": "SmartSPIM"},
    }


def test_jsonl_streams_header_findings_summary(bucket: Path) -> None:
    res = check(bucket, "--format", "jsonl")
    lines = res.lines()
    assert [line["type"] for line in lines] == [
        "header", "finding", "asset", "finding", "asset", "asset", "finding", "summary"
    ]  # fmt: skip
    assert lines[0]["report_version"] == 1 and lines[0]["target"] == [str(bucket)]
    assert lines[-1]["complete"] is True and lines[-1]["summary"]["findings"] == 3
    as_json = check(bucket, "--format", "json").json()
    strip = [{k: v for k, v in line.items() if k != "type"} for line in lines[1:-1]]
    assert [x for x, line in zip(strip, lines[1:-1], strict=True) if line["type"] == "finding"] == as_json["findings"]
    assert [x for x, line in zip(strip, lines[1:-1], strict=True) if line["type"] == "asset"] == as_json["assets"]


def test_output_file(bucket: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    res = check(bucket, "--format", "json", "--output", str(out))
    assert (res.code, res.out) == (1, "")
    assert json.loads(out.read_text())["summary"]["findings"] == 3


def test_report_is_deterministic_whatever_the_thread_count(bucket: Path) -> None:
    def strip(doc: dict) -> dict:  # type: ignore[type-arg]
        return {k: v for k, v in doc.items() if k not in ("started_at", "finished_at")}

    one = check(bucket, "--format", "json", "--jobs", "1").json()
    many = check(bucket, "--format", "json", "--jobs", "8").json()
    assert strip(one) == strip(many)


@pytest.mark.parametrize(
    ("args", "rules"),
    [
        (["--select", "N102"], {"N102"}),
        (["--select", "N,L", "--ignore", "N1"], {"L302"}),
        (["--select", "N", "--ignore", "N10", "--select", "N107"], {"N107"}),
        (["--select", "L302,N107"], {"L302", "N107"}),
        (["--ignore", "N102"], {"L302", "N107"}),
    ],
)
def test_select_and_ignore(bucket: Path, args: list[str], rules: set[str]) -> None:
    res = run_cli("check", str(bucket), "--format", "json", *args)
    found = {f["rule"] for f in res.json()["findings"]} - {"M201", "M210"}  # metadata rules: other tests
    assert found == rules


def test_unknown_code_is_a_usage_error(bucket: Path) -> None:
    res = check(bucket, "--ignore", "X999")
    assert res.code == 2
    assert res.out == ""
    assert "'X999' matches no rule code" in res.err


@pytest.mark.parametrize(("fail_on", "code"), [("error", 1), ("warning", 1), ("info", 1), ("never", 0)])
def test_fail_on_with_an_error(bucket: Path, fail_on: str, code: int) -> None:
    assert check(bucket, "--fail-on", fail_on).code == code


@pytest.mark.parametrize(("fail_on", "code"), [("error", 0), ("warning", 1), ("info", 1), ("never", 0)])
def test_fail_on_with_only_a_warning(bucket: Path, fail_on: str, code: int) -> None:
    assert run_cli("check", str(bucket), "--select", "L302", "--fail-on", fail_on).code == code


def test_fail_on_info_only(bucket: Path) -> None:
    assert run_cli("check", str(bucket), "--select", "N107", "--fail-on", "warning").code == 0
    assert run_cli("check", str(bucket), "--select", "N107", "--fail-on", "info").code == 1


def test_missing_target_exits_2(tmp_path: Path) -> None:
    res = run_cli("check", str(tmp_path / "nope"), "--format", "json")
    assert res.code == 2
    assert f"{tmp_path / 'nope'}: no such file or directory" in res.err
    assert res.json()["complete"] is False


def test_a_file_is_not_a_target(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    res = run_cli("check", str(tmp_path / "f.txt"))
    assert res.code == 2
    assert "not a directory" in res.err


def test_usage_errors_exit_2(bucket: Path) -> None:
    assert run_cli().code == 2
    assert run_cli("check").code == 2
    assert run_cli("check", str(bucket), "--format", "nope").code == 2
    assert run_cli("check", str(bucket), "--jobs", "0").code == 2


def test_config_file_found_upward(bucket: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".aind-bucket-lint.yaml").write_text("select: [N107]\nfail-on: info\n")
    sub = tmp_path / "deep" / "er"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    res = run_cli("check", str(bucket))
    assert res.code == 1
    findings = [line for line in res.out.splitlines() if not line.startswith(" ")][:-1]
    assert [line.split(":")[1].split()[0] for line in findings] == ["N107"]
    # the command line wins over the file
    assert run_cli("check", str(bucket), "--fail-on", "never").code == 0


def test_config_in_pyproject(bucket: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.aind-bucket-lint]\nselect = ["N102"]\nseverity = { N102 = "warning" }\n'
    )
    monkeypatch.chdir(tmp_path)
    res = run_cli("check", str(bucket), "--format", "json")
    assert res.code == 0  # N102 lowered to a warning; fail-on error
    assert [(f["rule"], f["severity"]) for f in res.json()["findings"]] == [("N102", "warning")]


def test_pyproject_without_our_table_is_skipped(bucket: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".aind-bucket-lint.yaml").write_text("select: [N107]\n")
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "pyproject.toml").write_text('[project]\nname = "x"\n')
    monkeypatch.chdir(tmp_path / "inner")
    assert {f["rule"] for f in run_cli("check", str(bucket), "--format", "json").json()["findings"]} == {"N107"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("select: [N107\n", "not valid YAML"),
        ("fail-on: sometimes\n", "invalid configuration at fail-on: 'sometimes' is not one of"),
        ("selekt: [N1]\n", "Additional properties are not allowed ('selekt' was unexpected)"),
        ("- a list\n", "the configuration must be a mapping"),
    ],
)
def test_bad_config_exits_2(bucket: Path, tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text)
    res = run_cli("check", str(bucket), "--config", str(cfg))
    assert res.code == 2
    assert res.out == ""
    assert str(cfg) in res.err and message in res.err


def test_missing_config_file_exits_2(bucket: Path, tmp_path: Path) -> None:
    res = run_cli("check", str(bucket), "--config", str(tmp_path / "none.yaml"))
    assert (res.code, res.err.strip()) == (2, f"aind-bucket-lint: {tmp_path / 'none.yaml'}: config file not found")


def test_custom_convention_file(bucket: Path, tmp_path: Path) -> None:
    conv = tmp_path / "lab.yaml"
    conv.write_text("convention_version: 1\nname: lab\nnames:\n  modalities: [smartspim, ecephys, HCR]\n")
    res = run_cli("check", str(bucket), "--select", "N102", "--convention", str(conv), "--format", "json")
    assert res.code == 0
    assert res.json()["convention"] == "lab"
    assert res.json()["findings"] == []


def test_convention_named_in_config_is_relative_to_the_config(bucket: Path, tmp_path: Path) -> None:
    (tmp_path / "conv").mkdir()
    (tmp_path / "conv" / "lab.yaml").write_text("convention_version: 1\nname: lab\nnames:\n  modalities: [smartspim]\n")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("convention: conv/lab.yaml\nselect: [N102]\n")
    res = run_cli("check", str(bucket), "--config", str(cfg), "--format", "json")
    assert res.json()["convention"] == "lab"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("convention_version: 1\nname: x\n", "at (top): 'names' is a required property"),
        ("convention_version: 1\nname: x\nnames:\n  modalities: [a_b]\n", "at names/modalities/0"),
        ("convention_version: 2\nname: x\nnames: {modalities: []}\n", "at convention_version: 1 was expected"),
        (": : :\n", "not valid YAML"),
    ],
)
def test_bad_convention_exits_2(bucket: Path, tmp_path: Path, text: str, message: str) -> None:
    conv = tmp_path / "bad.yaml"
    conv.write_text(text)
    res = run_cli("check", str(bucket), "--convention", str(conv))
    assert res.code == 2
    assert str(conv) in res.err and message in res.err


def test_unknown_convention_name_exits_2(bucket: Path) -> None:
    res = run_cli("check", str(bucket), "--convention", "no-such-convention")
    assert res.code == 2
    assert "no such convention (built-in: aind-open-data" in res.err


def test_rules_text_json_markdown() -> None:
    rules = load_rules()
    text = run_cli("rules")
    assert text.code == 0
    assert [line.split()[0] for line in text.out.splitlines()] == list(rules)
    rows = json.loads(run_cli("rules", "--format", "json").out)
    n101 = next(r for r in rows if r["code"] == "N101")
    assert (n101["name"], n101["severity"]) == ("name-grammar", "error")
    assert n101["doc"].startswith("The asset's name must be a raw name")
    md = run_cli("rules", "--format", "markdown").out
    assert md.splitlines()[0] == "| Code | Name | Severity | Summary |"
    assert "| N106 | daisy-chained | error | The source part of a derived name is itself derived. |" in md


def test_every_rule_has_documentation() -> None:
    for rule in load_rules().values():
        assert len(rule.doc) > 40, rule.code
        assert rule.summary.endswith("."), rule.code


def test_explain() -> None:
    res = run_cli("explain", "n106")
    assert res.code == 0
    assert res.out.startswith("N106 daisy-chained (error)\n\nThe source part of a derived name is itself derived.\n\n")
    assert "Do not daisy-chain" in res.out
    assert run_cli("explain", "daisy-chained").out == res.out
    bad = run_cli("explain", "Z123")
    assert (bad.code, bad.err.strip()) == (2, "aind-bucket-lint: no rule 'Z123' (see `aind-bucket-lint rules`)")


def test_readme_rule_table_is_in_sync() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- rules-table:start -->\n(.*?)<!-- rules-table:end -->", readme, re.S)
    assert match, "README lacks the rules-table markers"
    assert match.group(1) == rules_markdown(load_rules()), (
        "README rule table is stale: regenerate with `aind-bucket-lint rules --format markdown`"
    )


def test_version_and_module_entry(tmp_path: Path) -> None:
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "linter", "--version"], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and res.stdout.startswith("aind-bucket-lint ")
    import sysconfig

    # the console script is installed beside the interpreter running the tests, on PATH or not
    exe = shutil.which("aind-bucket-lint", path=sysconfig.get_path("scripts"))
    assert exe is not None and os.access(exe, os.X_OK)
