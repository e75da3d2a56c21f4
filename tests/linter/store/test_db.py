"""The ledger file: one run at a time (and a forked worker does not hold the lock), what is not a
ledger is refused, older schemas are migrated and today's ledgers open as they are."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import re
import shutil
import sqlite3
import subprocess
import time
import zlib
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from linter.baseline import identity
from linter.store.codec import micros
from linter.store.db import Ledger, connect, read_audits
from linter.store.errors import LedgerError
from tests.conftest import make_tree, run_cli

RAW = "ecephys_123456_2022-12-12_05-06-07"
OTHER = "SmartSPIM_623711_2022-10-27_16-48-54"


def read_only(path: Path) -> sqlite3.Connection:
    return connect(path)  # with sqlar_uncompress, which the object_history view needs


def test_a_second_run_on_the_same_ledger_gets_a_clear_error(tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/a.txt": "a"})
    path = tmp_path / "ledger.sqlite"
    with Ledger(path):
        res = run_cli("check", str(bucket), "--ledger", str(path))
        assert res.code == 2
        assert res.err.startswith(
            f"aind-bucket-lint: {path}: the ledger is in use by another aind-bucket-lint run (pid {os.getpid()} on "
        )
        assert res.err.endswith("; wait for it to finish, or give this run another --ledger\n")
        assert res.out == ""
    assert run_cli("check", str(bucket), "--select", "N", "--ledger", str(path)).code == 0


def test_a_file_that_is_not_a_ledger_is_refused(tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/a.txt": "a"})
    junk = tmp_path / "junk.sqlite"
    junk.write_text("this is not a database, but a note\n" * 200)
    res = run_cli("check", str(bucket), "--ledger", str(junk))
    assert res.code == 2
    assert res.err == f"aind-bucket-lint: {junk}: not an aind-bucket-lint ledger (file is not a database)\n"
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    res = run_cli("check", str(bucket), "--ledger", str(other))
    assert (res.code, res.err) == (
        2,
        f"aind-bucket-lint: {other}: not an aind-bucket-lint ledger (no such table: meta)\n",
    )


# the tables schemas 1 and 2 share, as aind-bucket-lint wrote them
V1_V2_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (id INTEGER PRIMARY KEY, root TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
    assets INTEGER, tool_version TEXT NOT NULL);
CREATE TABLE assets (id INTEGER PRIMARY KEY, root TEXT NOT NULL, name TEXT NOT NULL, first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL, gone_since TEXT, first_object_at TEXT, sealed_at TEXT, sealed_seen TEXT,
    listing_digest TEXT NOT NULL, verdict_fingerprint TEXT, verdicts TEXT, UNIQUE (root, name));
"""

# the schema 1 ledger as aind-bucket-lint 0.x wrote it: one objects row per key
V1_SCHEMA = (
    V1_V2_TABLES
    + """
CREATE TABLE objects (asset_id INTEGER NOT NULL REFERENCES assets (id), key TEXT NOT NULL, etag TEXT,
    size INTEGER NOT NULL, last_modified TEXT, version_id TEXT, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
    gone_since TEXT, PRIMARY KEY (asset_id, key)) WITHOUT ROWID;
CREATE TABLE content_verdicts (identity TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    first_seen TEXT NOT NULL, PRIMARY KEY (identity, key)) WITHOUT ROWID;
CREATE VIEW object_history AS
    SELECT a.root, a.name AS asset, o.key, o.etag, o.size, o.last_modified, o.version_id, o.first_seen,
           CASE WHEN o.gone_since IS NULL THEN a.last_seen ELSE o.last_seen END AS last_seen, o.gone_since
    FROM objects o JOIN assets a ON a.id = o.asset_id;
INSERT INTO meta VALUES ('application', 'aind-bucket-lint ledger'), ('schema_version', '1');
"""
)
T0, T1, T2 = "2024-01-01T00:00:00+00:00", "2024-01-05T00:00:00.250000+00:00", "2024-01-09T00:00:00+00:00"
MODIFIED = "2023-11-14T22:13:20+00:00"  # 1_700_000_000


