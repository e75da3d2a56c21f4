"""``aind-bucket-lint hook [--staged] [FILE...]``: the pre-commit hook; lint each asset the
files belong to, once, and show the paths relative to the repository's root."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from linter.commands import EXIT_OK, UsageError, check
from linter.commands.common import AuditOptions, load_config, load_run_convention
from linter.reports import ReportOptions


def run(files: Sequence[str], bucket_root: str | None, given: AuditOptions, *, staged: bool = False) -> int:
    """``files``: files of assets; ``staged``: also the files git has staged for the commit
    (what the pre-commit hook uses, so that pre-commit's splitting of long file lists cannot
    lint an asset twice)."""
    from linter.precommit import GitError, relocator, repository_root, select_assets, staged_files

    names = list(files)
    top: Path | None = None
    try:
        if staged:
            names += staged_files()
        top = repository_root()
    except GitError as exc:
        if staged:
            raise UsageError(f"--staged: {exc}") from None
    config = load_config(given)
    root = bucket_root or (config.resolve_path(config.get("bucket-root")) if config.get("bucket-root") else None)
    selection = select_assets(names, load_run_convention(given, config), root)
    if not selection:
        return EXIT_OK
    options = ReportOptions(overview=False, relocate=relocator(top) if top is not None else None)
    return check.run(list(selection), given, only=selection, report_options=options)
