"""The plan travels whole: threads, worker processes and a real Dask cluster give the same
findings, whatever the workers' own environment says.

The cluster is a ``dask scheduler`` and a ``dask worker --nworkers 2`` started here as processes
of their own, each with an environment of its own: neither has the driver's schema cache or
offline mode (``AIND_BUCKET_LINT_*``), as the machines of a real cluster would not. The audits
ask for an empty schema cache and ``--offline``, so every file whose release the installed
aind-data-schema does not declare must be M204 (not prepared) wherever it is checked; a worker
that took the cache from its own environment (the tests' prepared one) would judge it (M203).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from linter.plan import SchemaSettings
from linter.validation import envs
from tests.conftest import EXAMPLES, REPO, run_cli
from tests.s3_audit_helpers import asset_files, aws_credentials, put_files
from tests.s3_fixtures import BucketHandle
from tests.s3server import SeaweedServer

pytestmark = pytest.mark.slow


START_TIMEOUT = 120.0
"""Seconds the scheduler and its workers may take to come up."""
RAW = "ecephys_700001_2023-01-02_03-04-05"
OLD = "ecephys_700002_2023-01-02_03-04-05"
PROCESSING_0X = {"describedBy": "cluster", "schema_version": "0.0.1", "data_processes": []}
"""A 0.x processing.json: aind-data-schema 0.3.7 judges it, in an environment of its own."""


class Cluster(NamedTuple):
    address: str
    logs: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def worker_environment(server: SeaweedServer) -> dict[str, str]:
    """What a cluster machine has: its own AWS credentials (the test server's), this checkout on
    the path, and none of the linter's or Dask's settings of the driver."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIND_BUCKET_LINT_", "DASK_", "AWS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**env, **aws_credentials(server)}


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            env=env,
            cwd=log.parent,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the nanny's workers are stopped with it
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):  # what the group still holds
        os.killpg(proc.pid, signal.SIGKILL)


def _wait_for_workers(address: str, count: int, procs: list[subprocess.Popen[bytes]], logs: Path) -> None:
    from distributed import Client

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                tails = {p.name: p.read_text(errors="replace")[-2000:] for p in logs.glob("*.log")}
                raise AssertionError(f"a cluster process exited with {proc.returncode}: {tails}")
        try:
            with Client(address, timeout="5s", set_as_default=False) as client:
                client.wait_for_workers(count, timeout=max(1.0, deadline - time.monotonic()))
                return
        except (OSError, TimeoutError):
            time.sleep(0.5)
    raise AssertionError(f"the cluster at {address} did not have {count} workers within {START_TIMEOUT:g} s")


@pytest.fixture(scope="module")
def cluster(s3_server: SeaweedServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A scheduler and a worker of two processes, each started as a process of its own."""
    pytest.importorskip("distributed")
    logs = tmp_path_factory.mktemp("cluster")
    env = worker_environment(s3_server)
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        scheduler = ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"]
        procs.append(_start([*scheduler, "--idle-timeout", "600s"], env, logs / "scheduler.log"))
        worker = ["distributed.cli.dask_worker", address, "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1"]
        procs.append(_start([*worker, "--no-dashboard", "--death-timeout", "60s"], env, logs / "worker.log"))
        _wait_for_workers(address, 2, procs, logs)
        yield Cluster(address, logs)
    finally:
        for proc in reversed(procs):
            _stop(proc)


def findings(args: list[str]) -> list[dict[str, Any]]:
    """The json report's findings of ``check ARGS``; the run must be complete (exit 1: findings)."""
    result = run_cli("check", *args, "--format", "json")
    assert result.code == 1, result.err
    doc = result.json()
    assert doc["complete"] is True, result.err
    return list(doc["findings"])


def by_executor(target: str, cluster: Cluster, *options: str) -> dict[str, list[dict[str, Any]]]:
    return {
        "threads": findings([target, *options, "--executor", "threads"]),
        "processes": findings([target, *options, "--executor", "processes", "-j", "2"]),
        "dask": findings([target, *options, "--dask-scheduler", cluster.address]),
    }


def test_the_example_bucket_gives_the_same_findings_on_every_executor(cluster: Cluster, tmp_path: Path) -> None:
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    runs = by_executor(str(EXAMPLES), cluster, "--schema-cache", str(empty), "--offline")
    assert runs["processes"] == runs["threads"]
    assert runs["dask"] == runs["threads"]
    # the empty cache and --offline reached every worker: files of releases not installed are
    # M204 (not prepared), none judged (M203) by a release environment from a worker's own cache
    unprepared = [f for f in runs["threads"] if f["rule"] == "M204" and f["details"]["problem"] == "not-prepared"]
    assert len(unprepared) >= 2
    assert all("is not prepared and cannot be offline" in f["details"]["reason"] for f in unprepared)
    assert envs.prepared(SchemaSettings(empty)) == []  # offline: nothing was prepared there either


def test_a_seaweedfs_bucket_gives_the_same_findings_on_every_executor(
    aws_env: SeaweedServer, s3_bucket: BucketHandle, cluster: Cluster, tmp_path: Path
) -> None:
    client, bucket = s3_bucket
    files: dict[str, bytes | str] = {**asset_files(RAW, data_objects=2), **asset_files(OLD, data_objects=1)}
    files[f"{OLD}/processing.json"] = json.dumps(PROCESSING_0X)
    files[f"{RAW}/subject.json"] = b"{not json"
    files["README.txt"] = "an orphan at the root"
    put_files(client, bucket, files)
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    endpoint = ["--endpoint-url", aws_env.endpoint_url, "--region", aws_env.region]
    runs = by_executor(f"s3://{bucket}/", cluster, *endpoint, "--schema-cache", str(empty), "--offline")
    assert runs["processes"] == runs["threads"]
    assert runs["dask"] == runs["threads"]
    assert [(f["rule"], f["path"]) for f in runs["threads"] if f["rule"] in ("M202", "M203", "M204", "L302")] == [
        ("L302", "README.txt"),
        ("M202", f"{RAW}/subject.json"),
        ("M204", f"{OLD}/processing.json"),
    ]
