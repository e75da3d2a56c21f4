"""Zarr store benchmark: what the Z5xx rules add to a bucket audit.

Builds a bucket on a local SeaweedFS server of ``--assets`` assets, each with the real sidecars
of bench_audit.py and an OME-Zarr 0.4 store (Zarr v2: ``.zgroup``, ``.zattrs`` with
``multiscales``, a ``.zarray`` per level) of three resolution levels holding ``--chunks`` chunk
objects in all, within each level's chunk grid (a valid store: the Z rules find nothing), and
``--plain`` more assets without any store. Then measures, in one run and in alternated rounds
(each audit in a fresh process, after a warm-up on a one-asset bucket):

(z)  the full audit (every rule, the Z family included);
(n)  the same audit with ``--ignore Z``;

and reports (z)/(n) per round (aim: at most 1.2), the GETs per store the Z rules made, and
each audit's requests. The chunks are listed by both audits (the asset's listing); the Z rules
add only the store's metadata GETs (at most 2 + the arrays it declares; chunks never read).

    python bench/bench_stores.py                       # 1,000 assets x 1,000 chunks (10^6 objects)
    python bench/bench_stores.py --assets 200 --chunks 500 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_audit import asset_files, asset_name, audit, best, in_child, obstore_bucket, show  # noqa: E402

from tests.s3_audit_helpers import sidecar_files  # noqa: E402

STORE = "image.ome.zarr"
CHUNK = 64
LEVEL_SHARE = (0.8, 0.16, 0.04)
"""How the chunks are spread over the three levels (each halving the resolution)."""


def ome_store(chunks: int) -> dict[str, bytes]:
    """A valid OME-Zarr 0.4 of three levels (z, y, x) with ``chunks`` chunk objects in all: each
    level one row of chunks along x, its shape shrinking from level to level."""
    counts = [max(1, round(chunks * share)) for share in LEVEL_SHARE]
    counts[0] += chunks - sum(counts)
    axes = [{"name": a, "type": "space", "unit": "micrometer"} for a in ("z", "y", "x")]
    datasets = []
    files: dict[str, bytes] = {".zgroup": json.dumps({"zarr_format": 2}).encode()}
    for level, count in enumerate(counts):
        side = CHUNK >> level
        shape = [side, side, side * count]
        scale = {"type": "scale", "scale": [2.0**level] * 3}
        datasets.append({"path": str(level), "coordinateTransformations": [scale]})
        zarray = {
            "zarr_format": 2,
            "shape": shape,
            "chunks": [side, side, side],
            "dtype": "<u2",
            "compressor": None,
            "fill_value": 0,
            "order": "C",
            "filters": None,
        }
        files[f"{level}/.zarray"] = json.dumps(zarray).encode()
        for x in range(count):
            files[f"{level}/0.0.{x}"] = b"\0" * 16  # never read: the size does not matter
    multiscales = [{"version": "0.4", "name": "image", "axes": axes, "datasets": datasets}]
    files[".zattrs"] = json.dumps({"multiscales": multiscales}).encode()
    return files


def build_stores(endpoint: str, bucket: str, assets: int, plain: int, chunks: int, threads: int) -> float:
    """Upload the assets with stores, then the plain ones; returns the seconds taken. Uploads go
    through obstore (Rust, async: many PUTs in flight from one thread) when it is installed, which
    on two cores uploads several times faster than boto3's threads; else through boto3."""
    sidecars = sidecar_files(asset_name(0))
    store = ome_store(chunks)

    def objects() -> Iterator[tuple[str, bytes]]:
        for i in range(assets + plain):
            name = asset_name(i)
            # bench_audit's assets hold a stand-in ecephys .zarr (no metadata): left out, so the
            # only store is the OME-Zarr
            yield from ((k, b) for k, b in asset_files(name, sidecars).items() if ".zarr/" not in k)
            if i < assets:
                yield from ((f"{name}/{STORE}/{key}", body) for key, body in store.items())

    began = time.perf_counter()
    if importlib.util.find_spec("obstore") is not None:
        asyncio.run(_put_all_obstore(endpoint, bucket, objects(), threads * 4))
    else:
        _put_all_boto3(endpoint, bucket, objects(), threads)
    return time.perf_counter() - began


