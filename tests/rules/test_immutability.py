"""I401-I405 against real versioned and unversioned SeaweedFS buckets, a ledger and local folders."""

from __future__ import annotations

import datetime as dt
import os
import time
from importlib import resources
from pathlib import Path

from linter.context import AssetContext, TargetInfo
from linter.conventions import load_convention, parse_convention
from linter.sources import Asset, ObjectInfo
from linter.store.records import AssetHistory, ObjectRecord
from rules import immutability
from tests.conftest import make_tree, run_cli
from tests.s3_audit_helpers import asset_files, put_files, s3_cli
from tests.s3_fixtures import BucketHandle
from tests.s3server import SeaweedServer

RAW = "ecephys_123456_2022-12-12_05-06-07"
OTHER = "SmartSPIM_623711_2022-10-27_16-48-54"


def convention_file(tmp_path: Path, window: str) -> str:
    """The built-in convention with another upload window."""
    text = resources.files("linter.conventions").joinpath("aind-open-data.yaml").read_text(encoding="utf-8")
    assert "upload_window: 48h" in text
    path = tmp_path / "convention.yaml"
    path.write_text(text.replace("upload_window: 48h", f"upload_window: {window}"), encoding="utf-8")
    return str(path)


def brief(res_json: dict) -> list[tuple[str, str, object]]:
    return [(f["rule"], f["path"], f["details"].get("key", f["details"].get("keys"))) for f in res_json["findings"]]


def test_versioned_bucket_overwritten_deleted_and_late(
    aws_env: SeaweedServer, versioned_bucket: BucketHandle, tmp_path: Path
) -> None:
    client, bucket = versioned_bucket
    put_files(client, bucket, {**asset_files(RAW, data_objects=3), **asset_files(OTHER)})
    # past the 4 s upload window of the first object (LastModified has whole seconds); 4 s leave a
    # slow machine time to upload the originals inside the window
    listed = client.list_objects_v2(Bucket=bucket)["Contents"]
    first_upload = min(o["LastModified"] for o in listed).timestamp()
    time.sleep(max(0.0, first_upload + 5.2 - time.time()))
    client.put_object(Bucket=bucket, Key=f"{RAW}/ecephys/block0.bin", Body=b"rewritten")  # I401
    client.delete_object(Bucket=bucket, Key=f"{RAW}/ecephys/block1.bin")  # I402
    client.put_object(Bucket=bucket, Key=f"{RAW}/ecephys/late.bin", Body=b"late")  # I404
    client.put_object(Bucket=bucket, Key=f"{RAW}/subject.json", Body=b"{}")  # exempt: the indexer rewrites it
    client.put_object(Bucket=bucket, Key=f"{RAW}/original_metadata/subject.20260101.json", Body=b"{}")  # exempt
    client.delete_object(Bucket=bucket, Key=f"{OTHER}/procedures.json")  # exempt

    res = s3_cli(
        aws_env,
        "check",
        f"s3://{bucket}",
        "--select",
        "I",
        "--convention",
        convention_file(tmp_path, "4s"),
        "--format",
        "json",
    )
    assert res.code == 1, res.err
    doc = res.json()
    assert brief(doc) == [
        ("I401", f"{RAW}/ecephys/block0.bin", "ecephys/block0.bin"),
        ("I402", f"{RAW}/ecephys/block1.bin", "ecephys/block1.bin"),
        ("I404", f"{RAW}/ecephys/late.bin", "ecephys/late.bin"),
    ]
    i401, i402, i404 = doc["findings"]
    versions = i401["details"]["versions"]
    assert [v["size"] for v in versions] == [len(f"{RAW}:0"), len(b"rewritten")]
    assert i401["message"] == (
        f"'ecephys/block0.bin' has 2 versions: written {versions[0]['last_modified']}, overwritten 1 time "
        f"(last {versions[1]['last_modified']})"
    )
    marker = i402["details"]["delete_markers"][0]
    assert i402["message"] == f"'ecephys/block1.bin' was deleted (delete marker of {marker['last_modified']})"
    assert i402["details"]["deleted"] is True
    first = i404["details"]["first_object"]
    assert i404["message"] == (
        f"'ecephys/late.bin' was uploaded {i404['details']['uploaded']}, after the asset was sealed at "
        f"{i404['details']['sealed_at']} (first object {first} + upload window 0:00:04)"
    )
    assert i404["severity"] == "warning"

    # the default 48 h window: nothing is late, the rest stands
    res = s3_cli(aws_env, "check", f"s3://{bucket}", "--select", "I", "--format", "json")
    assert [r for r, _, _ in brief(res.json())] == ["I401", "I402"]

    # a deleted key uploaded again is still a deletion, and an overwrite
    client.put_object(Bucket=bucket, Key=f"{RAW}/ecephys/block1.bin", Body=b"again")
    res = s3_cli(aws_env, "check", f"s3://{bucket}", "--select", "I402", "--format", "json")
    (again,) = res.json()["findings"]
    assert again["message"].endswith(") and uploaded again later")
    assert again["details"]["deleted"] is False


