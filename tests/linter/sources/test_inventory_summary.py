"""An S3 Inventory summarized in DuckDB: assets the rules' ``clears`` conditions clear are never
handed to Python, and the findings are exactly those of checking every asset in Python.

The reports are written here (CSV.gz as AWS publishes them, rows in no order); no S3 request is
made (the rules selected read no object)."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from linter.conventions import load_convention
from linter.engine import Linter
from linter.events import AssetResult, TargetFinished
from linter.names import strict_name_pattern
from linter.plan import RunPlan, S3Settings
from linter.registry import Rule, load_rules, select_rules
from linter.sources import SummarizingSource
from tests.conftest import FIXTURES

BUCKET = "summary-bucket"
RAW = "ecephys_123456_2022-12-12_05-06-07"
T0 = dt.datetime(2023, 6, 1, tzinfo=dt.UTC)
SIDECARS = ("data_description.json", "subject.json", "procedures.json")
SELECT = ["N", "L301", "L302", "L303", "I4"]

# (name, what the summary should do with it): True = cleared, False = handed to the rules
NAMES: dict[str, bool] = {
    RAW: True,
    "SmartSPIM_623711_2022-10-27_16-48-54": True,
    "123456_2023-01-01_10-00-01": True,  # no modality (optional in aind-open-data)
    "behavior-videos_1_2024-02-29_23-59-59": True,  # a leap day
    "EM_1_2023-01-01_10-00-01": True,
    "EMG_1_2023-01-01_10-00-01": True,
    "ecephys_2023-01-01_2023-01-02_10-00-01": True,  # a date-shaped subject id
    f"{RAW}_sorted-ks25_2022-12-12_06-07-08": True,  # derived, its source listed
    f"{RAW}_2023-05-05_2023-06-06_10-00-01": True,  # a date-shaped label
    f"{RAW}_10-00-00_2023-06-06_10-00-01": True,  # a time-shaped label
    f"{RAW}_same-time_2022-12-12_05-06-07": True,  # derived at its source's very time
    "ecephys_999999_2022-12-12_05-06-07_proc_2022-12-13_00-00-01": False,  # L303: source not listed
    f"{RAW}_spike_sorting_2023-01-01_10-00-01": False,  # N108
    f"{RAW}_early_2021-01-01_10-00-01": False,  # N105
    f"{RAW}_a_2023-01-01_10-00-01_b_2023-01-02_10-00-01": False,  # N106, N108
    "ecephys_1_2023-02-29_10-00-01": False,  # N103
    "ecephys_1_2023-02-30_10-00-01": False,
    "ecephys_1_2023-13-01_10-00-01": False,
    "ecephys_1_2023-01-01_24-00-00": False,
    "ecephys_1_0000-01-01_10-00-01": False,
    "ecephys_1_2023-01-01_00-00-00": False,  # N107
    f"{RAW}_late_2023-01-01_00-00-00": False,
    "smartspim_1_2023-01-01_10-00-01": False,  # N102
    "Ecephys_1_2023-01-01_10-00-01": False,
    "ecephys_1 2_2023-01-01_10-00-01": False,  # N104
    "ecephys__1_2023-01-01_10-00-01": False,
    "ecephys_1_2023-01-01_10-00-01_": False,
    "ecephys_\uff11\uff12_2023-01-01_10-00-01": False,  # fullwidth digits
    "ecephys_12\u200b3_2023-01-01_10-00-01": False,  # a zero-width space
    "ecephys_1_2023-01-01_10-00-01\n": False,
    "ecephys_1_2023-01-01": False,  # N101
    "notes": False,
    "proj_analysis_2023-01-01_10-00-01": False,
    "ecephys_1_2_2023-01-01_10-00-01": False,
    "ecephys_1_2023-01-01_10-00-01_2023-01-02_10-00-01": False,
}
# (asset, keys below its root with the time each was uploaded at, what the summary should do)
LAYOUTS: dict[str, tuple[dict[str, dt.datetime | None], bool]] = {
    "ecephys_200001_2023-01-01_10-00-01": ({"ecephys/ecephys_compressed/block0.zarr/0.0": T0}, True),
    # L301: a nested asset, and a folder that holds data_description.json
    "ecephys_200002_2023-01-01_10-00-01": ({"derived/ecephys_1_2023-01-01_10-00-01/x.bin": T0}, False),
    "ecephys_200003_2023-01-01_10-00-01": ({"inner/data_description.json": T0}, False),
    # a folder with a date that is no asset: handed to the rules, which find nothing
    "ecephys_200004_2023-01-01_10-00-01": ({"sessions/2023-01-01/x.bin": T0}, False),
    "ecephys_200005_2023-01-01_10-00-01": ({"ecephys/2023-01-01.csv": T0}, True),  # a file, not a folder
    # I404: a late addition; a late exempt sidecar (no finding, but not cleared); a time unknown
    "ecephys_200006_2023-01-01_10-00-01": ({"ecephys/late.bin": T0 + dt.timedelta(days=3)}, False),
    "ecephys_200007_2023-01-01_10-00-01": ({"subject.json": T0 + dt.timedelta(days=3)}, False),
    "ecephys_200008_2023-01-01_10-00-01": ({"ecephys/when.bin": None}, True),
    "ecephys_200009_2023-01-01_10-00-01": ({"ecephys/just-in-time.bin": T0 + dt.timedelta(hours=48)}, True),
}


def _rows(versions: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def put(key: str, when: dt.datetime | None, **extra: Any) -> None:
        size = extra.pop("size", 100 + len(rows))
        etag = hashlib.md5(f"{key}{len(rows)}".encode()).hexdigest()
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.000Z") if when is not None else ""
        row = {"Bucket": BUCKET, "Key": key, "Size": size, "LastModifiedDate": stamp, "ETag": etag}
        if versions:
            row.update(VersionId=f"v{len(rows)}", IsLatest="true", IsDeleteMarker="false")
        row.update(extra)
        rows.append(row)

    for name in NAMES:
        for sidecar in SIDECARS:
            put(f"{name}/{sidecar}", T0)
        put(f"{name}/ecephys/block0.bin", T0 + dt.timedelta(hours=1))
    for name, (keys, _) in LAYOUTS.items():
        put(f"{name}/data_description.json", T0)
        for key, when in keys.items():
            put(f"{name}/{key}", when)
    put("notes.txt", T0)  # L302: at the target root
    put(f"{RAW}/empty-folder/", T0, size=0)  # a folder marker: no object
    if versions:  # I401: an overwritten key; I402: a deleted one (the asset stays listed)
        put(f"{RAW}/ecephys/block0.bin", T0, VersionId="old", IsLatest="false")
        put(f"{RAW}/ecephys/gone.bin", T0, VersionId="marker", IsDeleteMarker="true", Size="", ETag="")
        put(f"{RAW}/ecephys/gone.bin", T0, VersionId="gone", IsLatest="false")
    rows.reverse()
    return rows


def write_report(folder: Path, *, versions: bool) -> Path:
    columns = ["Bucket", "Key", "Size", "LastModifiedDate", "ETag", "StorageClass"]
    if versions:
        columns = ["Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "LastModifiedDate", "ETag"]
    rows = _rows(versions)
    entries = []
    for i in range(2):
        text = io.StringIO()
        writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for row in rows[i::2]:
            row.setdefault("StorageClass", "STANDARD")
            writer.writerow([quote_plus(str(row[c]), safe="") if c == "Key" else row[c] for c in columns])
        data = gzip.compress(text.getvalue().encode())
        path = folder / "data" / f"part-{i}.csv.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entries.append({"key": f"data/{path.name}", "size": len(data), "MD5checksum": hashlib.md5(data).hexdigest()})
    manifest = folder / "manifest.json"
    doc = {"sourceBucket": BUCKET, "fileFormat": "CSV", "fileSchema": ", ".join(columns), "files": entries}
    manifest.write_text(json.dumps(doc))
    return manifest


def _plan(manifest: Path, rules: dict[str, Rule] | None = None, select: list[str] = SELECT) -> RunPlan:
    chosen = rules if rules is not None else select_rules(load_rules(), select, [])
    settings = S3Settings(endpoint_url="http://127.0.0.1:9", region="us-east-1", max_attempts=1)
    return RunPlan(load_convention("aind-open-data"), chosen, s3=settings, inventory=str(manifest))


def _run(plan: RunPlan, prefilter: bool) -> tuple[list[tuple[Any, ...]], int]:
    with Linter(plan, prefilter=prefilter) as linter:
        *events, finished = linter.run_target(f"s3://{BUCKET}")
        results = [
            (r.name, r.level, r.source, r.objects, r.complete, [f.to_dict() for f in r.findings])
            for r in events
            if isinstance(r, AssetResult)
        ]
        assert isinstance(finished, TargetFinished)
        return results, finished.cleared


@pytest.fixture(autouse=True)
def _no_credentials_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.parametrize("versions", [False, True], ids=["current", "versions"])
def test_summary_clears_assets_and_changes_no_finding(tmp_path: Path, versions: bool) -> None:
    plan = _plan(write_report(tmp_path, versions=versions))
    summarized, cleared = _run(plan, prefilter=True)
    every, none_cleared = _run(plan, prefilter=False)
    assert summarized == every
    assert none_cleared == 0
    expected = {n for n, clear in NAMES.items() if clear} | {n for n, (_, clear) in LAYOUTS.items() if clear}
    if versions:
        expected.discard(RAW)  # an overwritten and a deleted key
    assert cleared == len(expected)
    by_name = {r[0]: r for r in every}
    # the summary clears only assets without a finding; the names it refuses all have one
    assert all(by_name[n][5] == [] for n in expected)
    # not cleared, yet no rule finds anything: the summary is stricter than the rules there
    clean = {"ecephys_\uff11\uff12_2023-01-01_10-00-01"}
    flagged = {n for n, clear in NAMES.items() if not clear} - clean
    assert [n for n in flagged if not by_name[n][5]] == []
    assert all(by_name[n][5] == [] for n in clean)
    rules = {f["rule"] for r in every for f in r[5]}
    assert {"N101", "N102", "N103", "N104", "N105", "N106", "N107", "N108", "L301", "L302", "L303", "I404"} <= rules
    assert ({"I401", "I402"} <= rules) is versions


@pytest.mark.parametrize("select", [["I4"], ["L301", "L303", "I404"], ["N107"]])
def test_other_selections_give_the_same_results(tmp_path: Path, select: list[str]) -> None:
    """Without every name rule, names of no strict form are cleared too: their level and
    source are still the parser's."""
    plan = _plan(write_report(tmp_path, versions=True), select=select)
    summarized, cleared = _run(plan, prefilter=True)
    assert summarized == _run(plan, prefilter=False)[0]
    assert 0 < cleared < len(summarized) - 1
    levels = {r[0]: r[1] for r in summarized}
    if "N107" not in select:  # cleared though no strict name: the parser's verdicts
        assert levels["ecephys_1_2023-01-01"] == "unknown"
        assert levels["ecephys_\uff11\uff12_2023-01-01_10-00-01"] == "raw"