async def _put_all_obstore(endpoint: str, bucket: str, objects: Iterator[tuple[str, bytes]], inflight: int) -> None:
    import obstore as obs

    store = obstore_bucket(endpoint, bucket, inflight)
    pending: set[asyncio.Task[Any]] = set()
    for key, body in objects:
        if len(pending) >= inflight:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a failed upload stops the bench
        pending.add(asyncio.ensure_future(obs.put_async(store, key, body)))
    for task in asyncio.as_completed(pending):
        await task


def _put_all_boto3(endpoint: str, bucket: str, objects: Iterator[tuple[str, bytes]], threads: int) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(max_pool_connections=threads + 4, retries={"mode": "standard", "total_max_attempts": 10}),
    )

    def put(item: tuple[str, bytes]) -> None:
        client.put_object(Bucket=bucket, Key=item[0], Body=item[1])

    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(put, objects, chunksize=64):
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=1000, help="assets with an OME-Zarr (default 1000)")
    parser.add_argument("--chunks", type=int, default=1000, help="chunk objects per store (default 1000)")
    parser.add_argument("--plain", type=int, default=0, help="more assets without any store (default 0)")
    parser.add_argument("--jobs", type=int, default=8, help="threads of the audit (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of measurements (default 3)")
    parser.add_argument("--build-threads", type=int, default=48)
    opts = parser.parse_args(argv)

    from tests.s3server import ADMIN_ACCESS_KEY, ADMIN_SECRET_KEY, REGION, SeaweedServer

    os.environ.update(AWS_ACCESS_KEY_ID=ADMIN_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=ADMIN_SECRET_KEY)
    os.environ.update(AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true")
    print(
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {opts.jobs} threads, {opts.repeat} rounds, "
        f"load {os.getloadavg()}"
    )
    with SeaweedServer() as server:
        endpoint = server.endpoint_url
        admin = server.client()
        for bucket in ("warmup", "bench-stores"):
            admin.create_bucket(Bucket=bucket)
        # the warm-up bucket holds a store too, so its run imports the Zarr and OME models (once
        # per process, not charged to the measured audit)
        build_stores(endpoint, "warmup", 1, 0, 10, 4)
        objects = opts.assets * (len(ome_store(opts.chunks)) + 8) + opts.plain * 8
        seconds = build_stores(endpoint, "bench-stores", opts.assets, opts.plain, opts.chunks, opts.build_threads)
        print(f"built {opts.assets} assets with a store of {opts.chunks} chunks, {opts.plain} without, "
              f"about {objects} objects, in {seconds:.0f} s")  # fmt: skip
        target = "s3://bench-stores"
        runs: dict[str, list[dict[str, Any]]] = {"z": [], "n": []}
        for _ in range(opts.repeat):
            runs["z"].append(in_child(audit, endpoint, target, opts.jobs, [], "s3://warmup"))
            runs["n"].append(in_child(audit, endpoint, target, opts.jobs, ["--ignore", "Z"], "s3://warmup"))
        for k, v in runs.items():
            print(f"  rounds {k} " + "  ".join(f"{x['seconds']:7.2f}" for x in v) + " s")
        r = {k: best(v) for k, v in runs.items()}
        assets = opts.assets + opts.plain
        show("(n) audit without the Z rules", r["n"], assets)
        show("(z) audit with the Z rules", r["z"], assets)
        store_gets = [k for k in r["z"]["get_keys"] if f"/{STORE}/" in k]
        assert not [k for k in store_gets if k.rsplit("/", 1)[-1][0].isdigit()], "a chunk was read"
        rounds = sorted(z["seconds"] / n["seconds"] for z, n in zip(runs["z"], runs["n"], strict=True))
        print(f"  GETs per store: {len(store_gets) / max(1, opts.assets):.2f} (metadata only; chunks read: 0)")
        print(
            f"  (z)/(n) = {r['z']['seconds'] / r['n']['seconds']:.2f} best/best, "
            f"{rounds[len(rounds) // 2]:.2f} median of rounds (aim <= 1.2)"
        )
        print(f"load {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
