"""A hostile S3 endpoint: a real SeaweedFS behind a fault-injecting proxy of the tests' own
(:mod:`tests.faultproxy`) that stalls requests and fails later listing pages, plus missing
buckets, refused credentials and empty prefixes. Every run ends, with the exit code the case
calls for, the finding that says what happened, and a report that validates."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPORT_SCHEMA, CliResult, run_cli, validate_jsonl
from tests.faultproxy import ANY, Fault, FaultProxy
from tests.s3_audit_helpers import asset_files, put_files
from tests.s3_fixtures import BucketHandle
from tests.s3server import SeaweedServer

RAW = "ecephys_123456_2022-12-12_05-06-07"
OTHER = "ecephys_654321_2023-01-02_03-04-05"


@pytest.fixture
def proxy(s3_server: SeaweedServer) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.endpoint_url) as p:
        yield p


def via(proxy: FaultProxy, server: SeaweedServer, *args: str) -> CliResult:
    return run_cli(*args, "--endpoint-url", proxy.url, "--region", server.region)


def rows(result: CliResult) -> list[tuple[str, str | None, str | None, str]]:
    return [(f["rule"], f["asset"], f["path"], f["message"]) for f in result.json()["findings"]]


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / ".aind-bucket-lint.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- 8. a stalled endpoint ------------------------------------------------------------------------


def test_a_stalled_listing_is_bounded_by_the_s3_timeouts(
    aws_env: SeaweedServer, s3_bucket: BucketHandle, proxy: FaultProxy, tmp_path: Path
) -> None:
    """The listing of one asset is accepted and never answered: the per-request read timeout and
    the bounded attempts end it with an E901; the other asset is audited."""
    client, bucket = s3_bucket
    put_files(client, bucket, {**asset_files(RAW), **asset_files(OTHER)})
    proxy.add(Fault("stall", method="GET", query={"prefix": f"{RAW}/"}))
    cfg = config(tmp_path, "s3-read-timeout: 1\ns3-connect-timeout: 1\ns3-max-attempts: 2\n")
    result = via(
        proxy, aws_env, "check", f"s3://{bucket}", "--config", cfg, "--select", "N,M201,E9", "--format", "json"
    )
    assert result.code == 2, result.err
    [(rule, asset, path, message)] = rows(result)
    assert (rule, asset, path) == ("E901", RAW, f"{RAW}/")
    assert message.startswith(f"cannot read {RAW}/: cannot list s3://{bucket}/{RAW}/: ReadTimeoutError: Read timeout")
    assert proxy.injected["stall"] == 2  # two attempts, as configured
    assert result.json()["complete"] is False


def test_the_whole_audit_is_bounded_by_timeout(
    aws_env: SeaweedServer, s3_bucket: BucketHandle, proxy: FaultProxy, tmp_path: Path
) -> None:
    """Every request for one asset stalls (with the default S3 timeouts, minutes): ``--timeout``
    ends the audit, the report is written whole with an E901 for the unfinished asset, exit 2,
    and the process ends without waiting for the stalled worker. (The stalled asset sorts last:
    results come out in name order, so an asset after a stalled one waits for it.)"""
    client, bucket = s3_bucket
    put_files(client, bucket, {**asset_files(RAW), **asset_files(OTHER)})
    proxy.add(Fault("stall", query={"prefix": f"{OTHER}/"}))
    report = tmp_path / "report.jsonl"
    command = ["check", f"s3://{bucket}", "--endpoint-url", proxy.url, "--region", aws_env.region, "--timeout", "8"]
    command += ["--select", "N,M201,E9", "--format", "jsonl", "-o", str(report)]
    res = subprocess.run(
        [sys.executable, "-m", "linter", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 2, res.stderr
    assert res.stderr.splitlines()[-1] == (
        "aind-bucket-lint: the --timeout of 8 s ran out; every asset not finished is reported (E901) and the "
        "report is incomplete"
    )
    lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    validate_jsonl(lines)
    assert lines[-1]["complete"] is False
    assert [(f["rule"], f["asset"], f["message"]) for f in lines if f["type"] == "finding"] == [
        ("E901", OTHER, "not checked: the audit's --timeout of 8 s ran out before this asset was finished")
    ]
    assert lines[-1]["summary"]["assets"] == 2


def test_timeout_is_a_config_key_too(
    aws_env: SeaweedServer, s3_bucket: BucketHandle, proxy: FaultProxy, tmp_path: Path
) -> None:
    client, bucket = s3_bucket
    put_files(client, bucket, asset_files(RAW))
    proxy.add(Fault("stall", query={"prefix": f"{RAW}/"}))
    cfg = config(tmp_path, "timeout: 6\n")
    result = via(proxy, aws_env, "check", f"s3://{bucket}", "--config", cfg, "--select", "N,E9", "--format", "json")
    assert result.code == 2
    ran_out = "the audit's --timeout of 6 s ran out"
    found = rows(result)
    if found and found[0][1] is None:  # a machine so loaded that even the bucket's listing took 6 s
        assert found == [("E901", None, None, f"s3://{bucket}: not audited: {ran_out} while listing it")]
    else:
        assert found == [("E901", RAW, RAW, f"not checked: {ran_out} before this asset was finished")]
    assert result.json()["complete"] is False


# --- 9. a listing that fails partway --------------------------------------------------------------


def test_a_listing_that_fails_partway_judges_nothing_missing(
    aws_env: SeaweedServer, s3_bucket: BucketHandle, proxy: FaultProxy
) -> None:
    """The second and later pages of a large asset's listing fail (503 on every attempt): E901,
    and no M201 for the sidecars that sort after ``ecephys/chunk_*`` and were never listed."""
    client, bucket = s3_bucket
    files: dict[str, bytes | str] = {**asset_files(RAW, data_objects=0), **asset_files(OTHER)}
    files.update({f"{RAW}/ecephys/chunk_{i:04d}.bin": b"c" for i in range(1010)})
    put_files(client, bucket, files, threads=16)
    proxy.add(Fault("status", method="GET", query={"prefix": f"{RAW}/", "continuation-token": ANY}, status=503))
    result = via(proxy, aws_env, "check", f"s3://{bucket}", "--select", "N,M,L,E9", "--format", "json")
    assert result.code == 2, result.err
    found = rows(result)
    assert [f for f in found if f[1] == RAW] == [
        (
            "E901",
            RAW,
            f"{RAW}/",
            f"cannot read {RAW}/: cannot list s3://{bucket}/{RAW}/: SlowDown: injected by the test proxy "
            "(stopped after 1000 objects)",
        )
    ]
    assert [f for f in found if f[1] == OTHER] == []
    assert {a["name"]: a["objects"] for a in result.json()["assets"]} == {RAW: 1000, OTHER: 8}


# --- 10. missing buckets, refused credentials, empty prefixes -------------------------------------


def test_a_missing_bucket_is_an_e901_naming_the_target(aws_env: SeaweedServer) -> None:
    result = run_cli(
        "check", "s3://no-such-bucket-anywhere", "--endpoint-url", aws_env.endpoint_url, "--format", "json"
    )
    assert result.code == 2
    assert result.err == "aind-bucket-lint: s3://no-such-bucket-anywhere: no such bucket\n"
    assert rows(result) == [("E901", None, None, "s3://no-such-bucket-anywhere: no such bucket")]
    assert result.json()["findings"][0]["details"] == {"target": "s3://no-such-bucket-anywhere"}


def test_refused_credentials_are_an_e901_naming_the_target(
    aws_env: SeaweedServer, s3_bucket: BucketHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    target = f"s3://{s3_bucket.name}"
    result = run_cli(
        "check", target, "--endpoint-url", aws_env.endpoint_url, "--region", aws_env.region, "--format", "json"
    )
    assert result.code == 2
    [(rule, asset, path, message)] = rows(result)
    assert (rule, asset, path) == ("E901", None, None)
    assert message.startswith(f"{target}: the credentials were refused (SignatureDoesNotMatch")
    assert result.err == f"aind-bucket-lint: {message}\n"


def test_an_empty_prefix_is_an_error_unless_allowed(aws_env: SeaweedServer, s3_bucket: BucketHandle) -> None:
    client, bucket = s3_bucket
    put_files(client, bucket, asset_files(RAW))
    target = f"s3://{bucket}/stagign/"  # a typo: nothing is there
    args = ("check", target, "--endpoint-url", aws_env.endpoint_url, "--region", aws_env.region, "--format", "json")
    result = run_cli(*args)
    assert result.code == 2
    message = f"{target}: no assets found (is the target right? with --allow-empty an empty target is not an error)"
    assert rows(result) == [("E901", None, None, message)]
    assert result.err == f"aind-bucket-lint: {message}\n"
    allowed = run_cli(*args, "--allow-empty")
    assert allowed.code == 0 and rows(allowed) == []


def test_a_missing_asset_prefix_is_an_e901(aws_env: SeaweedServer, s3_bucket: BucketHandle) -> None:
    client, bucket = s3_bucket
    put_files(client, bucket, asset_files(RAW))
    missing = "ecephys_999999_2022-12-12_05-06-07"
    target = f"s3://{bucket}/{missing}/"
    result = run_cli(
        "check", target, "--endpoint-url", aws_env.endpoint_url, "--region", aws_env.region, "--format", "json"
    )
    assert result.code == 2
    assert rows(result) == [
        ("E901", missing, f"{missing}/", f"cannot read {missing}/: nothing is stored under s3://{bucket}/{missing}/")
    ]
    REPORT_SCHEMA.validate(result.json())
