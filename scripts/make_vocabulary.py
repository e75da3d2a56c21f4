"""Write the modality vocabulary of every era into ``linter/conventions/aind-open-data.yaml``.

Reads every published release of aind-data-schema and aind-data-schema-models (their wheels,
downloaded from the package index into ``--wheels``, kept for re-runs, read statically: see
``linter.conventions.vocabulary``) and replaces the convention's ``names.modalities`` list between
its ``# BEGIN vocabulary`` / ``# END vocabulary`` markers: every platform, modality and 0.x
experiment type, case kept, each with the kinds and releases that define it. What the convention
does not accept of it goes in ``names.excluded_modalities``, which this script leaves alone.

Usage: ``python scripts/make_vocabulary.py [--wheels DIR] [--jobs N] [--index-url URL] [--convention FILE]``
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
from pathlib import Path

from linter.conventions.vocabulary import collect, render, replace_block
from linter.validation.index import PackageIndex, index_url

ROOT = Path(__file__).resolve().parent.parent
CONVENTION = ROOT / "linter" / "conventions" / "aind-open-data.yaml"
PROJECTS = ("aind-data-schema", "aind-data-schema-models")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, default=Path.home() / ".cache" / "aind-bucket-lint" / "wheels")
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--index-url", help="the package index (default: pip's, else PyPI)")
    parser.add_argument("--convention", type=Path, default=CONVENTION)
    args = parser.parse_args(argv)

    index = PackageIndex(index_url(args.index_url))
    wheels = []
    for project in PROJECTS:
        versions = sorted(index.releases(project))
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            paths = list(pool.map(lambda v, p=project: index.wheel(p, v, args.wheels), versions))
        wheels += [(project, v, path) for v, path in zip(versions, paths, strict=True) if path is not None]
        print(
            f"{project}: {sum(p is not None for p in paths)} of {len(versions)} releases have a wheel", file=sys.stderr
        )
    entries = collect(wheels)
    text = args.convention.read_text(encoding="utf-8")
    args.convention.write_text(replace_block(text, render(entries)), encoding="utf-8")
    print(f"wrote {len(entries)} abbreviations into {args.convention}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
