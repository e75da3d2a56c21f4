"""Pytest fixtures for a real S3 server (SeaweedFS); load with ``pytest_plugins = ["tests.s3_fixtures"]``.

Fixtures:
    s3_server: one :class:`~tests.s3server.SeaweedServer` per test session (per xdist
        worker), with the admin and the restricted :data:`READER` identity.
    s3_bucket: a fresh, uniquely named, empty bucket: a :class:`BucketHandle`, which
        unpacks as ``client, bucket = s3_bucket`` (an admin client and the bucket name).
    versioned_bucket: the same, with versioning enabled.
    s3_reader: a client signed as :data:`READER`; deny it a prefix of a bucket with
        :func:`deny_prefix`.

Each new bucket is a SeaweedFS collection: its first write takes about 0.2 s while the
server grows a volume for it. Buckets are deleted, with their contents, after the test.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import NamedTuple

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.s3server import S3Identity, SeaweedServer, deny_prefix_policy

READER = S3Identity(
    name="reader",
    access_key="READERKEY",
    secret_key="READERSECRET",
    actions=("Read", "List"),
)
"""May read and list every bucket, write none; a bucket policy can deny it a prefix."""


class BucketHandle(NamedTuple):
    """An S3 client (signed as the admin) and the name of a bucket made for one test."""

    client: BaseClient
    name: str


def unique_bucket_name(hint: str = "") -> str:
    """A valid S3 bucket name made from ``hint`` (e.g. the test's name) and a random suffix."""
    stem = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")[:40].strip("-")
    return f"{stem or 'bucket'}-{uuid.uuid4().hex[:12]}"


def delete_bucket(client: BaseClient, bucket: str) -> None:
    """Delete a bucket with everything in it; ignore a bucket that is already gone.

    SeaweedFS deletes non-empty buckets (``-s3.allowDeleteBucketNotEmpty`` is on by
    default), which also frees the bucket's volume slot for later tests.
    """
    try:
        client.delete_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchBucket":
            raise


def deny_prefix(bucket: BucketHandle, prefix: str, identity: S3Identity = READER) -> None:
    """Make every key under ``prefix`` unreadable (``AccessDenied``) for ``identity``."""
    policy = deny_prefix_policy(bucket.name, prefix, identity.principal_arn)
    bucket.client.put_bucket_policy(Bucket=bucket.name, Policy=policy)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedServer]:
    """A SeaweedFS S3 server on 127.0.0.1 for the whole session, stopped at its end."""
    with SeaweedServer(identities=[READER]) as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: SeaweedServer, request: pytest.FixtureRequest) -> Iterator[BucketHandle]:
    """A fresh empty bucket, named after the test, deleted with its contents afterwards."""
    client = s3_server.client()
    name = unique_bucket_name(request.node.name)
    client.create_bucket(Bucket=name)
    yield BucketHandle(client, name)
    delete_bucket(client, name)


@pytest.fixture
def versioned_bucket(s3_bucket: BucketHandle) -> BucketHandle:
    """Like ``s3_bucket``, with versioning enabled."""
    s3_bucket.client.put_bucket_versioning(Bucket=s3_bucket.name, VersioningConfiguration={"Status": "Enabled"})
    return s3_bucket


@pytest.fixture
def s3_reader(s3_server: SeaweedServer) -> BaseClient:
    """A client signed as :data:`READER`: reads and lists, cannot write."""
    return s3_server.identity_client(READER)