def test_ledger_changed_and_gone_keys(aws_env: SeaweedServer, s3_bucket: BucketHandle, tmp_path: Path) -> None:
    client, bucket = s3_bucket
    put_files(client, bucket, {**asset_files(RAW, data_objects=3), **asset_files(OTHER)})
    ledger = str(tmp_path / "ledger.sqlite")
    args = ("check", f"s3://{bucket}", "--select", "I,E9", "--ledger", ledger, "--format", "json")
    first = s3_cli(aws_env, *args)
    assert (first.code, first.json()["findings"]) == (0, [])

    client.put_object(Bucket=bucket, Key=f"{RAW}/ecephys/block0.bin", Body=b"rewritten")  # I403
    client.delete_object(Bucket=bucket, Key=f"{RAW}/ecephys/block1.bin")  # I402
    client.put_object(Bucket=bucket, Key=f"{RAW}/processing.json", Body=b"{}")  # exempt
    client.delete_object(Bucket=bucket, Key=f"{RAW}/procedures.json")  # exempt

    for _ in range(2):  # the ledger keeps the first record: the findings repeat on every run
        res = s3_cli(aws_env, *args)
        assert res.code == 1, res.err
        doc = res.json()
        assert brief(doc) == [
            ("I403", f"{RAW}/ecephys/block0.bin", "ecephys/block0.bin"),
            ("I402", f"{RAW}/ecephys/block1.bin", "ecephys/block1.bin"),
        ]
        changed, gone = doc["findings"]
        assert gone["message"].startswith("'ecephys/block1.bin' is gone: recorded by the ledger since ")
        assert gone["message"].endswith(", no longer listed")
        assert gone["details"]["recorded"]["size"] == len(f"{RAW}:1")
        changes = changed["details"]["changes"]
        assert {"etag", "size"} <= set(changes)  # LastModified too, unless rewritten within the same second
        assert changes["size"] == [len(f"{RAW}:0"), len(b"rewritten")]
        assert changed["message"].startswith("'ecephys/block0.bin' changed since the ledger recorded it on ")
        assert f"size {len(f'{RAW}:0')} -> 9" in changed["message"]


def test_ledger_reports_a_vanished_asset(
    aws_env: SeaweedServer, versioned_bucket: BucketHandle, tmp_path: Path
) -> None:
    """On a versioned bucket a deleted asset is no longer listed at all (its keys are delete-marked)."""
    client, bucket = versioned_bucket
    put_files(client, bucket, {**asset_files(RAW), **asset_files(OTHER)})
    ledger = str(tmp_path / "ledger.sqlite")
    args = ("check", f"s3://{bucket}", "--select", "I,E9", "--ledger", ledger, "--format", "json")
    assert s3_cli(aws_env, *args).code == 0
    for key in asset_files(OTHER):
        client.delete_object(Bucket=bucket, Key=key)
    for _ in range(2):
        res = s3_cli(aws_env, *args)
        assert res.code == 1, res.err
        (vanished,) = res.json()["findings"]
        assert (vanished["rule"], vanished["asset"], vanished["path"]) == ("I402", OTHER, OTHER)
        assert vanished["message"].startswith(
            f"asset '{OTHER}' is gone: its 8 keys recorded by the ledger are no longer listed (last seen "
        )
        assert vanished["details"]["keys"] == 8
    # uploaded again (the data with new bytes, so the change does not hang on LastModified's one-second
    # resolution): no longer gone as a whole, but its versions tell what happened to each key
    again = asset_files(OTHER)
    again.update({key: body + b" again" for key, body in again.items() if key.endswith(".bin")})
    put_files(client, bucket, again)
    assert [(f["rule"], f["path"]) for f in s3_cli(aws_env, *args).json()["findings"]] == [
        ("I401", f"{OTHER}/ecephys/block0.bin"),
        ("I402", f"{OTHER}/ecephys/block0.bin"),
        ("I403", f"{OTHER}/ecephys/block0.bin"),
        ("I401", f"{OTHER}/ecephys/block1.bin"),
        ("I402", f"{OTHER}/ecephys/block1.bin"),
        ("I403", f"{OTHER}/ecephys/block1.bin"),
    ]


