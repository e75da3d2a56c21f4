"""The nightly audit, end to end: a real SeaweedFS bucket audited night after night with a ledger,
every report from one run, findings new / existing / fixed by their stable identity, an
incomplete night in between that marks nothing fixed, ``history``'s lines, ``report``'s
re-rendering, and the HTML report in real headless Chromium (its screenshot is the README's)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from linter.store.db import read_audits
from tests.browser import chromium, console_problems
from tests.conftest import REPO, REPORT_SCHEMA, CliResult, run_cli, validate_jsonl
from tests.linter.reports.test_html import chart_marks, check_page, set_filter, table_rows
from tests.s3_audit_helpers import asset_files, put_files, s3_cli
from tests.s3_fixtures import READER, BucketHandle
from tests.s3server import SeaweedServer

A = "ecephys_123456_2022-12-12_05-06-07"
B = "SmartSPIM_623711_2022-10-27_16-48-54"
C = "smartspim_653158_2023-02-01_10-00-00"  # modality in the wrong case: N102
D = "HCR_703179_2024-03-24_00-00-00"  # placeholder time: N107 (info)
E = "behavior_754897_2025-03-13_10-00-00"  # uploaded without its subject.json: M201
SCREENSHOT_ENV = "AIND_BUCKET_LINT_SCREENSHOT"
FORMATS = ("json", "jsonl", "markdown", "html", "sarif", "text")


def clean_asset(name: str) -> dict[str, bytes]:
    """An asset whose aind-data-schema 2.9.2 sidecars agree with its name (tests/fixtures.py)."""
    return asset_files(name)


def nightly(server: SeaweedServer, bucket: str, ledger: Path, night: Path, *extra: str) -> CliResult:
    """One night's audit: every report from one run, with the ledger."""
    night.mkdir(parents=True, exist_ok=True)
    outputs = [arg for fmt in FORMATS for arg in ("--output", f"{fmt}:{night / ('audit.' + fmt)}")]
    return s3_cli(server, "check", f"s3://{bucket}/", "--ledger", str(ledger), "--quiet", *outputs, *extra)


