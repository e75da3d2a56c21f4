"""`--format markdown`: the job summary (verdict, counts by severity and by rule, the worst
findings), with data escaped so it cannot break the tables or inject Markdown/HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from linter.reports.markdown import code, text
from tests.conftest import make_tree, run_cli

GOOD = "ecephys_123456_2022-12-12_05-06-07"
BAD_MODALITY = "smartspim_653158_2023-02-01_10-00-00"
PLACEHOLDER = "HCR_703179_2024-03-24_00-00-00"
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    return make_tree(
        tmp_path / "bucket",
        {f"{GOOD}/ecephys/a.bin": "a", f"{BAD_MODALITY}/SPIM/t.txt": "t", f"{PLACEHOLDER}/x": "x", "notes.txt": "n"},
    )


def test_summary_document(bucket: Path) -> None:
    res = run_cli("check", str(bucket), "--select", "N,L", "--format", "markdown")
    assert res.code == 1
    assert res.out == (
        "## aind-bucket-lint\n"
        "\n"
        "**Failed**: 1 finding at or above `error`\n"
        "\n"
        f"Target `{bucket}`, convention `aind-open-data`: 3 assets, 4 objects, 3 findings.\n"
        "\n"
        "Assets: 1 clean, 1 failing (a finding at or above `error`), 1 with findings below `error`.\n"
        "\n"
        "| Severity | Findings |\n"
        "| --- | ---: |\n"
        "| error | 1 |\n"
        "| warning | 1 |\n"
        "| info | 1 |\n"
        "\n"
        "### Findings by rule\n"
        "\n"
        "| Rule | Name | Severity | Findings | Assets | Summary |\n"
        "| --- | --- | --- | ---: | ---: | --- |\n"
        "| N102 | unknown-modality | error | 1 | 1 | The modality token is not in the convention's vocabulary. |\n"
        "| L302 | orphan-object | warning | 1 | 0 | A file at the target root belongs to no asset. |\n"
        "| N107 | placeholder-time | info | 1 | 1 | A time of 00-00-00, usually a placeholder for an unknown time. |\n"
        "\n"
        "`aind-bucket-lint explain CODE` tells what a rule checks and how to fix its findings.\n"
        "\n"
        "### Worst assets\n"
        "\n"
        "| Asset | Errors | Warnings | Info | Findings |\n"
        "| --- | ---: | ---: | ---: | ---: |\n"
        f"| `{BAD_MODALITY}` | 1 | 0 | 0 | 1 |\n"
        f"| `{PLACEHOLDER}` | 0 | 0 | 1 | 1 |\n"
        "\n"
        "### By modality\n"
        "\n"
        "| Modality | Assets | Failing | Findings |\n"
        "| --- | ---: | ---: | ---: |\n"
        "| HCR | 1 | 0 | 1 |\n"
        "| ecephys | 1 | 0 | 0 |\n"
        "| smartspim | 1 | 1 | 1 |\n"
        "\n"
        "### By declared schema version\n"
        "\n"
        "| data\\_description schema | Assets | Failing | Findings |\n"
        "| --- | ---: | ---: | ---: |\n"
        "| (not read) | 3 | 1 | 2 |\n"
        "\n"
        "### By acquisition year\n"
        "\n"
        "| Year | Assets | Failing | Findings |\n"
        "| --- | ---: | ---: | ---: |\n"
        "| 2022 | 1 | 0 | 0 |\n"
        "| 2023 | 1 | 1 | 1 |\n"
        "| 2024 | 1 | 0 | 1 |\n"
        "\n"
        "### Findings\n"
        "\n"
        "| Severity | Rule | Path | Message |\n"
        "| --- | --- | --- | --- |\n"
        f"| error | N102 | `{BAD_MODALITY}` | "
        "modality 'smartspim' is not in the vocabulary; did you mean 'SmartSPIM'? |\n"
        "| warning | L302 | `notes.txt` | file 'notes.txt' at the target root belongs to no asset |\n"
        f"| info | N107 | `{PLACEHOLDER}` | time '00-00-00' in 2024-03-24\\_00-00-00 looks like a placeholder |\n"
    )


@pytest.mark.parametrize(
    ("args", "verdict"),
    [
        (["--select", "L302,N107"], "**Passed** (fails on `error`)"),
        (["--select", "L302,N107", "--fail-on", "warning"], "**Failed**: 1 finding at or above `warning`"),
        (["--select", "N,L", "--fail-on", "info"], "**Failed**: 3 findings at or above `info`"),
        (["--select", "N,L", "--fail-on", "never"], "**Passed** (fails on `never`)"),
    ],
)
def test_verdict_follows_fail_on(bucket: Path, args: list[str], verdict: str) -> None:
    assert run_cli("check", str(bucket), "--format", "markdown", *args).out.splitlines()[2] == verdict


def test_incomplete_baselined_and_clean_runs(bucket: Path, tmp_path: Path) -> None:
    res = run_cli("check", str(bucket), str(tmp_path / "missing"), "--select", "N,L", "--format", "markdown")
    assert res.out.splitlines()[2] == "**Incomplete**: part of the target could not be read (see E901)"
    base = tmp_path / "b.json"
    assert run_cli("baseline", str(bucket), "--select", "N,L", "--output", str(base)).code == 0
    res = run_cli("check", str(bucket), "--select", "N,L", "--format", "markdown", "--baseline", str(base))
    lines = res.out.splitlines()
    assert lines[2] == "**Passed** (fails on `error`)"
    assert lines[8] == "3 findings matched the baseline and are not shown."
    assert lines[-1] == "No findings."
    assert "### Findings" not in res.out


def test_only_the_most_severe_findings_are_listed(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {f"orphan-{i:02d}.txt": "x" for i in range(30)}
    files[f"{BAD_MODALITY}/SPIM/t.txt"] = "t"
    bucket = make_tree(tmp_path / "bucket", files)
    lines = run_cli("check", str(bucket), "--select", "N,L", "--format", "markdown").out.splitlines()
    start = lines.index("### The 25 most severe findings")
    rows = lines[start + 4 : start + 4 + 25]
    assert rows[0].startswith(f"| error | N102 | `{BAD_MODALITY}` |")
    assert rows[1].startswith("| warning | L302 | `orphan-00.txt` |")
    assert rows[24].startswith("| warning | L302 | `orphan-23.txt` |")
    rest = "6 more findings not listed here; see the full report (HTML, SARIF or JSON)."
    assert lines[start + 4 + 25 :] == ["", rest]


def test_escaping_helpers() -> None:
    assert text("a|b <script>*x*_y_ [l](u) `c` &amp; #1 ~s~ !\nnext\\") == (
        "a\\|b \\<script\\>\\*x\\*\\_y\\_ \\[l\\](u) \\`c\\` \\&amp; \\#1 \\~s\\~ \\! next\\\\"
    )
    assert code("plain") == "`plain`"
    assert code("a`b") == "``a`b``"
    assert code("`x``") == "``` `x`` ```"
    assert code("a|b\nc") == "`a\\|b\\nc`"


def test_keys_cannot_break_the_table(tmp_path: Path) -> None:
    evil = "x|y\n| --- |\n<img src=x onerror=alert(1)>`|"
    asset = "HCR_1_2020-01-01_00-00-00"
    bucket = make_tree(tmp_path / "bucket", {evil: "e", f"{asset}/{evil}/{PLACEHOLDER}/x": "x"})
    res = run_cli("check", str(bucket), "--select", "L301,L302", "--format", "markdown")
    lines = res.out.splitlines()
    start = lines.index("### Findings")
    rows = lines[start + 4 :]
    assert len(rows) == 2
    for row in rows:
        cells = UNESCAPED_PIPE.split(row)[1:-1]
        assert len(cells) == 4  # nothing leaked out of its cell
        path, message = cells[2].strip(), cells[3]
        fence = re.match(r"`+", path)
        assert fence and path.endswith(fence.group(0))  # the key is one code span: shown literally
        assert not re.search(r"(?<!\\)[<`]", message)  # no raw HTML, no code span in the message
