"""Ledger benchmark: bytes per object and the time to record assets, this schema against schema 1.

Schema 1 (one ``objects`` row per key) is loaded from git (``--baseline-ref``, the commit
before compact records) and measured in the same run, on the same synthetic assets: an AIND
asset of ``--per-asset`` objects (six sidecars at its root, data chunks in a deep folder,
an MD5 ETag each, LastModified to the second as S3 gives it). For each schema and size:

- **first s**: the first audit, every asset new (``history`` then ``record``, then ``finish``);
- **same s**: a second audit of the unchanged listing (one ``assets`` row updated per asset);
- **changed s**: a third audit with one object added to every asset (its records rewritten);
- **B/object**: the ledger's size on disk after each audit (WAL checkpointed) over the objects.

    python bench/bench_ledger.py                          # 10^5 and 10^6 objects, 100 per asset
    python bench/bench_ledger.py --objects 100000 --per-asset 12
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.util
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from linter.sources import Asset, ObjectInfo  # noqa: E402
from linter.store import db as current  # noqa: E402

SIDECARS = ("data_description", "subject", "procedures", "instrument", "acquisition", "processing")
DATA = "ecephys/ecephys_clipped/Record Node 104/experiment1/recording1/continuous/Neuropix-PXI-100.ProbeA-AP"
BASE = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
WINDOW = dt.timedelta(hours=48)


def baseline(ref: str) -> ModuleType:
    """linter/ledger.py as it was at ``ref``, imported beside the current one."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{ref}:linter/ledger.py"], capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="ledger-v1-")) / "ledger_v1.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("linter_ledger_v1", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def asset(i: int, per_asset: int, extra: bool) -> Asset:
    name = f"ecephys_{600000 + i}_2024-03-01_{i % 24:02d}-00-00"
    objects = []
    for j in range(per_asset + (1 if extra else 0)):
        key = f"{SIDECARS[j]}.json" if j < len(SIDECARS) else f"{DATA}/chunk_{j:05d}.dat"
        digest = hashlib.md5(f"{name}/{key}".encode(), usedforsecurity=False)
        size = int.from_bytes(digest.digest()[:4]) % 500_000_000 if j >= len(SIDECARS) else 2000 + j * 37
        modified = BASE + dt.timedelta(hours=i % 24, seconds=int.from_bytes(digest.digest()[4:6]) % 3600)
        objects.append(ObjectInfo(key, size, digest.hexdigest(), modified))
    return Asset(name, objects)


def assets(n_assets: int, per_asset: int, extra: bool) -> Iterator[Asset]:
    for i in range(n_assets):
        yield asset(i, per_asset, extra)


def audit(module: ModuleType, path: Path, n_assets: int, per_asset: int, night: int, extra: bool) -> float:
    now = BASE + dt.timedelta(days=3 + night)
    start = time.perf_counter()
    with module.Ledger(path, now=now) as led:
        target = led.target("s3://bench-bucket/", WINDOW)
        for a in assets(n_assets, per_asset, extra):
            target.history(a.name)
            target.record(a)
        target.finish()
    return time.perf_counter() - start


def disk(path: Path) -> int:
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if not p.name.endswith(".lock"))


def measure(module: ModuleType, folder: Path, objects: int, per_asset: int) -> dict[str, float]:
    path = folder / f"{module.__name__}-{objects}.sqlite"
    n_assets = objects // per_asset
    out: dict[str, float] = {}
    for night, (label, extra) in enumerate((("first", False), ("same", False), ("changed", True))):
        out[f"{label} s"] = audit(module, path, n_assets, per_asset, night, extra)
        out[f"{label} B/object"] = disk(path) / objects
    path.unlink()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", default="100000,1000000", help="comma-separated object counts")
    parser.add_argument("--per-asset", type=int, default=100, help="objects per asset")
    parser.add_argument("--baseline-ref", default="c3c3343", help="the commit whose ledger is schema 1")
    parser.add_argument("--folder", default=None, help="where the ledgers are written (default: a temporary folder)")
    args = parser.parse_args()
    old = baseline(args.baseline_ref)
    assert old.SCHEMA_VERSION == 1 and current.SCHEMA_VERSION == 2
    folder = Path(args.folder or tempfile.mkdtemp(prefix="bench-ledger-"))
    print(f"load before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores; ledgers in {folder}")
    print(f"{'objects':>9} {'schema':>6} {'first s':>8} {'same s':>7} {'changed s':>9}  B/object first/same/changed")
    for n in (int(x) for x in args.objects.split(",")):
        rows = {}
        for label, module in (("1", old), ("2", current)):
            r = measure(module, folder, n, args.per_asset)
            rows[label] = r
            print(
                f"{n:>9} {label:>6} {r['first s']:>8.2f} {r['same s']:>7.2f} {r['changed s']:>9.2f}  "
                f"{r['first B/object']:.1f} / {r['same B/object']:.1f} / {r['changed B/object']:.1f}",
                flush=True,
            )
        a, b = rows["1"], rows["2"]
        print(
            f"{n:>9} {'2/1':>6} {b['first s'] / a['first s']:>8.2f} {b['same s'] / a['same s']:>7.2f} "
            f"{b['changed s'] / a['changed s']:>9.2f}  {b['changed B/object'] / a['changed B/object']:.3f} "
            f"(10^8 objects: {a['changed B/object'] * 1e8 / 1e9:.1f} GB -> {b['changed B/object'] * 1e8 / 1e9:.1f} GB)"
        )
    print(f"load after: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
