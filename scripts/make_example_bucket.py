"""Write ``examples/bucket/`` from the project's fixture builder (``tests/fixtures.py``).

    python scripts/make_example_bucket.py          # rewrite examples/bucket/
    python scripts/make_example_bucket.py --check  # exit 1 if the committed folder differs

Every sidecar is made by the builder: 2.x files with the installed aind-data-schema models,
1.x and legacy files as the builder writes them. The folder is replaced as a whole, so a file
the builder no longer makes disappears.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fixtures import example_bucket_files, write_files  # noqa: E402

BUCKET = REPO / "examples" / "bucket"


def differences(bucket: Path = BUCKET) -> list[str]:
    """Paths (relative to the bucket) that are missing, extra or different."""
    expected = {rel: body.encode() if isinstance(body, str) else body for rel, body in example_bucket_files().items()}
    present = {p.relative_to(bucket).as_posix() for p in bucket.rglob("*") if p.is_file()} if bucket.is_dir() else set()
    out = [f"missing: {rel}" for rel in sorted(set(expected) - present)]
    out += [f"extra: {rel}" for rel in sorted(present - set(expected))]
    out += [
        f"differs: {rel}" for rel in sorted(set(expected) & present) if (bucket / rel).read_bytes() != expected[rel]
    ]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when the folder differs")
    args = parser.parse_args(argv)
    if args.check:
        diff = differences()
        for line in diff:
            print(line)
        return 1 if diff else 0
    files = example_bucket_files()
    if BUCKET.exists():
        shutil.rmtree(BUCKET)
    write_files(BUCKET, files)
    print(f"wrote {BUCKET.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
