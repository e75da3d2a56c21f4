"""How many release pools a run keeps: the same corpus linted with each pool limit, in one session.

A bucket whose sidecars declare many releases (the upstream-truth corpus: 931 files, 67
releases) interleaves them; beyond the pool limit (``AIND_BUCKET_LINT_SCHEMA_POOLS``) a pool is
closed to make room, and a release needed again later imports its models again (a 1.x release:
20-50 s of CPU). Each limit runs in a subprocess of its own (fresh pools, no verdict cache:
``AIND_BUCKET_LINT_NO_CACHE``), linting the corpus with M203 and M204 as the tests do; the
subprocess counts the zygotes started and the seconds their imports took, and samples the pools'
memory (PSS) every 2 s.

    python bench/bench_pools.py                            # limits 8 and 32, upstream-truth
    python bench/bench_pools.py --limits 8,32,1000 --corpus upstream-truth-2

Needs ``../shared/fixtures/<corpus>`` and the releases prepared (``.ci/run`` prepares them).
The figure is each limit's wall time over the first limit's (the baseline).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO.parent / "shared" / "fixtures"

CHILD = r"""
import json, sys, threading, time
from collections import Counter
from linter.validation import workers
from tests.conftest import lint_findings

starts, imports, peak = Counter(), [0.0], [0]
init, load = workers.Zygote.__init__, workers.Zygote.load

def counted_init(self, python, release):
    starts[release] += 1
    init(self, python, release)

def timed_load(self, missing):
    began = time.monotonic()
    try:
        return load(self, missing)
    finally:
        imports[0] += time.monotonic() - began

workers.Zygote.__init__, workers.Zygote.load = counted_init, timed_load

def sample():
    while True:
        with workers._pools_lock:
            pools = list(workers._pools.values())
        peak[0] = max(peak[0], sum(p.rss_bytes() for p in pools))
        time.sleep(2)

threading.Thread(target=sample, daemon=True).start()
began = time.monotonic()
found = lint_findings(sys.argv[1], select=["M203", "M204"], jobs=4, executor="threads")
print(json.dumps({
    "seconds": time.monotonic() - began,
    "findings": len(found),
    "releases": len(starts),
    "restarts": sum(starts.values()) - len(starts),
    "import_seconds": imports[0],
    "peak_mb": peak[0] >> 20,
}))
"""


def build(corpus: Path, root: Path) -> int:
    """Every sidecar of the corpus into an asset of its own, as the corpus tests write them."""
    with open(corpus / "sidecars" / "manifest.tsv", encoding="utf-8") as handle:
        rows = [r for r in csv.reader(handle, delimiter="\t") if r and not r[0].startswith("#")]
    for row in rows:
        folder = root / ("f" + Path(row[0]).name.removesuffix(".json.gz").replace(".", "_"))
        folder.mkdir(exist_ok=True)
        (folder / f"{row[1]}.json").write_bytes(gzip.decompress((corpus / row[0]).read_bytes()))
    return len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--limits", default="8,32", help="pool limits to compare; the first is the baseline")
    parser.add_argument("--corpus", default="upstream-truth", help="a corpus folder of ../shared/fixtures")
    args = parser.parse_args()
    corpus = FIXTURES / args.corpus
    if not (corpus / "sidecars" / "manifest.tsv").is_file():
        print(f"bench_pools: {corpus} is absent; nothing to measure", file=sys.stderr)
        return 2
    limits = [int(x) for x in args.limits.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-pools-") as tmp:
        root = Path(tmp)
        files = build(corpus, root)
        print(f"{args.corpus}: {files} files, one asset each; load {os.getloadavg()[0]:.1f}")
        print("| pool limit | wall s | ratio | findings | releases | restarts | import s | peak pools MB |")
        print("|---|---|---|---|---|---|---|---|")
        base = None
        for limit in limits:
            env = {**os.environ, "AIND_BUCKET_LINT_SCHEMA_POOLS": str(limit), "AIND_BUCKET_LINT_NO_CACHE": "1"}
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(root)], cwd=REPO, env=env, capture_output=True, text=True, check=False
            )
            if out.returncode != 0:
                print(f"limit {limit}: the run failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                return 1
            r = json.loads(out.stdout.strip().splitlines()[-1])
            base = base or r["seconds"]
            print(
                f"| {limit} | {r['seconds']:.0f} | {r['seconds'] / base:.2f} | {r['findings']} | {r['releases']} "
                f"| {r['restarts']} | {r['import_seconds']:.0f} | {r['peak_mb']} |"
            )
            time.sleep(5)  # the last run's workers are gone (they are stopped at its exit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
