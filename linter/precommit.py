"""From the files a commit touches to the assets they belong to.

The pre-commit hook (``.pre-commit-hooks.yaml``: entry ``aind-bucket-lint hook --staged``,
``pass_filenames: false``) asks git for the staged files itself: pre-commit splits a long list
of file names into several runs of a hook, and an asset whose files fall into two runs would be
linted, and reported, twice. Each file belongs to one asset, and each asset is linted once,
whole, however many of its files are staged:

* with a bucket root (``--bucket-root DIR`` or ``bucket-root`` in the config file), a file's
  asset is its top-level folder under the root; a file directly in the root is linted as a
  root object (L302 orphan-object); files outside the root are not the hook's business;
* without one, a file's asset is the outermost folder above it (from the working
  directory, which pre-commit sets to the repository's root, down) that holds a
  ``data_description.json`` or is named like an asset; a file in no such folder is skipped.
  Set the bucket root to also catch an asset that has neither (a misnamed folder without
  metadata).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from linter.conventions import Convention
from linter.sources.local import is_asset_folder


def _label(path: Path, cwd: Path) -> str:
    """How a root is shown in reports: relative to the working directory when it is inside it."""
    try:
        rel = path.relative_to(cwd)
    except ValueError:
        return str(path)
    return str(rel) if str(rel) != "." else "."


def _absolute(name: str, cwd: Path) -> Path:
    return Path(os.path.normpath(cwd / name))


def _under_root(file: Path, root: Path) -> str | None:
    """The top-level entry of ``root`` that holds ``file`` (an asset folder or a root file)."""
    try:
        rel = file.relative_to(root)
    except ValueError:
        return None
    return rel.parts[0] if rel.parts else None


def _outermost_asset(file: Path, cwd: Path, convention: Convention) -> Path | None:
    ancestors = list(reversed(file.parents))  # outermost first
    if file.is_relative_to(cwd):
        ancestors = [a for a in ancestors if a.is_relative_to(cwd)]  # the repository itself may be an asset
    for folder in ancestors:
        if folder.is_dir() and is_asset_folder(folder, convention):
            return folder
    return None


def select_assets(
    files: Iterable[str], convention: Convention, bucket_root: str | None = None, cwd: Path | None = None
) -> dict[str, set[str]]:
    """{target root as shown: {top-level entries to lint}}, in the order the roots are met."""
    cwd = Path(os.path.abspath(cwd or Path.cwd()))
    selection: dict[str, set[str]] = {}
    root = _absolute(bucket_root, cwd) if bucket_root else None
    for name in files:
        file = _absolute(name, cwd)
        if root is not None:
            entry = _under_root(file, root)
            if entry is None or not (root / entry).exists():
                continue
            selection.setdefault(_label(root, cwd), set()).add(entry)
            continue
        asset = _outermost_asset(file, cwd, convention)
        if asset is not None:
            selection.setdefault(_label(asset.parent, cwd), set()).add(asset.name)
    return selection


class GitError(Exception):
    """git could not say which files are staged (not a repository, git missing, ...)."""


def _git(args: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} failed: {done.stderr.strip() or f'exit {done.returncode}'}")
    return done.stdout


def repository_root(cwd: Path | None = None) -> Path:
    """The top of the git work tree that holds ``cwd``."""
    return Path(_git(["rev-parse", "--show-toplevel"], Path(cwd or Path.cwd())).strip())


# added, copied, modified, deleted, type-changed; renames as a deletion and an addition, so
# that the asset a file left is linted too
_DIFF = ["--name-only", "-z", "--no-renames", "--diff-filter=ACMDT"]


def staged_files(cwd: Path | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """The files of the commit being made, relative to ``cwd``: the staged changes, or, when
    pre-commit runs a hook for a push (``PRE_COMMIT_FROM_REF``/``PRE_COMMIT_TO_REF`` set),
    the files changed between those refs."""
    cwd = Path(os.path.abspath(cwd or Path.cwd()))
    env = os.environ if env is None else env
    top = repository_root(cwd)
    from_ref, to_ref = env.get("PRE_COMMIT_FROM_REF"), env.get("PRE_COMMIT_TO_REF")
    if from_ref and to_ref:
        out = _git(["diff", *_DIFF, f"{from_ref}...{to_ref}"], top)
    else:
        out = _git(["diff", "--cached", *_DIFF], top)
    return [os.path.relpath(top / name, cwd) for name in out.split("\0") if name]


def relocator(base: Path, cwd: Path | None = None) -> Callable[[str, str], str]:
    """``(target root, finding path) -> path relative to base`` (the repository's root), for
    reports read by a person in the repository; the root is a folder relative to ``cwd`` (as a
    target is given) or absolute (as the engine found it). A path that would leave ``base``, or
    name base itself (a repository that is one asset), stays as the target had it."""
    cwd = Path(os.path.abspath(cwd or Path.cwd()))
    base = Path(os.path.abspath(base))

    def relocate(root: str, path: str) -> str:
        rel = os.path.relpath(os.path.normpath(cwd / root / path), base)
        if rel == "." or rel.startswith(".."):
            return path
        rel = rel.replace(os.sep, "/")
        return rel + "/" if path.endswith("/") else rel

    return relocate
