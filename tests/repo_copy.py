"""A committed copy of this repository's working tree, for tests that install the project the
way a user's tool does (``pre-commit try-repo``, the GitHub Action's ``pip install``).

``pre-commit try-repo`` checks out the hook at a commit; uncommitted and untracked work would
be missing from it, and a CI clone has no local changes at all. Copying the working tree
(tracked and untracked files that git does not ignore) into a fresh git repository and
committing it there works the same way in both places and never touches the real repository.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKIP = {".git", ".venv", "venv", "build", "dist", "__pycache__", ".pytest_cache", ".ruff_cache"}

GIT_ENV = {
    "GIT_AUTHOR_NAME": "aind-bucket-lint tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "aind-bucket-lint tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@functools.cache
def _empty_git_config() -> str:
    """An empty global git config of our own (not os.devnull: a report written "atomically" to
    /dev/null by some other process once replaced the device with a file git could not parse)."""
    path = Path(tempfile.mkdtemp(prefix="aind-bucket-lint-git-")) / "gitconfig"
    path.write_text("", encoding="utf-8")
    return str(path)


def git_env(**more: str) -> dict[str, str]:
    """The environment for git and pre-commit in tests: a fixed identity, no system or user config."""
    return {**os.environ, **GIT_ENV, "GIT_CONFIG_GLOBAL": _empty_git_config(), **more}


def git(*args: str, cwd: Path) -> str:
    env = git_env()
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} (in {cwd}) failed with {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def working_tree_files(repo: Path = REPO) -> list[str]:
    """The files of the working tree that belong to the project (git's view when it has one)."""
    if (repo / ".git").exists():
        out = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=repo)
        return sorted({name for name in out.split("\0") if name and (repo / name).is_file()})
    names = []
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo)
        if path.is_file() and not SKIP.intersection(rel.parts) and not rel.parts[0].endswith(".egg-info"):
            names.append(rel.as_posix())
    return names


def committed_copy(dest: Path, repo: Path = REPO) -> tuple[Path, str]:
    """Copy the working tree to ``dest``, make it a git repository with one commit; return it and the commit."""
    dest.mkdir(parents=True)
    for name in working_tree_files(repo):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, target)
    git("init", "-q", "-b", "main", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-q", "-m", "working tree of aind-bucket-lint under test", cwd=dest)
    return dest, git("rev-parse", "HEAD", cwd=dest).strip()


def readme_blocks(language: str, section: str = "<!-- section:integrations (issue 5) -->") -> list[str]:
    """The fenced ``language`` code blocks of one README section (from its marker to the next '## ')."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(section)
    end = text.find("\n## ", start)
    body = text[start : end if end >= 0 else len(text)]
    return re.findall(rf"^```{re.escape(language)}\n(.*?)^```$", body, re.S | re.M)


PLACEHOLDERS = {"<sha>", "<40-hex sha>"}


def assert_pin_exists(ref: str, repo: Path = REPO) -> None:
    """A README snippet pins this project by a placeholder the text explains, a full commit id,
    or a tag that exists: never by a tag that was not published."""
    if ref in PLACEHOLDERS or re.fullmatch(r"[0-9a-f]{40}", ref):
        return
    tags = git("tag", "--list", cwd=repo).split() if (repo / ".git").exists() else []
    assert ref in tags, f"the README pins {ref!r}, which is no tag of this repository (tags: {tags})"
