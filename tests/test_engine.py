"""Engine behaviour: crashing rules, unreadable parts, third-party plugins, asset discovery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
    env = install_plugin(tmp_path)
    bucket = make_tree(tmp_path / "b", {"ecephys_1_2022-12-12_05-06-07/a": "a", "ecephys_2_2022-12-12_05-06-07/a": "a"})
    cmd = [sys.executable, "-m", "linter", "check", str(bucket), "--select", "X5,E9", "--format", "json"]
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
    res = run_cli("check", str(tmp_path), "--format", "json")
    assert res.code == 0
    assert res.json()["summary"] == {
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
    from linter.engine import Linter, LintOptions
    from linter.registry import load_rules
    from linter.sources import Asset, ReadError
    from linter.sources.local import LocalSource

    name = "Other_1_2022-12-12_05-06-07"
    bucket = make_tree(tmp_path / "b", {f"{name}/a.txt": "a"})

    class Unlistable(LocalSource):
        def load_asset(self, name: str) -> Asset:
            return Asset(name, errors=[ReadError(f"{name}/", "cannot list folder: Permission denied")])

    conv = load_convention("aind-open-data")
    linter = Linter(LintOptions(conv, load_rules(), jobs=1))
    result = linter.lint_asset(Unlistable(bucket, conv), TargetInfo(str(bucket), frozenset({name}), conv), name)
    assert (result.complete, [(f.rule, f.path) for f in result.findings]) == (
        False,
        [("N102", name), ("E901", f"{name}/")],
    )
