"""``aind-bucket-lint baseline TARGET... --output FILE``: record the current findings."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Sequence

from linter.audit import Audit
from linter.commands import UsageError
from linter.commands.common import (
    AuditOptions,
    build_plan,
    exit_code,
    load_config,
    load_run_convention,
    open_ledger,
)
from linter.reports import ReportOptions, get_reporter
from linter.terminal import plural


def run(targets: Sequence[str], given: AuditOptions, output: str) -> int:
    """The baseline is built in memory and replaces ``output`` only when the run was complete:
    a baseline missing what could not be read would hide those findings later."""
    config = load_config(given)
    convention = load_run_convention(given, config)
    plan = build_plan(list(targets), given, config, convention)
    ledger = open_ledger(plan)
    buffer = io.StringIO()
    try:
        reporter = get_reporter("baseline", buffer, ReportOptions(fail_on="never", convention=convention))
        outcome = Audit(plan, reporter, ledger=ledger, quiet=given.quiet, out=buffer).run(targets)
    finally:
        if ledger is not None:
            ledger.close()
    if outcome.complete:
        replace_file(output, buffer.getvalue())
        count = plural(sum(outcome.by_rule.values()), "finding")
        print(f"aind-bucket-lint: wrote {output}: {count}", file=sys.stderr)
    else:
        print(f"aind-bucket-lint: {output} not written: part of the target could not be read", file=sys.stderr)
    return exit_code(outcome, "never")


def replace_file(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"{path}: cannot write the baseline: {exc.strerror or exc}") from None