def test_a_rule_without_a_clearance_turns_the_summary_off(tmp_path: Path) -> None:
    """A third-party rule that states no ``clears`` condition sees every asset."""
    manifest = write_report(tmp_path, versions=False)
    plan = _plan(manifest)
    seen: list[str] = []

    def probe(ctx: Any) -> Any:
        seen.append(ctx.name)
        return iter(())

    severity = plan.rules["N101"].severity
    rules = {**plan.rules, "X901": Rule("X901", "probe", severity, "sees every asset", probe, "asset", "test")}
    summarized, cleared = _run(_plan(manifest, rules), prefilter=True)
    assert cleared == 0
    assert sorted(seen) == sorted(r[0] for r in summarized if r[0] is not None)
    assert summarized == _run(plan, prefilter=False)[0]


def test_the_strict_name_pattern_accepts_only_names_the_rules_accept() -> None:
    """Python's ``re`` and DuckDB's RE2 read the pattern alike; checked here with ``re`` on every
    name of the table above and, when ../shared is present, the 226 names of upstream-truth."""
    from linter.context import AssetContext, TargetInfo
    from linter.sources import Asset
    from linter.work import Checker

    convention = load_convention("aind-open-data")
    pattern = strict_name_pattern(convention)
    assert pattern is not None
    names = set(NAMES)
    table = FIXTURES / "upstream-truth" / "names.tsv"
    if table.is_file():
        for line in table.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                names.add(line.split("\t")[0])
    checker = Checker(RunPlan(convention, select_rules(load_rules(), ["N"], [])))
    info = TargetInfo("t", frozenset(names), convention, None)
    matched = 0
    for name in sorted(names):
        if re.fullmatch(pattern, name) is None:
            continue
        matched += 1
        ctx = AssetContext(Asset(name), info, None, None)  # type: ignore[arg-type]
        found = [f for r in checker.asset_rules for f in checker.run_rule(r, ctx, name)]
        # what the pattern leaves to the summary's other columns: a date that does not exist
        # (dates_valid), a derived time before its source's (stamps), a placeholder time
        assert {f.rule for f in found} <= {"N103", "N105", "N107"}, (name, [f.message for f in found])
    assert matched >= sum(NAMES.values())