def v1_ledger(path: Path, root: str, objects: list[tuple[str, str, int, str, str, str | None]]) -> None:
    """A schema 1 ledger of two assets seen on T0, T1 and T2: (asset, key, size, first_seen, last_seen, gone_since)."""
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    for i, name in enumerate((RAW, OTHER), 1):
        db.execute(
            "INSERT INTO assets VALUES (?, ?, ?, ?, ?, NULL, ?, '2023-11-16T22:13:20+00:00', ?, 'v1', NULL, NULL)",
            (i, root, name, T0, T2, MODIFIED, T0),
        )
    db.execute("INSERT INTO runs (root, started_at, finished_at, assets, tool_version) VALUES (?, ?, ?, 2, '0.9')",
               (root, T2, T2))  # fmt: skip
    for asset, key, size, first, last, gone in objects:
        db.execute(
            "INSERT INTO objects VALUES (?, ?, NULL, ?, ?, NULL, ?, ?, ?)",
            (1 if asset == RAW else 2, key, size, MODIFIED, first, last, gone),
        )
    db.commit()
    db.close()


def test_a_schema_1_ledger_is_migrated_with_its_history(tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/a.txt": "a changed", f"{RAW}/new.txt": "n", f"{OTHER}/c.txt": "c"})
    for f in (bucket / RAW / "a.txt", bucket / RAW / "new.txt", bucket / OTHER / "c.txt"):
        os.utime(f, (1_700_000_000, 1_700_000_000))
    root = str(bucket.resolve())
    path = tmp_path / "ledger.sqlite"
    v1_ledger(
        path,
        root,
        [
            (RAW, "a.txt", 1, T0, T1, None),  # still listed (last_seen is the asset's)
            (RAW, "sub/b.txt", 2, T0, T1, T2),  # gone since the run of T2
            (OTHER, "c.txt", 1, T0, T2, None),
        ],
    )
    res = run_cli("check", str(bucket), "--select", "I4", "--ledger", str(path), "--format", "json")
    assert res.code == 1, res.err
    assert [(f["rule"], f["path"], f["message"]) for f in res.json()["findings"]] == [  # by path
        ("I403", f"{RAW}/a.txt", "'a.txt' changed since the ledger recorded it on 2024-01-01T00:00:00Z: size 1 -> 9"),
        (
            "I404",
            f"{RAW}/new.txt",
            "'new.txt' was first listed by this audit, after the audit of 2024-01-01T00:00:00Z "
            "had seen the asset sealed",
        ),
        (
            "I402",
            f"{RAW}/sub/b.txt",
            "'sub/b.txt' is gone: recorded by the ledger since 2024-01-01T00:00:00Z, no longer listed",
        ),
    ]
    db = read_only(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
    assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'objects'").fetchone() == (0,)
    (now,) = db.execute("SELECT last_seen FROM assets WHERE name = ?", (RAW,)).fetchone()
    rows = db.execute(
        "SELECT asset, key, size, last_modified, first_seen, last_seen, gone_since FROM object_history"
        " ORDER BY asset, key"
    ).fetchall()
    assert rows == [
        (OTHER, "c.txt", 1, MODIFIED, T0, now, None),
        (RAW, "a.txt", 1, MODIFIED, T0, now, None),  # the first record stays
        (RAW, "new.txt", 1, MODIFIED, now, now, None),
        (RAW, "sub/b.txt", 2, MODIFIED, T0, T1, T2),
    ]
    assert db.execute("SELECT root, started_at, assets FROM runs ORDER BY id").fetchall() == [
        (root, T2, 2),
        (root, now, 2),
    ]


def test_a_damaged_schema_1_ledger_fails_its_migration_cleanly(tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/a.txt": "a"})
    path = tmp_path / "ledger.sqlite"
    v1_ledger(path, str(bucket.resolve()), [(RAW, "a.txt", 1, "yesterday", T1, None)])
    res = run_cli("check", str(bucket), "--select", "I4", "--ledger", str(path))
    assert (res.code, res.out) == (2, "")
    assert res.err == (
        f"aind-bucket-lint: {path}: the file is damaged; restore it from a backup or give a new --ledger "
        "(cannot migrate ledger schema 1 to 2: Invalid isoformat string: 'yesterday')\n"
    )
    db = sqlite3.connect(path)  # left as it was
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    assert db.execute("SELECT count(*) FROM objects").fetchone() == (1,)
    db.close()

    # a damaged page under the objects table: SQLite's own word, the same clear error
    v1_ledger(
        path := tmp_path / "paged.sqlite",
        str(bucket.resolve()),
        [(RAW, f"k{i:05d}" * 8, i, T0, T1, None) for i in range(2000)],
    )
    db = sqlite3.connect(path)
    (page,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'objects'").fetchone()
    (page_size,) = db.execute("PRAGMA page_size").fetchone()
    db.close()
    with open(path, "r+b") as fh:
        fh.seek(page_size * (page - 1))
        fh.write(b"\xff" * page_size)
    res = run_cli("check", str(bucket), "--select", "I4", "--ledger", str(path))
    assert (res.code, res.out) == (2, "")
    assert res.err == (
        f"aind-bucket-lint: {path}: the file is damaged; restore it from a backup or give a new --ledger "
        "(SQLite: database disk image is malformed)\n"
    )
    assert "Traceback" not in res.err


def test_the_object_history_view_in_the_sqlite3_shell(tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/a.txt": "a", f"{RAW}/sub/b.txt": "bb"})
    path = tmp_path / "night #1 ?100%.sqlite"  # what a URI would misread
    assert run_cli("check", str(bucket), "--select", "I", "--ledger", str(path)).code == 0
    assert read_only(path).execute("SELECT key FROM object_history ORDER BY key").fetchall() == [
        ("a.txt",),
        ("sub/b.txt",),
    ]
    shell = shutil.which("sqlite3")
    if shell is None:
        pytest.skip("no sqlite3 shell")
    out = subprocess.run(
        [shell, "-readonly", str(path), "SELECT asset, key, size, gone_since IS NULL FROM object_history ORDER BY key"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert out == f"{RAW}|a.txt|1|1\n{RAW}|sub/b.txt|2|1\n"


def _wait_for(event: Event, started: Event | None = None) -> None:
    if started is not None:
        started.set()
    event.wait(60)


def test_a_forked_worker_does_not_keep_the_run_lock(tmp_path: Path) -> None:
    """A worker forked while the driver holds the ledger shares the lock file's descriptor; the
    driver's release unlocks the open file itself, so the lock goes with it at once, even before
    the worker has been scheduled to drop its copy."""
    path = tmp_path / "ledger.sqlite"
    fork = multiprocessing.get_context("fork")
    release = fork.Event()
    ledger = Ledger(path)
    worker = fork.Process(target=_wait_for, args=(release,))
    worker.start()
    try:
        with pytest.raises(LedgerError, match="the ledger is in use by another aind-bucket-lint run"):
            Ledger(path)  # flock is per open file: this process's second open is refused too
        ledger.close()
        assert worker.is_alive()
        Ledger(path).close()  # the worker, still running, holds nothing
    finally:
        release.set()
        worker.join(60)
    assert worker.exitcode == 0


def _driver_that_dies(path: Path, release: Event, started: Event) -> None:
    """Hold the ledger, fork a worker, and die without releasing anything."""
    _held = Ledger(path)  # referenced until the process dies, never closed
    worker = multiprocessing.get_context("fork").Process(target=_wait_for, args=(release, started))
    worker.start()
    started.wait(60)  # the worker runs: its fork handler has closed its copy of the lock file
    os._exit(0)


def test_a_driver_that_dies_leaves_no_lock_behind_its_live_workers(tmp_path: Path) -> None:
    """The kernel frees the lock when the driver dies, because its forked workers dropped their
    copies of the lock file when they started (an at-fork handler), not when they exit."""
    path = tmp_path / "ledger.sqlite"
    fork = multiprocessing.get_context("fork")
    release, started = fork.Event(), fork.Event()
    driver = fork.Process(target=_driver_that_dies, args=(path, release, started))
    driver.start()
    try:
        deadline = time.monotonic() + 60
        while driver.exitcode is None and time.monotonic() < deadline:  # waitpid: join() would wait
            time.sleep(0.05)  # for the worker too, which inherited the driver's sentinel pipe
        assert driver.exitcode == 0
        assert started.is_set()
        Ledger(path).close()  # the driver's worker still waits on `release`
    finally:
        release.set()


# the schema 2 ledger as aind-bucket-lint writes it before the store package: its sqlite_master,
# with the audit history's tables (created on a ledger's first audit; `baseline --ledger` leaves
# a ledger without them)
V2_OBJECTS = (
    V1_V2_TABLES
    + """
CREATE TABLE content_verdicts (identity TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    first_seen TEXT NOT NULL, PRIMARY KEY (identity, key)) WITHOUT ROWID;
CREATE TABLE asset_objects (asset_id INTEGER NOT NULL REFERENCES assets (id), chunk INTEGER NOT NULL,
    keys INTEGER NOT NULL, live INTEGER NOT NULL, raw_size INTEGER NOT NULL, records BLOB NOT NULL,
    PRIMARY KEY (asset_id, chunk));
CREATE VIEW object_history AS
    SELECT a.root, a.name AS asset, json_extract(r.value, '$[0]') AS key, json_extract(r.value, '$[1]') AS etag,
        json_extract(r.value, '$[2]') AS size,
           CASE WHEN json_extract(r.value, '$[3]') IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S',
               json_extract(r.value, '$[3]') / 1000000, 'unixepoch') || CASE WHEN json_extract(r.value, '$[3]') %
               1000000 THEN printf('.%06d', json_extract(r.value, '$[3]') % 1000000) ELSE '' END || '+00:00' END AS
               last_modified, json_extract(r.value, '$[5]') AS version_id, CASE WHEN json_extract(r.value, '$[4]')
               IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S', json_extract(r.value, '$[4]') / 1000000,
               'unixepoch') || CASE WHEN json_extract(r.value, '$[4]') % 1000000 THEN printf('.%06d',
               json_extract(r.value, '$[4]') % 1000000) ELSE '' END || '+00:00' END AS first_seen,
           CASE WHEN json_extract(r.value, '$[7]') IS NULL THEN a.last_seen ELSE CASE WHEN json_extract(r.value,
               '$[6]') IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S', json_extract(r.value, '$[6]') / 1000000,
               'unixepoch') || CASE WHEN json_extract(r.value, '$[6]') % 1000000 THEN printf('.%06d',
               json_extract(r.value, '$[6]') % 1000000) ELSE '' END || '+00:00' END END AS last_seen,
           CASE WHEN json_extract(r.value, '$[7]') IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S',
               json_extract(r.value, '$[7]') / 1000000, 'unixepoch') || CASE WHEN json_extract(r.value, '$[7]') %
               1000000 THEN printf('.%06d', json_extract(r.value, '$[7]') % 1000000) ELSE '' END || '+00:00' END AS
               gone_since
    FROM asset_objects o JOIN assets a ON a.id = o.asset_id,
         json_each(CAST(sqlar_uncompress(o.records, o.raw_size) AS TEXT)) r;
"""
)
V2_AUDITS = """
CREATE TABLE audits (id INTEGER PRIMARY KEY, root TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
    complete INTEGER NOT NULL DEFAULT 0, assets INTEGER, clean_assets INTEGER, objects INTEGER, errors INTEGER,
    warnings INTEGER, info INTEGER, new INTEGER, fixed INTEGER, tool_version TEXT NOT NULL);
CREATE INDEX audits_root ON audits (root, id);
CREATE TABLE finding_episodes (id INTEGER PRIMARY KEY, root TEXT NOT NULL, identity TEXT NOT NULL,
    rule TEXT NOT NULL, severity TEXT NOT NULL, asset TEXT, path TEXT, message TEXT NOT NULL,
    occurrences INTEGER NOT NULL, first_audit INTEGER NOT NULL, last_audit INTEGER NOT NULL, fixed_audit INTEGER);
CREATE UNIQUE INDEX finding_episodes_open ON finding_episodes (root, identity) WHERE fixed_audit IS NULL;
CREATE INDEX finding_episodes_asset ON finding_episodes (root, asset) WHERE fixed_audit IS NULL;
CREATE TABLE asset_facts (root TEXT NOT NULL, name TEXT NOT NULL, schema_version TEXT,
    PRIMARY KEY (root, name)) WITHOUT ROWID;
"""
US = {t: micros(dt.datetime.fromisoformat(t)) for t in (T0, T1, T2, MODIFIED)}
CHANGED = "'a.txt' changed since the ledger recorded it on 2024-01-01T00:00:00Z: size 1 -> 9"


def schema(db: sqlite3.Connection) -> list[tuple[str, str]]:
    """A ledger's tables, indexes and views, with their SQL in one spacing."""
    rows = db.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").fetchall()
    return [(name, re.sub(r" ?([()]) ?", r"\1", " ".join(sql.split()))) for name, sql in rows]


def v2_ledger(path: Path, root: str, audited: bool) -> None:
    """What ``v1_ledger`` holds, written as schema 2 (RAW's keys in one compressed blob, OTHER's
    stored as they are); ``audited``: with one complete audit that reported CHANGED and a
    placeholder name of OTHER, both still open."""
    db = sqlite3.connect(path)
    db.executescript(V2_OBJECTS + (V2_AUDITS if audited else ""))
    db.execute("INSERT INTO meta VALUES ('application', 'aind-bucket-lint ledger'), ('schema_version', '2')")
    keys = {
        RAW: [
            ["a.txt", None, 1, US[MODIFIED], US[T0]],
            ["sub/b.txt", None, 2, US[MODIFIED], US[T0], None, US[T1], US[T2]],
        ],
        OTHER: [["c.txt", None, 1, US[MODIFIED], US[T0]]],
    }
    for i, (name, rows) in enumerate(keys.items(), 1):
        db.execute(
            "INSERT INTO assets VALUES (?, ?, ?, ?, ?, NULL, ?, '2023-11-16T22:13:20+00:00', ?, 'v2', NULL, NULL)",
            (i, root, name, T0, T2, MODIFIED, T0),
        )
        raw = json.dumps(rows, separators=(",", ":")).encode()
        blob = zlib.compress(raw) if name == RAW else raw
        live = sum(len(r) < 8 for r in rows)
        db.execute("INSERT INTO asset_objects VALUES (?, 0, ?, ?, ?, ?)", (i, len(rows), live, len(raw), blob))
    db.execute("INSERT INTO runs (root, started_at, finished_at, assets, tool_version) VALUES (?, ?, ?, 2, '1.0')",
               (root, T2, T2))  # fmt: skip
    if audited:
        db.execute(
            "INSERT INTO audits VALUES (1, ?, '2024-01-09T00:00:00Z', '2024-01-09T00:00:01Z', 1, 2, 0, 4, 1, 1, 0,"
            " 2, 0, '1.0')",
            (root,),
        )
        for rule, severity, asset, key, message in (
            ("I403", "error", RAW, f"{RAW}/a.txt", CHANGED),
            ("N107", "warning", OTHER, None, "placeholder"),
        ):
            db.execute(
                "INSERT INTO finding_episodes VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, 1, 1, 1, NULL)",
                (root, identity(rule, asset, key, message), rule, severity, asset, key, message),
            )
        db.execute("INSERT INTO asset_facts VALUES (?, ?, '2.4.2')", (root, RAW))
    db.commit()
    db.close()


def test_a_new_ledger_is_schema_2_as_written_before(tmp_path: Path) -> None:
    with Ledger(tmp_path / "new.sqlite"):
        pass
    v2_ledger(tmp_path / "before.sqlite", "s3://b/", audited=True)
    new, before = read_only(tmp_path / "new.sqlite"), read_only(tmp_path / "before.sqlite")
    assert schema(new) == schema(before)
    assert new.execute("SELECT * FROM meta ORDER BY key").fetchall() == [
        ("application", "aind-bucket-lint ledger"),
        ("schema_version", "2"),
    ]


@pytest.mark.parametrize("audited", [True, False], ids=["with-history", "before-history"])
def test_a_schema_2_ledger_written_before_opens_as_it_is(tmp_path: Path, audited: bool) -> None:
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/a.txt": "a changed", f"{RAW}/new.txt": "n", f"{OTHER}/c.txt": "c"})
    for f in (bucket / RAW / "a.txt", bucket / RAW / "new.txt", bucket / OTHER / "c.txt"):
        os.utime(f, (1_700_000_000, 1_700_000_000))
    root = str(bucket.resolve())
    path = tmp_path / "ledger.sqlite"
    v2_ledger(path, root, audited)
    before = schema(read_only(path))
    assert len(read_audits(path)) == audited  # read without the lock: no table, no audit
    with Ledger(tmp_path / "new.sqlite"):
        pass
    res = run_cli("check", str(bucket), "--select", "I4", "--ledger", str(path), "--format", "json")
    assert res.code == 1, res.err
    report = res.json()
    # the records as schema 1 had them migrated (test_a_schema_1_ledger_is_migrated_with_its_history)
    assert [(f["rule"], f["path"], f["message"], f["status"]) for f in report["findings"]] == [
        ("I403", f"{RAW}/a.txt", CHANGED, "existing" if audited else "new"),
        (
            "I404",
            f"{RAW}/new.txt",
            "'new.txt' was first listed by this audit, after the audit of 2024-01-01T00:00:00Z "
            "had seen the asset sealed",
            "new",
        ),
        (
            "I402",
            f"{RAW}/sub/b.txt",
            "'sub/b.txt' is gone: recorded by the ledger since 2024-01-01T00:00:00Z, no longer listed",
            "new",
        ),
    ]
    assert report["previous_audit"] == ("2024-01-09T00:00:00Z" if audited else None)
    assert [(f["rule"], f["asset"], f["status"]) for f in report.get("fixed", [])] == (
        [("N107", OTHER, "fixed")] if audited else []
    )
    db = read_only(path)
    assert schema(db) == (before if audited else schema(read_only(tmp_path / "new.sqlite")))
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
    (now,) = db.execute("SELECT last_seen FROM assets WHERE name = ?", (RAW,)).fetchone()
    assert db.execute(
        "SELECT asset, key, size, last_modified, first_seen, last_seen, gone_since FROM object_history"
        " ORDER BY asset, key"
    ).fetchall() == [
        (OTHER, "c.txt", 1, MODIFIED, T0, now, None),
        (RAW, "a.txt", 1, MODIFIED, T0, now, None),
        (RAW, "new.txt", 1, MODIFIED, now, now, None),
        (RAW, "sub/b.txt", 2, MODIFIED, T0, T1, T2),
    ]
    assert [(a.complete, a.assets, a.new, a.fixed) for a in read_audits(path)] == (
        [(True, 2, 2, 0), (True, 2, 2, 1)] if audited else [(True, 2, 3, 0)]
    )
