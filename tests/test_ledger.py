"""The ledger: incremental re-audits, kill -9 at any moment, one run at a time, what it records."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from linter.ledger import CHUNK_KEYS, Ledger, ObjectRecord, connect
from linter.sources import Asset, ObjectInfo
from tests.conftest import REPO, make_tree, run_cli
from tests.fixtures import dump, subject_v2
from tests.s3_audit_helpers import asset_files, put_files, recorded_requests, s3_cli
from tests.s3_fixtures import BucketHandle
from tests.s3server import SeaweedServer

RAW = "ecephys_123456_2022-12-12_05-06-07"
OTHER = "SmartSPIM_623711_2022-10-27_16-48-54"
DERIVED = f"{RAW}_sorted-ks25_2022-12-12_06-07-08"


def read_only(path: Path) -> sqlite3.Connection:
    return connect(path)  # with sqlar_uncompress, which the object_history view needs


def test_unchanged_reaudit_fetches_no_sidecar(aws_env: SeaweedServer, s3_bucket: BucketHandle, tmp_path: Path) -> None:
    client, bucket = s3_bucket
    mistyped = {f"{RAW}/subject.json": dump(subject_v2("123465"))}
    put_files(client, bucket, {**asset_files(RAW), **asset_files(OTHER), **asset_files(DERIVED), **mistyped})
    ledger = tmp_path / "ledger.sqlite"
    args = ("check", f"s3://{bucket}", "--ledger", str(ledger), "--format", "json")

    with recorded_requests() as first_calls:
        first = s3_cli(aws_env, *args)
    assert first.code == 1, first.err
    assert first_calls["GetObject"] == 18  # 3 assets x 6 sidecars, each read once
    assert [(f["rule"], f["path"]) for f in first.json()["findings"]] == [("M208", f"{RAW}/subject.json")]

    with recorded_requests() as second_calls:
        second = s3_cli(aws_env, *args)
    assert second_calls["GetObject"] == 0
    assert set(second_calls) == {"GetBucketVersioning", "ListObjectsV2"}
    assert second.code == first.code
    assert [{**f, "status": "new"} for f in first.json()["findings"]] == [  # the first audit: every finding new
        {**f, "status": "new"} for f in second.json()["findings"]
    ]
    assert {f["status"] for f in second.json()["findings"]} == {"existing"}

    # one sidecar changes: only that asset's sidecars are fetched again, and its verdict follows
    client.put_object(Bucket=bucket, Key=f"{OTHER}/subject.json", Body=b"{not json")
    with recorded_requests() as third_calls:
        third = s3_cli(aws_env, *args)
    assert third_calls["GetObject"] == 6
    new = [f for f in third.json()["findings"] if f["status"] == "new"]
    assert [(f["rule"], f["path"]) for f in new] == [("M202", f"{OTHER}/subject.json")]

    # the verdicts depend on the severities in force: an override is not served from the ledger
    (tmp_path / ".aind-bucket-lint.yaml").write_text("severity: {M202: warning}\n")
    with recorded_requests() as fourth_calls:
        fourth = s3_cli(aws_env, *args, "--config", str(tmp_path / ".aind-bucket-lint.yaml"))
    assert fourth_calls["GetObject"] == 18
    assert [f["severity"] for f in fourth.json()["findings"] if f["rule"] == "M202"] == ["warning"]


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


def test_what_the_ledger_records(tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/a.txt": "a", f"{RAW}/sub/b.txt": "bb", f"{OTHER}/c.txt": "c"})
    os.utime(bucket / RAW / "a.txt", (1_700_000_000, 1_700_000_000))
    path = tmp_path / "ledger.sqlite"
    assert run_cli("check", str(bucket), "--select", "I", "--ledger", str(path)).code == 0
    (bucket / RAW / "sub" / "b.txt").unlink()
    assert run_cli("check", str(bucket), "--select", "I", "--ledger", str(path)).code == 1  # I402
    db = read_only(path)
    rows = db.execute(
        "SELECT root, asset, key, size, last_modified, gone_since IS NOT NULL FROM object_history ORDER BY asset, key"
    ).fetchall()
    root = str(bucket.resolve())
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in rows] == [
        (root, OTHER, "c.txt", 1, 0),
        (root, RAW, "a.txt", 1, 0),
        (root, RAW, "sub/b.txt", 2, 1),
    ]
    assert rows[1][4] == "2023-11-14T22:13:20+00:00"
    first_object, sealed = db.execute("SELECT first_object_at, sealed_at FROM assets WHERE name = ?", (RAW,)).fetchone()
    assert (first_object, sealed) == ("2023-11-14T22:13:20+00:00", "2023-11-16T22:13:20+00:00")  # + 48 h
    runs = db.execute("SELECT root, finished_at IS NOT NULL, assets FROM runs").fetchall()
    assert runs == [(root, 1, 2), (root, 1, 2)]


def test_kill_9_mid_run_then_a_clean_rerun(aws_env: SeaweedServer, s3_bucket: BucketHandle, tmp_path: Path) -> None:
    client, bucket = s3_bucket
    names = [f"{i:06d}_2024-01-01_00-00-00" for i in range(200)]
    files: dict[str, bytes] = {}
    for name in names:
        asset = asset_files(name, data_objects=1)
        files.update({k: v for k, v in asset.items() if k.endswith(("data_description.json", "subject.json", ".bin"))})
    put_files(client, bucket, files, threads=16)
    target = f"s3://{bucket}"
    common = ("--select", "N,M,I,E9", "--format", "json", "--endpoint-url", aws_env.endpoint_url)
    reference = s3_cli(aws_env, "check", target, *common[:4])
    assert reference.code == 1, reference.err

    ledger = tmp_path / "ledger.sqlite"
    cmd = [sys.executable, "-m", "linter", "check", target, *common, "--ledger", str(ledger), "--jobs", "1"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
    deadline = time.monotonic() + 60
    recorded = 0
    while recorded == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
        if ledger.exists():
            try:
                (recorded,) = read_only(ledger).execute("SELECT count(*) FROM assets").fetchone()
            except sqlite3.Error:
                recorded = 0
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"

    db = read_only(ledger)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    (after_kill,) = db.execute("SELECT count(*) FROM assets").fetchone()
    assert 0 < after_kill < len(names)
    assert db.execute("SELECT finished_at FROM runs").fetchall() == [(None,)]
    db.close()

    rerun = s3_cli(aws_env, "check", target, *common[:4], "--ledger", str(ledger))
    assert rerun.code == reference.code, rerun.err
    # the killed run recorded no audit history: against it, every finding of the rerun is new
    assert rerun.json()["findings"] == [{**f, "status": "new"} for f in reference.json()["findings"]]
    db = read_only(ledger)
    assert db.execute("SELECT count(*) FROM assets").fetchone() == (len(names),)
    assert db.execute("SELECT count(*) FROM object_history").fetchone() == (len(files),)
    assert db.execute("SELECT finished_at IS NOT NULL, assets FROM runs ORDER BY id").fetchall() == [
        (0, None),
        (1, len(names)),
    ]
    db.close()

    with recorded_requests() as calls:  # and the ledger serves the next run fully
        again = s3_cli(aws_env, "check", target, *common[:4], "--ledger", str(ledger))
    assert calls["GetObject"] == 0
    assert json.loads(again.out)["findings"] == [{**f, "status": "existing"} for f in reference.json()["findings"]]


# the schema 1 ledger as aind-bucket-lint 0.x wrote it: one objects row per key
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (id INTEGER PRIMARY KEY, root TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
    assets INTEGER, tool_version TEXT NOT NULL);
CREATE TABLE assets (id INTEGER PRIMARY KEY, root TEXT NOT NULL, name TEXT NOT NULL, first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL, gone_since TEXT, first_object_at TEXT, sealed_at TEXT, sealed_seen TEXT,
    listing_digest TEXT NOT NULL, verdict_fingerprint TEXT, verdicts TEXT, UNIQUE (root, name));
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


def test_a_large_asset_is_kept_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    keys = [f"data/chunk_{i:06d}.bin" for i in range(CHUNK_KEYS * 2 + 1)]
    modified = dt.datetime(2024, 1, 1, 12, 0, 0, 250000, tzinfo=dt.UTC)
    first_night, second_night = dt.datetime(2024, 2, 1, tzinfo=dt.UTC), dt.datetime(2024, 2, 2, tzinfo=dt.UTC)
    with Ledger(path, now=first_night) as led:
        target = led.target("s3://b/", dt.timedelta(hours=48))
        assert target.history(RAW) is None
        target.record(Asset(RAW, [ObjectInfo(k, i, f"e{i}", modified) for i, k in enumerate(keys)]))
        target.finish()
    with Ledger(path, now=second_night) as led:  # the last key is gone, one is rewritten
        target = led.target("s3://b/", dt.timedelta(hours=48))
        history = target.history(RAW)
        assert history is not None and len(history.records) == len(keys)
        assert history.records[keys[7]] == ObjectRecord(keys[7], "e7", 7, modified, None, first_night, first_night)
        target.record(
            Asset(RAW, [ObjectInfo(k, 0 if i == 3 else i, f"e{i}", modified) for i, k in enumerate(keys[:-1])])
        )
        target.finish()
        assert [(v.name, v.keys) for v in led.target("s3://b/", dt.timedelta(hours=48)).vanished([])] == [
            (RAW, len(keys) - 1)
        ]
        history = led.target("s3://b/", dt.timedelta(hours=48)).history(RAW)
    assert history is not None
    assert history.records[keys[-1]] == ObjectRecord(
        keys[-1], f"e{len(keys) - 1}", len(keys) - 1, modified, None, first_night, first_night, second_night
    )
    assert history.records[keys[3]].size == 3  # the first record stays
    db = read_only(path)
    assert db.execute("SELECT chunk, keys, live FROM asset_objects ORDER BY chunk").fetchall() == [
        (0, CHUNK_KEYS, CHUNK_KEYS),
        (1, CHUNK_KEYS, CHUNK_KEYS),
        (2, 1, 0),
    ]
    assert db.execute("SELECT count(*), min(last_modified), max(last_modified) FROM object_history").fetchone() == (
        len(keys),
        "2024-01-01T12:00:00.250000+00:00",
        "2024-01-01T12:00:00.250000+00:00",
    )
    assert db.execute(
        "SELECT key, first_seen, last_seen, gone_since FROM object_history WHERE gone_since IS NOT NULL"
    ).fetchall() == [(keys[-1], first_night.isoformat(), first_night.isoformat(), second_night.isoformat())]


def test_a_damaged_record_blob_is_a_clear_error(tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/a.txt": "a"})
    path = tmp_path / "ledger.sqlite"
    assert run_cli("check", str(bucket), "--select", "I4", "--ledger", str(path)).code == 0
    db = sqlite3.connect(path)
    db.execute("UPDATE asset_objects SET records = x'78deadbeef', raw_size = 100")
    db.commit()
    db.close()
    res = run_cli("check", str(bucket), "--select", "I4", "--ledger", str(path))
    assert res.code == 2  # the run stops at the asset, as on a damaged page
    assert res.err.splitlines()[-1] == (
        f"aind-bucket-lint: {path}: the file is damaged; restore it from a backup or give a new --ledger "
        "(an asset's object records cannot be read: Error -3 while decompressing data: incorrect header check)"
    )
    assert "Traceback" not in res.err
