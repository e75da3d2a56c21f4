"""The SeaweedFS test server behaves as the linter's S3 tests expect it to."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.s3_fixtures import BucketHandle, deny_prefix
from tests.s3server import (
    GRPC_PORT_OFFSET,
    MIN_WEED_VERSION,
    S3Identity,
    SeaweedServer,
    find_weed,
    free_service_ports,
    weed_version,
)


def error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    """The S3 error code of a failed call ("403" for a HEAD, which has no body)."""
    return str(error.value.response["Error"]["Code"])


def put_keys(client: BaseClient, bucket: str, *keys: str) -> None:
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())


def test_find_weed_returns_a_recent_executable() -> None:
    weed = find_weed()
    assert os.access(weed, os.X_OK)
    version = weed_version(weed)
    assert version is not None
    assert version >= MIN_WEED_VERSION


def test_service_ports_and_their_grpc_partners_are_distinct_and_free() -> None:
    ports = free_service_ports(5)
    every_port = ports + [port + GRPC_PORT_OFFSET for port in ports]
    assert len(set(every_port)) == 10
    for port in every_port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


def test_server_answers_on_loopback(s3_server: SeaweedServer) -> None:
    assert s3_server.endpoint_url.startswith("http://127.0.0.1:")
    assert s3_server.running
    assert "Buckets" in s3_server.client().list_buckets()


def test_listing_with_delimiter_groups_by_prefix(s3_bucket: BucketHandle) -> None:
    client, bucket = s3_bucket
    put_keys(client, bucket, "top.txt", "asset-a/x.json", "asset-a/sub/y.json", "asset-b/z.json")

    listing = client.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [entry["Prefix"] for entry in listing["CommonPrefixes"]] == ["asset-a/", "asset-b/"]
    assert [entry["Key"] for entry in listing["Contents"]] == ["top.txt"]

    nested = client.list_objects_v2(Bucket=bucket, Prefix="asset-a/", Delimiter="/")
    assert [entry["Prefix"] for entry in nested["CommonPrefixes"]] == ["asset-a/sub/"]
    assert [entry["Key"] for entry in nested["Contents"]] == ["asset-a/x.json"]

    first_page = client.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert first_page["IsTruncated"]
    second_page = client.list_objects_v2(
        Bucket=bucket, Delimiter="/", MaxKeys=2, ContinuationToken=first_page["NextContinuationToken"]
    )
    seen = [entry.get("Prefix") or entry.get("Key") for entry in _entries(first_page) + _entries(second_page)]
    assert sorted(seen) == ["asset-a/", "asset-b/", "top.txt"]


def _entries(page: dict[str, list[dict[str, str]]]) -> list[dict[str, str]]:
    return page.get("CommonPrefixes", []) + page.get("Contents", [])


def test_versioning_keeps_versions_and_delete_markers(versioned_bucket: BucketHandle) -> None:
    client, bucket = versioned_bucket
    client.put_object(Bucket=bucket, Key="asset/data.json", Body=b"one")
    client.put_object(Bucket=bucket, Key="asset/data.json", Body=b"two")
    client.put_object(Bucket=bucket, Key="gone/data.json", Body=b"three")
    client.delete_object(Bucket=bucket, Key="gone/data.json")

    versions = client.list_object_versions(Bucket=bucket)
    by_key: dict[str, int] = {}
    for version in versions["Versions"]:
        by_key[version["Key"]] = by_key.get(version["Key"], 0) + 1
    assert by_key == {"asset/data.json": 2, "gone/data.json": 1}
    markers = versions["DeleteMarkers"]
    assert [(marker["Key"], marker["IsLatest"]) for marker in markers] == [("gone/data.json", True)]

    # A prefix whose every object is delete-marked is not listed (SeaweedFS >= 4.48).
    listing = client.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [entry["Prefix"] for entry in listing["CommonPrefixes"]] == ["asset/"]
    assert client.get_object(Bucket=bucket, Key="asset/data.json")["Body"].read() == b"two"


def test_wrong_secret_and_unknown_key_are_refused(s3_server: SeaweedServer) -> None:
    with pytest.raises(ClientError) as wrong_secret:
        s3_server.client(s3_server.access_key, "not-the-secret").list_buckets()
    assert error_code(wrong_secret) == "SignatureDoesNotMatch"

    with pytest.raises(ClientError) as unknown_key:
        s3_server.client("NOSUCHKEY", "whatever").list_buckets()
    assert error_code(unknown_key) == "InvalidAccessKeyId"


def test_reader_is_denied_one_prefix_by_a_bucket_policy(s3_bucket: BucketHandle, s3_reader: BaseClient) -> None:
    client, bucket = s3_bucket
    put_keys(client, bucket, "asset-a/x.json", "asset-b/x.json", "asset-c/x.json")
    deny_prefix(s3_bucket, "asset-b/")

    for key in ("asset-a/x.json", "asset-c/x.json"):
        assert s3_reader.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
        assert s3_reader.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(key)
    with pytest.raises(ClientError) as get_denied:
        s3_reader.get_object(Bucket=bucket, Key="asset-b/x.json")
    assert error_code(get_denied) == "AccessDenied"
    with pytest.raises(ClientError) as head_denied:
        s3_reader.head_object(Bucket=bucket, Key="asset-b/x.json")
    assert error_code(head_denied) == "403"

    # Listing is not denied, the admin is not affected, and the reader cannot write.
    listing = s3_reader.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [entry["Prefix"] for entry in listing["CommonPrefixes"]] == ["asset-a/", "asset-b/", "asset-c/"]
    assert client.get_object(Bucket=bucket, Key="asset-b/x.json")["Body"].read() == b"asset-b/x.json"
    with pytest.raises(ClientError) as write_denied:
        s3_reader.put_object(Bucket=bucket, Key="asset-a/new.json", Body=b"{}")
    assert error_code(write_denied) == "AccessDenied"


def test_denied_prefix_covers_reads_by_version_id(versioned_bucket: BucketHandle, s3_reader: BaseClient) -> None:
    client, bucket = versioned_bucket
    version_id = client.put_object(Bucket=bucket, Key="asset-b/x.json", Body=b"{}")["VersionId"]
    deny_prefix(versioned_bucket, "asset-b/")

    with pytest.raises(ClientError) as denied:
        s3_reader.get_object(Bucket=bucket, Key="asset-b/x.json", VersionId=version_id)
    assert error_code(denied) == "AccessDenied"


# A server of its own with identities restricted in the s3 config file itself.

SCOPED_BUCKET = "scoped"
ALLOW_LIST = S3Identity(
    name="allow-list",
    access_key="ALLOWLISTKEY",
    secret_key="ALLOWLISTSECRET",
    actions=(f"List:{SCOPED_BUCKET}", f"Read:{SCOPED_BUCKET}/asset-a/*", f"Read:{SCOPED_BUCKET}/asset-c/*"),
)
POLICY_USER = S3Identity(
    name="policy-user",
    access_key="POLICYKEY",
    secret_key="POLICYSECRET",
    policy_names=("read-all-but-asset-b",),
)
READ_ALL_BUT_ASSET_B = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{SCOPED_BUCKET}", f"arn:aws:s3:::{SCOPED_BUCKET}/*"],
        },
        {"Effect": "Deny", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{SCOPED_BUCKET}/asset-b/*"]},
    ],
}


@pytest.fixture(scope="module")
def scoped_server() -> Iterator[SeaweedServer]:
    with SeaweedServer(
        identities=[ALLOW_LIST, POLICY_USER], policies={"read-all-but-asset-b": READ_ALL_BUT_ASSET_B}
    ) as server:
        admin = server.client()
        admin.create_bucket(Bucket=SCOPED_BUCKET)
        admin.create_bucket(Bucket="elsewhere")
        put_keys(admin, SCOPED_BUCKET, "asset-a/x.json", "asset-b/x.json", "asset-c/x.json")
        put_keys(admin, "elsewhere", "asset-a/x.json")
        yield server


@pytest.mark.parametrize("identity", [ALLOW_LIST, POLICY_USER], ids=lambda identity: identity.name)
def test_identity_from_the_config_file_is_denied_one_prefix(scoped_server: SeaweedServer, identity: S3Identity) -> None:
    client = scoped_server.identity_client(identity)

    listing = client.list_objects_v2(Bucket=SCOPED_BUCKET, Delimiter="/")
    assert [entry["Prefix"] for entry in listing["CommonPrefixes"]] == ["asset-a/", "asset-b/", "asset-c/"]
    for key in ("asset-a/x.json", "asset-c/x.json"):
        assert client.get_object(Bucket=SCOPED_BUCKET, Key=key)["Body"].read() == key.encode()
    with pytest.raises(ClientError) as denied:
        client.get_object(Bucket=SCOPED_BUCKET, Key="asset-b/x.json")
    assert error_code(denied) == "AccessDenied"
    with pytest.raises(ClientError) as other_bucket:
        client.get_object(Bucket="elsewhere", Key="asset-a/x.json")
    assert error_code(other_bucket) == "AccessDenied"
    with pytest.raises(ClientError) as write_denied:
        client.put_object(Bucket=SCOPED_BUCKET, Key="asset-a/new.json", Body=b"{}")
    assert error_code(write_denied) == "AccessDenied"


def test_identities_are_written_to_the_s3_config(scoped_server: SeaweedServer) -> None:
    assert scoped_server.directory is not None
    config = json.loads((scoped_server.directory / "s3.json").read_text())
    assert [identity["name"] for identity in config["identities"]] == ["allow-list", "policy-user"]
    assert json.loads(config["policies"][0]["content"]) == READ_ALL_BUT_ASSET_B


def test_stop_ends_the_process_and_removes_its_files() -> None:
    with SeaweedServer() as server:
        process_id = server.pid
        directory = server.directory
        ports = [port + offset for port in server.ports.values() for offset in (0, GRPC_PORT_OFFSET)]
        server.client().create_bucket(Bucket="lifecycle")
    assert process_id is not None
    assert directory is not None
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(process_id, 0)
    assert not directory.exists()
    assert [path for port in ports for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock")] == []
    server.stop()  # a second stop is harmless
