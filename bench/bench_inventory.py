"""S3 Inventory benchmark: linting from an inventory report against DuckDB reading the same files.

Writes an S3 Inventory report as AWS publishes it (manifest.json and CSV.gz data files of the
current objects: Bucket, Key, Size, LastModifiedDate, ETag, StorageClass; keys URL-encoded) of
assets of 12 objects each, then measures, each in a fresh process:

(d) DuckDB alone: read every data file, decode the keys and count the objects of each asset
    (``GROUP BY`` the first key part): the floor of reading the report;
(e) ``aind-bucket-lint check s3://BUCKET --inventory manifest.json --select N,L301,L302,L303,I4`` (names,
    layout, immutability: no GET), a jsonl report to /dev/null; the report is summarized by asset
    in DuckDB and only the assets the rules' ``clears`` conditions do not clear (here the 1 in
    120 whose name has the placeholder time 00-00-00, an N107 finding) reach Python;
(f) the same with ``--ledger`` (a first run: it fills the ledger), and the ledger's size.

For each: seconds, peak memory (``ru_maxrss``) and peak disk of its temporary folder (sampled).

    python bench/bench_inventory.py                       # 10^6 then 5x10^6 objects
    python bench/bench_inventory.py --objects 200000      # quick

(d) and (e) are measured ``--rounds`` times, alternating, and the best of each is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OBJECTS_PER_ASSET = 12
FILES = 4
BUCKET = "bench-inventory"


def write_report(folder: Path, objects: int) -> Path:
    """The report's data files (written by DuckDB, gzip) and its manifest; returns the manifest."""
    import hashlib

    import duckdb

    data = folder / "data"
    data.mkdir(parents=True)
    entries = []
    per_file = -(-objects // FILES)
    for f in range(FILES):
        start, stop = f * per_file, min(objects, (f + 1) * per_file)
        path = data / f"part-{f}.csv.gz"
        # asset i: ecephys_<subject>_<date>_<time>; 6 sidecars at its root, 6 data objects below
        duckdb.execute(
            f"""
            COPY (
                SELECT '{BUCKET}' AS bucket,
                    'ecephys_' || (600000 + a) || '_2023-' || lpad(CAST(1 + a % 12 AS VARCHAR), 2, '0') || '-'
                        || lpad(CAST(1 + a % 28 AS VARCHAR), 2, '0') || '_' || lpad(CAST(a % 24 AS VARCHAR), 2, '0')
                        || '-' || lpad(CAST(a % 60 AS VARCHAR), 2, '0') || '-'
                        || lpad(CAST((a * 7) % 60 AS VARCHAR), 2, '0') || '%2F'
                        || CASE o WHEN 0 THEN 'data_description.json' WHEN 1 THEN 'subject.json'
                            WHEN 2 THEN 'procedures.json' WHEN 3 THEN 'processing.json'
                            WHEN 4 THEN 'instrument.json' WHEN 5 THEN 'acquisition.json'
                            ELSE 'ecephys%2Fecephys_compressed%2Fblock' || o || '.zarr%2F0.0' END AS key,
                    1000 + (i % 7919) AS size,
                    '2023-06-01T00:00:00.000Z' AS last_modified,
                    md5(CAST(i AS VARCHAR)) AS etag,
                    'STANDARD' AS storage_class
                FROM (SELECT i, i // {OBJECTS_PER_ASSET} AS a, i % {OBJECTS_PER_ASSET} AS o
                      FROM range({start}, {stop}) t(i))
            ) TO '{path}' (HEADER false, COMPRESSION gzip, QUOTE '"', FORCE_QUOTE *)
            """
        )
        blob = path.read_bytes()
        entries.append({"key": f"data/{path.name}", "size": len(blob), "MD5checksum": hashlib.md5(blob).hexdigest()})
    manifest = folder / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "sourceBucket": BUCKET,
                "destinationBucket": "arn:aws:s3:::inventory-destination",
                "fileFormat": "CSV",
                "fileSchema": "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass",
                "files": entries,
            }
        )
    )
    return manifest


def duckdb_floor(manifest: str) -> dict[str, Any]:
    import duckdb

    doc = json.loads(Path(manifest).read_text())
    files = [str(Path(manifest).parent / e["key"]) for e in doc["files"]]
    began = time.perf_counter()
    columns = "{'Bucket': 'VARCHAR', 'Key': 'VARCHAR', 'Size': 'VARCHAR', 'LastModifiedDate': 'VARCHAR', "
    columns += "'ETag': 'VARCHAR', 'StorageClass': 'VARCHAR'}"
    (assets, objects) = duckdb.execute(
        f"""SELECT count(*), sum(n) FROM (
            SELECT split_part(url_decode(replace(Key, '+', '%20')), '/', 1) AS asset, count(*) AS n
            FROM read_csv({files!r}, header = false, columns = {columns}, compression = 'gzip')
            GROUP BY asset)"""
    ).fetchone()
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "assets": assets, "objects": int(objects), **_usage()}


