"""Engine behaviour: crashing rules, unreadable parts, third-party plugins, asset discovery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from linter.context import AssetContext
from linter.findings import Violation
from linter.sources import Asset, ObjectInfo, ReadError
from tests.conftest import brief, lint_findings, make_tree, run_cli

RAW = "ecephys_123456_2022-12-12_05-06-07"

PLUGIN = '''
from linter.findings import Violation
from linter.registry import rule


@rule("X501", "always-crashes", "warning", "A test rule that raises.")
def crash(ctx):
    """Raises on assets whose subject id is 2, to prove one crash does not stop the run."""
    if ctx.parsed.subject == "2":
        raise RuntimeError("boom")
    return []


@rule("X502", "counts-objects", "info", "A test rule that reports each asset's object count.")
def count(ctx):
    """Reports the number of objects of every asset."""
    yield Violation(f"{len(ctx.asset.objects)} objects", ctx.name)
'''


def install_plugin(tmp_path: Path) -> dict[str, str]:
    """A real installed distribution with an entry point in the group aind_bucket_lint.rules."""
    site = tmp_path / "site"
    make_tree(
        site,
        {
            "labrules.py": PLUGIN,
            "labrules-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: labrules\nVersion: 1.0\n",
            "labrules-1.0.dist-info/entry_points.txt": "[aind_bucket_lint.rules]\nlab = labrules\n",
        },
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return env


def test_plugin_rules_load_and_a_crash_becomes_e902(tmp_path: Path) -> None:
    """E902 is said even when the selection leaves it out: a rule that did not finish is never a
    clean pass."""
    env = install_plugin(tmp_path)
    bucket = make_tree(tmp_path / "b", {"ecephys_1_2022-12-12_05-06-07/a": "a", "ecephys_2_2022-12-12_05-06-07/a": "a"})
    cmd = [
        sys.executable,
        "-m",
        "linter",
        "check",
        str(bucket),
        "--select",
        "X5",
        "--ignore",
        "E902",
        "--format",
        "json",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 1, res.stderr
    findings = [(f["rule"], f["asset"], f["message"]) for f in json.loads(res.stdout)["findings"]]
    assert findings == [
        ("X502", "ecephys_1_2022-12-12_05-06-07", "1 objects"),
        ("E902", "ecephys_2_2022-12-12_05-06-07", "rule X501 always-crashes crashed: RuntimeError: boom"),
        ("X502", "ecephys_2_2022-12-12_05-06-07", "1 objects"),
    ]
    listed = subprocess.run(
        [sys.executable, "-m", "linter", "rules"], capture_output=True, text=True, env=env, check=True
    )
    assert "X501  always-crashes" in listed.stdout


def test_broken_plugin_is_reported_not_fatal(tmp_path: Path) -> None:
    env = install_plugin(tmp_path)
    (tmp_path / "site" / "labrules.py").write_text("raise ImportError('missing dependency')\n")
    res = subprocess.run(
        [sys.executable, "-m", "linter", "rules"], capture_output=True, text=True, env=env, check=False
    )
    assert res.returncode == 0
    assert "cannot load rule plugin 'lab' (labrules): missing dependency" in res.stderr
    assert "N101" in res.stdout


def test_symlink_out_of_the_target_is_e901_and_the_run_goes_on(tmp_path: Path) -> None:
    outside = make_tree(tmp_path / "outside", {"secret.json": "{}"})
    bucket = make_tree(tmp_path / "b", {f"{RAW}/a.txt": "a", "Other_1_2022-12-12_05-06-07/b.txt": "b"})
    os.symlink(outside / "secret.json", bucket / RAW / "link.json")
    os.symlink(outside, bucket / RAW / "linked-folder")
    res = run_cli("check", str(bucket), "--select", "E901,N102", "--format", "json")
    assert res.code == 2
    doc = res.json()
    assert doc["complete"] is False
    assert [(f["rule"], f["asset"], f["path"]) for f in doc["findings"]] == [
        ("N102", "Other_1_2022-12-12_05-06-07", "Other_1_2022-12-12_05-06-07"),
        ("E901", RAW, f"{RAW}/link.json"),
        ("E901", RAW, f"{RAW}/linked-folder"),
    ]
    assert "symlink points outside the target" in doc["findings"][1]["message"]


def test_symlink_inside_the_target_is_followed(tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "b", {f"{RAW}/a.txt": "a"})
    os.symlink(bucket / RAW / "a.txt", bucket / RAW / "b.txt")
    res = run_cli("check", str(bucket), "--select", "E901", "--format", "json")
    assert (res.code, res.json()["summary"]["objects"]) == (0, 2)


def test_target_that_is_an_asset_is_linted_as_one_asset(tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "b", {f"{RAW}/a.txt": "a", "Other_1_2022-12-12_05-06-07/b.txt": "b"})
    doc = run_cli("check", str(bucket / RAW), "--select", "N,L", "--format", "json").json()
    assert [a["name"] for a in doc["assets"]] == [RAW]
    # a folder with a non-asset name is an asset when it holds data_description.json
    make_tree(tmp_path / "upload", {"data_description.json": "{}"})
    doc = run_cli("check", str(tmp_path / "upload"), "--select", "N101", "--format", "json").json()
    assert [(f["rule"], f["asset"]) for f in doc["findings"]] == [("N101", "upload")]


def test_hidden_entries_at_the_root_are_not_assets(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{RAW}/a": "a", ".git/config": "x", ".DS_Store": "x"})
    assert lint_findings(tmp_path, select=["N", "L"]) == []


def test_multiple_targets(tmp_path: Path) -> None:
    a = make_tree(tmp_path / "a", {"Other_1_2022-12-12_05-06-07/x": "x"})
    b = make_tree(tmp_path / "b", {"Other_2_2022-12-12_05-06-07/x": "x"})
    doc = run_cli("check", str(a), str(b), "--select", "N102", "--format", "json").json()
    assert doc["target"] == [str(a), str(b)]
    assert [f["asset"] for f in doc["findings"]] == ["Other_1_2022-12-12_05-06-07", "Other_2_2022-12-12_05-06-07"]
    assert doc["summary"]["assets"] == 2


def test_empty_target(tmp_path: Path) -> None:
    # a folder with no assets is an error (a typo in the target must not pass) unless allowed
    res = run_cli("check", str(tmp_path), "--format", "json")
    assert res.code == 2
    message = f"{tmp_path}: no assets found (is the target right? with --allow-empty an empty target is not an error)"
    assert res.err == f"aind-bucket-lint: {message}\n"
    doc = res.json()
    assert doc["complete"] is False
    assert [(f["rule"], f["asset"], f["path"], f["message"], f["details"]) for f in doc["findings"]] == [
        ("E901", None, None, message, {"target": str(tmp_path)})
    ]
    allowed = run_cli("check", str(tmp_path), "--format", "json", "--allow-empty")
    assert allowed.code == 0, allowed.err
    assert allowed.json()["summary"] == {
        "assets": 0,
        "objects": 0,
        "findings": 0,
        "by_severity": {"error": 0, "warning": 0, "info": 0},
        "by_rule": {},
    }


def test_brief_helper_orders_like_the_report(tmp_path: Path) -> None:
    make_tree(tmp_path, {"b.txt": "x", "Other_1_2022-12-12_05-06-07/x": "x"})
    assert brief(lint_findings(tmp_path, select=["L302", "N102"])) == [
        ("L302", None, "b.txt"),
        ("N102", "Other_1_2022-12-12_05-06-07", "Other_1_2022-12-12_05-06-07"),
    ]


def test_e901_is_reported_even_when_not_selected(tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "b", {f"{RAW}/a.txt": "a"})
    os.symlink(tmp_path, bucket / RAW / "escape")
    res = run_cli("check", str(bucket), "--select", "N", "--format", "json")
    assert res.code == 2
    assert [(f["rule"], f["path"]) for f in res.json()["findings"]] == [("E901", f"{RAW}/escape")]


def test_an_asset_that_cannot_be_listed_gets_only_e901_and_name_findings(tmp_path: Path) -> None:
    """An asset whose listing failed must not also be reported as missing all its sidecars.
    (Running as root, a folder cannot be made unreadable; the source's listing is made to fail.)"""
    from linter.context import TargetInfo
    from linter.conventions import load_convention
    from linter.engine import Linter
    from linter.plan import RunPlan
    from linter.registry import load_rules
    from linter.sources import Asset, ReadError
    from linter.sources.local import LocalSource

    name = "Other_1_2022-12-12_05-06-07"
    bucket = make_tree(tmp_path / "b", {f"{name}/a.txt": "a"})

    class Unlistable(LocalSource):
        def load_asset(self, name: str) -> Asset:
            return Asset(name, errors=[ReadError(f"{name}/", "cannot list folder: Permission denied")])

    conv = load_convention("aind-open-data")
    linter = Linter(RunPlan(conv, load_rules(), jobs=1))
    result = linter.lint_asset(Unlistable(bucket, conv), TargetInfo(str(bucket), frozenset({name}), conv), name)
    assert (result.complete, [(f.rule, f.path) for f in result.findings]) == (
        False,
        [("N102", name), ("E901", f"{name}/")],
    )


class MemorySource:
    """A source the linter does not ship: assets held in a dict (as a lab's own storage would
    be reached), written against the Source protocol only."""

    def __init__(self, label: str, assets: dict[str, dict[str, bytes]], root: dict[str, bytes]) -> None:
        self.label = label
        self.single_asset = False
        self.assets = assets
        self.root = root

    @property
    def root_url(self) -> str:
        return self.label

    def asset_names(self) -> Iterator[str]:
        yield from sorted(self.assets)

    def root_objects(self) -> list[ObjectInfo]:
        return [ObjectInfo(k, len(v)) for k, v in sorted(self.root.items())]

    def root_errors(self) -> list[ReadError]:
        return []

    def load_asset(self, name: str) -> Asset:
        return Asset(name, [ObjectInfo(k, len(v), etag=f"e{len(v)}") for k, v in sorted(self.assets[name].items())])

    def read(self, asset: str, key: str, limit: int) -> bytes:
        data = self.assets[asset].get(key)
        if data is None:
            raise ReadError(f"{asset}/{key}", "no such object")
        return data[: limit + 1]

    def existing_assets(self, names: Sequence[str]) -> frozenset[str]:
        return frozenset(n for n in names if n in self.assets)

    def reader(self) -> MemorySource:
        return self  # plain data: pickles to worker processes as it is


def _lab_rule(ctx: AssetContext) -> Iterator[Violation]:
    """Our lab's assets carry a ``lab.json`` naming the lab."""
    doc = ctx.json("lab.json")
    if doc is None or doc.data is None:
        yield Violation("no readable lab.json", ctx.path("lab.json"))
    elif doc.data.get("lab") != "neural-dynamics":
        yield Violation(
            f"lab.json names lab {doc.data.get('lab')!r}", ctx.path("lab.json"), {"lab": doc.data.get("lab")}
        )


def test_a_custom_source_and_a_third_party_rule_plug_in_without_touching_the_engine() -> None:
    from linter.conventions import load_convention
    from linter.engine import Linter
    from linter.findings import Severity
    from linter.plan import RunPlan
    from linter.registry import Rule, load_rules, select_rules
    from linter.sources import register_source, unregister_source

    lab = Rule("X601", "lab-sidecar", Severity.WARNING, "lab.json names the lab.", _lab_rule, "asset", "tests", True)
    rules = {**select_rules(load_rules(), ["N101", "L302"], []), "X601": lab}
    plan = RunPlan(load_convention("aind-open-data"), rules, jobs=2)
    store = {
        RAW: {"lab.json": b'{"lab": "neural-dynamics"}', "data_description.json": b"{}"},
        "not-an-asset-name": {"lab.json": b'{"lab": "elsewhere"}'},
    }
    opened: list[str] = []

    def open_memory(target: str, run_plan: RunPlan) -> MemorySource:
        opened.append(target)
        assert run_plan is plan  # the source gets the plan the engine was given, nothing else
        return MemorySource(target, store, {"README.txt": b"hello"})

    register_source("mem://", open_memory)
    try:
        results = list(Linter(plan).lint_target("mem://lab"))
    finally:
        unregister_source("mem://")
    assert opened == ["mem://lab"]
    assert [(r.name, r.objects, r.complete) for r in results] == [
        (None, 1, True),
        (RAW, 2, True),
        ("not-an-asset-name", 1, True),
    ]
    found = [f for r in results for f in r.findings]
    assert [(f.rule, f.severity, f.asset, f.path) for f in found] == [
        ("L302", Severity.WARNING, None, "README.txt"),
        ("N101", Severity.ERROR, "not-an-asset-name", "not-an-asset-name"),
        ("X601", Severity.WARNING, "not-an-asset-name", "not-an-asset-name/lab.json"),
    ]
    assert (found[0].message, found[2].message, found[2].details) == (
        "file 'README.txt' at the target root belongs to no asset",
        "lab.json names lab 'elsewhere'",
        {"lab": "elsewhere"},
    )
    # the same source handed to the engine directly, for one run
    direct = Linter(plan, open_source=lambda t, p: MemorySource(t, {RAW: store[RAW]}, {}))
    assert [(r.name, r.findings) for r in direct.lint_target("anything")] == [(None, []), (RAW, [])]


def test_the_plan_pickles_and_the_engine_imports_no_source_by_name() -> None:
    import pickle

    from linter.conventions import load_convention
    from linter.plan import RunPlan, S3Settings
    from linter.registry import load_rules

    plan = RunPlan(
        load_convention("aind-open-data"),
        load_rules(),
        jobs=3,
        s3=S3Settings(endpoint_url="http://127.0.0.1:1", region="us-west-2"),
        destination="s3://open/",
        ledger="/tmp/ledger.sqlite",
    )
    again = pickle.loads(pickle.dumps(plan))
    assert again == plan and again.rules["I402"].target_func is plan.rules["I402"].target_func
    assert (again.wants_versions, [c for c, r in again.rules.items() if r.needs_versions]) == (True, ["I401", "I402"])
    code = (
        "import sys, linter.engine, linter.commands.check\n"
        "assert not any(m.startswith('linter.sources.') for m in sys.modules), sorted(sys.modules)\n"
        "import linter.sources.s3, linter.sources.inventory\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (res.returncode, res.stdout, res.stderr) == (0, "ok\n", "")
