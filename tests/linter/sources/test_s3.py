"""The S3 source against a real SeaweedFS server: assets, pagination, errors, read-only, I405."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys

import pytest

from linter.events import AssetResult, TargetFinished
from linter.progress import Progress
from tests.conftest import REPO, make_tree
from tests.fixtures import dump, subject_v2
from tests.s3_audit_helpers import (
    READ_OPERATIONS,
    asset_files,
    findings_of,
    make_linter,
    put_files,
    recorded_requests,
    report_findings,
    s3_cli,
)
from tests.s3_fixtures import READER, BucketHandle
from tests.s3server import SeaweedServer

RAW = "ecephys_123456_2022-12-12_05-06-07"
DERIVED = f"{RAW}_sorted-ks25_2022-12-12_06-07-08"
OTHER = "SmartSPIM_623711_2022-10-27_16-48-54"


def test_bucket_assets_objects_and_every_page(aws_env: SeaweedServer, s3_bucket: BucketHandle) -> None:
    client, bucket = s3_bucket
    put_files(
        client,
        bucket,
        {
            **asset_files(RAW, data_objects=3),
            f"{DERIVED}/sorting/units.csv": "u",
            f"{DERIVED}/sorting/": "",  # a folder marker is not an object
            f"{OTHER}/SPIM/tile 000+1.txt": "t",
            "notes.txt": "n",
        },
    )
    linter = make_linter(aws_env, ["L301", "L302", "L303", "E9"], s3={"page_size": 2})
    *events, finished = linter.run_target(f"s3://{bucket}")
    results = [e for e in events if isinstance(e, AssetResult)]
    assert [(r.name, r.objects) for r in results] == [(None, 1), (OTHER, 1), (RAW, 9), (DERIVED, 1)]
    assert [(f.rule, f.path) for f in findings_of(results)] == [("L302", "notes.txt")]
    assert isinstance(finished, TargetFinished)
    # root: 3 prefixes + 1 object in pages of 2 -> 2 pages; RAW: 9 keys -> 5 pages; the others 1 each
    assert finished.requests == {"ListObjectsV2": 2 + 5 + 1 + 1}


def test_staging_prefix_children_are_the_assets(aws_env: SeaweedServer, s3_bucket: BucketHandle) -> None:
    client, bucket = s3_bucket
    put_files(
        client, bucket, {f"staging/{RAW}/a.txt": "a", f"staging/{OTHER}/b.txt": "b", f"published/{DERIVED}/c": "c"}
    )
    res = s3_cli(aws_env, "check", f"s3://{bucket}/staging", "--select", "N,L", "--format", "json")
    assert res.code == 0, res.err
    doc = res.json()
    assert [(a["name"], a["objects"]) for a in doc["assets"]] == [(OTHER, 1), (RAW, 1)]
    assert doc["target"] == [f"s3://{bucket}/staging"]


def test_a_prefix_that_is_an_asset_is_audited_alone(aws_env: SeaweedServer, s3_bucket: BucketHandle) -> None:
    client, bucket = s3_bucket
    put_files(
        client, bucket, {f"{RAW}/a.txt": "a", f"{OTHER}/b.txt": "b", "lab/notanassetname/data_description.json": "{}"}
    )
    res = s3_cli(aws_env, "check", f"s3://{bucket}/{RAW}/", "--select", "N,L", "--format", "json")
    assert res.code == 0, res.err
    assert [a["name"] for a in res.json()["assets"]] == [RAW]
    res = s3_cli(aws_env, "check", f"s3://{bucket}/lab/notanassetname", "--select", "N101", "--format", "json")
    assert [a["name"] for a in res.json()["assets"]] == ["notanassetname"]
    assert [f["path"] for f in res.json()["findings"]] == ["notanassetname"]


def test_unreadable_asset_is_e901_exit_2_and_the_rest_is_audited(
    aws_env: SeaweedServer, s3_bucket: BucketHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real credentials without access to one asset: a bucket policy denies the READER identity
    the listing and the objects of that prefix."""
    client, bucket = s3_bucket
    mistyped = {f"{RAW}/subject.json": dump(subject_v2("123465"))}  # one finding in the readable asset
    put_files(client, bucket, {**asset_files(RAW), **asset_files(OTHER), **mistyped})
    denied = [
        {
            "Effect": "Deny",
            "Principal": {"AWS": [READER.principal_arn]},
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{bucket}"],
            "Condition": {"StringLike": {"s3:prefix": [f"{OTHER}/*"]}},
        },
        {
            "Effect": "Deny",
            "Principal": {"AWS": [READER.principal_arn]},
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{bucket}/{OTHER}/*"],
        },
    ]
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": denied}))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", READER.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", READER.secret_key)

    res = s3_cli(aws_env, "check", f"s3://{bucket}", "--select", "N,M,E9", "--format", "json")
    assert res.code == 2, res.err
    doc = res.json()
    assert doc["complete"] is False
    e901 = [f for f in doc["findings"] if f["rule"] == "E901"]
    assert [(f["asset"], f["path"], f["message"]) for f in e901] == [
        (
            OTHER,
            f"{OTHER}/",
            f"cannot read {OTHER}/: cannot list s3://{bucket}/{OTHER}/: AccessDenied: Access Denied.",
        )
    ]
    # the readable asset was audited completely: its sidecars were read and judged
    assert [a["name"] for a in doc["assets"]] == [OTHER, RAW]
    assert [(f["rule"], f["path"]) for f in doc["findings"] if f["asset"] == RAW] == [("M208", f"{RAW}/subject.json")]

    # a sidecar that is listed but cannot be read: E901 names the key and the error
    denied[0]["Condition"] = {"StringLike": {"s3:prefix": ["nothing/*"]}}
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": denied}))
    res = s3_cli(aws_env, "check", f"s3://{bucket}", "--select", "M202,E9", "--format", "json")
    assert res.code == 2
    key = f"{OTHER}/data_description.json"
    assert (
        "E901",
        key,
        f"cannot read {key}: GET s3://{bucket}/{key} failed: AccessDenied: Access Denied.",
    ) in report_findings(res)


def test_the_linter_only_reads(aws_env: SeaweedServer, versioned_bucket: BucketHandle, tmp_path: object) -> None:
    client, bucket = versioned_bucket
    put_files(client, bucket, {**asset_files(RAW), "staging/x/y": "z"})
    with recorded_requests() as calls:
        res = s3_cli(aws_env, "check", f"s3://{bucket}", "--destination", f"s3://{bucket}/staging/", "--format", "json")
    assert res.code == 1, res.err
    assert set(calls) <= READ_OPERATIONS
    assert calls["GetObject"] == 6  # each sidecar once, though several rules read them
    assert calls["GetBucketVersioning"] == 1


def test_missing_bucket_and_missing_credentials_are_clear(
    aws_env: SeaweedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = s3_cli(aws_env, "check", "s3://no-such-bucket-here")
    assert res.code == 2
    assert "aind-bucket-lint: s3://no-such-bucket-here: no such bucket" in res.err
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    res = s3_cli(aws_env, "check", "s3://some-bucket")
    assert res.code == 2
    assert "s3://some-bucket: no AWS credentials found" in res.err
    assert s3_cli(aws_env, "check", "s3://x", "--profile", "nope").err.startswith(
        "aind-bucket-lint: The config profile (nope) could not be found"
    )


def test_no_sign_request_reads_a_public_bucket_anonymously(aws_env: SeaweedServer, s3_bucket: BucketHandle) -> None:
    """SeaweedFS with identities refuses anonymous requests, so an anonymous run is denied (and
    says so) where a signed one succeeds: the flag really sends unsigned requests."""
    client, bucket = s3_bucket
    put_files(client, bucket, {f"{RAW}/a.txt": "a"})
    assert s3_cli(aws_env, "check", f"s3://{bucket}", "--select", "N").code == 0
    res = s3_cli(aws_env, "check", f"s3://{bucket}", "--select", "N,E9", "--no-sign-request", "--format", "json")
    assert res.code == 2
    assert report_findings(res) == [
        ("E901", ".", f"cannot read .: cannot list s3://{bucket}/: AccessDenied: Access Denied.")
    ]


def test_i405_staging_prefix_against_a_destination(aws_env: SeaweedServer, s3_bucket: BucketHandle) -> None:
    client, bucket = s3_bucket
    put_files(
        client,
        bucket,
        {
            f"staging/{RAW}/a.txt": "a",
            f"staging/{OTHER}/b.txt": "b",
            f"open/{RAW}/old.txt": "o",
            f"open/{DERIVED}/c": "c",
        },
    )
    res = s3_cli(aws_env, "check", f"s3://{bucket}/staging/", "--destination", f"s3://{bucket}/open", "--select", "I")
    assert res.code == 1, res.err
    assert res.out.splitlines()[0] == (
        f"{RAW}: I405 [error] asset '{RAW}' already exists at s3://{bucket}/open/{RAW}/; "
        "uploading it would modify a published asset"
    )
    assert res.out.count(": I405 [") == 1


def test_i405_local_folder_against_a_destination(
    aws_env: SeaweedServer, s3_bucket: BucketHandle, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, bucket = s3_bucket
    put_files(client, bucket, {f"{OTHER}/b.txt": "b"})
    local = make_tree(tmp_path / "upload", {f"{RAW}/a.txt": "a", f"{OTHER}/b.txt": "b"})  # type: ignore[operator]
    monkeypatch.setattr("linter.sources.s3client.DESTINATION_PROBE_LIMIT", 1)  # one listing of the destination
    res = s3_cli(
        aws_env, "check", str(local), "--destination", f"s3://{bucket}", "--select", "I405", "--format", "json"
    )
    assert res.code == 1, res.err
    assert report_findings(res) == [
        (
            "I405",
            OTHER,
            f"asset '{OTHER}' already exists at s3://{bucket}/{OTHER}/; uploading it would modify a published asset",
        )
    ]
    res = s3_cli(aws_env, "check", str(local), "--destination", "s3://no-such-destination", "--select", "I405,E9")
    assert res.code == 2
    assert res.out.splitlines()[0] == (
        ".: E901 [error] cannot read .: cannot list the destination s3://no-such-destination/: "
        "NoSuchBucket: The specified bucket does not exist"
    )


def test_usage_errors_for_s3_options(aws_env: SeaweedServer, tmp_path: object) -> None:
    res = s3_cli(aws_env, "check", ".", "--destination", "/local/path")
    assert (res.code, res.err) == (
        2,
        "aind-bucket-lint: --destination '/local/path': give an s3://BUCKET[/PREFIX] URL\n",
    )
    res = s3_cli(aws_env, "check", ".", "--inventory", "manifest.json")
    assert res.code == 2
    assert "--inventory gives the listing of an S3 bucket: use it with s3:// targets only" in res.err


def _stderr_on_a_terminal(args: list[str]) -> tuple[int, str, str]:
    """Run the command line with stderr on a real pseudo-terminal: (exit code, stdout, terminal)."""
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "linter", *args], stdout=subprocess.PIPE, stderr=child_fd, cwd=REPO, env=dict(os.environ)
    )
    os.close(child_fd)
    seen = b""
    while True:
        try:
            chunk = os.read(main_fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out = proc.stdout.read().decode() if proc.stdout else ""
    os.close(main_fd)
    return proc.wait(), out, seen.decode()


def test_progress_line_only_on_a_terminal(aws_env: SeaweedServer, s3_bucket: BucketHandle) -> None:
    client, bucket = s3_bucket
    put_files(client, bucket, {f"{RAW}/a.txt": "a", f"{OTHER}/b.txt": "b"})
    res = s3_cli(aws_env, "check", f"s3://{bucket}", "--select", "N")
    assert res.err == ""  # stderr is not a terminal here
    args = ["check", f"s3://{bucket}", "--select", "N", "--endpoint-url", aws_env.endpoint_url]
    code, out, terminal = _stderr_on_a_terminal(args)
    assert code == 0
    assert out == "2 assets, 2 objects: 0 findings (0 errors, 0 warnings, 0 info)\n"
    assert "\r  0% 0/2 assets, " in terminal
    assert " objects/s, 0 findings, " in terminal
    assert terminal.endswith("\r")  # the line is erased at the end
    assert _stderr_on_a_terminal([*args, "--quiet"]) == (0, out, "")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert not Progress.for_stream(Terminal(), quiet=True).enabled
    term = Terminal()
    progress = Progress.for_stream(term, quiet=False)
    progress.listed(2)
    progress.update(True, 5, 1)
    progress.update(True, 3, 0)
    progress.draw(force=True)
    progress.close()
    lines = term.getvalue().split("\r")
    assert lines[1].startswith("  0% 0/2 assets, ")
    assert lines[-3].startswith("100% 2/2 assets, ") and " objects/s, 1 finding, " in lines[-3]
    assert lines[-1] == ""  # erased at the end


def test_progress_line_fits_the_terminal_and_says_how_long() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    progress = Progress(term, True, interval=0, width=lambda: 40)
    progress.listed(1000)
    progress._started -= 20  # 20 s in: 250 of 1,000 assets done, 60 s to go
    for _ in range(250):
        progress.update(True, 4, 2)
    full = progress.line(progress._started + 20)
    assert full == " 25% 250/1,000 assets, 50 objects/s, 500 findings, 0:20, ETA 1:00"
    drawn = term.getvalue().split("\r")
    assert all(len(part) <= 39 for part in drawn)  # never wider than the terminal less one column
    assert drawn[-1].startswith(" 25% 250/1,000 assets, 50 objects/s")
    progress.close()
    assert term.getvalue().endswith("\r" + " " * 39 + "\r")


def test_versions_refused_falls_back_to_current_objects(
    aws_env: SeaweedServer, versioned_bucket: BucketHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials that may list the bucket but not its versions: I401/I402 cannot be checked,
    the run says so once on stderr, and every asset is still audited (no E901)."""
    client, bucket = versioned_bucket
    put_files(client, bucket, {f"{RAW}/a.txt": "a", f"{OTHER}/b.txt": "b"})
    client.put_object(Bucket=bucket, Key=f"{RAW}/a.txt", Body=b"overwritten")
    statement = {
        "Effect": "Deny",
        "Principal": {"AWS": [READER.principal_arn]},
        "Action": ["s3:ListBucketVersions"],
        "Resource": [f"arn:aws:s3:::{bucket}"],
    }
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    admin = s3_cli(aws_env, "check", f"s3://{bucket}", "--select", "I401", "--format", "json")
    assert [(rule, path) for rule, path, _ in report_findings(admin)] == [("I401", f"{RAW}/a.txt")]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", READER.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", READER.secret_key)
    res = s3_cli(aws_env, "check", f"s3://{bucket}", "--select", "I,E9", "--format", "json")
    assert res.code == 0, res.out
    assert res.json()["findings"] == []
    assert [a["name"] for a in res.json()["assets"]] == [OTHER, RAW]
    assert res.err == (
        f"aind-bucket-lint: s3://{bucket}: cannot list versions (AccessDenied: Access Denied.); "
        "listing current objects only, so I401 and delete markers (I402) are not checked\n"
    )
