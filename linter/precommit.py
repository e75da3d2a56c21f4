"""From the file names a pre-commit hook is given to the assets they belong to.

pre-commit passes the staged files (``.pre-commit-hooks.yaml``: entry ``aind-bucket-lint
hook``). Each file belongs to one asset, and each asset is linted once, whole, however many
of its files are staged:

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
from collections.abc import Iterable
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
