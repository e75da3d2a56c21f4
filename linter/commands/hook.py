"""``aind-bucket-lint hook FILE...``: the pre-commit hook; lint each asset the files belong to, once."""

from __future__ import annotations

from collections.abc import Sequence

from linter.commands import EXIT_OK, check
from linter.commands.common import AuditOptions, load_config, load_run_convention


def run(files: Sequence[str], bucket_root: str | None, given: AuditOptions) -> int:
    from linter.precommit import select_assets

    config = load_config(given)
    root = bucket_root or (config.resolve_path(config.get("bucket-root")) if config.get("bucket-root") else None)
    selection = select_assets(list(files), load_run_convention(given, config), root)
    if not selection:
        return EXIT_OK
    return check.run(list(selection), given, only=selection)
