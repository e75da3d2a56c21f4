"""Bucket audit benchmark: the full audit against the floor of the requests it needs.

Builds a bucket of realistic assets on a local SeaweedFS server (six real aind-data-schema
sidecars at each asset's root, a few data objects below), then measures, in one run:

(a) the floor: a bare boto3 script making exactly the LIST and GET requests the audit made
    (the Delimiter listing of the bucket, one listing per asset, a GET of each object the
    audit read, recorded from the audit's own requests), with the same threads and pool;
(b) the full audit (``aind-bucket-lint check`` with every rule, a jsonl report to /dev/null);
    and (b') the audit without the M rules (no sidecar validation), against its own floor
    (a'), to separate what validation costs from what the rest of the linter costs;
(c) a second audit with ``--ledger`` over the unchanged bucket (after a first one that fills
    the ledger).

Each measurement runs in a fresh process (spawned, so imports are warmed up before the clock
starts and ``ru_maxrss`` is that measurement's own peak memory). The audit is measured at 1,000
assets and again after the bucket has grown to the full size.

    python bench/bench_audit.py                 # 1,000 then 5,000 assets, 8 threads
    python bench/bench_audit.py --assets 20000 --jobs 16 --repeat 3
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# the same sidecar set (valid aind-data-schema 2.9.2 files from the project's builder) as the S3 tests
from tests.s3_audit_helpers import sidecar_files  # noqa: E402

DATA_OBJECTS = (
    "ecephys/ecephys_clipped/Record Node 101/settings.xml",
    "ecephys/ecephys_compressed/experiment1_Record Node 101#Neuropix-PXI-100.ProbeA.zarr/.zattrs",
    "ecephys/ecephys_compressed/experiment1_Record Node 101#Neuropix-PXI-100.ProbeA.zarr/traces_seg0/0.0",
    "ecephys/ecephys_compressed/experiment1_Record Node 101#Neuropix-PXI-100.ProbeA.zarr/traces_seg0/1.0",
    "behavior/videos/face_camera.mp4",
    "behavior/trials.csv",
)
SETTINGS = {"retry_mode": "adaptive"}


def asset_name(i: int) -> str:
    return f"ecephys_{600000 + i}_2023-{1 + i % 12:02d}-{1 + i % 28:02d}_{i % 24:02d}-{i % 60:02d}-{(i * 7) % 60:02d}"


PER_SUBJECT = ("data_description.json", "subject.json", "procedures.json", "acquisition.json")
"""Sidecars that carry the asset's subject id; instrument.json and processing.json are shared by
many assets (one rig, one pipeline), as in the real bucket."""


def unique_bytes(body: bytes, i: int) -> bytes:
    """The same JSON document with whitespace after its opening brace spelling ``i`` in binary
    (spaces and tabs): the same content, validated the same, but bytes (and an ETag) of its own."""
    assert body.startswith(b"{")
    return b"{" + "".join(" " if bit == "0" else "\t" for bit in f"{i:020b}").encode() + body[1:]


def asset_files(name: str, sidecars: dict[str, bytes], unique: int | None = None) -> dict[str, bytes]:
    """``unique``: give every sidecar bytes of its own (else instrument and processing are shared)."""
    files = {f"{name}/{key}": body for key, body in sidecars.items()}
    subject = name.split("_")[1]
    for key in PER_SUBJECT:
        doc = json.loads(sidecars[key])
        doc["subject_id"] = subject
        if key == "data_description.json":
            doc["name"] = name
        files[f"{name}/{key}"] = json.dumps(doc, indent=2).encode()
    if unique is not None:
        for key in sidecars:
            files[f"{name}/{key}"] = unique_bytes(files[f"{name}/{key}"], unique)
    for key in DATA_OBJECTS:
        files[f"{name}/{key}"] = f"{name}/{key}".encode() * 4
    return files


def build(endpoint: str, bucket: str, start: int, stop: int, threads: int, unique: bool = False) -> float:
    """Upload assets ``start``..``stop`` with ``threads`` threads; returns the seconds taken."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(max_pool_connections=threads + 4, retries={"mode": "standard", "total_max_attempts": 10}),
    )
    sidecars = sidecar_files(asset_name(0))
    began = time.perf_counter()

    def put_asset(i: int) -> None:
        for key, body in asset_files(asset_name(i), sidecars, i if unique else None).items():
            client.put_object(Bucket=bucket, Key=key, Body=body)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put_asset, range(start, stop)))
    return time.perf_counter() - began


