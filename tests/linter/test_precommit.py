"""The pre-commit hook: staged files (asked of git) -> the assets they belong to, each linted
once, paths shown from the repository's root; and the real pre-commit, by `try-repo` and by a
real `git commit` through an installed hook, against this repository in temporary git
repositories."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from linter.config import read_config
from linter.conventions import load_convention
from linter.precommit import select_assets, staged_files
from tests.conftest import REPO, make_tree, run_cli
from tests.fixtures import data_description_v2, dump, make_asset, subject_v2
from tests.repo_copy import assert_pin_exists, committed_copy, git, git_env, readme_blocks

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
    assert (res.code, res.out, res.err) == (0, "1 asset, 2 objects: 0 findings (0 errors, 0 warnings, 0 info)\n", "")
    # the derived asset's source is in the bucket though not staged: no L303
    res = run_cli("hook", "--select", "N,L", "--format", "json", f"bucket/{DERIVED}/sorting/units.csv")
    doc = res.json()
    assert (res.code, doc["target"], doc["findings"]) == (0, ["bucket"], [])
    assert [a["name"] for a in doc["assets"]] == [DERIVED]
    res = run_cli("hook", "--select", "N,L", "--bucket-root", "bucket", "bucket/notes.txt")
    assert res.code == 0
    assert res.out.splitlines() == [
        "notes.txt: L302 [warning] file 'notes.txt' at the target root belongs to no asset",
        "0 assets, 1 object: 1 finding (0 errors, 1 warning, 0 info)",
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
    env = git_env(PRE_COMMIT_HOME=str(home))
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
    # only the staged (broken) asset is linted; the committed good one is not; paths are shown
    # from the repository's root
    broken = f"bucket/{BROKEN}"
    assert {line.split(":")[0] for line in lines} >= {broken, f"{broken}/data_description.json"}
    assert all(line.startswith(broken) for line in lines), lines
    assert f"{broken}: N102 [error] modality 'smartspim' is not in the vocabulary; did you mean 'SmartSPIM'?" in lines
    rules = {(line.split(":")[0], line.split(": ", 1)[1].split()[0]) for line in lines}
    assert (f"{broken}/data_description.json", "M206") in rules  # its name names another folder
    assert (f"{broken}/subject.json", "M201") in rules  # a required sidecar is missing
    assert "1 asset, 2 objects: " in out


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
    assert repo["repo"] == "https://github.com/OWNER/aind-bucket-lint"
    assert_pin_exists(repo["rev"])  # no tag that was never published
    # split-proof: the hook gets no file names from pre-commit and asks git for the staged ones
    assert (hooks[0]["pass_filenames"], hooks[0]["entry"]) == (False, "aind-bucket-lint hook --staged")
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
    assert (res.code, res.out) == (0, "1 asset, 2 objects: 0 findings (0 errors, 0 warnings, 0 info)\n")


# --- the files of the commit, asked of git --------------------------------------------------


def test_staged_files_are_asked_of_git(data_repo: Path) -> None:
    make_tree(data_repo, {"bucket/a/x.txt": "x", "bucket/a/y.txt": "y", "bucket/b/z.txt": "z", "keep.txt": "k"})
    git("add", "-A", cwd=data_repo)
    git("commit", "-q", "-m", "first", cwd=data_repo)
    git("mv", "bucket/a/y.txt", "bucket/b/y.txt", cwd=data_repo)  # a move: both assets change
    git("rm", "-q", "bucket/b/z.txt", cwd=data_repo)
    make_tree(data_repo, {"bucket/c/new file.txt": "n", "bucket/a/x.txt": "x2", "untracked.txt": "u"})
    git("add", "bucket/c", "bucket/a/x.txt", cwd=data_repo)
    assert sorted(staged_files(data_repo)) == [
        "bucket/a/x.txt",
        "bucket/a/y.txt",
        "bucket/b/y.txt",
        "bucket/b/z.txt",
        "bucket/c/new file.txt",
    ]
    # relative to the working directory, as the hook's other file names are
    assert sorted(staged_files(data_repo / "bucket" / "a")) == [
        "../b/y.txt",
        "../b/z.txt",
        "../c/new file.txt",
        "x.txt",
        "y.txt",
    ]
    # a pre-push run: the files between the refs pre-commit gives
    git("commit", "-q", "-m", "second", cwd=data_repo)
    env = {"PRE_COMMIT_FROM_REF": "HEAD~1", "PRE_COMMIT_TO_REF": "HEAD"}
    assert staged_files(data_repo, {}) == []  # nothing staged after the commit
    assert sorted(staged_files(data_repo, env)) == [
        "bucket/a/x.txt",
        "bucket/a/y.txt",
        "bucket/b/y.txt",
        "bucket/b/z.txt",
        "bucket/c/new file.txt",
    ]


def test_hook_staged_lints_the_staged_assets_with_paths_from_the_repository_root(
    data_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good_asset(data_repo / "bucket")
    git("add", "-A", cwd=data_repo)
    git("commit", "-q", "-m", "a good asset", cwd=data_repo)
    make_asset(data_repo / "bucket", RAW, sidecars={"subject.json": subject_v2("123465")}, drop=["procedures.json"])
    make_tree(data_repo, {"bucket/notes.txt": "n", ".aind-bucket-lint.yaml": "bucket-root: bucket\n"})
    git("add", "-A", cwd=data_repo)
    expected = [
        "bucket/notes.txt: L302 [warning] file 'notes.txt' at the target root belongs to no asset",
        f"bucket/{RAW}/data_description.json: M211 [warning] validate_expected_files_by_modality (aind-data-schema "
        "2.9.2 Metadata) warns: Metadata missing required file: procedures [files: data_description.json, "
        "subject.json, processing.json, acquisition.json, instrument.json]",
        f"bucket/{RAW}/procedures.json: M201 [error] required sidecar procedures.json is missing (set 'published')",
        f"bucket/{RAW}/subject.json: M208 [error] subject.json subject_id '123465' differs from the name's "
        "subject id '123456'",
    ]
    monkeypatch.chdir(data_repo)
    res = run_cli("hook", "--staged")
    assert (res.code, res.out.splitlines()[:-1], res.err) == (1, expected, "")
    assert re.fullmatch(
        r"1 assets?, 6 objects?: 4 findings? .*", res.out.splitlines()[-1]
    )  # the good one is not linted
    # from a folder below the root, the same files and the same paths
    monkeypatch.chdir(data_repo / "bucket")
    res = run_cli("hook", "--staged", "--config", "../.aind-bucket-lint.yaml")
    assert (res.code, res.out.splitlines()[:-1]) == (1, expected)
    # the machine-readable report keeps paths relative to the bucket root, its target
    monkeypatch.chdir(data_repo)
    doc = run_cli("hook", "--staged", "--format", "json").json()
    assert doc["target"] == ["bucket"]
    paths = ["notes.txt", f"{RAW}/data_description.json", f"{RAW}/procedures.json", f"{RAW}/subject.json"]
    assert [f["path"] for f in doc["findings"]] == paths


def test_hook_staged_outside_a_git_repository_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    res = run_cli("hook", "--staged")
    assert res.code == 2 and res.out == ""
    assert res.err.startswith(
        "aind-bucket-lint: --staged: git rev-parse --show-toplevel failed: fatal: not a git repository"
    )


# --- a commit larger than pre-commit's split, through the installed hook -------------------


def installed_hook(hook_repo: Path, data_repo: Path, home: Path) -> dict[str, str]:
    """The README's .pre-commit-config.yaml, pointed at the committed copy of this repository and
    pinned to its commit as the README says, installed as the data repository's git hook."""
    [snippet, _] = [b for b in readme_blocks("yaml") if "jobs:" not in b]
    config = yaml.safe_load(snippet)
    [repo] = config["repos"]
    assert repo["rev"] == "<40-hex sha>"
    repo["repo"] = str(hook_repo)
    repo["rev"] = git("rev-parse", "HEAD", cwd=hook_repo).strip()
    (data_repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    env = git_env(PRE_COMMIT_HOME=str(home))
    env.pop("PRE_COMMIT", None)
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=data_repo, env=env, check=True,
                   capture_output=True)  # fmt: skip
    return env


