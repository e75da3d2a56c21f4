"""Per-release environments, their workers and the ``schemas`` command, with real uv and real releases.

Tests that prepare a release in a fresh cache folder download it from PyPI (a few MB, a few
seconds); the files they validate are made here. The real corpus files validated through the
releases' environments are in test_release_envs.py.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linter import validation
from linter.findings import Severity
from linter.validation import envs, table, workers
from tests.conftest import lint_findings, make_tree, run_cli

RAW = "ecephys_123456_2022-02-21_16-30-01"
# a 0.x processing.json: Processing 0.0.1, which releases 0.0.13 to 0.3.7 declare (pydantic 1)
PROCESSING_0X = {"describedBy": "x", "schema_version": "0.0.1", "data_processes": []}


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


def cli(*args: str) -> tuple[int, str, str]:
    result = run_cli(*args)
    return result.code, result.out, result.err


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh, empty cache folder for this test (and no offline mode from outside)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(envs.CACHE_ENV, str(folder))
    monkeypatch.setenv(envs.OFFLINE_ENV, "0")
    validation.reset()
    yield folder
    validation.reset()


def test_the_table_names_the_release_of_each_version() -> None:
    res = table().resolve("processing", "0.0.1")
    assert res.release is not None and res.release.version == "0.3.7"
    assert res.declared_by[0] == "0.0.13" and res.declared_by[-1] == "0.3.7"
    assert res.release.classes("processing", "0.0.1") == [("aind_data_schema.processing", "Processing")]
    assert res.release.pins == {"pydantic": "1.10.27"}
    # 1.x derived data descriptions: both models, the plain one first
    release = table().resolve("data_description", "1.0.0").release
    assert release is not None and release.classes("data_description", "1.0.0") == [
        ("aind_data_schema.core.data_description", "DataDescription"),
        ("aind_data_schema.core.data_description", "RawDataDescription"),
        ("aind_data_schema.core.data_description", "DerivedDataDescription"),
    ]
    assert table().nearest("acquisition", "2.0.25") == ("1.0.3", "1.0.4", "2.0.34", "2.0.35")
    # every release the table validates with lists the models it declares
    for version in table().needed_releases():
        assert table().releases[version].models, version


def test_offline_and_not_prepared_is_m204_naming_release_and_command(cache: Path, tmp_path: Path) -> None:
    make_tree(tmp_path / "bucket", {f"{RAW}/processing.json": json.dumps(PROCESSING_0X)})
    code, out, _err = cli("check", str(tmp_path / "bucket"), "--select", "M203,M204", "--offline")
    assert code == 0  # a warning: nothing failed, nothing passed silently
    assert (
        f"{RAW}/processing.json: M204 [warning] processing.json declares schema_version 0.0.1 of aind-data-schema "
        "0.3.7, which could not be used: aind-data-schema 0.3.7 is not prepared and cannot be offline (run "
        "`aind-bucket-lint schemas install 0.3.7` with network); prepare it with "
        "`aind-bucket-lint schemas install 0.3.7`"
    ) in out
    assert not (cache / "envs" / "0.3.7").exists()


def test_a_release_prepared_on_first_need_then_used_offline(cache: Path, tmp_path: Path) -> None:
    bucket = make_tree(
        tmp_path / "bucket",
        {
            f"{RAW}/processing.json": json.dumps(PROCESSING_0X),
            f"{RAW}_x_2022-02-22_00-00-01/processing.json": json.dumps({"schema_version": "0.0.1"}),
        },
    )
    found = lint_findings(bucket, select=["M203", "M204"])
    assert [(f.rule, f.path, f.message, f.details["schema"]) for f in found] == [
        (
            "M203",
            f"{RAW}_x_2022-02-22_00-00-01/processing.json",
            "$.data_processes: field required",
            "aind-data-schema 0.3.7 Processing",
        )
    ]
    marker = json.loads((cache / "envs" / "0.3.7" / envs.MARKER).read_text(encoding="utf-8"))
    assert marker["requirements"] == ["aind-data-schema==0.3.7", "pydantic==1.10.27"]
    # the worker runs the release's own pydantic 1
    pool = workers.pool("0.3.7", envs.python_of(cache / "envs" / "0.3.7"))
    assert {(w.info["aind_data_schema"], w.info["pydantic"]) for w in pool.workers} == {("0.3.7", "1.10.27")}
    # forked from the release's zygote, which imported the models once
    assert pool._zygote is not None
    assert {_parent(w.pid) for w in pool.workers} == {pool._zygote.proc.pid}
    result = run_cli("check", str(bucket), "--select", "M204", "--offline", "--format", "json")
    assert result.code == 0 and result.json()["findings"] == []


def test_a_worker_that_dies_is_an_m204_with_its_last_words(cache: Path, tmp_path: Path) -> None:
    release = table().releases["0.3.7"]
    env = cache / "envs" / "0.3.7"
    (env / "bin").mkdir(parents=True)
    python = env / "bin" / "python"
    python.write_text("#!/bin/sh\necho 'ImportError: no module named aind_data_schema' >&2\nexit 3\n")
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    (env / envs.MARKER).write_text(json.dumps({"requirements": release.requirements()}), encoding="utf-8")
    # bytes of its own: verdicts are remembered by content for the whole process
    make_tree(tmp_path / "bucket", {f"{RAW}/processing.json": json.dumps(PROCESSING_0X | {"describedBy": "dies"})})
    found = lint_findings(tmp_path / "bucket", select=["M203", "M204"])
    assert [(f.rule, f.severity, f.details["problem"], f.details["reason"]) for f in found] == [
        (
            "M204",
            Severity.WARNING,
            "not-prepared",
            "the validation worker of aind-data-schema 0.3.7 exited (code 3): "
            "ImportError: no module named aind_data_schema",
        )
    ]


def test_an_environment_with_other_pins_is_remade(cache: Path) -> None:
    env = cache / "envs" / "0.3.7"
    env.mkdir(parents=True)
    (env / envs.MARKER).write_text(json.dumps({"requirements": ["aind-data-schema==0.3.7"]}), encoding="utf-8")
    assert not envs.is_ready("0.3.7")


def test_schemas_install_list_and_prune(cache: Path) -> None:
    code, out, err = cli("schemas", "install", "0.3.7", "9.9.9")
    assert code == 2
    assert out.startswith("0.3.7: prepared in ")
    assert "aind-bucket-lint: 9.9.9: not a release the linter validates with" in err
    assert envs.is_ready("0.3.7")
    code, out, _err = cli("schemas", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0] == f"cache: {cache}"
    assert lines[2].split()[:3] == ["0.3.7", "prepared", "pydantic==1.10.27"]
    assert lines[-1] == f"1 prepared of {len(table().needed_releases())} releases the linter may use"
    code, out, _err = cli("schemas", "list", "--format", "json")
    listed = json.loads(out)
    assert listed["cache"] == str(cache)
    assert [(r["release"], r["status"]) for r in listed["releases"]] == [("0.3.7", "prepared")]

    (cache / "envs" / "0.0.1").mkdir()  # not a release the table uses
    (cache / "envs" / "0.3.3").mkdir()  # unfinished: no marker
    code, out, _err = cli("schemas", "prune")
    assert code == 0
    assert out.splitlines() == [
        f"removed {cache / 'envs' / '0.0.1'}",
        f"removed {cache / 'envs' / '0.3.3'}",
        f"2 removed from {cache}",
    ]
    assert envs.is_ready("0.3.7")
    code, out, _err = cli("schemas", "prune", "--all")
    assert code == 0 and not (cache / "envs" / "0.3.7").exists() and not (cache / "uv").exists()


def test_schemas_install_offline_with_an_empty_cache_says_how(cache: Path) -> None:
    code, _out, err = cli("schemas", "install", "--offline", "0.3.7")
    assert code == 2
    assert err.strip() == (
        "aind-bucket-lint: aind-data-schema 0.3.7 is not prepared and cannot be offline "
        "(run `aind-bucket-lint schemas install 0.3.7` with network)"
    )


def test_schemas_install_for_a_target_prepares_what_its_sidecars_declare(cache: Path, tmp_path: Path) -> None:
    bucket = make_tree(
        tmp_path / "bucket",
        {
            f"{RAW}/processing.json": json.dumps(PROCESSING_0X),
            f"{RAW}/subject.json": json.dumps({"schema_version": "9.9.9"}),  # no release: nothing to prepare
            f"{RAW}/notes.json": json.dumps({"schema_version": "1.0.0"}),  # not a core file
        },
    )
    code, out, _err = cli("schemas", "install", "--for", str(bucket))
    assert code == 0
    assert out.splitlines()[0] == f"1 release(s) needed by {bucket}"
    assert out.splitlines()[1].startswith("0.3.7: prepared in ")


def test_the_cache_folder_comes_from_the_option_the_environment_or_the_config(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(envs.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert envs.cache_dir() == tmp_path / "xdg" / "aind-bucket-lint"
    (tmp_path / ".aind-bucket-lint.yaml").write_text("schema-cache: here/cache\n", encoding="utf-8")
    code, out, _err = cli("schemas", "list")
    assert (code, out.splitlines()[0]) == (0, f"cache: {tmp_path / 'here' / 'cache'}")
    monkeypatch.setenv(envs.CACHE_ENV, str(tmp_path / "from-env"))
    code, out, _err = cli("schemas", "list")
    assert out.splitlines()[0] == f"cache: {tmp_path / 'from-env'}"
    code, out, _err = cli("schemas", "list", "--schema-cache", str(tmp_path / "opt"))
    assert out.splitlines()[0] == f"cache: {tmp_path / 'opt'}"
    # the option travels in the settings (a run's in its plan), never through the environment
    assert os.environ[envs.CACHE_ENV] == str(tmp_path / "from-env")


def test_a_verdict_that_could_not_be_reached_is_not_remembered(cache: Path, tmp_path: Path) -> None:
    """Offline with a ledger, then online with the same ledger: the file is judged the second time."""
    unseen = {"schema_version": "0.0.1", "describedBy": "remembered?"}  # bytes no other test has
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/processing.json": json.dumps(unseen)})
    ledger = str(tmp_path / "ledger.sqlite")
    args = ["check", str(bucket), "--select", "M203,M204", "--ledger", ledger, "--format", "json"]
    offline = run_cli(*args, "--offline")
    assert [f["rule"] for f in offline.json()["findings"]] == ["M204"]
    online = run_cli(*args)
    assert [(f["rule"], f["message"]) for f in online.json()["findings"]] == [
        ("M203", "$.data_processes: field required")
    ]


def test_a_verdict_kept_in_one_cache_folder_is_not_reused_from_another(cache: Path, tmp_path: Path) -> None:
    """One process, two audits of the same bytes: the second, offline with an empty cache folder,
    cannot reach the release, so it says so (M204) instead of repeating the first one's M203."""
    unseen = {"schema_version": "0.0.1", "describedBy": "kept per cache folder?"}  # bytes no other test has
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/processing.json": json.dumps(unseen)})
    args = ["check", str(bucket), "--select", "M203,M204", "--format", "json"]
    first = run_cli(*args)
    assert [(f["rule"], f["message"]) for f in first.json()["findings"]] == [
        ("M203", "$.data_processes: field required")
    ]
    other = tmp_path / "other-cache"
    second = run_cli(*args, "--schema-cache", str(other), "--offline")
    assert second.code == 0  # M204 is a warning
    assert [(f["rule"], f["details"]["problem"]) for f in second.json()["findings"]] == [("M204", "not-prepared")]
    again = run_cli(*args)  # back in the first folder: its verdict, kept, without a worker
    assert [f["rule"] for f in again.json()["findings"]] == ["M203"]


