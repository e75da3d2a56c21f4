"""Sidecar validation speed per release line: the linter against a bare validation loop of the same release.

For each release benchmarked (one per line: a 0.x release, a 1.x release, a 2.x release in its
own environment, and the installed 2.9.2 in-process), the real corpus files that release judges
(``../shared/fixtures/upstream-truth``) are copied into a bucket until it holds ``--files``
sidecars, one asset each. Then:

- **linter**: the engine with M203 and M204 (list, read, parse, judge ``schema_version``,
  validate through the release's worker pool), timed on a second run so that the workers'
  start (importing the release) is not charged to the files; it is reported apart;
- **bare**: in the release's own environment, one process, a loop of
  ``Model.model_validate_json(text)`` (``parse_raw`` under pydantic 1) over the same texts: the
  fastest that release can judge them on one core.

The aim is 0.8 or more **per core**, measured in CPU time, so that what else the machine runs
(the driver shares the cores with the workers here) does not blur it:

- ``per worker core`` = files per CPU-second of the processes that validated (the release's
  workers, fed over their pipes; the driver itself for the installed release) / the bare loop's
  files per CPU-second: what the worker design costs over the bare loop;
- ``per core (all)`` = files per CPU-second of the driver and the workers together / the bare
  loop's: the whole linter (listing, reading, parsing, the rules, the report) per core;
- ``wall/core`` = linter files/s / (bare files/s x worker processes), as earlier versions gave it;
- ``driver ms/file``: the driver's CPU time per file.

Also: the one-time cost of preparing each environment (into a fresh cache folder: cold,
downloading everything, then warm, with uv's cache already filled), and the resident memory of
each worker after the run.

    python bench/bench_validation.py [--files 400] [--jobs 4] [--releases 0.38.6,1.4.0,2.7.1,2.9.2]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from linter import validation
from linter.conventions import load_convention
from linter.engine import Linter
from linter.plan import RunPlan
from linter.registry import load_rules, select_rules
from linter.validation import envs, installed_release, table, workers
from linter.work import VERDICTS

REPO = Path(__file__).resolve().parent.parent
TRUTH = REPO.parent / "shared" / "fixtures" / "upstream-truth"

BARE = r"""
import importlib, json, sys, time, warnings
warnings.simplefilter("ignore")
import pydantic
pairs = json.load(open(sys.argv[1]))
v1 = int(pydantic.VERSION.split(".")[0]) < 2
models = {}
work = []
for (module, cls), text in pairs:
    if (module, cls) not in models:
        models[module, cls] = getattr(importlib.import_module(module), cls)
    work.append((models[module, cls], text))
for model, text in work[:20]:  # warm up
    try:
        model.parse_raw(text) if v1 else model.model_validate_json(text)
    except Exception:
        pass
start = time.process_time()  # CPU time: files per CPU-second, whatever else the machine runs
for model, text in work:
    try:
        model.parse_raw(text) if v1 else model.model_validate_json(text)
    except Exception:
        pass
print(len(work) / (time.process_time() - start))
"""


def corpus_by_release() -> dict[str, list[tuple[str, str, str]]]:
    """release -> [(stem, version, text)] of the corpus files it judges."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    with open(TRUTH / "sidecars" / "manifest.tsv", encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if not row or row[0].startswith("#") or row[2] in ("None",):
                continue
            res = table().resolve(row[1], row[2])
            if res.release is None:
                continue
            release = installed_release() if installed_release() in res.declared_by else res.release.version
            text = gzip.decompress((TRUTH / row[0]).read_bytes()).decode("utf-8")
            out.setdefault(release or "", []).append((row[1], row[2], text))
    return out


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used (``/proc/PID/stat``); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prepare_cost(release: str) -> tuple[float, float]:
    """Seconds to prepare the release into a fresh cache: cold (empty uv cache), then warm."""
    saved = os.environ.get(envs.CACHE_ENV)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[envs.CACHE_ENV] = tmp
        try:
            rel = table().releases[release]
            start = time.perf_counter()
            envs.prepare(rel)
            cold = time.perf_counter() - start
            shutil.rmtree(Path(tmp) / "envs")
            start = time.perf_counter()
            envs.prepare(rel)
            warm = time.perf_counter() - start
        finally:
            if saved is None:
                os.environ.pop(envs.CACHE_ENV, None)
            else:
                os.environ[envs.CACHE_ENV] = saved
    return cold, warm