def reports(night: Path) -> dict[str, Any]:
    doc = json.loads((night / "audit.json").read_text(encoding="utf-8"))
    REPORT_SCHEMA.validate(doc)
    lines = [json.loads(line) for line in (night / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    validate_jsonl(lines)
    return {
        "json": doc,
        "jsonl": lines,
        "markdown": (night / "audit.markdown").read_text(encoding="utf-8"),
        "html": night / "audit.html",
        "sarif": json.loads((night / "audit.sarif").read_text(encoding="utf-8")),
        "text": (night / "audit.text").read_text(encoding="utf-8"),
    }


def statuses(doc: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(f["rule"], f["asset"] or f["path"], f["status"]) for f in doc["findings"]]


def fixed(doc: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(f["rule"], f["asset"] or f["path"], f["status"]) for f in doc.get("fixed", [])]


def check_counts(r: dict[str, Any], findings: int, new: int, fixed_count: int) -> None:
    """The same counts in every format of the night."""
    s = r["json"]["summary"]
    assert (s["findings"], s["new"], s["fixed"]) == (findings, new, fixed_count)
    jsonl = r["jsonl"]
    assert jsonl[-1]["summary"] == s
    assert sum(line["type"] == "finding" for line in jsonl) == findings
    assert sum(line["type"] == "finding" and line["status"] == "new" for line in jsonl) == new
    assert sum(line["type"] == "fixed" for line in jsonl) == fixed_count
    run = r["sarif"]["runs"][0]
    assert len(run["results"]) == findings
    assert sum(x.get("baselineState") == "new" for x in run["results"]) == new
    assert run["properties"]["summary"] == s
    assert f"**{new} new**, **{fixed_count} fixed**" in r["markdown"]
    assert f"; {new} new, {fixed_count} fixed since the last audit" in r["text"].splitlines()[-1] or any(
        f"; {new} new, {fixed_count} fixed since the last audit" in line for line in r["text"].splitlines()
    )
    html = r["html"].read_text(encoding="utf-8")
    assert f'<div class="n" id="n-new">{new}</div>' in html
    assert f'<div class="n" id="n-fixed">{fixed_count}</div>' in html
    assert f'<div class="n" id="n-findings">{findings}</div>' in html


def test_three_nights_with_an_incomplete_one_between(
    aws_env: SeaweedServer, s3_bucket: BucketHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, bucket = s3_bucket
    ledger = tmp_path / "ledger.db"
    put_files(client, bucket, {**clean_asset(A), **clean_asset(B)})

    # night 1: a clean bucket
    res = nightly(aws_env, bucket, ledger, tmp_path / "n1")
    assert (res.code, res.out, res.err) == (0, "", "")
    r1 = reports(tmp_path / "n1")
    assert statuses(r1["json"]) == [] and fixed(r1["json"]) == []
    check_counts(r1, 0, 0, 0)
    assert r1["json"]["previous_audit"] is None and r1["json"]["trend"] == []
    assert [a["schema_version"] for a in r1["json"]["assets"]] == ["2.4.2", "2.4.2"]

    # night 2: objects changed (B's data_description names another asset, a stray file at the
    # root) and assets added (C and D, whose names are wrong)
    original = clean_asset(B)[f"{B}/data_description.json"]
    dd = json.loads(original)
    dd["name"] = A
    put_files(
        client,
        bucket,
        {f"{B}/data_description.json": json.dumps(dd), "stray.txt": "s", **clean_asset(C), **clean_asset(D)},
    )
    res = nightly(aws_env, bucket, ledger, tmp_path / "n2")
    assert (res.code, res.err) == (1, "")
    r2 = reports(tmp_path / "n2")
    assert statuses(r2["json"]) == [
        ("L302", "stray.txt", "new"),
        ("N107", D, "new"),
        ("M206", B, "new"),
        ("N102", C, "new"),
    ]
    check_counts(r2, 4, 4, 0)
    assert r2["json"]["previous_audit"] == r1["json"]["started_at"]
    assert [a["started_at"] for a in r2["json"]["trend"]] == [r1["json"]["started_at"]]

    # an incomplete night: C cannot be listed or read, and B is repaired. Statuses are against
    # night 2, and B's finding, gone from this run, is not marked fixed: the run did not see all
    put_files(client, bucket, {f"{B}/data_description.json": original})
    denied = [
        {
            "Effect": "Deny",
            "Principal": {"AWS": [READER.principal_arn]},
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{bucket}"],
            "Condition": {"StringLike": {"s3:prefix": [f"{C}/*"]}},
        },
        {
            "Effect": "Deny",
            "Principal": {"AWS": [READER.principal_arn]},
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{bucket}/{C}/*"],
        },
    ]
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": denied}))
    with monkeypatch.context() as m:
        m.setenv("AWS_ACCESS_KEY_ID", READER.access_key)
        m.setenv("AWS_SECRET_ACCESS_KEY", READER.secret_key)
        res = nightly(aws_env, bucket, ledger, tmp_path / "n-incomplete")
    client.delete_bucket_policy(Bucket=bucket)
    assert res.code == 2
    ri = reports(tmp_path / "n-incomplete")
    assert ri["json"]["complete"] is False
    assert statuses(ri["json"]) == [
        ("L302", "stray.txt", "existing"),
        ("N107", D, "existing"),
        ("N102", C, "existing"),
        ("E901", C, "new"),
    ]
    check_counts(ri, 4, 1, 0)
    assert "**Incomplete**" in ri["markdown"]

    # night 3: B repaired (since the incomplete night), the stray file removed, C still wrong,
    # E added without its subject.json. Compared with night 2, the last complete one.
    client.delete_object(Bucket=bucket, Key="stray.txt")
    put_files(client, bucket, {k: v for k, v in clean_asset(E).items() if not k.endswith("/subject.json")})
    res = nightly(aws_env, bucket, ledger, tmp_path / "n3")
    assert (res.code, res.err) == (1, "")
    r3 = reports(tmp_path / "n3")
    assert r3["json"]["previous_audit"] == r2["json"]["started_at"]  # the incomplete night is passed over
    assert statuses(r3["json"]) == [("N107", D, "existing"), ("M201", E, "new"), ("N102", C, "existing")]
    assert fixed(r3["json"]) == [("L302", "stray.txt", "fixed"), ("M206", B, "fixed")]
    check_counts(r3, 3, 1, 2)
    md = r3["markdown"]
    assert "### Fixed since the last audit" in md and f"| error | M206 | `{B}/data_description.json` |" in md
    trend = md[md.index("### Trend") :].split("\n\n")[1].splitlines()
    assert [row.split(" | ")[1:] for row in trend[2:]] == [
        ["2", "2", "0", "0", "0", "0", "0 |"],
        ["4", "1", "2", "1", "1", "4", "0 |"],
        ["4", "2", "2", "1", "1", "1", "0 |"],
        ["5", "2", "2", "0", "1", "1", "2 |"],
    ]
    assert trend[5].startswith(f"| {r3['json']['started_at']} (this audit) |")
    assert trend[4].startswith(f"| {ri['json']['started_at']} (incomplete) |")
    assert "; 1 new, 2 fixed since the last audit" in r3["text"]
    assert "  fixed: stray.txt: L302 " in r3["text"]

    # --fail-on-new: the same bucket again fails only because of what is new
    res = nightly(aws_env, bucket, ledger, tmp_path / "n4", "--fail-on-new")
    assert res.code == 0
    check_counts(reports(tmp_path / "n4"), 3, 0, 0)
    put_files(client, bucket, {"stray.txt": "again"})
    res = nightly(aws_env, bucket, ledger, tmp_path / "n5", "--fail-on-new", "--fail-on", "warning")
    assert res.code == 1
    assert statuses(reports(tmp_path / "n5")["json"])[0] == ("L302", "stray.txt", "new")  # fixed, then back: new

    history = run_cli("history", str(ledger))
    assert (history.code, history.err) == (0, "")
    stamp = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"
    expected = [
        "2 assets  0 findings (0 errors, 0 warnings, 0 info)  0 new  0 fixed",
        "4 assets  4 findings (2 errors, 1 warning, 1 info)  4 new  0 fixed",
        "4 assets  4 findings (2 errors, 1 warning, 1 info)  1 new  0 fixed  INCOMPLETE",
        "5 assets  3 findings (2 errors, 0 warnings, 1 info)  1 new  2 fixed",
        "5 assets  3 findings (2 errors, 0 warnings, 1 info)  0 new  0 fixed",
        "5 assets  4 findings (2 errors, 1 warning, 1 info)  1 new  0 fixed",
    ]
    lines = history.out.splitlines()
    assert len(lines) == len(expected)
    for line, tail in zip(lines, expected, strict=True):
        assert re.fullmatch(f"{stamp}  {re.escape(tail)}", line), line
    assert lines[0].startswith(r1["json"]["started_at"])
    assert [a.complete for a in read_audits(ledger)] == [True, True, False, True, True, True]
    assert run_cli("history", str(ledger), "--limit", "2").out.splitlines() == lines[-2:]

    # re-rendering night 3's saved reports gives the same markdown, from json and from jsonl
    for saved in ("audit.json", "audit.jsonl"):
        out = tmp_path / f"re-{saved}.md"
        res = run_cli("report", str(tmp_path / "n3" / saved), "--output", f"markdown:{out}")
        assert (res.code, res.out, res.err) == (0, "", "")
        assert out.read_text(encoding="utf-8") == md

    check_html(tmp_path / "n3" / "audit.html", tmp_path)


def check_html(page: Path, tmp_path: Path) -> None:
    """Night 3's HTML report in headless Chromium: offline, no console error, charts drawn,
    filters working; its screenshot is the README's when ``AIND_BUCKET_LINT_SCREENSHOT`` names
    where to put it (``docs/html-report.png``)."""
    with chromium() as driver:
        check_page(driver, page)
        assert chart_marks(driver, "chart-trend") >= 12  # 3 complete audits and this one, 3 severities
        assert chart_marks(driver, "chart-rules") == 3  # one bar per rule with findings
        assert chart_marks(driver, "chart-modality") >= 3
        assert [r[:4] for r in table_rows(driver)] == [
            [E, "M201 missing-sidecar", "error", "1"],
            [C, "N102 unknown-modality", "error", "1"],
            [D, "N107 placeholder-time", "info", "1"],
        ]
        set_filter(driver, "f-status", "new")
        assert [r[0] for r in table_rows(driver)] == [E]
        set_filter(driver, "f-status", "")
        set_filter(driver, "f-severity", "1")
        assert [r[0] for r in table_rows(driver)] == [D]
        set_filter(driver, "f-severity", "")
        set_filter(driver, "f-asset", "smartspim")
        assert [r[0] for r in table_rows(driver)] == [C]
        set_filter(driver, "f-asset", "")
        fixed_rows = driver.execute_script(
            "return Array.from(document.querySelectorAll('#fixed tbody tr')).map(tr => tr.children[1].textContent)"
        )
        assert fixed_rows == ["L302", "M206"]
        assert console_problems(driver) == []
        shot = tmp_path / "html-report.png"
        driver.set_window_size(1400, 1800)
        assert driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 50_000
    target = os.environ.get(SCREENSHOT_ENV)
    if target:
        dest = Path(target) if Path(target).is_absolute() else REPO / target
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, dest)