# --- the pools of workers ---------------------------------------------------------------------

SUBJECT = [("aind_data_schema.core.subject", "Subject")]


def test_a_zygote_imports_each_model_once_and_its_workers_have_it() -> None:
    """The import of a release's models is the pool's start cost, paid once, in the zygote."""
    zygote = workers.Zygote(Path(sys.executable), "installed")
    try:
        zygote.load(SUBJECT)
        first = zygote.import_seconds
        assert first > 0 and zygote.loaded == set(SUBJECT)
        zygote.load(SUBJECT)  # already there: nothing imported again
        assert zygote.import_seconds == first
        worker = zygote.fork()
        assert worker.loaded == frozenset(SUBJECT)
        assert _parent(worker.pid) == zygote.proc.pid
        result = worker.request(SUBJECT, "{}")
        assert result[0]["class"] == "Subject" and result[0]["errors"]
        worker.close()
        assert not os.path.exists(f"/proc/{worker.pid}")
    finally:
        zygote.close()
    assert zygote.proc.returncode == 0


def test_one_worker_serves_several_threads_in_order_with_the_next_request_in_its_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Requests are pipelined (up to DEPTH at a worker) and each thread gets its own reply: 6
    threads x 15 documents through one worker, each document's error naming its own value."""
    import concurrent.futures

    pool = workers.Pool(Path(sys.executable), "installed", max_workers=1)
    depths: list[int] = []
    real = workers.Worker.call  # every request a pool sends goes through Worker.call

    def spy(self: workers.Worker, *args: Any, **kwargs: Any) -> Any:
        depths.append(self.in_flight)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(workers.Worker, "call", spy)

    def subject_id_input(n: int) -> Any:
        doc = json.dumps({"subject_id": n}).encode() if n % 2 else json.dumps({"subject_id": n})  # bytes and text
        errors = pool.request(SUBJECT, doc)[0]["errors"]
        return next(e["input"] for e in errors if e["loc"] == ["subject_id"])

    try:
        with concurrent.futures.ThreadPoolExecutor(6) as threads:
            got = list(threads.map(subject_id_input, range(90)))
        assert got == list(range(90))
        assert len(pool.workers) == 1 and pool.workers[0].in_flight == 0
        assert max(depths) == workers.DEPTH  # a second request was sent while the first was validated
    finally:
        pool.close()


