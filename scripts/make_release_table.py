"""Make ``linter/data/releases.json``: which aind-data-schema release declares which core model version.

For every published aind-data-schema release the script downloads its wheel from the package
index (PyPI, or ``--index-url``; kept in ``--wheels``, so a re-run downloads only new releases)
and reads it statically (``linter.validation.tablemaker``: nothing is imported or installed).
The table names, for each (model, schema_version) and for each (class, schema_version), every
release declaring it and the one to validate with (the newest), and for each of those releases
its classes and era-compatible pins of pydantic and aind-data-schema-models (see the
tablemaker's docstring).

Later models sometimes break a release (1.0.0 with models 0.5: a model fails to build), so era
pins newer than those of the release's own day are kept only when its models import: the script
installs the release with them in a scratch environment (uv) and imports its model modules. A
release whose era pins the current table already carries was checked when that table was made
and is not checked again.

``aind-bucket-lint schemas update`` adds the releases published after the packaged table was
made, into the cache folder, without this check.

Usage: ``python scripts/make_release_table.py [--wheels DIR] [--jobs N] [--index-url URL]``
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from linter.validation.index import PackageIndex, index_url
from linter.validation.tablemaker import add_release, empty_table, era_pins, finish, read_wheel, stamp

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "linter" / "data" / "releases.json"


def import_problem(version: str, pins: dict[str, str], modules: list[str]) -> str | None:
    """Install the release with these pins in a scratch environment (uv) and import its models."""
    import uv

    uv_bin = str(uv.find_uv_bin())
    env = dict(os.environ, UV_CACHE_DIR=str(Path.home() / ".cache" / "aind-bucket-lint" / "uv"))
    with tempfile.TemporaryDirectory() as tmp:
        python = Path(tmp) / "bin" / "python"
        reqs = [f"aind-data-schema=={version}", *(f"{k}=={v}" for k, v in sorted(pins.items()))]
        for cmd in (
            [uv_bin, "venv", "--quiet", "--python", sys.executable, tmp],
            [uv_bin, "pip", "install", "--quiet", "--python", str(python), *reqs],
        ):
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                return "cannot install: " + " ".join(proc.stderr.split())[-200:]
        code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
        proc = subprocess.run([str(python), "-c", code, *modules], capture_output=True, text=True)
        if proc.returncode != 0:
            return "import fails: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:200]
    return None


def _previous() -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(OUT.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("releases", {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, default=Path.home() / ".cache" / "aind-bucket-lint" / "wheels")
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--index-url", help="the package index (default: pip's, else PyPI)")
    args = parser.parse_args(argv)
    args.wheels.mkdir(parents=True, exist_ok=True)

    index = PackageIndex(index_url(args.index_url))
    ads = index.releases("aind-data-schema")
    models_times = index.releases("aind-data-schema-models")
    pydantic_times = index.releases("pydantic")
    print(f"{len(ads)} releases of aind-data-schema on {index.url}", file=sys.stderr)

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        wheels = dict(zip(ads, pool.map(lambda v: index.wheel("aind-data-schema", v, args.wheels), ads), strict=True))

    now = dt.datetime.now(dt.UTC)
    data = empty_table()
    ordered = sorted(ads)
    for i, version in enumerate(ordered):
        published = ads[version] or now
        wheel = wheels[version]
        if wheel is None:
            print(f"  {version}: no wheel", file=sys.stderr)
        facts = read_wheel(wheel) if wheel is not None else None
        # The release's era: until the next release came out (files were written with it then).
        era_end = ads[ordered[i + 1]] if i + 1 < len(ordered) else None
        requires = list(facts.requires) if facts else []
        pins, at_release = era_pins(requires, published, era_end, pydantic_times, models_times)
        add_release(data, str(version), stamp(published), facts, pins, at_release)
    table = finish(data, now)

    previous = _previous()
    for version, entry in table["releases"].items():
        at_release = entry.pop("pins_at_release", entry["pins"])
        if entry["pins"] == at_release or "aind-data-schema-models" not in entry["pins"]:
            continue
        before = previous.get(version, {}).get("pins")
        if before == entry["pins"]:
            continue  # checked when the current table was made
        if before == at_release:
            entry["pins"] = at_release  # failed that check then
            continue
        modules = sorted({e["module"] for es in entry["models"].values() for e in es})
        problem = import_problem(version, entry["pins"], modules)
        if problem:
            print(f"  {version} with {entry['pins']}: {problem}; keeping {at_release}", file=sys.stderr)
            entry["pins"] = at_release
    table = finish(table, now)  # pydantic_major after the pins settled

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    pairs = sum(len(v) for v in table["models"].values())
    print(
        f"wrote {OUT.relative_to(ROOT)}: {len(table['releases'])} releases, {pairs} (model, version) pairs",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
