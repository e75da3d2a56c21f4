"""Peak memory of an audit at ``--jobs 32`` over assets with 20 MB sidecars, with the sidecar
byte budget (the default) against no budget in the same run.

Builds a local bucket of ``--assets`` assets (default 8), each a complete, valid
aind-data-schema 2.x sidecar set (tests/fixtures.py) whose ``quality_control.json`` holds
about ``--mb`` MB (default 20) of QC metrics, unique per asset (so no cache can share a
verdict). Then it runs the real command line, each configuration in a fresh process, and
reads the process's peak resident set size (``ru_maxrss`` from ``wait4``)::

    python bench/bench_memory.py                 # about 4 minutes on two cores
    python bench/bench_memory.py --assets 4 --mb 10

Validating a file holds about 17 times its size (its text, the parsed JSON and the
pydantic model), so without a budget 32 workers on sidecars near the 32 MiB limit need tens
of GB; with it, the bytes being parsed and validated at once stay under ``--sidecar-budget``
(64 MiB by default) whatever ``--jobs`` is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import fixtures as fx  # noqa: E402

FIRST = dt.datetime(2024, 3, 1, 9, 0, 0)


def big_quality_control(index: int, size: int) -> str:
    """A valid 2.x quality_control.json of about ``size`` bytes: many QC metrics."""
    doc = fx.quality_control_v2(FIRST)
    metric = doc["metrics"][0]
    count = max(1, size // len(json.dumps(metric)))
    doc["metrics"] = [dict(metric, name=f"asset {index} metric {i}") for i in range(count)]
    doc["default_grouping"] = ["Probe drift"]
    return json.dumps(doc)


def build(root: Path, assets: int, size: int) -> int:
    total = 0
    for i in range(assets):
        name = f"ecephys_{100000 + i}_{(FIRST + dt.timedelta(days=i)):%Y-%m-%d_%H-%M-%S}"
        qc = big_quality_control(i, size)
        total = max(total, len(qc))
        fx.write_files(root, fx.asset_files(name, sidecars={"quality_control.json": qc}))
    return total


def run(bucket: Path, *extra: str) -> tuple[float, float, int]:
    """(peak RSS in MiB, seconds, exit code) of one audit in a fresh process."""
    argv = [sys.executable, "-m", "linter", "check", str(bucket), "--jobs", "32", "--select", "M2", "--quiet"]
    argv += ["--format", "json", "--output", os.devnull, *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"the audit failed (exit {code}): {err}")
    return usage.ru_maxrss / 1024, seconds, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=8)
    parser.add_argument("--mb", type=float, default=20.0, help="size of each asset's big sidecar, MB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aind-bucket-lint-bench-memory-") as tmp:
        bucket = Path(tmp) / "bucket"
        biggest = build(bucket, args.assets, int(args.mb * 1_000_000))
        print(f"{args.assets} assets, each with a {biggest / 1e6:.1f} MB quality_control.json; --jobs 32")
        rows = [
            ("no budget (--sidecar-budget 65536)", run(bucket, "--sidecar-budget", "65536")),
            ("default budget (64 MiB)", run(bucket)),
        ]
        base = rows[0][1][0]
        print(f"{'':38} {'peak RSS MiB':>12} {'seconds':>8} {'ratio':>6}")
        for label, (peak, seconds, _) in rows:
            print(f"{label:38} {peak:12.0f} {seconds:8.1f} {peak / base:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
