"""Audit history in the ledger: which findings are new, which still there, which fixed.

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

These tables live beside the ledger's own (``runs``, ``assets``, ``asset_objects``) and are created
on first use, so a ledger written before them gains them on its next audit:

- ``audits``: one row per audit of a root: times, completeness, counts, new, fixed.
- ``finding_episodes``: one row per episode: root, identity, rule, severity, asset, path,
  message, occurrences, first/last audit seen, the audit that fixed it (NULL while open).
- ``asset_facts``: per asset, what the overview groups by and a reused verdict does not
  re-read (the schema version its data_description.json declares).

This run's findings wait in a temporary table until the audit ends, so memory stays flat at
10^6 findings.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from linter import __version__
from linter.baseline import finding_identity
from linter.findings import Finding, Severity
from linter.terminal import plural

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audits (
    id INTEGER PRIMARY KEY,
    root TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    complete INTEGER NOT NULL DEFAULT 0,
    assets INTEGER,
    clean_assets INTEGER,
    objects INTEGER,
    errors INTEGER,
    warnings INTEGER,
    info INTEGER,
    new INTEGER,
    fixed INTEGER,
    tool_version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audits_root ON audits (root, id);
CREATE TABLE IF NOT EXISTS finding_episodes (
    id INTEGER PRIMARY KEY,
    root TEXT NOT NULL,
    identity TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    asset TEXT,
    path TEXT,
    message TEXT NOT NULL,
    occurrences INTEGER NOT NULL,
    first_audit INTEGER NOT NULL,
    last_audit INTEGER NOT NULL,
    fixed_audit INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS finding_episodes_open ON finding_episodes (root, identity)
    WHERE fixed_audit IS NULL;
CREATE INDEX IF NOT EXISTS finding_episodes_asset ON finding_episodes (root, asset)
    WHERE fixed_audit IS NULL;
CREATE TABLE IF NOT EXISTS asset_facts (
    root TEXT NOT NULL,
    name TEXT NOT NULL,
    schema_version TEXT,
    PRIMARY KEY (root, name)
) WITHOUT ROWID;
"""

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
STATUSES = ("new", "existing", "fixed")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Audit:
    """One line of ``aind-bucket-lint history``."""

    id: int
    root: str
    started_at: str
    finished_at: str | None
    complete: bool
    assets: int
    clean_assets: int
    objects: int
    errors: int
    warnings: int
    info: int
    new: int
    fixed: int

    @property
    def findings(self) -> int:
        return self.errors + self.warnings + self.info

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "complete": self.complete,
            "assets": self.assets,
            "clean_assets": self.clean_assets,
            "objects": self.objects,
            "by_severity": {"error": self.errors, "warning": self.warnings, "info": self.info},
            "new": self.new,
            "fixed": self.fixed,
        }


_AUDIT_COLUMNS = (
    "id, root, started_at, finished_at, complete, coalesce(assets, 0), coalesce(clean_assets, 0),"
    " coalesce(objects, 0), coalesce(errors, 0), coalesce(warnings, 0), coalesce(info, 0),"
    " coalesce(new, 0), coalesce(fixed, 0)"
)


def _audit(row: tuple[Any, ...]) -> Audit:
    return Audit(row[0], row[1], row[2], row[3], bool(row[4]), *row[5:])


def ensure_schema(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


def audits(db: sqlite3.Connection, root: str | None = None, limit: int | None = None) -> list[Audit]:
    """The recorded audits (of ``root``, or all), oldest first; with ``limit``, the latest ones."""
    where, params = ("WHERE root = ?", [root]) if root is not None else ("", [])
    tail = f" LIMIT {int(limit)}" if limit is not None else ""
    try:
        rows = db.execute(f"SELECT {_AUDIT_COLUMNS} FROM audits {where} ORDER BY id DESC{tail}", params).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    return [_audit(r) for r in reversed(rows)]


def read_audits(path: str | Path) -> list[Audit]:
    """Every audit a ledger file recorded, read without locking it (a run may be going on)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{path}: ledger file not found")
    db = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        (application,) = db.execute("SELECT value FROM meta WHERE key = 'application'").fetchone() or ("",)
        if application != "aind-bucket-lint ledger":
            raise sqlite3.DatabaseError("no ledger metadata")
        return audits(db)
    finally:
        db.close()


class AuditHistory:
    """One audit of one root, recorded in the ledger: give findings their status, close it.

    Called from one thread (the command's report loop); shares the ledger's connection and
    mutex with the engine's workers.
    """

    def __init__(self, db: sqlite3.Connection, mutex: threading.Lock, root: str, started_at: str | None = None) -> None:
        self.db = db
        self.mutex = mutex
        self.root = root
        self.started_at = started_at or _now()
        self._batch: dict[str, list[Any]] = {}
        self._facts: list[tuple[str, str, str]] = []
        self.new = 0
        self.existing = 0
        with self.mutex:
            ensure_schema(db)
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


def history_lines(rows: Iterable[Audit], multiple_roots: bool | None = None) -> list[str]:
    """One line per audit: time, assets, findings by severity, new, fixed (``history`` command)."""
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