def test_sources_that_summarize() -> None:
    from linter.sources.inventory import InventorySource
    from linter.sources.local import LocalSource

    assert issubclass(InventorySource, SummarizingSource)
    assert not issubclass(LocalSource, SummarizingSource)


def test_the_json_lines_asset_line_is_what_json_writes() -> None:
    """The report's asset lines are written out directly; they are exactly the lines the generic
    path writes (``_line``: scrubbed, then encoded), in ASCII and in UTF-8."""
    from linter.findings import AssetResult
    from linter.reports.json import JsonLinesReporter, asset_record

    results = [
        AssetResult(RAW, "raw", None, 12, []),
        AssetResult('a"b\\\u00e9\udc80\n', "unknown", None, 0, []),  # a lone surrogate (undecodable byte)
        AssetResult(f"{RAW}_x_2023-01-01_10-00-01", "derived", RAW, 3, [], schema_version="2.0.\u00e9"),
    ]
    for utf8 in (True, False):
        reporter = JsonLinesReporter(io.TextIOWrapper(io.BytesIO(), encoding="utf-8" if utf8 else "ascii"), {})
        assert reporter.ascii is not utf8
        for result in results:
            generic = io.StringIO()
            reporter.out, fast = generic, reporter._asset_line(result)
            reporter._line({"type": "asset", **asset_record(result)})
            assert fast == generic.getvalue()
            assert json.loads(fast)["objects"] == result.objects


