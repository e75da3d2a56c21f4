"""S3 Inventory reports (written here from a listing of the same SeaweedFS bucket, in the format
AWS publishes) give the same findings as listing the bucket."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from botocore.client import BaseClient

from tests.s3_audit_helpers import asset_files, put_files, s3_cli
from tests.s3_fixtures import BucketHandle
from tests.s3server import SeaweedServer

RAW = "ecephys_123456_2022-12-12_05-06-07"
OTHER = "SmartSPIM_623711_2022-10-27_16-48-54"
DERIVED = f"{RAW}_sorted-ks25_2022-12-12_06-07-08"
VERSION_COLUMNS = ["Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "LastModifiedDate", "ETag"]
CURRENT_COLUMNS = ["Bucket", "Key", "Size", "LastModifiedDate", "ETag", "StorageClass"]


def _stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def listing_rows(client: BaseClient, bucket: str, versions: bool) -> Iterator[dict[str, Any]]:
    """Every object (or version and delete marker) of the bucket, as inventory rows."""
    if not versions:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", ()):
                yield {
                    "Bucket": bucket,
                    "Key": o["Key"],
                    "Size": o["Size"],
                    "LastModifiedDate": _stamp(o["LastModified"]),
                    "ETag": o["ETag"].strip('"'),
                    "StorageClass": "STANDARD",
                }
        return
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item, marker in [
            *((v, False) for v in page.get("Versions", ())),
            *((m, True) for m in page.get("DeleteMarkers", ())),
        ]:
            yield {
                "Bucket": bucket,
                "Key": item["Key"],
                "VersionId": item["VersionId"],
                "IsLatest": str(item["IsLatest"]).lower(),
                "IsDeleteMarker": str(marker).lower(),
                "Size": "" if marker else item["Size"],
                "LastModifiedDate": _stamp(item["LastModified"]),
                "ETag": "" if marker else item["ETag"].strip('"'),
            }


def write_inventory(
    client: BaseClient, bucket: str, folder: Path, *, versions: bool, files: int = 2
) -> tuple[Path, dict[str, bytes]]:
    """A CSV inventory as S3 publishes it: data files (CSV.gz, URL-encoded keys, no header, rows in
    no particular order) under ``<config>/data/`` and ``<config>/<date>/manifest.json``."""
    columns = VERSION_COLUMNS if versions else CURRENT_COLUMNS
    rows = list(listing_rows(client, bucket, versions))
    rows.reverse()
    blobs: dict[str, bytes] = {}
    entries = []
    for i in range(files):
        text = io.StringIO()
        writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for row in rows[i::files]:
            writer.writerow([quote_plus(str(row[c]), safe="") if c == "Key" else row[c] for c in columns])
        data = gzip.compress(text.getvalue().encode())
        key = f"inv/{bucket}/daily/data/part-{i}.csv.gz"
        blobs[key] = data
        entries.append({"key": key, "size": len(data), "MD5checksum": hashlib.md5(data).hexdigest()})
    manifest = {
        "sourceBucket": bucket,
        "destinationBucket": "arn:aws:s3:::inventory-destination",
        "version": "2016-11-30",
        "creationTimestamp": str(int(time.time() * 1000)),
        "fileFormat": "CSV",
        "fileSchema": ", ".join(columns),
        "files": entries,
    }
    blobs[f"inv/{bucket}/daily/2026-01-01T01-00Z/manifest.json"] = json.dumps(manifest).encode()
    for key, data in blobs.items():
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder / f"inv/{bucket}/daily/2026-01-01T01-00Z/manifest.json", blobs


def build_history(client: BaseClient, bucket: str) -> None:
    """Assets with an overwritten key, a delete marker, keys that need URL encoding, a root file."""
    put_files(
        client,
        bucket,
        {
            **asset_files(RAW),
            **asset_files(OTHER),
            f"{DERIVED}/sorting/units 1+2=3%.csv": "u",
            f'{DERIVED}/sorting/ümlaut,quote".txt': "q",
            "notes.txt": "n",
        },
    )
    client.put_object(Bucket=bucket, Key=f"{RAW}/ecephys/block0.bin", Body=b"rewritten")
    client.delete_object(Bucket=bucket, Key=f"{OTHER}/ecephys/block1.bin")
    client.put_object(Bucket=bucket, Key=f"{OTHER}/subject.json", Body=b"{broken")


def test_inventory_with_versions_gives_the_listing_findings(
    aws_env: SeaweedServer, versioned_bucket: BucketHandle, tmp_path: Path
) -> None:
    client, bucket = versioned_bucket
    build_history(client, bucket)
    manifest, _ = write_inventory(client, bucket, tmp_path, versions=True)
    listed = s3_cli(aws_env, "check", f"s3://{bucket}", "--format", "json")
    assert listed.code == 1, listed.err
    assert {"I401", "I402", "L302", "M202"} <= set(listed.json()["summary"]["by_rule"])
    inventoried = s3_cli(aws_env, "check", f"s3://{bucket}", "--inventory", str(manifest), "--format", "json")
    assert inventoried.code == 1, inventoried.err
    for field in ("findings", "assets", "summary", "complete"):
        assert inventoried.json()[field] == listed.json()[field], field
    # rules that read no object: the inventory's assets are checked in one thread
    select = ["--select", "N,L,I4", "--jobs", "8", "--format", "json"]
    listed = s3_cli(aws_env, "check", f"s3://{bucket}", *select)
    inventoried = s3_cli(aws_env, "check", f"s3://{bucket}", "--inventory", str(manifest), *select)
    assert inventoried.code == listed.code == 1, inventoried.err
    assert {"I401", "I402", "L302"} <= set(listed.json()["summary"]["by_rule"]) <= {"I401", "I402", "L302", "N101"}
    for field in ("findings", "assets", "summary", "complete"):
        assert inventoried.json()[field] == listed.json()[field], field


def test_current_objects_inventory_from_s3(aws_env: SeaweedServer, s3_bucket: BucketHandle, tmp_path: Path) -> None:
    """The manifest and its data files in another bucket, read with s3:// URLs; a staging prefix."""
    client, bucket = s3_bucket
    build_history(client, bucket)
    put_files(client, bucket, {f"staging/{RAW}/a.txt": "a", f"staging/{OTHER}/b.txt": "b"})
    _, blobs = write_inventory(client, bucket, tmp_path, versions=False, files=3)
    client.create_bucket(Bucket="inventory-destination")
    try:
        put_files(client, "inventory-destination", blobs)
        manifest = f"s3://inventory-destination/inv/{bucket}/daily/2026-01-01T01-00Z/manifest.json"
        for target in (f"s3://{bucket}", f"s3://{bucket}/staging/"):
            listed = s3_cli(aws_env, "check", target, "--format", "json")
            inventoried = s3_cli(aws_env, "check", target, "--inventory", manifest, "--format", "json")
            assert inventoried.code == listed.code, inventoried.err
            for field in ("findings", "assets", "summary", "complete"):
                assert inventoried.json()[field] == listed.json()[field], (target, field)
    finally:
        client.delete_bucket(Bucket="inventory-destination")