# -- what runs in the measured child processes ----------------------------------------------------------------------


def _child_result(seconds: float, requests: Counter[str], **more: Any) -> dict[str, Any]:
    return {
        "seconds": seconds,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "requests": dict(requests),
        **more,
    }


def count_retries(requests: Counter[str], parsed: Any = None, **_: Any) -> None:
    """Counts the retries botocore made (``RetryAttempts``): a throttled or failing server shows
    here, and boto3's adaptive mode then slows the client down on purpose."""
    attempts = (parsed or {}).get("ResponseMetadata", {}).get("RetryAttempts", 0)
    if attempts:
        requests["retries"] += attempts


def floor(endpoint: str, bucket: str, jobs: int, get_keys: list[str]) -> dict[str, Any]:
    """(a): the requests the audit needs, made by a bare boto3 script with the same threads:
    list the bucket's children, list each child, GET the keys the audit read."""
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(max_pool_connections=jobs + 4, retries={"mode": "adaptive", "total_max_attempts": 8}),
    )
    client.list_buckets()  # connect once before the clock starts, as the audit does
    requests: Counter[str] = Counter()
    client.meta.events.register("after-call.s3", functools.partial(count_retries, requests))
    began = time.perf_counter()
    client.get_bucket_versioning(Bucket=bucket)
    requests["GetBucketVersioning"] += 1
    names = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/"):
        requests["ListObjectsV2"] += 1
        names.extend(p["Prefix"] for p in page.get("CommonPrefixes", ()))

    def pages(prefix: str) -> Iterator[list[str]]:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            yield [o["Key"] for o in page.get("Contents", ())]

    def get(key: str) -> None:
        client.get_object(Bucket=bucket, Key=key)["Body"].read()

    requests.update(_replay(names, get_keys, jobs, pages, get, "/"))
    return _child_result(time.perf_counter() - began, requests, assets=len(names))


def _replay(
    names: list[str],
    get_keys: list[str],
    jobs: int,
    pages: Callable[[str], Iterable[list[str]]],
    get: Callable[[str], None],
    slash: str,
) -> Counter[str]:
    """The per-asset requests of a floor, ``jobs`` assets at a time: list each asset (``pages``
    gives its keys page by page) and GET its keys the audit read (``names`` end with ``slash``)."""
    wanted: dict[str, list[str]] = {}
    for key in get_keys:
        wanted.setdefault(key.split("/", 1)[0] + slash, []).append(key)

    def one(prefix: str) -> Counter[str]:
        counts: Counter[str] = Counter()
        for _ in pages(prefix):
            counts["ListObjectsV2"] += 1
        for key in wanted.get(prefix, ()):
            get(key)
            counts["GetObject"] += 1
        return counts

    requests: Counter[str] = Counter()
    with ThreadPoolExecutor(jobs) as pool:
        for counts in pool.map(one, names):
            requests.update(counts)
    return requests


def obstore_bucket(endpoint: str, bucket: str, connections: int) -> Any:
    """An obstore S3Store of the test server's ``bucket`` (admin credentials, plain HTTP)."""
    from obstore.store import S3Store

    from tests.s3server import ADMIN_ACCESS_KEY, ADMIN_SECRET_KEY

    return S3Store(
        bucket,
        endpoint=endpoint,
        region="us-east-1",
        access_key_id=ADMIN_ACCESS_KEY,
        secret_access_key=ADMIN_SECRET_KEY,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True, "pool_max_idle_per_host": str(connections)},
    )


def fast_floor(endpoint: str, bucket: str, jobs: int, get_keys: list[str]) -> dict[str, Any]:
    """(a*): the same requests as (a), made with obstore (Rust, object_store) and the same threads."""
    import obstore as obs

    store = obstore_bucket(endpoint, bucket, jobs + 4)
    obs.list_with_delimiter(store, "warm")  # connect once before the clock starts
    requests: Counter[str] = Counter()
    began = time.perf_counter()
    names = obs.list_with_delimiter(store)["common_prefixes"]
    requests["ListObjectsV2"] += 1 + len(names) // 1000

    def pages(prefix: str) -> Iterator[list[str]]:
        for batch in obs.list(store, prefix, chunk_size=1000):
            yield [o["path"] for o in batch]

    def get(key: str) -> None:
        obs.get(store, key).bytes()

    requests.update(_replay(names, get_keys, jobs, pages, get, ""))
    return _child_result(time.perf_counter() - began, requests, assets=len(names))


