"""The pre-commit hook: staged file names -> the assets they belong to, each linted once; and the
real `pre-commit try-repo` against this repository in a temporary git repository."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from linter.config import read_config
from linter.conventions import load_convention
from linter.precommit import select_assets
from tests.conftest import REPO, make_tree, run_cli
from tests.fixtures import data_description_v2, dump, make_asset
from tests.repo_copy import GIT_ENV, committed_copy, git, readme_blocks

GOOD = "123456_2022-02-21_16-30-01"
BROKEN = "smartspim_123456_2022-02-21_16-30-01"
RAW = "ecephys_123456_2022-12-12_05-06-07"
DERIVED = f"{RAW}_sorted-ks25_2022-12-12_06-07-08"
CONVENTION = load_convention("aind-open-data")


def good_asset(root: Path, name: str = GOOD) -> Path:
    """A raw asset with a complete, valid set of aind-data-schema 2.9.2 sidecars."""
    return make_asset(root, name, data={"ecephys/probe_a/settings.xml": "<settings/>"})


def broken_asset(root: Path) -> Path:
    """A lower-case platform prefix, a data_description naming another folder, and most sidecars missing."""
    asset = root / BROKEN
    make_tree(asset, {"data_description.json": dump(data_description_v2(GOOD)), "SPIM/tile_000.txt": "tile"})
    return asset


# --- mapping staged files to assets -------------------------------------------------------


def test_files_map_to_the_outermost_asset_folder(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            f"data/{RAW}/ecephys/a.bin": "a",
            f"data/{RAW}/ecephys/b.bin": "b",
            f"data/{RAW}/{DERIVED}/x": "x",  # a nested asset belongs to its outer asset (L301 there)
            "data/lab-notes/data_description.json": "{}",  # a badly named asset with metadata
            "data/lab-notes/README": "r",
            "src/tool.py": "print()",  # not an asset
            "README.md": "r",
        },
    )
    files = [
        f"data/{RAW}/ecephys/a.bin",
        f"data/{RAW}/ecephys/b.bin",
        f"data/{RAW}/{DERIVED}/x",
        "data/lab-notes/README",
        "src/tool.py",
        "README.md",
    ]
    assert select_assets(files, CONVENTION, cwd=tmp_path) == {"data": {RAW, "lab-notes"}}


def test_with_a_bucket_root_a_file_belongs_to_its_top_level_folder(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            "bucket/badly named/x.txt": "x",  # neither named as an asset nor holding metadata
            f"bucket/{RAW}/deep/er/y.txt": "y",
            "bucket/notes.txt": "n",  # a file at the root: linted as a root object (L302)
            "elsewhere/z.txt": "z",
        },
    )
    files = ["bucket/badly named/x.txt", f"bucket/{RAW}/deep/er/y.txt", "bucket/notes.txt", "elsewhere/z.txt"]
    assert select_assets(files, CONVENTION, "bucket", cwd=tmp_path) == {"bucket": {"badly named", RAW, "notes.txt"}}
    # absolute names, and a root outside the working directory, shown as it is
    assert select_assets([str(tmp_path / "bucket/notes.txt")], CONVENTION, str(tmp_path / "bucket")) == {
        str(tmp_path / "bucket"): {"notes.txt"}
    }


def test_hook_lints_each_touched_asset_once_and_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(
        tmp_path,
        {
            f"bucket/{RAW}/ecephys/a.bin": "a",
            f"bucket/{RAW}/ecephys/b.bin": "b",
            f"bucket/{DERIVED}/sorting/units.csv": "u",
            "bucket/smartspim_653158_2023-02-01_10-00-00/SPIM/t.txt": "t",  # broken, but not staged
            "bucket/notes.txt": "n",  # an orphan, but not staged
        },
    )
    monkeypatch.chdir(tmp_path)
    res = run_cli("hook", "--select", "N,L", f"bucket/{RAW}/ecephys/a.bin", f"bucket/{RAW}/ecephys/b.bin")
    assert (res.code, res.out, res.err) == (0, "1 assets, 2 objects: 0 findings (0 errors, 0 warnings, 0 info)\n", "")
    # the derived asset's source is in the bucket though not staged: no L303
    res = run_cli("hook", "--select", "N,L", "--format", "json", f"bucket/{DERIVED}/sorting/units.csv")
    doc = res.json()
    assert (res.code, doc["target"], doc["findings"]) == (0, ["bucket"], [])
    assert [a["name"] for a in doc["assets"]] == [DERIVED]
    res = run_cli("hook", "--select", "N,L", "--bucket-root", "bucket", "bucket/notes.txt")
    assert res.code == 0
    assert res.out.splitlines() == [
        "notes.txt: L302 [warning] file 'notes.txt' at the target root belongs to no asset",
        "0 assets, 1 objects: 1 findings (0 errors, 1 warnings, 0 info)",
    ]


def test_hook_without_asset_files_does_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path, {"src/tool.py": "print()"})
    monkeypatch.chdir(tmp_path)
    assert run_cli("hook", "src/tool.py") == run_cli("hook")
    res = run_cli("hook", "src/tool.py")
    assert (res.code, res.out, res.err) == (0, "", "")


def test_bucket_root_from_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path, {"data/bucket/badly named/x.txt": "x", "data/.aind-bucket-lint.yaml": "bucket-root: bucket\n"})
    monkeypatch.chdir(tmp_path)
    res = run_cli("hook", "--select", "N101", "data/bucket/badly named/x.txt")
    assert res.code == 0  # the config is looked up from the working directory: none here
    assert res.out == ""
    res = run_cli("hook", "--config", "data/.aind-bucket-lint.yaml", "--select", "N", "data/bucket/badly named/x.txt")
    assert res.code == 1
    assert res.out.splitlines()[0].startswith("badly named: N10")


# --- the real pre-commit --------------------------------------------------------------------


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's working tree, committed in a temporary git repository."""
    repo, _ = committed_copy(tmp_path_factory.mktemp("hook-repo") / "aind-bucket-lint")
    return repo