def test_the_strict_pattern_follows_the_convention() -> None:
    """What the convention forbids or requires narrows the strict form (or leaves none)."""
    import copy

    from linter.conventions import Convention
    from rules.naming import _no_placeholder

    base = load_convention("aind-open-data")

    def variant(**names: Any) -> Convention:
        data = copy.deepcopy(base.data)
        data["names"].update(names)
        return Convention("variant", "test", data)

    def accepts(convention: Convention, name: str) -> bool:
        pattern = strict_name_pattern(convention)
        return pattern is not None and re.fullmatch(pattern, name) is not None

    assert accepts(base, RAW) and accepts(base, "123456_2023-01-01_10-00-01")
    assert not accepts(variant(modality_optional=False), "123456_2023-01-01_10-00-01")
    assert accepts(variant(modality_optional=False), RAW)
    # a forbidden '.' leaves it out of tokens, and out of the modalities that hold it
    dotted = variant(forbidden_characters=".", modalities=["ecephys", "e.phys"])
    assert not accepts(dotted, "ecephys_12.3_2023-01-01_10-00-01")
    assert not accepts(dotted, "e.phys_123_2023-01-01_10-00-01")
    assert accepts(dotted, RAW)
    assert strict_name_pattern(variant(forbidden_characters="-")) is None  # every timestamp holds '-'
    no_modality_left = variant(modality_optional=False, modalities=["e/phys"], forbidden_characters="/")
    assert strict_name_pattern(no_modality_left) is None
    assert _no_placeholder(variant(placeholder_times=[])) == "name_form IS NOT NULL"
    assert "'00-00-00'" in _no_placeholder(base)
