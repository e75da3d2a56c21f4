"""Z5xx against a real S3 server (SeaweedFS behind the tests' counting proxy): the metadata GETs
per store, none at all on a second run with a ledger while nothing changed, and an inventory's
summary that still clears the assets without stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.faultproxy import FaultProxy
from tests.linter.sources.test_inventory import write_inventory
from tests.s3_audit_helpers import findings_of, make_linter, put_files, run_events
from tests.s3_fixtures import BucketHandle
from tests.s3server import SeaweedServer
from tests.store_writers import real_stores

ASSET = "SPIM_700000_2024-01-01_10-00-00"
PLAIN = "ecephys_700001_2024-01-02_10-00-00"
PLACES = {
    "ome-0.4": "SPIM/image.ome.zarr",
    "ome-0.5": "SPIM/image-v3.ome.zarr",
    "nwb-zarr": "ecephys/session.nwb.zarr",
    "nwb-hdf5": "ecephys/session.nwb",
}
GETS = {"ome-0.4": 2 + 3, "ome-0.5": 1 + 3, "nwb-zarr": 1, "nwb-hdf5": 1}
"""GETs per store: v2 .zgroup and .zattrs and a .zarray per level; v3 the root zarr.json and one per
level; a consolidated NWB-Zarr its .zmetadata alone; an NWB-HDF5 file one ranged GET of 8 bytes."""


def store_files() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for what, place in PLACES.items():
        path = real_stores()[what]
        if path.is_file():
            files[f"{ASSET}/{place}"] = path.read_bytes()
            continue
        for item in sorted(path.rglob("*")):
            if item.is_file():
                files[f"{ASSET}/{place}/{item.relative_to(path).as_posix()}"] = item.read_bytes()
    files[f"{PLAIN}/ecephys/README.txt"] = b"no store here\n"
    return files


@pytest.fixture
def proxy(s3_server: SeaweedServer) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.endpoint_url) as p:
        yield p


@pytest.fixture
def stored(s3_bucket: BucketHandle) -> str:
    put_files(s3_bucket.client, s3_bucket.name, store_files())
    return s3_bucket.name


def z_check(proxy: FaultProxy, server: SeaweedServer, bucket: str, *args: str) -> list[tuple[str, str]]:
    result = run_cli(
        "check", f"s3://{bucket}", "--select", "Z", "--format", "json", "--endpoint-url", proxy.url,
        "--region", server.region, *args,
    )  # fmt: skip
    assert result.code in (0, 1), result.stderr
    return [(f["rule"], f["path"]) for f in result.json()["findings"]]


def test_metadata_gets_per_store_within_the_budget(aws_env: SeaweedServer, stored: str, proxy: FaultProxy) -> None:
    assert z_check(proxy, aws_env, stored) == []
    assert proxy.requests["GET object"] == sum(GETS.values())


def test_a_ledger_reuses_the_verdicts_while_the_metadata_is_unchanged(
    aws_env: SeaweedServer, stored: str, s3_bucket: BucketHandle, proxy: FaultProxy, tmp_path: Path
) -> None:
    ledger = str(tmp_path / "ledger.sqlite")
    assert z_check(proxy, aws_env, stored, "--ledger", ledger) == []
    assert proxy.requests["GET object"] == sum(GETS.values())
    proxy.requests.clear()
    assert z_check(proxy, aws_env, stored, "--ledger", ledger) == []
    assert proxy.requests["GET object"] == 0  # nothing changed: no metadata read again
    key = f"{ASSET}/{PLACES['ome-0.4']}/.zattrs"
    s3_bucket.client.put_object(Bucket=stored, Key=key, Body=b'{"multiscales": ')  # a new ETag
    proxy.requests.clear()
    assert z_check(proxy, aws_env, stored, "--ledger", ledger) == [("Z501", key)]
    assert proxy.requests["GET object"] == sum(GETS.values())


def test_the_inventory_summary_clears_the_assets_without_stores(
    aws_env: SeaweedServer, stored: str, s3_bucket: BucketHandle, tmp_path: Path
) -> None:
    manifest, _ = write_inventory(s3_bucket.client, stored, tmp_path, versions=False)
    linter = make_linter(aws_env, ["Z", "N", "L301", "L302", "L303"], inventory=str(manifest))
    results, finished = run_events(linter, f"s3://{stored}")
    summarized = findings_of(results)
    assert finished.cleared == 1  # the asset without a store never reaches Python
    linter = make_linter(aws_env, ["Z", "N", "L301", "L302", "L303"], inventory=str(manifest), prefilter=False)
    results, finished = run_events(linter, f"s3://{stored}")
    assert finished.cleared == 0
    assert findings_of(results) == summarized
    assert [f.rule for f in summarized if f.rule.startswith("Z")] == []
