"""Sidecar validation speed: the linter against check-jsonschema, on the same real files.

Builds a bucket of thousands of sidecar files in a temporary folder (copies of the real
aind-data-schema 1.4.0 and 2.9.2 example files from ``../shared/fixtures``, each stored under
its bare name in an asset folder), then validates them:

- with the linter's own path: the engine with M203 and M204 selected (list, read, parse, judge
  ``schema_version``, validate: pydantic models for 2.x, the committed JSON Schemas for 1.x);
- with check-jsonschema (run as a subprocess, as in pre-commit) against the same schemas: the
  committed 1.x JSON Schemas, and the installed 2.x models' ``model_json_schema()`` dumped to files.

check-jsonschema is far slower, so by default it validates one round of the example files
(each of the 49 once; ``--rounds N`` for more, ``--rounds 40`` for all); its rate is measured per
file beyond a one-file run of the same schema, so its start-up (Python, loading a schema of up
to 2 MB) is not charged to the files; the rate with start-up is printed too. Prints files/s of
each tool and the ratio, overall and per generation. Runs in about two minutes (on two cores).

    python bench/bench_validation.py [--copies 40] [--rounds 1] [--jobs 8]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linter.conventions import load_convention
from linter.engine import Linter
from linter.metadata import V2_MODELS
from linter.plan import RunPlan
from linter.registry import load_rules, select_rules

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO.parent / "shared" / "fixtures" / "aind-metadata-examples"
GENERATIONS = {1: FIXTURES / "v1.4.0", 2: FIXTURES / "v2.9.2"}
STEMS = (
    "data_description",
    "quality_control",
    "acquisition",
    "instrument",
    "procedures",
    "processing",
    "session",
    "subject",
    "model",
    "rig",
)


@dataclass(frozen=True)
class Sidecar:
    generation: int
    stem: str
    path: Path
    round: int


def bare_stem(path: Path) -> str:
    return next(stem for stem in STEMS if path.stem.endswith(stem))


def build_bucket(root: Path, copies: int) -> list[Sidecar]:
    """``copies`` rounds of every example file; files sharing a bare name go to different assets."""
    examples = [(g, p) for g, folder in GENERATIONS.items() for p in sorted(folder.glob("*.json"))]
    out = []
    for c in range(copies):
        seen: dict[tuple[int, str], int] = defaultdict(int)
        for generation, path in examples:
            stem = bare_stem(path)
            slot = seen[(generation, stem)]
            seen[(generation, stem)] += 1
            asset = root / f"g{generation}" / f"{100000 + c}_2024-01-01_00-00-{slot:02d}"
            asset.mkdir(parents=True, exist_ok=True)
            target = asset / f"{stem}.json"
            shutil.copyfile(path, target)
            out.append(Sidecar(generation, stem, target, c))
    return out


def lint(root: Path, jobs: int) -> tuple[float, int]:
    """Seconds to lint ``root`` with M203/M204, and the number of findings."""
    rules = select_rules(load_rules(), ["M203", "M204"], [])
    linter = Linter(RunPlan(load_convention("aind-open-data"), rules, jobs=jobs))
    start = time.perf_counter()
    findings = sum(len(r.findings) for r in linter.lint_target(str(root)))
    return time.perf_counter() - start, findings


def dump_v2_schemas(folder: Path) -> dict[str, Path]:
    import importlib

    out = {}
    for stem, (module, cls) in V2_MODELS.items():
        model = getattr(importlib.import_module(module), cls)
        path = folder / f"v2_{stem}.json"
        path.write_text(json.dumps(_loadable(model.model_json_schema(mode="validation"))), encoding="utf-8")
        out[stem] = path
    return out


SIMPLE_TYPES = {"array", "boolean", "integer", "null", "number", "object", "string"}


def _loadable(node: Any) -> Any:
    """Make a 2.9.2 ``model_json_schema()`` a valid JSON Schema, which check-jsonschema insists
    on: some descriptions are tuples (a stray comma upstream), carried as arrays, so they are
    joined; a ``Field(type="Stain type")`` leaks a ``"type"`` that is no JSON type, so it is
    dropped. Neither changes what the schema accepts."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "description" and isinstance(v, list | tuple):
                out[k] = "".join(v)
            elif k == "type" and isinstance(v, str) and v not in SIMPLE_TYPES:
                continue
            else:
                out[k] = _loadable(v)
        return out
    if isinstance(node, list | tuple):
        return [_loadable(v) for v in node]
    return node


