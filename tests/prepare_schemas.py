"""Prepare the aind-data-schema releases the tests validate with (run by .ci/run before the tests).

The releases are those the release table names for the sidecars of
``../shared/fixtures/upstream-truth/`` and ``upstream-truth-2/`` (each file's class from its
``describedBy``, as the linter chooses it), those the assets of ``upstream-assets/`` are judged
by (each file's, each asset's ``Metadata``, each record's), plus the one the own-fixture tests use; without
``../shared`` only the latter. Preparing them ahead keeps the downloads out of the test run;
the tests would prepare them on first need all the same.

    python -m tests.prepare_schemas
"""

from __future__ import annotations

import csv
import gzip
import json
import sys

from linter.cli import main as cli_main
from linter.conventions import load_convention
from linter.metadata import policy, sidecar_model
from linter.validation import installed_release, table
from linter.validation.releases import version_key
from tests.conftest import FIXTURES

OWN = {"0.3.7"}  # tests/test_validation_envs.py: Processing 0.0.1


def needed() -> list[str]:
    releases = set(OWN)
    pol = policy(load_convention("aind-open-data"))
    for corpus in ("upstream-truth", "upstream-truth-2"):
        manifest = FIXTURES / corpus / "sidecars" / "manifest.tsv"
        if not manifest.is_file():
            continue
        with open(manifest, encoding="utf-8") as handle:
            for row in csv.reader(handle, delimiter="\t"):
                if not row or row[0].startswith("#"):
                    continue
                data = json.loads(gzip.decompress((manifest.parent.parent / row[0]).read_bytes()))
                if not isinstance(data, dict) or not isinstance(data.get("schema_version"), str):
                    continue
                model = sidecar_model(f"{row[1]}.json", data, pol)
                res = table().resolve(model.stem, data["schema_version"], model.classes)
                if res.release is not None and installed_release() not in res.declared_by:
                    releases.add(res.release.version)
    for name in ("1.4.0",):  # the 1.4.0 example files of ../shared/fixtures/aind-metadata-examples
        releases.add(name)
    releases.update(r for r in upstream_assets_releases() if r != installed_release())
    return sorted(releases, key=version_key)


def upstream_assets_releases() -> list[str]:
    """The releases ../shared/fixtures/upstream-assets needs: each core file's own, each asset's
    (the one its Metadata is built with, chosen as the linter chooses it) and each record's."""
    from linter.validation.asset_verdict import choose_release

    root = FIXTURES / "upstream-assets"
    manifest = root / "manifest.tsv"
    if not manifest.is_file():
        return []
    pol = policy(load_convention("aind-open-data"))
    releases: set[str] = set()
    with open(manifest, encoding="utf-8") as handle:
        folders = [row[4] for row in csv.reader(handle, delimiter="\t") if row and not row[0].startswith("#")]
    for folder in folders:
        versions: dict[str, str | None] = {}
        for packed in sorted((root / folder).glob("*.json.gz")):
            data = json.loads(gzip.decompress(packed.read_bytes()))
            version = data.get("schema_version") if isinstance(data, dict) else None
            if not isinstance(version, str):
                continue
            key = packed.name.removesuffix(".gz")
            stem = "metadata" if key == "metadata.nd.json" else key.removesuffix(".json")
            classes = sidecar_model(key, data, pol).classes if stem != "metadata" else ()
            res = table().resolve(stem, version, classes)
            if res.release is not None:
                releases.add(res.release.version)
            if stem != "metadata":
                versions[stem] = version
        chosen = choose_release(versions).release if versions else None
        if chosen is not None:
            releases.add(chosen.version)
    return sorted(releases, key=version_key)


if __name__ == "__main__":
    releases = needed()
    print(f"preparing {len(releases)} aind-data-schema releases", file=sys.stderr)
    sys.exit(cli_main(["schemas", "install", *releases]))