def audit(endpoint: str, target: str, jobs: int, args: list[str], warmup: str) -> dict[str, Any]:
    """(b) and (c): the real command line, in process, after a warm-up run on a tiny bucket."""
    import linter.sources.s3client as s3_module
    from linter.cli import main

    requests: Counter[str] = Counter()
    get_keys: list[str] = []
    original = s3_module.make_client

    def count(model: Any, **_: Any) -> None:
        requests[model.name] += 1

    def record_key(params: dict[str, Any], **_: Any) -> None:
        get_keys.append(params["Key"])

    def counting_client(*a: Any, **k: Any) -> Any:
        client = original(*a, **k)
        client.meta.events.register("before-call.s3", count)
        client.meta.events.register("after-call.s3", functools.partial(count_retries, requests))
        client.meta.events.register("before-parameter-build.s3.GetObject", record_key)
        return client

    s3_module.make_client = counting_client  # type: ignore[assignment]
    common = ["--endpoint-url", endpoint, "--region", "us-east-1", "--jobs", str(jobs), "-q"]
    report = ["--format", "jsonl", "--output", os.devnull]
    code = main(["check", warmup, *common, *report])  # imports aind-data-schema, loads the rules
    assert code in (0, 1), f"warm-up run failed with exit code {code}"
    requests.clear()
    get_keys.clear()
    began = time.perf_counter()
    code = main(["check", target, *common, *report, *args])
    seconds = time.perf_counter() - began
    assert code in (0, 1), f"audit failed with exit code {code}"
    return _child_result(seconds, requests, exit_code=code, get_keys=sorted(get_keys))


@contextmanager
def _cluster(executors: list[str]) -> Iterator[str]:
    """A Dask LocalCluster of one worker process per core (not charged to the audits), when measured."""
    if "dask" not in executors:
        yield ""
        return
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    ) as cluster:
        yield cluster.scheduler_address


def _child(queue: Any, fn: Callable[..., dict[str, Any]], args: tuple[Any, ...]) -> None:
    queue.put(fn(*args))


