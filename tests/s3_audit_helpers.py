"""Helpers for the S3 audit tests: real assets in a real SeaweedFS bucket, the linter run
against it, and a record of every S3 operation the linter's clients make (a botocore event
hook on the real clients; nothing is faked)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from typing import Any

import pytest
from botocore.client import BaseClient

import linter.sources.s3client as s3_module
from linter.conventions import load_convention
from linter.engine import Linter
from linter.events import TargetFinished
from linter.findings import AssetResult, Finding
from linter.plan import RunPlan, S3Settings
from linter.registry import load_rules, select_rules
from linter.store.db import Ledger
from tests.conftest import CliResult, run_cli
from tests.fixtures import dump, v2_sidecars
from tests.s3server import SeaweedServer

READ_OPERATIONS = {"ListObjectsV2", "ListObjectVersions", "GetObject", "GetBucketVersioning"}


def sidecar_files(name: str) -> dict[str, bytes]:
    """A complete, valid set of aind-data-schema 2.9.2 sidecars agreeing with ``name``
    (made by tests/fixtures.py)."""
    return dict(_sidecar_files(name))


@cache
def _sidecar_files(name: str) -> tuple[tuple[str, bytes], ...]:
    return tuple((bare, dump(doc).encode()) for bare, doc in v2_sidecars(name).items())


def asset_files(name: str, data_objects: int = 2) -> dict[str, bytes]:
    """An asset as uploaded: sidecars at its root and a few data objects below."""
    files = {f"{name}/{k}": v for k, v in sidecar_files(name).items()}
    for i in range(data_objects):
        files[f"{name}/ecephys/block{i}.bin"] = f"{name}:{i}".encode()
    return files


def put_files(client: BaseClient, bucket: str, files: Mapping[str, bytes | str], threads: int = 8) -> None:
    def put(item: tuple[str, bytes | str]) -> None:
        key, body = item
        client.put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, files.items()))


def aws_credentials(server: SeaweedServer) -> dict[str, str]:
    """The environment variables that give a process the server's admin credentials, and no AWS
    config of the developer's (what a machine of a cluster would have of its own)."""
    return {
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": server.region,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def aws_env(s3_server: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> SeaweedServer:
    """Credentials of the server's admin in the environment, and no AWS config of the developer's."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    for var, value in aws_credentials(s3_server).items():
        monkeypatch.setenv(var, value)
    return s3_server


def s3_cli(server: SeaweedServer, *args: str) -> CliResult:
    """The real command line, pointed at the test server."""
    return run_cli(*args, "--endpoint-url", server.endpoint_url, "--region", server.region)


@contextmanager
def recorded_requests() -> Iterator[Counter[str]]:
    """Count every S3 operation of the clients the linter makes, by name, via a botocore hook."""
    counts: Counter[str] = Counter()
    original = s3_module.make_client

    def spy(*args: Any, **kwargs: Any) -> BaseClient:
        client = original(*args, **kwargs)

        def count(model: Any, **_: Any) -> None:
            counts[model.name] += 1

        client.meta.events.register("before-call.s3", count)
        return client

    s3_module.make_client = spy  # type: ignore[assignment]
    try:
        yield counts
    finally:
        s3_module.make_client = original  # type: ignore[assignment]


def make_linter(
    server: SeaweedServer,
    select: list[str],
    *,
    jobs: int = 4,
    convention: str = "aind-open-data",
    ledger: Ledger | None = None,
    s3: Mapping[str, Any] | None = None,
    prefilter: bool = True,
    **plan: Any,
) -> Linter:
    """The engine as the command line builds it, with S3 settings for the test server;
    ``plan``: more fields of the run plan (inventory, destination); ``prefilter``: let a
    summarizing source clear assets."""
    rules = select_rules(load_rules(), select, [])
    settings = S3Settings(endpoint_url=server.endpoint_url, region=server.region, **(s3 or {}))
    run_plan = RunPlan(load_convention(convention), rules, jobs=jobs, s3=settings, **plan)
    return Linter(run_plan, ledger=ledger, prefilter=prefilter)


def run_linter(linter: Linter, target: str) -> list[AssetResult]:
    return list(linter.lint_target(target))


def run_events(linter: Linter, target: str) -> tuple[list[AssetResult], TargetFinished]:
    """The target's asset results, and the event that ends it."""
    *events, finished = linter.run_target(target)
    assert isinstance(finished, TargetFinished)
    return [e for e in events if isinstance(e, AssetResult)], finished


def findings_of(results: list[AssetResult]) -> list[Finding]:
    return [f for r in results for f in r.findings]


def report_findings(result: CliResult) -> list[tuple[str, str | None, str]]:
    """(rule, path, message) of each finding of a ``--format json`` report."""
    return [(f["rule"], f["path"], f["message"]) for f in result.json()["findings"]]
