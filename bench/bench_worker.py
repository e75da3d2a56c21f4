"""One release worker alone, fed the way the linter feeds it: what waiting between documents costs.

Starts one validation worker of a release (``linter/validation/worker.py`` in the release's
environment, no zygote), and feeds it the corpus files that release judges
(``../shared/fixtures/upstream-truth``), in bursts of ``B`` requests written at once, each burst's
replies read before the next, with a pause of ``G`` ms between bursts during which this process
keeps its core busy (as the linter's driver does while it lists, reads and parses the next
asset). The worker's CPU time per file (``/proc/PID/stat``) is compared with the bare loop's
(``Model.model_validate_json`` over the same texts in one process, best of 3).

    python bench/bench_worker.py                              # 0.38.6 and 2.7.1, bursts 1 and 6, pauses 0 and 1 ms/file
    python bench/bench_worker.py --releases 1.2.0 --bursts 1,6,24 --pauses 0,0.5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import bench_validation as bv  # noqa: E402

from linter.validation import envs, table, workers  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """Seconds the process has run on a CPU: the scheduler's own count (``/proc/PID/schedstat``,
    nanoseconds), not the tick-sampled user and system times of ``/proc/PID/stat``."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(release: str, burst: int, pause_ms: float, count: int) -> dict[str, float]:
    files = bv.corpus_by_release()[release]
    requests, pairs = [], []
    for i in range(count):
        stem, version, text = files[i % len(files)]
        text = text + " " * (i // len(files))  # distinct bytes, as the linter's bench has them
        classes = table().releases[release].classes(stem, version)
        body = text.encode()
        header = {"id": i, "classes": [list(c) for c in classes], "size": len(body)}
        requests.append((json.dumps(header) + "\n").encode() + body)
        pairs.append((classes[0], text))
    python = str(envs.python_of(envs.env_dir(release)))
    proc = subprocess.Popen([python, "-I", str(workers.WORKER_SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdout.readline()  # ready
    for r in requests[:50]:  # the models imported, the code warm
        proc.stdin.write(r)
        proc.stdin.flush()
        proc.stdout.readline()
    start = cpu_seconds(proc.pid)
    for i in range(50, count, burst):
        chunk = requests[i : i + burst]
        proc.stdin.write(b"".join(chunk))
        proc.stdin.flush()
        for _ in chunk:
            proc.stdout.readline()
        until = time.perf_counter() + pause_ms * len(chunk) / 1000
        while time.perf_counter() < until:  # the driver, busy with the next asset
            pass
    used = cpu_seconds(proc.pid) - start
    proc.stdin.close()
    proc.wait()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(pairs, handle)
    try:
        runs = [subprocess.run([python, "-c", bv.BARE, handle.name], capture_output=True, text=True) for _ in range(3)]
        bare = max(float(run.stdout.split()[-1]) for run in runs)
    finally:
        os.unlink(handle.name)
    rate = (count - 50) / used if used else float("nan")
    return {"worker": rate, "bare": bare, "ratio": rate / bare}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", default="0.38.6,2.7.1")
    parser.add_argument("--bursts", default="1,6", help="requests written at once (at most 32: pipes are finite)")
    parser.add_argument("--pauses", default="0,1", help="ms the feeder spends busy per file between bursts")
    parser.add_argument("--files", type=int, default=1250)
    args = parser.parse_args(argv)
    if not bv.TRUTH.is_dir():
        print(f"{bv.TRUTH} is absent: nothing to benchmark", file=sys.stderr)
        return 2
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(f"{'release':>8} {'burst':>5} {'pause ms/file':>13} {'worker f/CPU-s':>14} {'bare f/CPU-s':>12} {'ratio':>6}")
    for release in args.releases.split(","):
        envs.prepare(table().releases[release])
        for burst in (min(32, int(b)) for b in args.bursts.split(",")):
            for pause in (float(p) for p in args.pauses.split(",")):
                r = measure(release, burst, pause, args.files)
                rates = f"{r['worker']:>14.0f} {r['bare']:>12.0f} {r['ratio']:>6.2f}"
                print(f"{release:>8} {burst:>5} {pause:>13.1f} {rates}")
    print(f"load {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
