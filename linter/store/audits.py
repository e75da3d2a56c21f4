"""The audit history: which findings are new, which still there, which fixed.

Each complete audit of a root records its findings by their stable identity (the baseline's
key, :func:`linter.baseline.finding_identity`) as *episodes*: an episode opens at the audit
that first reports the identity and stays open while every later complete audit of the same
root reports it again; the first complete audit without it closes the episode as fixed. So
against the last complete audit of the root a finding is ``new`` (no open episode) or
``existing`` (an open one), and the open episodes this audit did not see are ``fixed``.

An incomplete audit (part of the target could not be read, or only some assets were linted)
reads the history to give its findings a status but writes none of it: what it did not see is
never marked fixed, and the next complete audit compares with the last complete one. Every
audit, complete or not, gets a line in ``audits`` (what ``aind-bucket-lint history`` prints
and the reports' trend).

Its tables (``audits``, ``finding_episodes``, ``asset_facts``) are part of the ledger's schema
(:mod:`linter.store.db`). This run's findings wait in a temporary table until the audit ends,
so memory stays flat at 10^6 findings.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from linter import __version__
from linter.baseline import finding_identity
from linter.findings import Finding, Severity
from linter.store.records import Audit

if TYPE_CHECKING:
    from linter.store.db import Ledger

_PENDING = """
CREATE TEMP TABLE IF NOT EXISTS pending_findings (
    identity TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    asset TEXT,
    path TEXT,
    message TEXT NOT NULL,
    occurrences INTEGER NOT NULL
);
DELETE FROM temp.pending_findings;
"""

BATCH = 5000


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


_AUDIT_COLUMNS = (
    "id, root, started_at, finished_at, complete, coalesce(assets, 0), coalesce(clean_assets, 0),"
    " coalesce(objects, 0), coalesce(errors, 0), coalesce(warnings, 0), coalesce(info, 0),"
    " coalesce(new, 0), coalesce(fixed, 0)"
)


def _audit(row: tuple[Any, ...]) -> Audit:
    return Audit(row[0], row[1], row[2], row[3], bool(row[4]), *row[5:])


def audits(db: sqlite3.Connection, root: str | None = None, limit: int | None = None) -> list[Audit]:
    """The recorded audits (of ``root``, or all), oldest first; with ``limit``, the latest ones.
    A ledger that never recorded an audit, opened read-only, may lack the table: no audits."""
    where, params = ("WHERE root = ?", [root]) if root is not None else ("", [])
    tail = f" LIMIT {int(limit)}" if limit is not None else ""
    try:
        rows = db.execute(f"SELECT {_AUDIT_COLUMNS} FROM audits {where} ORDER BY id DESC{tail}", params).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    return [_audit(r) for r in reversed(rows)]


class AuditHistory:
    """One audit of one root, recorded in the ledger: give findings their status, close it.

    Made by :meth:`linter.store.db.Ledger.audit_history`. Called from one thread (the command's
    report loop); shares the ledger's connection and mutex with the engine's workers.
    """

    def __init__(self, ledger: Ledger, root: str, started_at: str | None = None) -> None:
        self.db = db = ledger.db
        self.mutex = ledger.mutex
        self.root = root
        self.started_at = started_at or _now()
        self._batch: dict[str, list[Any]] = {}
        self._facts: list[tuple[str, str, str]] = []
        self.new = 0
        self.existing = 0
        with self.mutex:
            db.executescript(_PENDING)
            self.previous = self._previous_complete()
            # facts of earlier audits: none (a bucket never audited with the M rules) spares a
            # query per asset; what this audit learns is written at its end
            self._earlier_facts = (
                db.execute("SELECT 1 FROM asset_facts WHERE root = ? LIMIT 1", (root,)).fetchone() is not None
            )
            cur = db.execute(
                "INSERT INTO audits (root, started_at, tool_version) VALUES (?, ?, ?)",
                (root, self.started_at, __version__),
            )
            self.audit_id = int(cur.lastrowid or 0)

    def _previous_complete(self) -> Audit | None:
        row = self.db.execute(
            f"SELECT {_AUDIT_COLUMNS} FROM audits WHERE root = ? AND complete = 1 ORDER BY id DESC LIMIT 1",
            (self.root,),
        ).fetchone()
        return _audit(row) if row else None

    def trend(self, limit: int = 30) -> list[Audit]:
        """The latest audits of this root before this one, oldest first."""
        with self.mutex:
            return [a for a in audits(self.db, self.root, limit + 1) if a.id != self.audit_id][-limit:]

    def schema_version(self, asset: str, declared: str | None) -> str | None:
        """The asset's declared schema version: as read now (and remembered), else as last read."""
        if declared is not None:
            self._facts.append((self.root, asset, declared))
            return declared
        if not self._earlier_facts:
            return None
        with self.mutex:
            row = self.db.execute(
                "SELECT schema_version FROM asset_facts WHERE root = ? AND name = ?", (self.root, asset)
            ).fetchone()
        return row[0] if row else None

    def mark(self, asset: str | None, findings: list[Finding]) -> list[Finding]:
        """The asset's findings with their status, and queued for this audit's record."""
        if not findings:
            return findings
        with self.mutex:
            open_ids = {
                r[0]
                for r in self.db.execute(
                    "SELECT identity FROM finding_episodes WHERE root = ? AND asset IS ? AND fixed_audit IS NULL",
                    (self.root, asset),
                )
            }
        out = []
        for f in findings:
            key = finding_identity(f)
            status = "existing" if key in open_ids else "new"
            if status == "new":
                self.new += 1
            else:
                self.existing += 1
            out.append(replace(f, status=status))
            entry = self._batch.get(key)
            if entry is None:
                self._batch[key] = [key, f.rule, str(f.severity), f.asset, f.path, f.message, 1]
            else:
                entry[6] += 1
        if len(self._batch) >= BATCH:
            self._flush()
        return out

    def _flush(self) -> None:
        batch, self._batch = list(self._batch.values()), {}
        facts, self._facts = self._facts, []
        with self.mutex, self._transaction():
            self.db.executemany(
                "INSERT INTO temp.pending_findings VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (identity) DO UPDATE SET occurrences = occurrences + excluded.occurrences",
                batch,
            )
            self.db.executemany(
                "INSERT INTO asset_facts VALUES (?, ?, ?)"
                " ON CONFLICT (root, name) DO UPDATE SET schema_version = excluded.schema_version",
                facts,
            )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def finish(
        self, complete: bool, summary: dict[str, Any], clean_assets: int, partial: bool = False
    ) -> list[Finding]:
        """Close the audit. A complete one records its findings and returns those fixed since the
        last complete audit; an incomplete one records only its line and fixes nothing; a
        ``partial`` one (part of the root looked at on purpose: the hook, one asset folder) is no
        audit of the root and leaves no line."""
        self._flush()
        fixed: list[Finding] = []
        audit = self.audit_id
        with self.mutex, self._transaction():
            db = self.db
            if partial:
                db.execute("DELETE FROM audits WHERE id = ?", (audit,))
                db.execute("DELETE FROM temp.pending_findings")
                return fixed
            if complete:
                fixed = [
                    Finding(r[0], _rule_name(r[0]), Severity.parse(r[1]), r[2], r[3], r[4], {}, "fixed")
                    for r in db.execute(
                        "SELECT rule, severity, asset, path, message FROM finding_episodes"
                        " WHERE root = ? AND fixed_audit IS NULL"
                        " AND identity NOT IN (SELECT identity FROM temp.pending_findings)"
                        " ORDER BY asset, path, rule, message",
                        (self.root,),
                    )
                ]
                db.execute(
                    "UPDATE finding_episodes SET fixed_audit = ? WHERE root = ? AND fixed_audit IS NULL"
                    " AND identity NOT IN (SELECT identity FROM temp.pending_findings)",
                    (audit, self.root),
                )
                db.execute(
                    "UPDATE finding_episodes SET last_audit = ?, severity = p.severity, occurrences = p.occurrences"
                    " FROM temp.pending_findings AS p"
                    " WHERE finding_episodes.root = ? AND finding_episodes.fixed_audit IS NULL"
                    " AND finding_episodes.identity = p.identity",
                    (audit, self.root),
                )
                db.execute(
                    "INSERT INTO finding_episodes (root, identity, rule, severity, asset, path, message, occurrences,"
                    " first_audit, last_audit)"
                    " SELECT ?, identity, rule, severity, asset, path, message, occurrences, ?, ?"
                    " FROM temp.pending_findings WHERE identity NOT IN"
                    " (SELECT identity FROM finding_episodes WHERE root = ? AND fixed_audit IS NULL)",
                    (self.root, audit, audit, self.root),
                )
            sev = summary.get("by_severity", {})
            db.execute(
                "UPDATE audits SET finished_at = ?, complete = ?, assets = ?, clean_assets = ?, objects = ?,"
                " errors = ?, warnings = ?, info = ?, new = ?, fixed = ? WHERE id = ?",
                (
                    _now(),
                    int(complete),
                    summary.get("assets", 0),
                    clean_assets,
                    summary.get("objects", 0),
                    sev.get("error", 0),
                    sev.get("warning", 0),
                    sev.get("info", 0),
                    self.new,
                    len(fixed),
                    audit,
                ),
            )
            db.execute("DELETE FROM temp.pending_findings")
        return fixed


def _rule_name(code: str) -> str:
    from linter.registry import load_rules

    rule = load_rules().get(code)
    return rule.name if rule is not None else "unknown-rule"