@pytest.fixture
def data_repo(tmp_path: Path) -> Iterator[Path]:
    """An empty git repository that will hold a bucket folder."""
    repo = tmp_path / "data"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    yield repo


def try_repo(hook_repo: Path, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """`pre-commit try-repo HOOK_REPO aind-bucket-lint` on the staged files, as a user runs it.

    try-repo installs the hook into a fresh virtualenv every time (pip install of this project
    with aind-data-schema, about 15-25 s); PRE_COMMIT_HOME keeps its logs out of the user's cache.
    """
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(home), "GIT_CONFIG_GLOBAL": os.devnull}
    env.pop("PRE_COMMIT", None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "aind-bucket-lint", "--color", "never"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    print(f"pre-commit try-repo took {time.monotonic() - started:.1f} s")
    return done


def finding_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if ": " in line and " [" in line and line.split(":")[0].strip()]


def test_pre_commit_passes_a_commit_with_a_good_asset(hook_repo: Path, data_repo: Path, tmp_path: Path) -> None:
    good_asset(data_repo / "bucket")
    git("add", "-A", cwd=data_repo)
    done = try_repo(hook_repo, data_repo, tmp_path / "pre-commit-home")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "aind-bucket-lint" in done.stdout and "Passed" in done.stdout


def test_pre_commit_fails_a_commit_with_a_broken_asset(hook_repo: Path, data_repo: Path, tmp_path: Path) -> None:
    good_asset(data_repo / "bucket")
    git("add", "-A", cwd=data_repo)
    git("commit", "-q", "--no-verify", "-m", "a good asset", cwd=data_repo)
    broken_asset(data_repo / "bucket")
    git("add", "-A", cwd=data_repo)
    done = try_repo(hook_repo, data_repo, tmp_path / "pre-commit-home")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "aind-bucket-lint" in out and "Failed" in out and "- exit code: 1" in out
    lines = finding_lines(out)
    # only the staged (broken) asset is linted; the committed good one is not
    assert {line.split(":")[0] for line in lines} >= {BROKEN, f"{BROKEN}/data_description.json"}
    assert all(line.startswith(BROKEN) for line in lines), lines
    assert f"{BROKEN}: N102 [error] modality 'smartspim' is not in the vocabulary; did you mean 'SmartSPIM'?" in lines
    rules = {(line.split(":")[0], line.split(": ", 1)[1].split()[0]) for line in lines}
    assert (f"{BROKEN}/data_description.json", "M206") in rules  # its name names another folder
    assert (f"{BROKEN}/subject.json", "M201") in rules  # a required sidecar is missing
    assert "1 assets, 2 objects: " in out


def test_readme_pre_commit_snippets_are_valid(tmp_path: Path) -> None:
    pre_commit_config, lint_config = [b for b in readme_blocks("yaml") if "jobs:" not in b]
    path = tmp_path / ".pre-commit-config.yaml"
    path.write_text(pre_commit_config, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [repo] = yaml.safe_load(pre_commit_config)["repos"]
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert [h["id"] for h in repo["hooks"]] == [h["id"] for h in hooks] == ["aind-bucket-lint"]
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", str(REPO / ".pre-commit-hooks.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    cfg = tmp_path / ".aind-bucket-lint.yaml"
    cfg.write_text(lint_config, encoding="utf-8")
    assert read_config(cfg).get("bucket-root") == "bucket"


def test_a_repository_that_is_one_asset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_tree(tmp_path / RAW, {"ecephys/a.bin": "a", "data_description.json": "{}"})
    assert select_assets(["ecephys/a.bin", "data_description.json"], CONVENTION, cwd=repo) == {str(tmp_path): {RAW}}
    monkeypatch.chdir(repo)
    res = run_cli("hook", "--select", "N,L", "ecephys/a.bin")
    assert (res.code, res.out) == (0, "1 assets, 2 objects: 0 findings (0 errors, 0 warnings, 0 info)\n")
