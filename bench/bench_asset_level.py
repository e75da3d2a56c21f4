"""What judging each asset as a whole costs (M211-M214: upstream's ``Metadata`` built from every
core file, and ``metadata.nd.json`` held against the sidecars) over validating the files one by
one (M201-M210), in the same run.

Builds a local bucket of ``--assets`` complete assets of the project's own fixtures
(``tests/fixtures.py``): 2.x assets (the installed release, validated in-process) and, with
``--v1``, as many 1.x ones (validated by a 1.x release's workers; the release must be prepared:
``python -m tests.prepare_schemas``). Each 2.x asset carries a ``metadata.nd.json`` built from its
sidecars. Then, in alternated rounds, each in a fresh process with the verdict cache off
(``--no-cache``: every file and asset judged again):

(f) ``check --select M201..M210``: each file validated alone, by its own release;
(a) ``check --select M``: the same, and each asset judged as a whole (one request per asset to
    the release that fits its files) and its record compared.

and reports (a)/(f) and the cost of the whole-asset judgment per asset, (a - f) / assets.

    python bench/bench_asset_level.py                    # 200 2.x assets, 3 rounds
    python bench/bench_asset_level.py --assets 100 --v1  # 100 2.x and 100 1.x assets
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import fixtures as fx  # noqa: E402

PER_FILE = "M201,M202,M203,M204,M205,M206,M207,M208,M209,M210"


def build(root: Path, assets: int, v1: bool) -> int:
    files: dict[str, str | bytes] = {}
    for i in range(assets):
        for generation, base in ((2, 700000), (1, 800000)) if v1 else ((2, 700000),):
            name = f"ecephys_{base + i}_2024-0{1 + i % 9}-1{i % 10}_10-00-00"
            asset = fx.asset_files(name, generation=generation)
            files.update(asset)
            if generation == 2:  # the indexer's record of a 2.x asset (2.9.2's Metadata)
                docs = {k.split("/", 1)[1].removesuffix(".json"): json.loads(v) for k, v in asset.items()}
                files[f"{name}/metadata.nd.json"] = fx.dump(fx.metadata_record(name, docs))
    fx.write_files(root, files)
    return len(files)


def audit(root: Path, select: str) -> tuple[float, int]:
    cmd = [sys.executable, "-m", "linter", "check", str(root), "--select", select, "--no-cache", "--format", "json"]
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode not in (0, 1):
        raise SystemExit(f"check failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, len(json.loads(done.stdout)["findings"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=200, help="assets of each generation (default 200)")
    parser.add_argument("--v1", action="store_true", help="also as many 1.x assets (a 1.x release's workers)")
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bucket"
        objects = build(root, opts.assets, opts.v1)
        assets = opts.assets * (2 if opts.v1 else 1)
        print(f"{assets} assets, {objects} objects")
        audit(root, PER_FILE)  # warm-up: imports, release environments read from disk
        runs: dict[str, list[float]] = {"f": [], "a": []}
        found: dict[str, int] = {}
        for _ in range(opts.rounds):
            for key, select in (("f", PER_FILE), ("a", "M")):
                seconds, found[key] = audit(root, select)
                runs[key].append(seconds)
        for key, label in (("f", "(f) each file alone, M201-M210"), ("a", "(a) and each asset as a whole, M")):
            rounds = "  ".join(f"{s:6.2f}" for s in runs[key])
            print(f"  {label:<36} {rounds} s   best {min(runs[key]):6.2f} s, {found[key]} findings")
        ratios = [a / f for a, f in zip(runs["a"], runs["f"], strict=True)]
        extra = [(a - f) / assets * 1000 for a, f in zip(runs["a"], runs["f"], strict=True)]
        print(
            f"  (a)/(f) = {min(runs['a']) / min(runs['f']):.2f} best/best, {statistics.median(ratios):.2f} median "
            f"of rounds; the whole-asset judgment costs {statistics.median(extra):.1f} ms an asset (median)"
        )
    print(f"load {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