def test_broken_inventories_are_clear_errors(aws_env: SeaweedServer, s3_bucket: BucketHandle, tmp_path: Path) -> None:
    client, bucket = s3_bucket
    put_files(client, bucket, {f"{RAW}/a.txt": "a"})
    manifest, _ = write_inventory(client, bucket, tmp_path, versions=False, files=1)
    target = f"s3://{bucket}"
    doc = json.loads(manifest.read_text())

    def run(**changes: Any) -> str:
        manifest.write_text(json.dumps({**doc, **changes}))
        res = s3_cli(aws_env, "check", target, "--inventory", str(manifest))
        assert res.code == 2
        return res.err

    data_key = doc["files"][0]["key"]
    wrong_md5 = [{**doc["files"][0], "MD5checksum": "0" * 32}]
    assert f"aind-bucket-lint: inventory file {data_key}: MD5 " in run(files=wrong_md5)
    assert f"differs from the manifest's {'0' * 32}" in run(files=wrong_md5)
    assert run(sourceBucket="another-bucket") == (
        f"aind-bucket-lint: {manifest}: the inventory is of bucket 'another-bucket', not '{bucket}'\n"
    )
    assert run(fileFormat="Avro") == (
        f"aind-bucket-lint: {manifest}: inventory format 'Avro' is not supported; configure the inventory as "
        "CSV, Parquet or ORC\n"
    )
    assert f"inventory file {data_key}: not a readable ORC file: " in run(fileFormat="ORC")
    missing = [{**doc["files"][0], "key": "inv/elsewhere/part-9.csv.gz"}]
    assert run(files=missing).startswith(
        "aind-bucket-lint: cannot read inventory file s3://inventory-destination/inv/elsewhere/part-9.csv.gz "
        "(not found next to the manifest either): NoSuchBucket"
    )
    (tmp_path / data_key).write_bytes(b"not gzip at all")
    assert f"inventory file {data_key}: not a readable CSV.gz file: " in run(files=[{"key": data_key}])
    nope = tmp_path / "nope.json"
    res = s3_cli(aws_env, "check", target, "--inventory", str(nope))
    assert res.err == f"aind-bucket-lint: {nope}: cannot read the inventory manifest: No such file or directory\n"