def test_beyond_the_pool_limit_the_pool_cheapest_to_restart_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """GreedyDual, not least-recently-used: a dear release (a 1.x one takes 20-50 s to start)
    outlives cheap ones used as recently, so interleaved releases do not restart it over and over."""
    monkeypatch.setenv(workers.MAX_POOLS_ENV, "2")
    workers.close_all()
    python = Path(sys.executable)
    try:
        dear = workers.pool("dear", python)
        dear.request(SUBJECT, "{}")
        dear.startup_seconds = 30.0  # as measured for a 1.x release
        cheap = workers.pool("cheap", python)
        cheap.request(SUBJECT, "{}")
        cheap.startup_seconds = 0.5  # a 0.x release
        cheap_pid = cheap.workers[0].pid
        workers.pool("dear", python)  # both used; "cheap" most recently
        workers.pool("cheap", python)
        third = workers.pool("third", python)
        assert list(workers._pools) == ["dear", "third"]  # LRU would have closed "dear"
        assert cheap.closed and not dear.closed and dear.workers
        assert not os.path.exists(f"/proc/{cheap_pid}")  # its worker stopped (and was reaped)
        third.request(SUBJECT, "{}")
        workers.pool("fourth", python)  # "third" (cheap, measured) goes; "dear" stays again
        assert list(workers._pools) == ["dear", "fourth"]
        assert third.closed and not dear.closed
    finally:
        workers.close_all()


