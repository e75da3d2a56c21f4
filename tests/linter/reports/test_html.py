"""The HTML report in real headless Chromium: it loads offline without console errors, its
charts are drawn, its findings table filters by rule, severity, status and asset name and pages;
data cannot inject markup."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from linter.conventions import load_convention
from linter.reports import ReportOptions, get_reporter
from linter.reports.html import pack, unpack
from linter.reports.load import load_report
from tests.browser import chromium, console_problems, wait_ready
from tests.conftest import make_tree, run_cli

GOOD = "ecephys_123456_2022-12-12_05-06-07"
BAD_MODALITY = "smartspim_653158_2023-02-01_10-00-00"
PLACEHOLDER = "HCR_703179_2024-03-24_00-00-00"
EVIL = "<img src=x onerror=document.title='pwned'>"


def render_html(saved: Path, out: Path) -> str:
    report = load_report(saved)
    buf = io.StringIO()
    report.replay(
        get_reporter("html", buf, ReportOptions(fail_on="error", convention=load_convention("aind-open-data")))
    )
    out.write_text(buf.getvalue(), encoding="utf-8")
    return buf.getvalue()


def table_rows(driver: Any) -> list[list[str]]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#findings tbody tr'))"
        ".map(tr => Array.from(tr.children).map(td => td.textContent));"
    )


def set_filter(driver: Any, element_id: str, value: str) -> None:
    driver.execute_script(
        "var el = document.getElementById(arguments[0]); el.value = arguments[1];"
        "el.dispatchEvent(new Event(el.tagName === 'INPUT' ? 'input' : 'change'));",
        element_id,
        value,
    )


def chart_marks(driver: Any, chart: str) -> int:
    """Drawn bars, dots and lines of a chart with a size on screen."""
    return int(
        driver.execute_script(
            "var svg = document.querySelector('#' + arguments[0] + ' svg');"
            "if (!svg || svg.getBoundingClientRect().width < 200) return -1;"
            "return Array.from(svg.querySelectorAll('g.series rect.rect, g.series circle.dot, g.series path.line'))"
            ".filter(e => { var b = e.getBBox();"
            " return e.tagName === 'rect' ? b.width > 0 && b.height > 0 : b.width > 0 || b.height > 0; }).length;",
            chart,
        )
    )


def check_page(driver: Any, page: Path) -> None:
    """What every HTML report must do in the browser: load offline without a console error,
    draw its charts, and show the first page of the findings table."""
    driver.get(page.as_uri())
    wait_ready(driver)
    assert console_problems(driver) == []
    assert driver.execute_script("return document.body.getAttribute('data-ready')") == "true"
    assert chart_marks(driver, "chart-trend") >= 1
    # no request may leave the page: everything it uses is inline
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [r for r in resources if not r.startswith(("data:", "blob:"))] == []


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    files: dict[str, str | bytes] = {
        f"{GOOD}/ecephys/a.bin": "a",
        f"{BAD_MODALITY}/SPIM/t.txt": "t",
        f"{PLACEHOLDER}/x": "x",
        "notes.txt": "n",
        EVIL: "e",
    }
    files.update({f"orphan-{i:03d}.txt": "o" for i in range(120)})
    bucket = make_tree(tmp_path / "bucket", files)
    out = tmp_path / "audit.json"
    res = run_cli("check", str(bucket), "--select", "N,L", "--format", "json", "--output", str(out))
    assert res.code == 1, res.err
    return out


def test_page_loads_draws_and_filters(saved: Path, tmp_path: Path) -> None:
    page = tmp_path / "audit.html"
    html = render_html(saved, page)
    assert EVIL not in html  # escaped by the template (and packed in the table data)
    with chromium() as driver:
        check_page(driver, page)
        assert chart_marks(driver, "chart-rules") == 3  # L302, N102, N107: one bar each
        assert chart_marks(driver, "chart-modality") >= 3
        assert driver.title.startswith("aind-bucket-lint: ")
        assert driver.execute_script("return document.querySelectorAll('img').length") == 0
        info = driver.find_element("id", "page-info").text
        assert info == "rows 1-100 of 124 (124 findings), page 1 of 2"
        first = table_rows(driver)
        assert len(first) == 100 and first[0][1:4] == ["N102 unknown-modality", "error", "1"]
        driver.find_element("id", "next").click()
        assert len(table_rows(driver)) == 24
        assert driver.find_element("id", "page-info").text == "rows 101-124 of 124 (124 findings), page 2 of 2"

        set_filter(driver, "f-severity", "1")
        assert [r[:3] for r in table_rows(driver)] == [[PLACEHOLDER, "N107 placeholder-time", "info"]]
        set_filter(driver, "f-severity", "")
        rules = driver.execute_script(
            "return Array.from(document.querySelectorAll('#f-rule option')).map(o => [o.value, o.textContent])"
        )
        assert rules == [["", "all rules"], ["0", "N102 unknown-modality"], ["1", "L302 orphan-object"],
                         ["2", "N107 placeholder-time"]]  # fmt: skip
        set_filter(driver, "f-rule", "1")
        assert driver.find_element("id", "page-info").text == "rows 1-100 of 122 (122 findings), page 1 of 2"
        assert {r[1] for r in table_rows(driver)} == {"L302 orphan-object"}
        set_filter(driver, "f-rule", "")
        set_filter(driver, "f-asset", "SMARTSPIM_653")  # part of the name, any case
        assert [r[0] for r in table_rows(driver)] == [BAD_MODALITY]
        set_filter(driver, "f-asset", "no-such-asset")
        assert table_rows(driver) == [] and driver.find_element("id", "page-info").text == "no findings match"
        set_filter(driver, "f-asset", "ONERROR")  # a file at the root: matched on its path
        evil_rows = table_rows(driver)
        assert [r[:2] + r[4:5] for r in evil_rows] == [["(target)", "L302 orphan-object", EVIL]]  # shown as text
        assert driver.title != "pwned"


def test_the_table_data_round_trips() -> None:
    data = {"assets": ["a", "ü<b>"], "rows": [[0, 1, 3, 2, 0, 1, "x", "m"]]}
    packed = pack(data)
    assert set(packed) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    assert unpack(packed) == data


def test_rows_past_the_limit_are_left_out_and_said(saved: Path, tmp_path: Path) -> None:
    report = load_report(saved)
    buf = io.StringIO()
    report.replay(
        get_reporter("html", buf, ReportOptions(convention=load_convention("aind-open-data"), max_table_rows=10))
    )
    assert "The 114 least severe rows are left out of this page" in buf.getvalue()
