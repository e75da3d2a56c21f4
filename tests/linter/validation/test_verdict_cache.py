"""The verdict cache: a second check of unchanged files judges nothing and starts no release worker.

The runs are the real command (in this process, so that every way to validate can be watched):
a bucket of one 2.x asset (judged in this process by the installed release, file by file and as
a whole) and one asset whose 0.x ``processing.json`` is judged by release 0.3.7 in its worker.
The schema cache is a temporary folder whose ``envs`` are those prepared for the tests (by
``tests/prepare_schemas.py``), so its ``verdicts/`` is this test's own.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linter import validation, work
from linter.context import ContentVerdicts
from linter.plan import NO_CACHE_ENV, SchemaSettings
from linter.validation import asset_verdict, envs, table, verdict_cache, workers
from tests.conftest import REPO, make_tree, run_cli

RAW = "ecephys_123456_2022-02-21_16-30-01"
HCR = "HCR_703179_2024-03-24_00-00-00"
PROCESSING_0X = {"describedBy": "x", "schema_version": "0.0.1", "data_processes": []}
WORKER_RELEASE = "0.3.7"


def _prepared_envs() -> Path:
    """The envs folder of the schema cache the tests prepared (the default one)."""
    return SchemaSettings.resolve(environ={k: v for k, v in os.environ.items() if k != NO_CACHE_ENV}).cache / "envs"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A schema cache with the prepared releases and an empty verdict cache, turned on."""
    prepared = _prepared_envs()
    if not envs.is_ready(WORKER_RELEASE, SchemaSettings(prepared.parent)):
        pytest.skip(f"aind-data-schema {WORKER_RELEASE} is not prepared (python -m tests.prepare_schemas)")
    folder = tmp_path / "schema-cache"
    folder.mkdir()
    (folder / "envs").symlink_to(prepared, target_is_directory=True)
    monkeypatch.delenv(NO_CACHE_ENV, raising=False)
    monkeypatch.setenv(envs.OFFLINE_ENV, "1")  # nothing is downloaded by these tests
    validation.reset()
    yield folder
    validation.reset()


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    root = make_tree(tmp_path / "bucket", {f"{RAW}/processing.json": json.dumps(PROCESSING_0X)})
    shutil.copytree(REPO / "examples" / "bucket" / HCR, root / HCR)
    return root


class Watch:
    """Counts every way a verdict is reached without the cache: a release worker asked for
    (``workers.pool``), a zygote started, a request to a worker, the installed release's models
    asked in this process (file by file and as a whole), an environment prepared."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()
        self.spy(monkeypatch, workers, "pool", "pool")
        self.spy(monkeypatch, workers.Zygote, "__init__", "zygote")
        self.spy(monkeypatch, workers.Pool, "request", "worker-request")
        self.spy(monkeypatch, validation._LOCAL, "handle", "in-process")
        self.spy(monkeypatch, asset_verdict._IN_PROCESS, "call", "in-process-asset")
        self.spy(monkeypatch, envs, "prepare", "prepare")

    def spy(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, label: str) -> None:
        real = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[label] = self.calls.get(label, 0) + 1
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)

    def reset(self) -> None:
        self.calls.clear()


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Watch:
    return Watch(monkeypatch)


def check(bucket: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> list[dict[str, Any]]:
    """The findings of one ``check`` run, as a new process would run it: no verdict of an earlier
    run in memory (the process's ``ContentVerdicts``) and no worker left from it."""
    validation.reset()
    monkeypatch.setattr(work, "VERDICTS", ContentVerdicts())
    result = run_cli("check", str(bucket), "--format", "json", "--schema-cache", str(cache), *args)
    assert result.code == 1, result.err
    findings: list[dict[str, Any]] = result.json()["findings"]
    return findings


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "verdicts").glob("*/*.json"))