def in_child(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``fn`` in a fresh (spawned, not daemonic: it may start worker processes) interpreter."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(queue, fn, args))
    child.start()
    try:
        return queue.get()  # type: ignore[no-any-return]
    finally:
        child.join()


def best(runs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return min(runs, key=lambda r: r["seconds"])


def measure(repeat: int, fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    return best(in_child(fn, *args) for _ in range(repeat))


def show(label: str, r: dict[str, Any], assets: int) -> None:
    reqs = ", ".join(f"{k} {v}" for k, v in sorted(r["requests"].items()))
    print(
        f"  {label:<44} {r['seconds']:7.2f} s  {1000 * r['seconds'] / assets:6.2f} ms/asset  "
        f"peak {r['maxrss_mb']:6.0f} MB  [{reqs}]"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=5000, help="assets in the full bucket (default 5000)")
    parser.add_argument("--small", type=int, default=1000, help="assets at the first measurement (default 1000)")
    parser.add_argument("--jobs", type=int, default=8, help="threads of the audit and of the floor (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of measurements (default 3)")
    parser.add_argument("--build-threads", type=int, default=32)
    parser.add_argument(
        "--executors", default="threads,processes,dask", help="executors of the full audit (default all three)"
    )
    parser.add_argument("--sidecars", choices=("unique", "shared", "both"), default="both")
    parser.add_argument("--extended", action="store_true", help="also (b') without the M rules and (c) the ledger")
    opts = parser.parse_args(argv)
    if importlib.util.find_spec("obstore") is None:
        print("bench_audit needs obstore for the (a*) floor: pip install -e '.[bench]'", file=sys.stderr)
        return 2

    from tests.s3server import ADMIN_ACCESS_KEY, ADMIN_SECRET_KEY, REGION, SeaweedServer

    os.environ.update(AWS_ACCESS_KEY_ID=ADMIN_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=ADMIN_SECRET_KEY)
    os.environ.update(AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true")
    print(
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {opts.jobs} threads, {opts.repeat} rounds, "
        f"load {os.getloadavg()}"
    )
    executors = [e for e in opts.executors.split(",") if e]
    modes = ("unique", "shared") if opts.sidecars == "both" else (opts.sidecars,)
    with SeaweedServer() as server, tempfile.TemporaryDirectory() as tmp, _cluster(executors) as scheduler:
        endpoint = server.endpoint_url
        admin = server.client()
        for bucket in ("warmup", *(f"bench-{m}" for m in modes)):
            admin.create_bucket(Bucket=bucket)
        build(endpoint, "warmup", 0, 1, 1)
        warmup = "s3://warmup"
        sizes = sorted({n for n in (opts.small, opts.assets) if n > 0})
        built = dict.fromkeys(modes, 0)
        table: list[tuple[str, int, str, float, float]] = []
        for size in sizes:
            for mode in modes:
                bucket = f"bench-{mode}"
                seconds = build(endpoint, bucket, built[mode], size, opts.build_threads, unique=mode == "unique")
                print(f"\nbuilt {bucket} assets {built[mode]}..{size - 1} in {seconds:.1f} s")
                built[mode] = size
                target = f"s3://{bucket}"
                print(f"{size} assets, {mode} sidecars:")
                # rounds, each measuring everything once, in the same order: the server and the
                # machine drift (the floor was seen to swing from 8 s to 44 s between runs), so
                # each round's audits are also compared with that round's own floor
                runs: dict[str, list[dict[str, Any]]] = {k: [] for k in (*executors, "a", "a*")}
                keys: list[str] | None = None
                for _ in range(opts.repeat):
                    for executor in executors:
                        extra = ["--executor", executor]
                        if executor == "dask":
                            extra = ["--dask-scheduler", scheduler]
                        runs[executor].append(in_child(audit, endpoint, target, opts.jobs, extra, warmup))
                        keys = keys if keys is not None else runs[executor][-1]["get_keys"]
                    runs["a"].append(in_child(floor, endpoint, bucket, opts.jobs, keys))
                    runs["a*"].append(in_child(fast_floor, endpoint, bucket, opts.jobs, keys))
                r = {k: best(v) for k, v in runs.items()}
                for k, v in runs.items():
                    print(f"  rounds {k:<10} " + "  ".join(f"{x['seconds']:6.2f}" for x in v) + " s")
                show("(a) floor: bare boto3, the audit's requests", r["a"], size)
                show("(a*) floor: obstore, the same requests", r["a*"], size)
                for executor in executors:
                    show(f"(b) full audit, every rule, {executor}", r[executor], size)
                print(f"  (a*)/(a) = {r['a*']['seconds'] / r['a']['seconds']:.2f}   (fastest client vs boto3)")
                aim = 1.3 if mode == "unique" else 1.1
                for executor in executors:
                    ratio = r[executor]["seconds"] / r["a"]["seconds"]
                    fast = r[executor]["seconds"] / r["a*"]["seconds"]
                    rounds = sorted(b["seconds"] / a["seconds"] for b, a in zip(runs[executor], runs["a"], strict=True))
                    median = rounds[len(rounds) // 2]
                    print(
                        f"  (b {executor})/(a) = {ratio:.2f} best/best, {median:.2f} median of rounds (aim <= {aim}); "
                        f"/(a*) = {fast:.2f}"
                    )
                    table.append((mode, size, executor, ratio, median))
                if opts.extended:
                    ledger = str(Path(tmp) / f"ledger-{mode}-{size}.sqlite")
                    r["b-M"] = measure(opts.repeat, audit, endpoint, target, opts.jobs, ["--ignore", "M"], warmup)
                    r["a-M"] = measure(opts.repeat, floor, endpoint, bucket, opts.jobs, r["b-M"]["get_keys"])
                    show("(a') floor of (b')", r["a-M"], size)
                    show("(b') audit without the M rules", r["b-M"], size)
                    in_child(audit, endpoint, target, opts.jobs, ["--ledger", ledger], warmup)
                    r["c"] = measure(opts.repeat, audit, endpoint, target, opts.jobs, ["--ledger", ledger], warmup)
                    show("(c) second audit with --ledger, unchanged", r["c"], size)
                    print(f"  (b')/(a') = {r['b-M']['seconds'] / r['a-M']['seconds']:.2f}")
                    print(f"  (c)/(b)   = {r['c']['seconds'] / r[executors[0]]['seconds']:.2f}")
        print("\nsummary: full audit / boto3 floor")
        for mode, size, executor, ratio, median in table:
            print(f"  {mode:<7} {size:>6} assets  {executor:<10} {ratio:.2f} best/best  {median:.2f} median of rounds")
        print(f"load {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