def test_a_bad_file_among_several_is_named(aws_env: SeaweedServer, s3_bucket: BucketHandle, tmp_path: Path) -> None:
    """The data files are read together (in parallel); what is wrong in one of them is still
    named by its file and row, and a good report of several files gives the listing's findings."""
    client, bucket = s3_bucket
    put_files(client, bucket, {**asset_files(RAW), **asset_files(OTHER), "notes.txt": "n"})
    manifest, _ = write_inventory(client, bucket, tmp_path, versions=False, files=3)
    target = f"s3://{bucket}"
    listed = s3_cli(aws_env, "check", target, "--format", "json")
    inventoried = s3_cli(aws_env, "check", target, "--inventory", str(manifest), "--format", "json")
    assert inventoried.code == listed.code == 0, inventoried.err
    assert [(f["rule"], f["path"]) for f in listed.json()["findings"]] == [("L302", "notes.txt")]
    for field in ("findings", "assets", "summary", "complete"):
        assert inventoried.json()[field] == listed.json()[field], field
    doc = json.loads(manifest.read_text())
    second = doc["files"][1]["key"]
    good = gzip.decompress((tmp_path / second).read_bytes()).decode()
    bad_row = f'"{bucket}","{RAW}%2Fextra.bin","12kB","2026-01-01T00:00:00.000Z","abc","STANDARD"\n'
    for text, expected in [
        (good + bad_row, f"aind-bucket-lint: inventory file {second}, row {good.count(chr(10)) + 1}: Size '12kB' "
         "is not a number of bytes\n"),
        (None, f"aind-bucket-lint: inventory file {second}: not a readable CSV.gz file: "),
    ]:  # fmt: skip
        data = gzip.compress(text.encode()) if text is not None else b"not gzip at all"
        (tmp_path / second).write_bytes(data)
        doc["files"][1] = {"key": second, "size": len(data), "MD5checksum": hashlib.md5(data).hexdigest()}
        manifest.write_text(json.dumps(doc))
        res = s3_cli(aws_env, "check", target, "--inventory", str(manifest))
        assert res.code == 2
        if text is not None:
            assert res.err == expected
        else:
            assert res.err.startswith(expected), res.err


@pytest.mark.parametrize("fmt", ["Parquet", "ORC"])
def test_parquet_and_orc_inventory(
    aws_env: SeaweedServer, versioned_bucket: BucketHandle, tmp_path: Path, fmt: str
) -> None:
    client, bucket = versioned_bucket
    build_history(client, bucket)
    rows = list(listing_rows(client, bucket, versions=True))
    manifest_path = tmp_path / "manifest.json"
    part = f"data/part-0.{fmt.lower()}"
    doc = {"sourceBucket": bucket, "destinationBucket": "arn:aws:s3:::d", "fileFormat": fmt,
           "fileSchema": "message s3.inventory { }", "files": [{"key": part}]}  # fmt: skip
    manifest_path.write_text(json.dumps(doc))
    import pyarrow as pa
    import pyarrow.orc as orc
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "bucket": [r["Bucket"] for r in rows],
            "key": [r["Key"] for r in rows],  # not URL-encoded in Parquet
            "version_id": [r["VersionId"] for r in rows],
            "is_latest": [r["IsLatest"] == "true" for r in rows],
            "is_delete_marker": [r["IsDeleteMarker"] == "true" for r in rows],
            "size": [int(r["Size"]) if r["Size"] != "" else None for r in rows],
            "last_modified_date": [
                dt.datetime.fromisoformat(r["LastModifiedDate"].replace("Z", "+00:00")) for r in rows
            ],
            "e_tag": [r["ETag"] or None for r in rows],
        }
    )
    (tmp_path / "data").mkdir()
    if fmt == "ORC":
        orc.write_table(table, tmp_path / part, stripe_size=4096)  # several stripes, read one by one
    else:
        pq.write_table(table, tmp_path / part)
    listed = s3_cli(aws_env, "check", f"s3://{bucket}", "--format", "json")
    inventoried = s3_cli(aws_env, "check", f"s3://{bucket}", "--inventory", str(manifest_path), "--format", "json")
    assert inventoried.code == listed.code, inventoried.err
    assert inventoried.json()["findings"] == listed.json()["findings"]


def test_the_fast_object_constructor_makes_the_same_objects() -> None:
    """``object_info`` (the inventory's constructor) sets every field as ``ObjectInfo(...)`` does."""
    from linter.sources import ObjectInfo, object_info

    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    values = ("a/b.json", 12, "etag1", when, "v1", False, True, "sha256:00")
    made, plain = object_info(*values), ObjectInfo(*values)
    assert made == plain and hash(made) == hash(plain)
    assert [getattr(made, f) for f in ObjectInfo.__slots__] == list(values)
    assert object_info("k", 1, None, None) == ObjectInfo("k", 1)
    with pytest.raises(AttributeError):  # still frozen
        made.size = 13  # type: ignore[misc]