def test_a_pool_in_use_is_not_closed_to_make_room(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool held for a request (its zygote starting, a request under way) is not what is closed
    to make room: two threads starting new pools under memory pressure used to close each other's
    before either was used, until "the workers ... kept being closed" (an asset of
    ../shared/fixtures/upstream-assets was not validated as a whole, at random)."""
    monkeypatch.setenv(workers.MAX_POOLS_ENV, "1")
    workers.close_all()
    python = Path(sys.executable)
    try:
        with workers.using("busy", python) as busy:
            other = workers.pool("other", python)  # one pool allowed, but "busy" is held
            assert list(workers._pools) == ["busy", "other"] and not busy.closed
            busy.request(SUBJECT, "{}")
        workers.pool("third", python)  # "busy" is free again: room is made
        assert "busy" not in workers._pools and busy.closed and other.closed
    finally:
        workers.close_all()


def _pools_in_a_forked_child() -> list[str]:
    return sorted(workers._pools)


def test_a_forked_child_starts_its_own_validation_workers() -> None:
    """The processes executor forks its workers from the driver. A driver whose release workers
    are running must not lend them to its children (two processes writing to one worker's pipe
    would mix their requests): a forked child sees no pool, and the driver's workers go on
    serving the driver."""
    import multiprocessing

    workers.close_all()  # the pools earlier tests of this process left are not this test's
    try:
        pool = workers.pool("installed", Path(sys.executable))
        assert pool.request(SUBJECT, "{}")[0]["class"] == "Subject"
        driver = [w.pid for w in pool.workers]
        with multiprocessing.get_context("fork").Pool(1) as child:
            assert child.apply(_pools_in_a_forked_child) == []
        assert list(workers._pools) == ["installed"] and [w.pid for w in pool.workers] == driver
        assert pool.request(SUBJECT, "{}")[0]["class"] == "Subject"
    finally:
        workers.close_all()


def test_while_the_machine_is_short_of_memory_a_new_pool_closes_another(monkeypatch: pytest.MonkeyPatch) -> None:
    """Other processes' workers count: under the machine's free-memory floor (here set to 100%,
    so always under it), each new pool closes one of this process's others; at 0% none."""
    workers.close_all()
    python = Path(sys.executable)
    try:
        monkeypatch.setenv(workers.MIN_FREE_ENV, "0")
        assert not workers.machine_short_of_memory()
        first = workers.pool("first", python)
        first.request(SUBJECT, "{}")
        workers.pool("second", python)
        assert list(workers._pools) == ["first", "second"]
        monkeypatch.setenv(workers.MIN_FREE_ENV, "100")
        assert workers.machine_short_of_memory()
        workers.pool("second", python)  # not new: nothing closes
        assert list(workers._pools) == ["first", "second"]
        workers.pool("third", python)  # new: one other closes, the least credit (equal: the older)
        assert list(workers._pools) == ["second", "third"]
        assert first.closed and not first.workers
    finally:
        workers.close_all()