def check_jsonschema(schema: Path, files: list[Path]) -> tuple[float, bool, str]:
    exe = shutil.which("check-jsonschema")
    cmd = [exe] if exe else [sys.executable, "-m", "check_jsonschema"]
    start = time.perf_counter()
    res = subprocess.run([*cmd, "--schemafile", str(schema), *map(str, files)], capture_output=True, text=True)
    return time.perf_counter() - start, res.returncode == 0, res.stdout + res.stderr


def sample(files: list[Sidecar], rounds: int) -> list[Path]:
    """The files of the first ``rounds`` rounds (each distinct example once per round), and at
    least two (one more than the start-up run)."""
    chosen = [s.path for s in files if s.round < rounds]
    return chosen if len(chosen) >= 2 else [s.path for s in files[:2]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--copies", type=int, default=40, help="rounds of the 49 example files (default 40)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds check-jsonschema validates (default 1: each example once)"
    )
    parser.add_argument("--jobs", type=int, default=8, help="the linter's --jobs (default 8)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")

    with tempfile.TemporaryDirectory(prefix="bench-validation-") as tmp:
        root = Path(tmp) / "bucket"
        sidecars = build_bucket(root, args.copies)
        by_generation = {g: sum(1 for s in sidecars if s.generation == g) for g in GENERATIONS}
        print(f"{len(sidecars)} sidecar files ({by_generation[1]} of 1.x, {by_generation[2]} of 2.x) in {root}")

        # first run: includes importing aind-data-schema and building the validators
        cold = sum(lint(root / f"g{g}", args.jobs)[0] for g in GENERATIONS)
        seconds: dict[int, float] = {}
        for g in GENERATIONS:
            seconds[g], findings = lint(root / f"g{g}", args.jobs)
            assert findings == 0, f"the linter reported {findings} findings on valid example files"
        linter_rate = {
            "1.x": by_generation[1] / seconds[1],
            "2.x": by_generation[2] / seconds[2],
            "all": len(sidecars) / (seconds[1] + seconds[2]),
        }
        print(f"linter, first run (imports aind-data-schema, builds validators): {len(sidecars) / cold:8.1f} files/s")

        v1_dir = REPO / "linter" / "schemas" / "v1"
        schemas = {(1, stem): v1_dir / f"{stem}.json" for stem in STEMS if (v1_dir / f"{stem}.json").is_file()}
        schemas.update({(2, stem): path for stem, path in dump_v2_schemas(Path(tmp)).items()})
        groups: dict[tuple[int, str], list[Sidecar]] = defaultdict(list)
        for s in sidecars:
            groups[(s.generation, s.stem)].append(s)

        marginal = {1: [0.0, 0], 2: [0.0, 0]}  # seconds, files beyond the start-up run
        wall = {1: [0.0, 0], 2: [0.0, 0]}
        rejected = []
        for key, files in sorted(groups.items()):
            chosen = sample(files, args.rounds)
            one, _, _ = check_jsonschema(schemas[key], chosen[:1])
            many, ok, output = check_jsonschema(schemas[key], chosen)
            if not ok:
                rejected.append(f"{key[0]}.x {key[1]}: {output.strip().splitlines()[0]}")
            marginal[key[0]][0] += max(many - one, 0.0)
            marginal[key[0]][1] += len(chosen) - 1
            wall[key[0]][0] += many
            wall[key[0]][1] += len(chosen)
        checked = wall[1][1] + wall[2][1]

    print(f"check-jsonschema validated {checked} of the files (the first {args.rounds} round(s) of examples)")
    print()
    print(f"{'':4} {'linter files/s':>15} {'check-jsonschema files/s':>25} {'(with start-up)':>16} {'ratio':>8}")
    for label, gens in (("1.x", (1,)), ("2.x", (2,)), ("all", (1, 2))):
        cj = sum(marginal[g][1] for g in gens) / sum(marginal[g][0] for g in gens)
        cj_wall = sum(wall[g][1] for g in gens) / sum(wall[g][0] for g in gens)
        ours = linter_rate[label]
        print(f"{label:4} {ours:15.1f} {cj:25.1f} {cj_wall:16.1f} {ours / cj:7.1f}x")
    if rejected:
        print("\ncheck-jsonschema rejected files the linter accepts:")
        for line in rejected:
            print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
