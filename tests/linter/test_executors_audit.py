"""Executors: the same findings, in the same order, from threads, worker processes and a real
Dask cluster (LocalCluster with worker processes), with a ledger; the verdict cache by content."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import linter.executors as executors
import linter.work as work
from linter.conventions import load_convention
from linter.engine import Linter
from linter.events import TargetFinished
from linter.plan import RunPlan, S3Settings
from linter.registry import load_rules
from linter.store.db import Ledger
from tests.conftest import make_tree, run_cli
from tests.s3_audit_helpers import asset_files, aws_credentials, put_files, sidecar_files
from tests.s3server import SeaweedServer

RAW = "ecephys_{n}_2022-12-12_05-06-07"


def bucket_files(assets: int) -> dict[str, bytes | str]:
    """Assets of valid sidecars (the same instrument and processing files, as real buckets share),
    and some that break rules: a bad name, a sidecar that is not JSON, a missing sidecar, an
    orphan at the root."""
    files: dict[str, bytes | str] = {}
    for n in range(assets):
        files.update(asset_files(RAW.format(n=600000 + n), data_objects=1))
    broken = RAW.format(n=699999)
    files.update({f"{broken}/{k}": v for k, v in sidecar_files(broken).items() if k != "procedures.json"})
    files[f"{broken}/subject.json"] = b"{not json"
    files["Not_An_Asset/data_description.json"] = json.dumps({"name": "Not_An_Asset"})
    files["README.txt"] = "root orphan"
    return files


STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def report(res: Any) -> list[tuple[str, str | None, str | None, str]]:
    """(rule, asset, path, message) of each finding; times a run saw (the ledger's clock) as <time>."""
    assert res.code == 1, res.err
    doc = res.json()
    assert doc["complete"] is True
    return [(f["rule"], f["asset"], f["path"], STAMP.sub("<time>", f["message"])) for f in doc["findings"]]


def test_processes_give_the_threads_findings_in_order_on_a_folder_with_a_ledger(tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "bucket", bucket_files(12))
    runs: dict[str, list[list[Any]]] = {}
    for executor in ("threads", "processes"):
        ledger = tmp_path / f"{executor}.sqlite"
        args = ["check", str(bucket), "--format", "json", "--executor", executor, "--ledger", str(ledger), "-j", "4"]
        first = report(run_cli(*args))
        (bucket / RAW.format(n=600003) / "ecephys" / "late.bin").write_text("added")  # a change between runs
        second = report(run_cli(*args))
        (bucket / RAW.format(n=600003) / "ecephys" / "late.bin").unlink()
        runs[executor] = [first, second]
    assert runs["processes"] == runs["threads"]
    first, second = runs["threads"]
    rules = sorted({f[0] for f in first})
    assert "M202" in rules and "N101" in rules and "L302" in rules and "M201" in rules
    assert [f for f in second if f not in first] == [
        f for f in second if f[0] == "I404" and f[2] == f"{RAW.format(n=600003)}/ecephys/late.bin"
    ]


def test_the_processes_executor_runs_in_worker_processes(tmp_path: Path) -> None:
    """The engine's own view: the executor chosen, and the results of a custom-free folder."""
    bucket = make_tree(tmp_path / "bucket", bucket_files(3))
    plan = RunPlan(load_convention("aind-open-data"), load_rules(), jobs=2, executor="processes")
    with Linter(plan) as linter:
        *results, finished = linter.run_target(str(bucket))
        assert isinstance(finished, TargetFinished) and finished.executor == "processes"
    threads = RunPlan(load_convention("aind-open-data"), load_rules(), jobs=2, executor="threads")
    with Linter(threads) as linter:
        *again, finished = linter.run_target(str(bucket))
        assert again == results
        assert isinstance(finished, TargetFinished) and finished.executor == "threads"


def test_threads_list_and_check_each_batch_in_one_thread_with_the_same_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The threads executor lists and checks an asset in the same thread (no listing stage to hand
    over from), in batches; one job and no --timeout: all in the driver's thread. The results and
    their order are those of the processes executor, whatever the batching."""
    bucket = make_tree(tmp_path / "bucket", bucket_files(40))
    seen: dict[str, set[str]] = {}

    def spy(job: Any, item: Any) -> Any:
        seen.setdefault(item.asset.name, set()).add(threading.current_thread().name)
        return work.check_asset(job, item)

    monkeypatch.setattr(executors, "check_asset", spy)  # the threads executor's call
    rules = load_rules()
    runs = {}
    for executor, jobs in (("processes", 2), ("threads", 1), ("threads", 3)):
        seen.clear()
        plan = RunPlan(load_convention("aind-open-data"), rules, jobs=jobs, executor=executor)
        with Linter(plan) as linter:
            runs[executor, jobs] = [(r.name, r.findings) for r in linter.lint_target(str(bucket))]
        if executor == "threads":
            names = [n for n, _ in runs[executor, jobs] if n is not None]
            assert sorted(seen) == names  # every asset checked once, here
            threads = {t for ts in seen.values() for t in ts}
            if jobs == 1:
                assert threads == {threading.current_thread().name}
            else:
                assert threads and all(t.startswith("lint_") for t in threads)
    assert len(runs["threads", 1]) == 1 + 42
    assert runs["threads", 1] == runs["threads", 3] == runs["processes", 2]


def test_a_shared_sidecar_is_validated_once_across_assets_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rules.sidecars as metadata_rules
    from linter.work import VERDICTS

    calls: list[str] = []
    real = metadata_rules.validate_sidecar

    def counting(key: str, *args: Any) -> Any:
        calls.append(key)
        return real(key, *args)

    monkeypatch.setattr(metadata_rules, "validate_sidecar", counting)
    monkeypatch.setattr(VERDICTS, "_items", type(VERDICTS._items)())  # this test's cache starts empty
    bucket = make_tree(
        tmp_path / "bucket", {k: v for k, v in bucket_files(4).items() if "699999" not in k and "Not_An" not in k}
    )
    ledger = tmp_path / "ledger.sqlite"
    args = ["check", str(bucket), "--select", "M203", "--executor", "threads", "--ledger", str(ledger)]
    assert run_cli(*args).code == 0
    # each asset has its own description, subject, procedures and acquisition; all four share
    # one instrument file and one processing file
    own = ["acquisition.json", "data_description.json", "procedures.json", "subject.json"]
    assert sorted(calls) == sorted([*own * 4, "instrument.json", "processing.json"])
    calls.clear()
    monkeypatch.setattr(VERDICTS, "_items", type(VERDICTS._items)())  # a new process: only the ledger remembers
    newcomer = RAW.format(n=610000)
    make_tree(bucket, {f"{newcomer}/{k}": v for k, v in sidecar_files(newcomer).items()})
    assert run_cli(*args).code == 0
    assert sorted(calls) == own  # the newcomer's own files; the shared ones came from the ledger
    with Ledger(ledger) as opened:
        (count,) = opened.db.execute("SELECT count(*) FROM content_verdicts").fetchone()
    assert count == 4 * 4 + 2 + 4


# -- Dask ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_scheduler(s3_server: SeaweedServer) -> Iterator[str]:
    """One LocalCluster of two worker processes for the module (slow to start), whose workers
    have the test server's credentials in their environment, as a real cluster's would."""
    distributed = pytest.importorskip("distributed")
    env = aws_credentials(s3_server)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as cluster:
            yield cluster.scheduler_address
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_dask_cluster_gives_the_threads_findings_in_order_with_a_ledger(
    aws_env: SeaweedServer, s3_bucket: Any, dask_scheduler: str, tmp_path: Path
) -> None:
    client, bucket = s3_bucket
    put_files(client, bucket, bucket_files(10))
    endpoint = ["--endpoint-url", aws_env.endpoint_url, "--region", aws_env.region]

    def run(executor: str) -> list[Any]:
        args = ["check", f"s3://{bucket}/", "--format", "json", "--ledger", str(tmp_path / f"{executor}.sqlite")]
        args += ["--executor", "threads"] if executor == "threads" else ["--dask-scheduler", dask_scheduler]
        return report(run_cli(*args, *endpoint))

    first = {executor: run(executor) for executor in ("threads", "dask")}
    client.put_object(Bucket=bucket, Key=f"{RAW.format(n=600002)}/subject.json", Body=b"[]")  # rewritten
    client.put_object(Bucket=bucket, Key=f"{RAW.format(n=600002)}/ecephys/block0.bin", Body=b"new bytes")
    second = {executor: run(executor) for executor in ("threads", "dask")}
    assert first["dask"] == first["threads"]
    assert second["dask"] == second["threads"]
    changed = [f for f in second["threads"] if f not in first["threads"]]
    assert [(f[0], f[2]) for f in changed] == [
        ("I403", f"{RAW.format(n=600002)}/ecephys/block0.bin"),
        ("M202", f"{RAW.format(n=600002)}/subject.json"),  # a sidecar may be rewritten (exempt from I403)
    ]


def test_dask_engine_api_and_an_unreachable_scheduler(
    aws_env: SeaweedServer, s3_bucket: Any, dask_scheduler: str
) -> None:
    client, bucket = s3_bucket
    put_files(client, bucket, bucket_files(2))
    s3 = S3Settings(endpoint_url=aws_env.endpoint_url, region=aws_env.region)
    conv = load_convention("aind-open-data")
    plan = RunPlan(conv, load_rules(), jobs=4, s3=s3, executor="dask", dask_scheduler=dask_scheduler)
    with Linter(plan) as linter:
        on_dask = list(linter.lint_target(f"s3://{bucket}/"))
    with Linter(RunPlan(conv, load_rules(), jobs=4, s3=s3, executor="threads")) as linter:
        assert list(linter.lint_target(f"s3://{bucket}/")) == on_dask
    res = run_cli(
        "check", f"s3://{bucket}/", "--dask-scheduler", "tcp://127.0.0.1:9", "--endpoint-url", aws_env.endpoint_url
    )
    assert res.code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in res.err
