"""Report formats by entry point (``aind_bucket_lint.reports``): a distribution adds a format
that ``--format``, ``--output FORMAT:FILE`` and ``report`` offer, fed the typed stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from linter.reports.formats import BUILTIN, ENTRY_POINT_GROUP, choices, formats
from tests.conftest import make_tree

BAD_MODALITY = "smartspim_653158_2023-02-01_10-00-00"

PLUGIN = '''
class CsvReporter:
    """One line a finding: rule, severity, and the object's URI (the target's root and its path)."""

    def __init__(self, out, options):
        self.out = out
        self.options = options
        self.root = None

    def start(self, header):
        self.out.write(f"# {','.join(header.targets)} (fails on {self.options.fail_on})\\n")

    def target_started(self, target):
        self.root = target.root

    def asset(self, result):
        for f in result.findings:
            self.out.write(f"{f.rule},{f.severity},{self.root}{f.path or ''}\\n")

    def finish(self, footer):
        self.out.write(f"# {footer.summary['findings']} findings, complete: {footer.complete}\\n")
'''


def install_formats(tmp_path: Path, entries: str, module: str = PLUGIN) -> dict[str, str]:
    """A real installed distribution declaring report formats in the group aind_bucket_lint.reports."""
    site = tmp_path / "site"
    make_tree(
        site,
        {
            "labformats.py": module,
            "labformats-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: labformats\nVersion: 1.0\n",
            "labformats-1.0.dist-info/entry_points.txt": f"[{ENTRY_POINT_GROUP}]\n{entries}",
        },
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "linter", *args], capture_output=True, text=True, env=env, check=False)


def test_the_built_in_formats_are_the_choices() -> None:
    assert choices() == ("text", "json", "jsonl", "sarif", "github", "markdown", "html", "status")
    assert [f.name for f in BUILTIN if not f.choice] == ["statistics", "baseline"]
    assert {f.origin for f in formats().values()} == {"linter"}


def test_a_format_plugs_in_by_entry_point(tmp_path: Path) -> None:
    env = install_formats(tmp_path, "csv = labformats:CsvReporter\n")
    bucket = make_tree(tmp_path / "bucket", {f"{BAD_MODALITY}/SPIM/t.txt": "t", "notes.txt": "n"})
    root = bucket.as_uri() + "/"
    res = cli(env, "check", str(bucket), "--select", "N,L", "--format", "csv", "--fail-on", "warning")
    assert (res.returncode, res.stderr) == (1, "")
    assert res.stdout.splitlines() == [
        f"# {bucket} (fails on warning)",
        f"L302,warning,{root}notes.txt",
        f"N102,error,{root}{BAD_MODALITY}",
        "# 2 findings, complete: True",
    ]
    saved = tmp_path / "audit.json"
    res = cli(
        env, "check", str(bucket), "--select", "N,L", "--output", f"csv:{tmp_path / 'a.csv'}", "-o", f"json:{saved}"
    )
    assert (res.returncode, res.stdout, res.stderr) == (1, "", "")
    assert (tmp_path / "a.csv").read_text().splitlines()[1] == f"L302,warning,{root}notes.txt"
    assert json.loads(saved.read_text())["summary"]["findings"] == 2
    # a saved report renders in it, each target with the root it had
    res = cli(env, "report", str(saved), "--format", "csv")
    assert (res.returncode, res.stdout) == (0, (tmp_path / "a.csv").read_text())
    help_text = cli(env, "check", "--help").stdout
    assert "{text,json,jsonl,sarif,github,markdown,html,status,csv}" in help_text


def test_a_plugin_cannot_replace_a_built_in_format_and_a_broken_one_fails_only_when_used(tmp_path: Path) -> None:
    env = install_formats(tmp_path, "json = labformats:CsvReporter\nbroken = labformats:Missing\n")
    bucket = make_tree(tmp_path / "bucket", {"notes.txt": "n", f"{BAD_MODALITY}/t.txt": "t"})
    res = cli(env, "check", str(bucket), "--select", "L302", "--format", "json")
    assert res.returncode == 0
    assert json.loads(res.stdout)["findings"][0]["rule"] == "L302"  # the built-in json
    assert res.stderr == (
        "aind-bucket-lint: report format plugin 'json' (labformats:CsvReporter, from labformats) is not used: "
        "aind-bucket-lint has a format of that name\n"
    )
    res = cli(env, "check", str(bucket), "--select", "L302", "--format", "broken")
    assert res.returncode == 2
    assert res.stderr.splitlines()[-1] == (
        "aind-bucket-lint: cannot load report format 'broken' (labformats:Missing): "
        "module 'labformats' has no attribute 'Missing'"
    )