def test_ledger_late_addition_with_an_old_timestamp(tmp_path: Path) -> None:
    """A file copied into a sealed local asset keeping an old mtime: the ledger still sees it arrive."""
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/a.txt": "a", f"{RAW}/b.txt": "b"})
    conv = convention_file(tmp_path, "0s")
    ledger = str(tmp_path / "ledger.sqlite")
    args = ("check", str(bucket), "--select", "I", "--convention", conv, "--ledger", ledger, "--format", "json")
    assert run_cli(*args).json()["findings"] == []
    late = bucket / RAW / "late.txt"
    late.write_text("late")
    os.utime(late, (1_600_000_000, 1_600_000_000))
    for expected in ("by this audit", "on "):
        res = run_cli(*args)
        assert res.code == 0  # a warning
        (finding,) = res.json()["findings"]
        assert (finding["rule"], finding["path"]) == ("I404", f"{RAW}/late.txt")
        assert finding["message"].startswith(f"'late.txt' was first listed {expected}")
        assert "after the audit of " in finding["message"] and finding["message"].endswith("had seen the asset sealed")


# -- the rules on their own: exemptions, caps, what they need --------------------------------------------------------


def _ctx(objects: list[ObjectInfo], versions: list[ObjectInfo] | None = None, **kwargs: object) -> AssetContext:
    convention = load_convention("aind-open-data")
    info = TargetInfo("s3://b/", frozenset({RAW}), convention)
    return AssetContext(Asset(RAW, objects, versions), info, None, **kwargs)  # type: ignore[arg-type]


T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_exemptions_come_from_the_convention() -> None:
    ctx = _ctx([])
    is_exempt = immutability.exempt(ctx)
    assert [k for k in ("subject.json", "metadata.nd.json", "original_metadata/a/b.json", "x/subject.json",
                        "ecephys/subject.json", "data.bin") if is_exempt(k)] == [
        "subject.json", "metadata.nd.json", "original_metadata/a/b.json"
    ]  # fmt: skip
    text = resources.files("linter.conventions").joinpath("aind-open-data.yaml").read_text(encoding="utf-8")
    strict = parse_convention(text.replace("    - metadata.nd.json\n", ""), "strict")
    info = TargetInfo("s3://b/", frozenset(), strict)
    assert immutability.exempt(AssetContext(Asset(RAW), info, None))("metadata.nd.json") is False  # type: ignore[arg-type]


def test_many_overwritten_keys_are_capped() -> None:
    versions = [
        ObjectInfo(f"k{i:03}", 1, "e", T0 + dt.timedelta(seconds=s), f"v{s}") for i in range(60) for s in (0, 1)
    ]
    findings = list(immutability.overwritten_object(_ctx([], versions)))
    assert len(findings) == immutability.MAX_KEYS_PER_RULE + 1
    assert findings[-1].message == f"... and 10 more overwritten keys in asset '{RAW}'"
    assert findings[-1].details == {"more": 10}


def test_rules_without_history_or_versions_stay_silent() -> None:
    ctx = _ctx([ObjectInfo("a.bin", 1, "e", T0)])
    assert list(immutability.overwritten_object(ctx)) == []
    assert list(immutability.deleted_object(ctx)) == []
    assert list(immutability.changed_object(ctx)) == []
    assert list(immutability.would_overwrite(ctx)) == []


def test_i403_ignores_sub_second_differences_and_exempt_keys() -> None:
    now = T0 + dt.timedelta(days=1)
    records = {
        "a.bin": ObjectRecord("a.bin", "e", 1, T0, None, now, now),
        "subject.json": ObjectRecord("subject.json", "old", 1, T0, None, now, now),
    }
    history = AssetHistory(RAW, now, now, T0, T0, now, records)
    objects = [
        ObjectInfo("a.bin", 1, "e", T0 + dt.timedelta(milliseconds=300)),
        ObjectInfo("subject.json", 2, "new", now),
    ]
    assert list(immutability.changed_object(_ctx(objects, history=history))) == []