def test_a_commit_larger_than_pre_commits_split_reports_each_finding_once(
    hook_repo: Path, data_repo: Path, tmp_path: Path
) -> None:
    """One asset of 3,000 Zarr chunks and its sidecars: pre-commit would pass these file names
    in several runs; every finding and the summary still appear exactly once."""
    from pre_commit.xargs import partition

    store = "ecephys/ecephys_compressed/experiment1.zarr"
    chunks = {f"{store}/traces_seg0/{i}.0": "c" for i in range(3000)}
    # a sound Zarr v2 store (Z5xx finds nothing): a group and one array whose grid holds the chunks
    zarray = {"zarr_format": 2, "shape": [3000, 1], "chunks": [1, 1], "dtype": "<i2", "compressor": None,
              "fill_value": 0, "order": "C", "filters": None}  # fmt: skip
    chunks |= {f"{store}/.zgroup": '{"zarr_format": 2}', f"{store}/traces_seg0/.zarray": json.dumps(zarray)}
    make_asset(data_repo / "bucket", RAW, sidecars={"subject.json": subject_v2("123465")}, drop=["procedures.json"],
               data=chunks)  # fmt: skip
    make_tree(data_repo, {".aind-bucket-lint.yaml": "bucket-root: bucket\n"})
    env = installed_hook(hook_repo, data_repo, tmp_path / "pre-commit-home")
    git("add", "-A", cwd=data_repo)
    staged = staged_files(data_repo)
    assert len(staged) == 3000 + 2 + 5 + 2  # the chunks, the store's metadata, five sidecars, two config files
    runs = partition(("aind-bucket-lint", "hook"), tuple(sorted(staged)), 1)
    assert len(runs) >= 2  # pre-commit's own split would give the asset's files to several runs

    done = subprocess.run(["git", "commit", "-m", "a large asset"], cwd=data_repo, env=env, capture_output=True,
                          text=True, timeout=900, check=False)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "aind-bucket-lint" in out and "Failed" in out
    lines = finding_lines(out)
    assert lines == [
        f"bucket/{RAW}/data_description.json: M211 [warning] validate_expected_files_by_modality (aind-data-schema "
        "2.9.2 Metadata) warns: Metadata missing required file: procedures [files: data_description.json, "
        "subject.json, processing.json, acquisition.json, instrument.json]",
        f"bucket/{RAW}/procedures.json: M201 [error] required sidecar procedures.json is missing (set 'published')",
        f"bucket/{RAW}/subject.json: M208 [error] subject.json subject_id '123465' differs from the name's "
        "subject id '123456'",
    ]
    summaries = [line for line in out.splitlines() if re.match(r"\d+ assets?, \d+ objects?: ", line)]
    assert summaries == [summaries[0]] and re.match(r"1 assets?, 3007 objects?: 3 findings?", summaries[0])
    assert git("rev-list", "--all", cwd=data_repo) == ""  # the commit was refused
    # with the findings fixed, the same large commit goes through
    make_asset(data_repo / "bucket", RAW)
    git("add", "-A", cwd=data_repo)
    done = subprocess.run(["git", "commit", "-q", "-m", "a large asset"], cwd=data_repo, env=env,
                          capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