def bench_release(
    release: str, files: list[tuple[str, str, str]], count: int, jobs: int, rounds: int = 3
) -> dict[str, object]:
    in_process = release == installed_release()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        texts = []
        for i in range(count):
            stem, version, text = files[i % len(files)]
            text = text + " " * (i // len(files))  # distinct bytes: no verdict comes from the cache by content
            folder = root / f"a{i:05d}"
            folder.mkdir()
            (folder / f"{stem}.json").write_text(text, encoding="utf-8")
            texts.append((stem, version, text))
        rules = select_rules(load_rules(), ["M203", "M204"], [])
        # threads: the release workers already spread validation over the cores (a process executor
        # would start their own workers in every child)
        plan = RunPlan(load_convention("aind-open-data"), rules, jobs=jobs, executor="threads")
        start = time.perf_counter()
        first = [f for r in Linter(plan).lint_target(str(root)) for f in r.findings]
        first_s = time.perf_counter() - start
        # the same texts, each with the first class the linter tries for it
        pairs = [(table().releases[release].classes(s, v)[0], t) for s, v, t in texts]
        python = sys.executable if in_process else str(envs.python_of(envs.env_dir(release)))
        bare_input = root / "pairs.json"
        bare_input.write_text(json.dumps(pairs))
        # rounds alternate the linter (validating again: no verdict from the cache by content) and
        # the bare loop, so that a slow spell of the machine hits both; the best of each is kept
        linter_rate, driver_cpu, worker_cpu, bare_rate = 0.0, float("inf"), float("inf"), 0.0
        procs: list[workers.Worker] = []
        for _ in range(max(1, rounds)):
            VERDICTS._items.clear()
            pool = None if in_process else workers._pools.get(release)
            before = {w.pid: cpu_seconds(w.pid) for w in (pool.workers if pool else [])}
            start, cpu = time.perf_counter(), time.process_time()
            second = [f for r in Linter(plan).lint_target(str(root)) for f in r.findings]
            linter_rate = max(linter_rate, count / (time.perf_counter() - start))
            driver_cpu = min(driver_cpu, time.process_time() - cpu)
            assert len(first) == len(second)
            pool = None if in_process else workers._pools.get(release)
            procs = pool.workers if pool else []
            worker_cpu = min(worker_cpu, sum(cpu_seconds(w.pid) - before.get(w.pid, 0.0) for w in procs))
            out = subprocess.run([python, "-c", BARE, str(bare_input)], capture_output=True, text=True, check=True)
            bare_rate = max(bare_rate, float(out.stdout.strip().splitlines()[-1]))
        unjudged = sum(1 for f in second if f.rule == "M204")
        memory = [rss_mb(w.pid) for w in procs]
        if in_process:
            worker_cpu = 0.0
    cores = 1 if in_process else max(1, len(procs))
    # files per CPU-second of the processes that validated (the release's workers; the driver
    # itself for the installed release), against the bare loop's files per CPU-second
    validating_cpu = driver_cpu if in_process else worker_cpu
    return {
        "release": release,
        "files": count,
        "unjudged": unjudged,
        "first_run_s": first_s,
        "linter_fps": linter_rate,
        "workers": cores if not in_process else "in-process",
        "bare_fps": bare_rate,
        "per_core_wall": linter_rate / (bare_rate * cores),
        "per_worker_core": count / validating_cpu / bare_rate if validating_cpu else float("nan"),
        "per_core_all": count / (driver_cpu + worker_cpu) / bare_rate,
        "driver_ms_per_file": 1000 * driver_cpu / count,
        "worker_mb": memory,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="linter and bare loop alternate; best of each kept")
    parser.add_argument("--releases", default="0.38.6,1.4.0,2.7.1,2.9.2")
    parser.add_argument("--no-prepare-cost", action="store_true", help="skip timing fresh environments")
    args = parser.parse_args(argv)
    if not TRUTH.is_dir():
        print(f"{TRUTH} is absent: nothing to benchmark", file=sys.stderr)
        return 2
    corpus = corpus_by_release()
    rows = []
    for release in args.releases.split(","):
        if release not in corpus:
            print(f"{release}: no corpus file is judged by it; skipped", file=sys.stderr)
            continue
        validation.reset()
        row = bench_release(release, corpus[release], args.files, args.jobs, args.rounds)
        if release != installed_release() and not args.no_prepare_cost:
            row["prepare_cold_s"], row["prepare_warm_s"] = prepare_cost(release)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    print(
        f"{'release':>8} {'files':>5} {'linter f/s':>10} {'workers':>10} {'bare f/s':>9} {'per worker core':>15} "
        f"{'per core (all)':>14} {'wall/core':>9} {'driver ms/file':>14} {'first run s':>11} {'prep cold s':>11} "
        f"{'prep warm s':>11}  worker MB"
    )
    for r in rows:
        mb = ", ".join(f"{m:.0f}" for m in r["worker_mb"]) or "-"  # type: ignore[union-attr]
        print(
            f"{r['release']:>8} {r['files']:>5} {r['linter_fps']:>10.1f} {r['workers']!s:>10} {r['bare_fps']:>9.1f} "
            f"{r['per_worker_core']:>15.2f} {r['per_core_all']:>14.2f} {r['per_core_wall']:>9.2f} "
            f"{r['driver_ms_per_file']:>14.2f} {r['first_run_s']:>11.1f} "
            f"{r.get('prepare_cold_s', float('nan')):>11.1f} {r.get('prepare_warm_s', float('nan')):>11.1f}  {mb}"
        )
    print(f"load {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
