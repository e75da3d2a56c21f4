"""The verdict cache: a second ``check`` of unchanged files against the first, in the same session.

Runs ``aind-bucket-lint check examples/bucket`` (the README's first command) as a user does, in
a subprocess, with a schema cache folder of its own whose ``envs`` are the releases already
prepared (a link to the default cache's, so no download is timed) and whose ``verdicts/`` starts
empty: the first run judges every file (cold verdict cache), the second finds every verdict kept.
A warm-up run with ``--no-cache`` comes first, so that the first timed run is not charged with
reading the environments from disk. While each run goes, ``/proc`` is sampled every 20 ms for
release workers and zygotes (``worker.py``) of that run (they carry a marker in their
environment); after it, none of its processes may be left.

    python bench/bench_cache.py                 # one round
    python bench/bench_cache.py --rounds 3      # the median ratio of three rounds

The aim (issue 21): second / first <= 0.1, and no release worker started by the second run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from linter.plan import NO_CACHE_ENV, SchemaSettings  # noqa: E402

MARK = "AIND_BUCKET_LINT_BENCH_RUN"
TARGET = "examples/bucket"


def _marked(mark: str) -> list[tuple[int, bytes]]:
    """(pid, command line) of the living processes carrying ``MARK=mark``."""
    needle = f"{MARK}={mark}".encode()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if state != "Z":
            out.append((int(entry.name), cmdline))
    return out


def run(cache: Path, *args: str) -> dict[str, object]:
    """One ``check`` run: its seconds, its findings, the release workers seen, the processes left."""
    mark = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != NO_CACHE_ENV}
    env.update({MARK: mark, "PYTHONPATH": str(REPO)})
    cmd = [sys.executable, "-m", "linter", "check", TARGET, "--format", "json", "--schema-cache", str(cache), *args]
    workers: set[int] = set()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            workers.update(pid for pid, cmdline in _marked(mark) if b"worker.py" in cmdline)
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    sampler.start()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    time.sleep(0.5)  # a zygote closing its workers
    left = [pid for pid, _ in _marked(mark)]
    if proc.returncode not in (0, 1):
        raise SystemExit(f"check failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {"seconds": seconds, "findings": json.loads(proc.stdout)["findings"], "workers": len(workers), "left": left}


def entries(cache: Path) -> tuple[int, int]:
    files = list((cache / "verdicts").glob("*/*.json"))
    return len(files), sum(f.stat().st_size for f in files)


def one_round(prepared: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        cache = Path(tmp)
        (cache / "envs").symlink_to(prepared, target_is_directory=True)
        run(cache, "--no-cache")  # warm-up: the environments read from disk once
        assert not (cache / "verdicts").exists()
        first = run(cache)
        kept = entries(cache)
        second = run(cache)
        return {
            "first": first,
            "second": second,
            "ratio": float(second["seconds"]) / float(first["seconds"]),  # type: ignore[arg-type]
            "same": first["findings"] == second["findings"],
            "entries": kept,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    prepared = SchemaSettings.resolve().cache / "envs"
    if not prepared.is_dir():
        raise SystemExit(f"no prepared releases in {prepared}: run `aind-bucket-lint schemas install --for {TARGET}`")
    print(f"load {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores; check {TARGET}")
    print("| round | first s | second s | ratio | workers first | workers second | left | same findings | entries |")
    print("|---|---|---|---|---|---|---|---|---|")
    ratios = []
    ok = True
    for i in range(args.rounds):
        r = one_round(prepared)
        first, second = r["first"], r["second"]
        assert isinstance(first, dict) and isinstance(second, dict)
        count, size = r["entries"]  # type: ignore[misc]
        left = len(first["left"]) + len(second["left"])
        ratios.append(float(r["ratio"]))  # type: ignore[arg-type]
        print(
            f"| {i + 1} | {first['seconds']:.2f} | {second['seconds']:.2f} | {r['ratio']:.3f} | "
            f"{first['workers']} | {second['workers']} | {left} | {r['same']} | {count} ({size / 1024:.0f} KiB) |"
        )
        ok = ok and second["workers"] == 0 and left == 0 and bool(r["same"])
    median = statistics.median(ratios)
    print(f"median ratio {median:.3f} (aim <= 0.1); second runs started no release worker: {ok}")
    return 0 if ok and median <= 0.1 else 1


if __name__ == "__main__":
    sys.exit(main())
