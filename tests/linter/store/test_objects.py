"""The object records: incremental re-audits, kill -9 at any moment, what the ledger records,
large assets in chunks, damaged records, content verdicts read back as data only."""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from linter.findings import Finding, Severity
from linter.sources import Asset, ObjectInfo
from linter.store.codec import CHUNK_KEYS
from linter.store.db import Ledger, connect
from linter.store.records import ObjectRecord
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


class _Runs:
    """A pickle that, loaded by a plain unpickler, calls ``function(argument)``."""

    def __init__(self, function: object, argument: str) -> None:
        self.call = (function, (argument,))

    def __reduce__(self) -> tuple[object, ...]:
        return self.call


def test_content_verdicts_are_read_back_as_data_only(tmp_path: Path) -> None:
    path, marker = tmp_path / "ledger.sqlite", tmp_path / "ran"
    modified = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    finding = Finding("M203", "invalid-sidecar", Severity.ERROR, RAW, f"{RAW}/subject.json", "bad")
    with Ledger(path) as led:
        target = led.target("s3://b/", dt.timedelta(hours=48))
        target.put_content_verdict("id1", "finding", finding)
        target.put_content_verdict("id1", "plain", {"when": modified, "sizes": [1, 2]})
        target.put_content_verdict("id1", "unpicklable", lambda: None)  # not kept, no error
        target.finish()
        hostile = {
            "system": pickle.dumps(_Runs(os.system, f"touch {marker}")),
            "eval": pickle.dumps(_Runs(eval, f"open({str(marker)!r}, 'w')")),
            "truncated": pickle.dumps({"a": 1})[:-3],
        }
        led.db.executemany(
            "INSERT INTO content_verdicts VALUES ('id1', ?, ?, '2024-01-01T00:00:00+00:00')", hostile.items()
        )
    with Ledger(path) as led:
        verdicts = led.target("s3://b/", dt.timedelta(hours=48)).content_verdicts("id1")
    assert verdicts == {"finding": finding, "plain": {"when": modified, "sizes": [1, 2]}}
    assert not marker.exists()
