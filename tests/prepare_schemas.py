"""Prepare the aind-data-schema releases the tests validate with (run by .ci/run before the tests).

The releases are those the release table names for the sidecars of
``../shared/fixtures/upstream-truth/`` (plus the one the own-fixture tests use); without
``../shared`` only the latter. Preparing them ahead keeps the downloads out of the test run;
the tests would prepare them on first need all the same.

    python -m tests.prepare_schemas
"""

from __future__ import annotations

import csv
import sys

from linter.cli import main as cli_main
from linter.validation import installed_release, table
from linter.validation.releases import version_key
from tests.conftest import FIXTURES

OWN = {"0.3.7"}  # tests/test_validation_envs.py: Processing 0.0.1


def needed() -> list[str]:
    releases = set(OWN)
    manifest = FIXTURES / "upstream-truth" / "sidecars" / "manifest.tsv"
    if manifest.is_file():
        with open(manifest, encoding="utf-8") as handle:
            for row in csv.reader(handle, delimiter="\t"):
                if not row or row[0].startswith("#"):
                    continue
                res = table().resolve(row[1], row[2])
                if res.release is not None and installed_release() not in res.declared_by:
                    releases.add(res.release.version)
    for name in ("1.4.0",):  # the 1.4.0 example files of ../shared/fixtures/aind-metadata-examples
        releases.add(name)
    return sorted(releases, key=version_key)


if __name__ == "__main__":
    releases = needed()
    print(f"preparing {len(releases)} aind-data-schema releases", file=sys.stderr)
    sys.exit(cli_main(["schemas", "install", *releases]))