def test_a_second_check_judges_nothing_and_starts_no_release_worker(
    bucket: Path, cache: Path, watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = check(bucket, cache, monkeypatch)
    assert watch.calls["zygote"] == 1 and watch.calls["worker-request"] == 1  # processing.json 0.0.1, by 0.3.7
    assert watch.calls["in-process"] >= 1 and watch.calls["in-process-asset"] == 1  # the 2.x asset
    kept = [json.loads(p.read_text()) for p in entries(cache)]
    assert sorted((e["kind"], e["release"]) for e in kept if e["release"] == WORKER_RELEASE) == [("file", "0.3.7")]
    assert sorted(e["kind"] for e in kept if e["release"] != WORKER_RELEASE).count("asset") == 1
    assert {e["linter"] for e in kept} == {verdict_cache.fingerprint()}
    assert any(f["rule"] == "M203" for f in first)  # verdicts of both kinds are in the findings

    watch.reset()
    second = check(bucket, cache, monkeypatch)
    assert second == first
    assert watch.calls == {}  # nothing prepared, started, imported or asked
    assert workers._pools == {}


def test_verdicts_kept_by_worker_processes_serve_the_next_run(
    bucket: Path, cache: Path, watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache folder and the switch travel in the plan: the processes executor's workers
    judge and keep; a threads run after it judges nothing."""
    first = check(bucket, cache, monkeypatch, "--executor", "processes", "--jobs", "2")
    assert len(entries(cache)) >= 3  # written by the worker processes (this process judged nothing)
    assert "worker-request" not in watch.calls
    assert check(bucket, cache, monkeypatch, "--executor", "threads") == first
    assert watch.calls == {}


def test_the_pre_commit_hook_on_unchanged_files_judges_nothing(
    bucket: Path, cache: Path, watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(bucket.parent)
    files = [f"bucket/{RAW}/processing.json", f"bucket/{HCR}/subject.json"]

    def hook(*args: str) -> str:
        validation.reset()
        monkeypatch.setattr(work, "VERDICTS", ContentVerdicts())
        options = ["--format", "json", "--bucket-root", "bucket", "--schema-cache", str(cache), *args]
        result = run_cli("hook", *options, *files)
        assert result.code == 1, result.err
        return json.dumps(result.json()["findings"])

    first = hook()
    assert watch.calls["worker-request"] == 1
    watch.reset()
    assert hook() == first
    assert watch.calls == {}
    assert hook("--no-cache") == first
    assert watch.calls["worker-request"] == 1


def test_no_cache_judges_again_and_keeps_nothing(
    bucket: Path, cache: Path, watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = check(bucket, cache, monkeypatch)
    kept = {p: p.stat().st_mtime_ns for p in entries(cache)}
    watch.reset()
    again = check(bucket, cache, monkeypatch, "--no-cache")
    assert again == first
    assert watch.calls["zygote"] == 1 and watch.calls["worker-request"] == 1
    assert watch.calls["in-process-asset"] == 1
    assert {p: p.stat().st_mtime_ns for p in entries(cache)} == kept


def test_a_changed_file_is_judged_again_and_only_it(
    bucket: Path, cache: Path, watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    check(bucket, cache, monkeypatch)
    before = len(entries(cache))
    changed = {**PROCESSING_0X, "notes": "changed"}
    (bucket / RAW / "processing.json").write_text(json.dumps(changed), encoding="utf-8")
    watch.reset()
    check(bucket, cache, monkeypatch)
    # the 0.x file alone: its release looked up, its worker started and asked; the 2.x asset: all kept
    assert watch.calls == {"prepare": 1, "pool": 1, "zygote": 1, "worker-request": 1}
    assert len(entries(cache)) == before + 1


def test_a_corrupt_entry_is_a_miss_and_is_written_anew(
    bucket: Path, cache: Path, watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = check(bucket, cache, monkeypatch)
    paths = entries(cache)
    spoilt = [b'{"format": 1, "key": "', b"\x00\xff garbage", b'{"format": 1, "key": "0", "reply": []}']
    for i, path in enumerate(paths):  # cut short, not JSON, or the entry of another key
        path.write_bytes(spoilt[i % 3])
    watch.reset()
    again = check(bucket, cache, monkeypatch)
    assert again == first
    assert watch.calls["worker-request"] == 1 and watch.calls["in-process-asset"] == 1
    assert all(json.loads(p.read_text())["key"] == p.parent.name + p.stem for p in entries(cache))
    watch.reset()
    assert check(bucket, cache, monkeypatch) == first
    assert watch.calls == {}


def test_another_linter_version_does_not_reuse_the_verdicts(
    bucket: Path, cache: Path, watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = check(bucket, cache, monkeypatch)
    before = len(entries(cache))
    monkeypatch.setattr(verdict_cache, "linter_version", lambda: "0.0.0+other")
    verdict_cache.fingerprint.cache_clear()
    try:
        watch.reset()
        assert check(bucket, cache, monkeypatch) == first
        assert watch.calls["worker-request"] == 1 and watch.calls["in-process-asset"] == 1
        assert len(entries(cache)) == 2 * before
    finally:
        verdict_cache.fingerprint.cache_clear()


def test_the_key_names_the_bytes_the_request_the_release_and_where_it_ran() -> None:
    key = verdict_cache.entry_key
    base = key("file", "1.4.0", "env:a", {"classes": [["m", "C"]]}, b"{}")
    assert base == key("file", "1.4.0", "env:a", {"classes": [["m", "C"]]}, b"{}")
    assert (
        len(
            {
                base,
                key("file", "1.4.0", "env:a", {"classes": [["m", "C"]]}, b"{ }"),
                key("asset", "1.4.0", "env:a", {"classes": [["m", "C"]]}, b"{}"),
                key("file", "1.4.1", "env:a", {"classes": [["m", "C"]]}, b"{}"),
                key("file", "1.4.0", "env:b", {"classes": [["m", "C"]]}, b"{}"),
                key("file", "1.4.0", "env:a", {"classes": [["m", "D"]]}, b"{}"),
            }
        )
        == 6
    )
    release = table().releases["1.4.0"]
    assert verdict_cache.runner(release, local=False) == "env:" + " ".join(release.requirements())
    assert verdict_cache.fingerprint().startswith(verdict_cache.linter_version() + "+")


@pytest.fixture
def dying_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A schema cache whose 0.3.7 'environment' is a Python that dies at once (prepared, as far
    as its marker says), the verdict cache on."""
    folder = tmp_path / "dying"
    env = folder / "envs" / WORKER_RELEASE
    (env / "bin").mkdir(parents=True)
    python = env / "bin" / "python"
    python.write_text("#!/bin/sh\necho 'ImportError: no release here' >&2\nexit 3\n")
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    marker = {"requirements": table().releases[WORKER_RELEASE].requirements()}
    (env / envs.MARKER).write_text(json.dumps(marker), encoding="utf-8")
    monkeypatch.delenv(NO_CACHE_ENV, raising=False)
    validation.reset()
    yield folder
    validation.reset()


def test_a_verdict_of_a_broken_environment_is_not_kept(dying_release: Path, tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "b", {f"{RAW}/processing.json": json.dumps(PROCESSING_0X)})
    result = run_cli("check", str(bucket), "--format", "json", "--select", "M204", "--schema-cache", str(dying_release))
    reasons = [f["details"]["reason"] for f in result.json()["findings"]]
    assert reasons == ["the validation worker of aind-data-schema 0.3.7 exited (code 3): ImportError: no release here"]
    assert list((dying_release / "verdicts").glob("*/*.json")) == []
    offline = run_cli(  # nor is one that could not be reached at all
        "check", str(bucket), "--format", "json", "--select", "M204", "--offline", "--schema-cache", str(tmp_path / "e")
    )
    assert [f["rule"] for f in offline.json()["findings"]] == ["M204"]
    assert not (tmp_path / "e" / "verdicts").exists()


def test_an_unusable_cache_folder_keeps_nothing_and_fails_nothing(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder would be")
    store = verdict_cache.VerdictCache(blocked / "verdicts")
    store.put("ab" + "0" * 62, [])
    assert store.get("ab" + "0" * 62) is None
    assert (store.writes, store.misses) == (0, 1)


def test_past_its_limit_the_cache_drops_the_entries_used_longest_ago(tmp_path: Path) -> None:
    store = verdict_cache.VerdictCache(tmp_path / "verdicts", max_bytes=10_000)
    keys = [f"{i:064x}" for i in range(40)]
    for i, key in enumerate(keys):
        store.put(key, ["x" * 400])
        os.utime(store.path(key), (1_000_000 + i, 1_000_000 + i))  # written in this order, long ago
    store.get(keys[0])  # used again now
    assert store.size() > 10_000
    removed = store.prune()
    assert store.size() <= 8_000 and removed > 0
    kept = {key for key in keys if store.path(key).exists()}
    assert keys[0] in kept and keys[-1] in kept and keys[1] not in kept
    assert kept == {keys[0], *keys[len(keys) - len(kept) + 1 :]}


def test_writers_at_once_leave_whole_entries(tmp_path: Path) -> None:
    store = verdict_cache.VerdictCache(tmp_path / "verdicts")
    keys = [f"{i % 8:064x}" for i in range(64)]  # eight keys, each written eight times

    def write(key: str) -> None:
        store.put(key, [{"class": "C", "errors": [], "crash": None, "by": key}])

    threads = [threading.Thread(target=write, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [store.get(k) for k in sorted(set(keys))] == [
        [{"class": "C", "errors": [], "crash": None, "by": k}] for k in sorted(set(keys))
    ]
    assert not list((tmp_path / "verdicts").glob("*/.tmp-*"))
    old = tmp_path / "verdicts" / "00" / ".tmp-left.json"  # a writer that died
    old.write_text("{")
    os.utime(old, (time.time() - 2 * verdict_cache.STALE_TMP_SECONDS,) * 2)
    store.entries()
    assert not old.exists()
