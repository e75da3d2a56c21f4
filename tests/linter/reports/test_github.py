"""`--format github`: workflow-command annotations, escaped so that data cannot inject commands,
capped, the most severe first."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from linter.engine import AssetResult
from linter.events import TargetStarted
from linter.findings import Finding, Severity
from linter.reports import ReportOptions, RunFooter, RunHeader
from linter.reports.github import GithubReporter, escape_data, escape_property
from tests.conftest import make_tree, run_cli

GOOD = "ecephys_123456_2022-12-12_05-06-07"
BAD_MODALITY = "smartspim_653158_2023-02-01_10-00-00"
PLACEHOLDER = "HCR_703179_2024-03-24_00-00-00"
EVIL = "100%, a:b\r\n::error::pwned\n::set-env name=X::y"
COMMAND = re.compile(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$")


def unescape(text: str) -> str:
    for code, char in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(code, char)
    return text


def parse(line: str) -> tuple[str, dict[str, str], str]:
    """Split one annotation as the runner does: properties by ',' then '=', data after '::'."""
    m = COMMAND.match(line)
    assert m, line
    props = dict(p.split("=", 1) for p in m.group(2).split(",")) if m.group(2) else {}
    return m.group(1), {k: unescape(v) for k, v in props.items()}, unescape(m.group(3))


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    return make_tree(
        tmp_path / "bucket",
        {f"{GOOD}/ecephys/a.bin": "a", f"{BAD_MODALITY}/SPIM/t.txt": "t", f"{PLACEHOLDER}/x": "x", "notes.txt": "n"},
    )


def test_annotations_most_severe_first_with_workspace_relative_files(
    bucket: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    res = run_cli("check", str(bucket), "--select", "N,L", "--format", "github")
    assert res.code == 1
    assert res.out.splitlines() == [
        f"::error file=bucket/{BAD_MODALITY},title=N102 unknown-modality::"
        "modality 'smartspim' is not in the vocabulary; did you mean 'SmartSPIM'?",
        "::warning file=bucket/notes.txt,title=L302 orphan-object::"
        "file 'notes.txt' at the target root belongs to no asset",
        f"::notice file=bucket/{PLACEHOLDER},title=N107 placeholder-time::"
        "time '00-00-00' in 2024-03-24_00-00-00 looks like a placeholder",
        "aind-bucket-lint: 3 assets, 4 objects: 3 findings (1 error, 1 warning, 1 info)",
    ]


def test_a_target_that_is_an_asset_is_annotated_relative_to_the_workspace(
    bucket: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    res = run_cli("check", str(bucket / BAD_MODALITY), "--select", "N", "--format", "github")
    assert res.out.splitlines()[0].startswith(f"::error file=bucket/{BAD_MODALITY},title=N102 unknown-modality::")


def test_escaping_rules() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"
    assert escape_data("a:b,c") == "a:b,c"  # ':' and ',' are only special in properties


def test_an_object_key_cannot_inject_a_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys holding '%', ',', ':', CR/LF and '::error::' end up as one line each, and read back intact."""
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    asset = "HCR_1_2020-01-01_00-00-00"
    bucket = make_tree(
        tmp_path / "bucket",
        {
            EVIL: "root file",  # L302: the key goes into file= and (repr'd) into the message
            f"{asset}/{EVIL}/{PLACEHOLDER}/x": "x",  # L301: a nested asset below a folder named EVIL
        },
    )
    res = run_cli("check", str(bucket), "--select", "L301,L302,N107", "--format", "github")
    lines = res.out.split("\n")
    assert lines[-1] == ""  # the output ends with a newline
    *annotations, summary = lines[:-1]
    assert summary.startswith("aind-bucket-lint: ") and "::" not in summary.split(":", 1)[0]
    assert len(annotations) == 3
    assert all(line.startswith("::") for line in annotations)
    assert "\r" not in res.out
    parsed = [parse(line) for line in annotations]
    assert [(level, props["title"]) for level, props, _ in parsed] == [
        ("error", "L301 nested-asset"),
        ("warning", "L302 orphan-object"),
        ("notice", "N107 placeholder-time"),
    ]
    assert parsed[1][1]["file"] == f"bucket/{EVIL}"
    assert parsed[0][1]["file"] == f"bucket/{asset}/{EVIL}/{PLACEHOLDER}/"
    assert parsed[1][2] == f"file {EVIL!r} at the target root belongs to no asset"


def test_a_message_with_raw_newlines_stays_on_its_line() -> None:
    out = io.StringIO()
    reporter = GithubReporter(out, ReportOptions())
    reporter.start(RunHeader(("s3://bkt/staging/",), "aind-open-data"))
    reporter.target_started(TargetStarted("s3://bkt/staging/", "s3://bkt/staging/", "s3://bkt/staging/"))
    message = "bad\n::error::pwned\r\n::warning file=x::y %0A"
    reporter.asset(
        AssetResult("a", "raw", None, 1, [Finding("N101", "name-grammar", Severity.ERROR, "a", "a", message)])
    )
    reporter.finish(
        RunFooter(
            None,
            True,
            {
                "assets": 1,
                "objects": 1,
                "findings": 1,
                "by_severity": {"error": 1, "warning": 0, "info": 0},
                "by_rule": {"N101": 1},
            },
        )
    )
    lines = out.getvalue().splitlines()
    assert lines == [
        "::error title=N101 name-grammar::s3://bkt/staging/a: bad%0A::error::pwned%0D%0A::warning file=x::y %250A",
        "aind-bucket-lint: 1 asset, 1 object: 1 finding (1 error, 0 warnings, 0 info)",
    ]
    assert parse(lines[0])[2] == f"s3://bkt/staging/a: {message}"


def test_annotations_are_capped_with_a_closing_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    files: dict[str, str | bytes] = {f"orphan-{i:02d}.txt": "x" for i in range(60)}
    files[f"{BAD_MODALITY}/SPIM/t.txt"] = "t"  # one error, listed last in the report
    bucket = make_tree(tmp_path / "bucket", files)
    res = run_cli("check", str(bucket), "--select", "N,L", "--format", "github")
    lines = res.out.splitlines()
    assert len(lines) == 52
    assert lines[0].startswith(f"::error file=bucket/{BAD_MODALITY},title=N102")
    assert [parse(line)[1]["file"] for line in lines[1:50]] == [f"bucket/orphan-{i:02d}.txt" for i in range(49)]
    assert lines[50] == (
        "::notice title=aind-bucket-lint::11 more findings not annotated (at most 50 annotations); "
        "see the job summary or the SARIF report"
    )
    assert lines[51] == "aind-bucket-lint: 1 asset, 61 objects: 61 findings (1 error, 60 warnings, 0 info)"


def test_an_incomplete_and_a_baselined_run_say_so(bucket: Path, tmp_path: Path) -> None:
    base = tmp_path / "b.json"
    assert run_cli("baseline", str(bucket), "--select", "N,L", "--output", str(base)).code == 0
    res = run_cli("check", str(bucket), str(tmp_path / "missing"), "--select", "N,L", "--format", "github")
    assert res.code == 2
    assert res.out.splitlines()[-1].endswith("; INCOMPLETE: part of the target could not be read (see E901)")
    res = run_cli("check", str(bucket), "--select", "N,L", "--format", "github", "--baseline", str(base))
    assert (res.code, res.out.splitlines()) == (
        0,
        [
            "aind-bucket-lint: 3 assets, 4 objects: 0 findings (0 errors, 0 warnings, 0 info); "
            "3 baselined findings not shown"
        ],
    )
