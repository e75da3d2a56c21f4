"""``aind-bucket-lint history LEDGER``: one line per audit the ledger recorded (time, assets,
findings by severity, new, fixed), oldest first; read without locking the ledger."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterable

from linter.commands import EXIT_ERROR, EXIT_OK
from linter.store.db import read_audits
from linter.store.records import Audit
from linter.terminal import plural


def run(ledger: str, root: str | None = None, limit: int | None = None, fmt: str = "text") -> int:
    try:
        rows = read_audits(ledger)
    except FileNotFoundError as exc:
        print(f"aind-bucket-lint: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except sqlite3.Error as exc:
        print(f"aind-bucket-lint: {ledger}: not an aind-bucket-lint ledger ({exc})", file=sys.stderr)
        return EXIT_ERROR
    if root is not None:
        rows = [a for a in rows if a.root == root]
    if limit is not None:
        rows = rows[-limit:] if limit > 0 else []
    if fmt == "json":
        print(json.dumps([{"root": a.root, **a.to_dict()} for a in rows], indent=2))
    elif not rows:
        print("no audits recorded" + (f" for {root}" if root else ""), file=sys.stderr)
    else:
        multiple = len({a.root for a in rows}) > 1
        for line in history_lines(rows, multiple_roots=multiple):
            print(line)
    return EXIT_OK


def history_lines(rows: Iterable[Audit], multiple_roots: bool | None = None) -> list[str]:
    """One line per audit: time, assets, findings by severity, new, fixed."""
    rows = list(rows)
    if multiple_roots is None:
        multiple_roots = len({a.root for a in rows}) > 1
    out = []
    for a in rows:
        state = "" if a.complete else ("  INCOMPLETE" if a.finished_at else "  INTERRUPTED")
        root = f"  {a.root}" if multiple_roots else ""
        out.append(
            f"{a.started_at}  {plural(a.assets, 'asset')}  {plural(a.findings, 'finding')} "
            f"({plural(a.errors, 'error')}, {plural(a.warnings, 'warning')}, {a.info} info)  "
            f"{a.new} new  {a.fixed} fixed{state}{root}"
        )
    return out
