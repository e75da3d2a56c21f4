"""Every report from one run (``--output FORMAT:FILE``), ``--statistics``, ``report`` and
``history`` errors, per-asset-ignores, and terminal manners: ``-V``, colour, mistyped commands."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from linter.terminal import plural, use_color
from tests.conftest import BAD_MODALITY, GOOD, PLACEHOLDER, REPORT_SCHEMA, run_cli, small_bucket


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    return small_bucket(tmp_path / "bucket")


def check(bucket: Path, *args: str) -> tuple[int, str, str]:
    res = run_cli("check", str(bucket), "--select", "N,L", *args)
    return res.code, res.out, res.err


def test_every_report_from_one_run(bucket: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    args = [f"--output={fmt}:{out / ('audit.' + fmt)}" for fmt in ("json", "jsonl", "sarif", "markdown", "html")]
    code, stdout, err = check(bucket, *args)
    assert (code, stdout, err) == (1, "", "")  # every report went to a file
    assert sorted(p.name for p in out.iterdir()) == [
        "audit.html",
        "audit.json",
        "audit.jsonl",
        "audit.markdown",
        "audit.sarif",
    ]  # fmt: skip  (and no temporary file left behind)
    doc = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    REPORT_SCHEMA.validate(doc)
    lines = [json.loads(x) for x in (out / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [x for x in lines if x["type"] == "finding"] == [{"type": "finding", **f} for f in doc["findings"]]
    sarif = json.loads((out / "audit.sarif").read_text(encoding="utf-8"))
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == [f["rule"] for f in doc["findings"]]
    assert (out / "audit.markdown").read_text(encoding="utf-8").startswith("## aind-bucket-lint\n\n**Failed**")
    assert (out / "audit.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    # --format names stdout's report besides the files; a plain --output FILE takes --format
    code, stdout, _ = check(bucket, "--format", "github", f"--output=json:{out / 'again.json'}")
    assert stdout.startswith("::error ") and json.loads((out / "again.json").read_text())["findings"]
    code, stdout, _ = check(bucket, "--format", "markdown", "-o", str(out / "plain.md"), "-o", f"text:{out / 't'}")
    assert stdout == "" and (out / "plain.md").read_text().startswith("## aind-bucket-lint")
    assert (out / "t").read_text().splitlines()[3] == "3 assets, 4 objects: 3 findings (1 error, 1 warning, 1 info)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--output", "xml:r.xml"], "--output 'xml:r.xml': unknown format 'xml' (choose from text, json, jsonl"),
        (["--output", "json:"], "--output 'json:': give a file after json: (or - for standard output)"),
        (["--output", "json:r", "--output", "html:r"], "two reports (json and html) would both be written to r"),
        (["--output", "json:-"], None),
        (["--fail-on-new"], "--fail-on-new needs --ledger"),
    ],
)
def test_output_usage_errors(bucket: Path, tmp_path: Path, args: list[str], message: str | None) -> None:
    code, stdout, err = check(bucket, *args)
    if message is None:
        assert code == 1 and json.loads(stdout)["summary"]["findings"] == 3
    else:
        assert (code, stdout) == (2, "") and err.startswith(f"aind-bucket-lint: {message}"), err


def test_a_failed_run_keeps_last_nights_report(bucket: Path, tmp_path: Path) -> None:
    old = tmp_path / "audit.json"
    old.write_text("last night\n")
    code, _, err = check(bucket, "--output", f"json:{old}", "--jobs", "0")
    assert code == 2 and "--jobs" in err
    assert old.read_text() == "last night\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_report_to_a_pipe_or_device_is_written_in_place(bucket: Path, tmp_path: Path) -> None:
    """Renaming a finished report onto a FIFO or a device (/dev/null) would replace it with a
    plain file; such a path is written in place instead."""
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text(encoding="utf-8")), daemon=True)
    reader.start()
    code, stdout, err = check(bucket, "--output", f"json:{fifo}")
    reader.join(timeout=30)
    assert (code, stdout, err) == (1, "", "")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert json.loads(received[0])["summary"]["findings"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bucket", "report.fifo"]  # no temporary file


def test_statistics_like_ruff(bucket: Path, tmp_path: Path) -> None:
    code, stdout, _ = check(bucket, "--statistics", "--output", f"json:{tmp_path / 'a.json'}")
    assert code == 1
    assert stdout.splitlines() == [
        "1  L302  warning  orphan-object     (0 assets)",
        "1  N102  error    unknown-modality  (1 asset)",
        "1  N107  info     placeholder-time  (1 asset)",
        "3 assets, 4 objects: 3 findings (1 error, 1 warning, 1 info)",
    ]
    assert json.loads((tmp_path / "a.json").read_text())["summary"]["findings"] == 3


def test_per_asset_ignores(bucket: Path, tmp_path: Path) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text('per-asset-ignores:\n  "HCR_*": [N107]\n  "smart*": [N1]\n')
    code, stdout, _ = check(bucket, "--config", str(config), "--format", "json")
    assert code == 0
    assert [f["rule"] for f in json.loads(stdout)["findings"]] == ["L302"]
    # globs match the whole name, case-sensitively
    config.write_text('per-asset-ignores:\n  "hcr_*": [N107]\n  "HCR": [N107]\n')
    doc = json.loads(check(bucket, "--config", str(config), "--format", "json")[1])
    assert [f["rule"] for f in doc["findings"]] == ["L302", "N107", "N102"]
    for codes, why in (("[N999]", "unknown rule code 'N999'"), ("[E901]", "E901 cannot be ignored")):
        config.write_text(f'per-asset-ignores:\n  "HCR_*": {codes}\n')
        code, stdout, err = check(bucket, "--config", str(config))
        assert (code, stdout) == (2, "")
        assert err.startswith(f"aind-bucket-lint: {config}: per-asset-ignores 'HCR_*': {why}"), err
    config.write_text('per-asset-ignores:\n  "HCR_*": N107\n')
    code, _, err = check(bucket, "--config", str(config))
    assert code == 2 and "per-asset-ignores/HCR_*" in err


def test_report_and_history_errors(tmp_path: Path) -> None:
    res = run_cli("report", str(tmp_path / "none.json"), "--output", "html:x.html")
    assert (res.code, res.err) == (2, f"aind-bucket-lint: {tmp_path / 'none.json'}: saved report not found\n")
    bad = tmp_path / "bad.json"
    bad.write_text('{"report_version": 2}')
    res = run_cli("report", str(bad))
    assert (res.code, res.err) == (
        2,
        f"aind-bucket-lint: {bad}: not an aind-bucket-lint JSON report (report_version 1)\n",
    )
    bad.write_text('{"type": "header", "report_version": 1}\n{"type": "finding", "rule": "N101"}\n')
    res = run_cli("report", str(bad))
    assert res.code == 2 and res.err.startswith(
        f"aind-bucket-lint: {bad}:2: not a finding of an aind-bucket-lint report"
    )
    res = run_cli("history", str(tmp_path / "none.db"))
    assert (res.code, res.err) == (2, f"aind-bucket-lint: {tmp_path / 'none.db'}: ledger file not found\n")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE meta (key TEXT, value TEXT)").connection.commit()
    res = run_cli("history", str(other))
    assert res.code == 2 and res.err.startswith(f"aind-bucket-lint: {other}: not an aind-bucket-lint ledger")


def test_report_renders_a_saved_report_in_every_format(bucket: Path, tmp_path: Path) -> None:
    saved = tmp_path / "audit.jsonl"
    assert check(bucket, "--output", f"jsonl:{saved}", "--output", f"markdown:{tmp_path / 'live.md'}")[0] == 1
    res = run_cli("report", str(saved), "--output", f"markdown:{tmp_path / 'again.md'}", "--format", "text")
    assert res.code == 0
    assert (tmp_path / "again.md").read_text() == (tmp_path / "live.md").read_text()
    assert res.out.splitlines()[3] == "3 assets, 4 objects: 3 findings (1 error, 1 warning, 1 info)"
    res = run_cli("report", str(saved), "--format", "json")
    doc = json.loads(res.out)
    REPORT_SCHEMA.validate(doc)
    assert [a["name"] for a in doc["assets"]] == [PLACEHOLDER, GOOD, BAD_MODALITY]


def test_version_and_mistyped_commands() -> None:
    for flag in ("-V", "--version"):
        res = run_cli(flag)
        assert res.code == 0
    res = run_cli("chek", "bucket")
    assert res.code == 2
    assert res.err.startswith("usage: aind-bucket-lint check [-h]")
    assert res.err.endswith("aind-bucket-lint: unknown command 'chek'; did you mean 'check'?\n")
    res = run_cli("histroy", "x.db")
    assert res.err.startswith("usage: aind-bucket-lint history [-h]")
    res = run_cli("zzz")
    assert res.code == 2 and res.err.splitlines()[-1].startswith(
        "aind-bucket-lint: unknown command 'zzz' (commands: check,"
    )


def test_colour_follows_color_no_color_and_force_color(bucket: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    plain = check(bucket)[1]
    assert "\x1b[" not in plain  # not a terminal
    coloured = check(bucket, "--color", "always")[1]
    assert "\x1b[31;1mN102\x1b[0m" in coloured and "\x1b[36mN107\x1b[0m" in coloured
    assert (
        coloured.replace("\x1b[31;1m", "")
        .replace("\x1b[33m", "")
        .replace("\x1b[36m", "")
        .replace("\x1b[1m", "")
        .replace("\x1b[0m", "")
        == plain
    )
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in check(bucket)[1]
    assert "\x1b[" not in check(bucket, "--color", "never")[1]
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in check(bucket)[1]
    assert "\x1b[" in check(bucket, "--color", "always")[1]
    assert "\x1b[" not in check(bucket, "--format", "json", "--color", "always")[1]  # never in machine formats

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert use_color(Terminal(), "auto", {}) is True
    assert use_color(Terminal(), "auto", {"TERM": "dumb"}) is False
    assert use_color(Terminal(), "auto", {"NO_COLOR": "1"}) is False
    assert use_color(io.StringIO(), "auto", {"FORCE_COLOR": "0"}) is False


def test_plurals() -> None:
    assert [plural(n, "finding") for n in (0, 1, 2)] == ["0 findings", "1 finding", "2 findings"]
    assert plural(1, "info", "info") == "1 info"


def test_a_baseline_hides_findings_but_fixes_none(bucket: Path, tmp_path: Path) -> None:
    ledger, base = tmp_path / "ledger.db", tmp_path / "baseline.json"
    assert run_cli("baseline", str(bucket), "--select", "N,L", "--output", str(base)).code == 0
    first = json.loads(check(bucket, "--ledger", str(ledger), "--format", "json")[1])
    assert [f["status"] for f in first["findings"]] == ["new", "new", "new"]
    code, stdout, _ = check(bucket, "--ledger", str(ledger), "--format", "json", "--baseline", str(base))
    second = json.loads(stdout)
    assert (code, second["findings"], second["summary"]["fixed"], second["summary"]["baselined"]) == (0, [], 0, 3)
    third = json.loads(check(bucket, "--ledger", str(ledger), "--format", "json")[1])
    assert [f["status"] for f in third["findings"]] == ["existing", "existing", "existing"]
    assert third["summary"]["fixed"] == 0
    lines = run_cli("history", str(ledger)).out.splitlines()
    counts = "3 assets  3 findings (1 error, 1 warning, 1 info)"
    assert [line.split("  ", 1)[1] for line in lines] == [
        f"{counts}  3 new  0 fixed",
        f"{counts}  0 new  0 fixed",  # the ledger's line counts what the bucket has, baselined or not
        f"{counts}  0 new  0 fixed",
    ]
