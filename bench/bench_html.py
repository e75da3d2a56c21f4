"""HTML report benchmark: a synthetic audit of 10^5 assets with 10^6 findings, rendered by the
HTML reporter and opened in real headless Chromium, against the same for 10^3 assets.

The synthetic report is what a nightly audit of a large bucket reports (with history): names
of every modality and year, ten findings per asset over a handful of rules and severities, a
fifth of them new. Measured, per size, in this one run:

- render: the reporter fed every asset's result, writing the page (seconds, file size);
- open: Chromium loading the page from disk until its script has unpacked the data and drawn
  the first page of the table (``data-ready``), best of ``--repeat``;
- filter: typing part of an asset name into the filter until the table shows the matches.

    python bench/bench_html.py                       # 10^3 then 10^5 assets
    python bench/bench_html.py --assets 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from linter.conventions import load_convention  # noqa: E402
from linter.findings import (  # noqa: E402
    AssetResult,
    Finding,
    Severity,
)
from linter.reports import ReportOptions, RunFooter, RunHeader  # noqa: E402
from linter.reports.html import HtmlReporter  # noqa: E402
from tests.browser import chromium, console_problems, missing, wait_ready  # noqa: E402

MODALITIES = ("ecephys", "SmartSPIM", "HCR", "behavior", "exaSPIM", "pophys", "FIP", "smartspim")
RULES = (
    ("M203", "schema-violation", Severity.ERROR, "data_description.json: field 'subject_id' is required"),
    ("M209", "time-mismatch", Severity.WARNING, "the name's time 10-00-00 differs from creation_time 10:03:12"),
    ("L302", "orphan-object", Severity.WARNING, "object 'tmp/scratch-{i}.bin' belongs to no known folder"),
    ("N107", "placeholder-time", Severity.INFO, "time '00-00-00' looks like a placeholder"),
    ("M201", "missing-sidecar", Severity.ERROR, "required sidecar procedures.json is missing"),
)


def synthetic(assets: int, per_asset: int = 10) -> Iterator[AssetResult]:
    """``assets`` results with ``per_asset`` findings each (a fifth new), deterministic."""
    yield AssetResult(None, None, None, 0, [])
    for n in range(assets):
        modality = MODALITIES[n % len(MODALITIES)]
        year = 2019 + n % 7
        name = f"{modality}_{600000 + n}_{year}-0{1 + n % 9}-1{n % 10}_1{n % 10}-0{n % 6}-2{n % 10}"
        findings = []
        for k in range(per_asset):
            code, rule_name, severity, message = RULES[(n + k) % len(RULES) if k < 3 else k % 2]
            findings.append(
                Finding(
                    code,
                    rule_name,
                    severity,
                    name,
                    f"{name}/{'sidecar' if k % 2 else 'tmp'}/file-{k}.json",
                    message.format(i=k),
                    {},
                    "new" if (n + k) % 5 == 0 else "existing",
                )
            )
        yield AssetResult(name, "raw", None, 40, findings, schema_version=("2.4.2", "1.4.0", "0.6.1")[n % 3])


def render(assets: int, path: Path) -> tuple[float, int, int]:
    convention = load_convention("aind-open-data")
    results = list(synthetic(assets))
    findings = sum(len(r.findings) for r in results)
    started = time.perf_counter()
    with path.open("w", encoding="utf-8") as out:
        reporter = HtmlReporter(out, ReportOptions(fail_on="error", convention=convention))
        reporter.start(RunHeader(("s3://synthetic/",), "aind-open-data", "2026-01-31T02:00:00Z", "bench"))
        for r in results:
            reporter.asset(r)
        by_severity = {"error": 0, "warning": 0, "info": 0}
        for r in results:
            for f in r.findings:
                by_severity[str(f.severity)] += 1
        trend = [
            {
                "started_at": f"2026-01-{day:02d}T02:00:00Z",
                "finished_at": f"2026-01-{day:02d}T03:00:00Z",
                "complete": True,
                "assets": assets,
                "clean_assets": 0,
                "objects": 40 * assets,
                "by_severity": {k: v + (30 - day) * assets // 10 for k, v in by_severity.items()},
                "new": assets // 50,
                "fixed": assets // 20,
            }
            for day in range(1, 31)
        ]
        summary = {
            "assets": assets,
            "objects": 40 * assets,
            "findings": findings,
            "by_severity": by_severity,
            "by_rule": {},
            "new": findings // 5,
            "fixed": 0,
        }
        reporter.finish(RunFooter("2026-01-31T03:00:00Z", True, summary, fixed=(), trend=tuple(trend)))
    return time.perf_counter() - started, path.stat().st_size, findings


def open_page(driver: Any, path: Path) -> float:
    started = time.perf_counter()
    driver.get(path.as_uri())
    wait_ready(driver, timeout=300)
    return time.perf_counter() - started


def filter_page(driver: Any, needle: str) -> tuple[float, str]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    box = driver.find_element(By.ID, "f-asset")
    box.clear()
    before = driver.find_element(By.ID, "page-info").text
    started = time.perf_counter()
    driver.execute_script(
        "var el = arguments[0]; el.value = arguments[1]; el.dispatchEvent(new Event('input'));", box, needle
    )
    WebDriverWait(driver, 120).until(lambda d: d.find_element(By.ID, "page-info").text != before)
    return time.perf_counter() - started, driver.find_element(By.ID, "page-info").text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--baseline-assets", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    reason = missing()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-html-") as tmp, chromium() as driver:
        for assets in (args.baseline_assets, args.assets):
            page = Path(tmp) / f"report-{assets}.html"
            seconds, size, findings = render(assets, page)
            opened = min(open_page(driver, page) for _ in range(args.repeat))
            problems = console_problems(driver)
            filtered, shown = filter_page(driver, f"_{600000 + assets // 2}_")
            rows.append((assets, findings, seconds, size, opened, filtered, shown, problems))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"{'assets':>8} {'findings':>9} {'render s':>9} {'size MB':>8} {'open s':>7} {'filter s':>9}  filtered")
    for assets, findings, seconds, size, opened, filtered, shown, problems in rows:
        print(
            f"{assets:>8} {findings:>9} {seconds:>9.2f} {size / 1e6:>8.2f} {opened:>7.2f} {filtered:>9.3f}  {shown}"
            + (f"  CONSOLE: {problems}" if problems else "")
        )
    base, big = rows[0], rows[-1]
    scale = big[0] / base[0]
    print(
        f"{scale:.0f}x the assets: render {big[2] / base[2]:.1f}x, size {big[3] / base[3]:.1f}x, "
        f"open {big[4] / base[4]:.1f}x, filter {big[5] / base[5]:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