def lint(manifest: str, ledger: str | None = None) -> dict[str, Any]:
    from linter.cli import main

    args = [
        "check",
        f"s3://{BUCKET}",
        "--inventory",
        manifest,
        "--select",
        "N,L301,L302,L303,I4",
        "--executor",
        "threads",
    ]
    args += ["--endpoint-url", "http://127.0.0.1:9", "--region", "us-east-1", "-q", "--format", "jsonl"]
    args += ["--output", os.devnull]
    if ledger is not None:
        args += ["--ledger", ledger]
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true")
    began = time.perf_counter()
    code = main(args)
    seconds = time.perf_counter() - began
    assert code in (0, 1), f"lint failed with exit code {code}"
    return {"seconds": seconds, **_usage()}


def _usage() -> dict[str, Any]:
    return {"maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _child(queue: Any, fn: Any, arg: str, tmp: str) -> None:
    os.environ["TMPDIR"] = tmp
    tempfile.tempdir = tmp
    queue.put(fn(arg))


def measure(fn: Any, arg: str, scratch: Path) -> dict[str, Any]:
    """``fn(arg)`` in a fresh process whose temporary files go to ``scratch``; peak disk sampled."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(queue, fn, arg, str(scratch)))
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            total = 0
            for root, _, files in os.walk(scratch):
                for name in files:
                    with contextlib.suppress(OSError):  # a file DuckDB just removed
                        total += os.path.getsize(os.path.join(root, name))
            peak[0] = max(peak[0], total)
            done.wait(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    child.start()
    watcher.start()
    try:
        result: dict[str, Any] = queue.get()
    finally:
        child.join()
        done.set()
        watcher.join()
    result["disk_mb"] = peak[0] / 1e6
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--rounds", type=int, default=2, help="(d) and (e) alternate this many times; best kept")
    parser.add_argument("--no-ledger", action="store_true", help="skip (f)")
    opts = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load {os.getloadavg()}")
    rows = []
    with tempfile.TemporaryDirectory(dir=REPO / "bench") as tmp:
        for n in opts.objects:
            folder = Path(tmp) / f"inv-{n}"
            manifest = write_report(folder, n)
            size = sum(p.stat().st_size for p in (folder / "data").iterdir()) / 1e6
            ds, es = [], []
            for _ in range(max(1, opts.rounds)):  # alternated, so that a slow spell of the machine hits both
                ds.append(measure(duckdb_floor, str(manifest), Path(tmp) / "scratch"))
                es.append(measure(lint, str(manifest), Path(tmp) / "scratch"))
            d = min(ds, key=lambda r: r["seconds"])
            e = min(es, key=lambda r: r["seconds"])
            f = {"seconds": float("nan"), "maxrss_mb": float("nan"), "ledger_mb": float("nan")}
            if not opts.no_ledger:
                ledger = Path(tmp) / f"ledger-{n}" / "ledger.sqlite"
                ledger.parent.mkdir()
                f = measure(functools.partial(lint, ledger=str(ledger)), str(manifest), Path(tmp) / "scratch")
                f["ledger_mb"] = sum(p.stat().st_size for p in ledger.parent.iterdir()) / 1e6
            print(f"\n{n:,} objects ({d['assets']:,} assets), report {size:.0f} MB of CSV.gz:")
            print(f"  (d) DuckDB reads and groups it   {d['seconds']:7.2f} s  peak {d['maxrss_mb']:6.0f} MB")
            print(
                f"  (e) lint N,L301-L303,I4 from it {e['seconds']:7.2f} s  peak {e['maxrss_mb']:6.0f} MB  "
                f"temp disk {e['disk_mb']:7.1f} MB ({1e6 * e['disk_mb'] / n:.0f} B/object)"
            )
            print(
                f"  (f) the same, with --ledger     {f['seconds']:7.2f} s  peak {f['maxrss_mb']:6.0f} MB  "
                f"ledger {f['ledger_mb']:7.1f} MB ({1e6 * f['ledger_mb'] / n:.0f} B/object)"
            )
            print(
                f"  (e)/(d) = {e['seconds'] / d['seconds']:.2f}   (aim <= 3)   "
                f"(f)/(d) = {f['seconds'] / d['seconds']:.2f}"
            )
            rows.append((n, d, e))
            shutil.rmtree(folder, ignore_errors=True)
    if len(rows) >= 2:
        (n1, _, e1), (n2, _, e2) = rows[0], rows[-1]
        per = (e2["seconds"] - e1["seconds"]) / (n2 - n1)
        print(
            f"\nprojected to 10^8 objects (linear from {n1:,} to {n2:,}): "
            f"about {e2['seconds'] + per * (1e8 - n2):.0f} s, "
            f"temp disk about {e2['disk_mb'] / n2 * 1e8 / 1e3:.1f} GB, peak memory {e2['maxrss_mb']:.0f} MB at {n2:,}"
        )
    print(f"load {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
