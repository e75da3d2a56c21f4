"""Generate the JSON Schemas of the aind-data-schema 1.x core models.

The linter validates 1.x sidecar files (``data_description.json``, ``rig.json``,
``session.json``, ...) with ``jsonschema`` instead of importing aind-data-schema,
whose 1.x and 2.x lines cannot be installed side by side. This script produces
those schemas, once, from the pydantic models of one pinned 1.x release, and
writes them as data under ``linter/schemas/v1/``:

- ``<stem>.json`` for each core model: ``Model.model_json_schema()`` (pydantic 2,
  validation mode, JSON Schema draft 2020-12), plus a top-level ``"$schema"``
  naming draft 2020-12 and a ``"$comment"`` recording the aind-data-schema
  release (and the aind-data-schema-models and pydantic versions) it came from;
- ``index.json``: ``{stem: {"model": class name, "schema_version": the model's
  default schema_version, "aind_data_schema": release}}``.

Output is deterministic (sorted keys, compact separators, one trailing newline)
for a given set of package versions. pydantic and aind-data-schema-models
versions can change the output, which is why each ``"$comment"`` records them.

How to rerun (keep the 1.x release out of the linter's own environment)::

    python3 -m venv /work/venv-ads1
    /work/venv-ads1/bin/pip install aind-data-schema==1.4.0 \
        aind-data-schema-models==0.8.0 pydantic==2.14.3
    /work/venv-ads1/bin/python scripts/generate_v1_schemas.py

The two extra pins are the versions the committed files were generated with (see
their ``"$comment"``); drop them to regenerate with newer ones, then review the diff.

Options:

- ``--output-dir DIR``: default ``linter/schemas/v1`` in this script's repo;
- ``--check``: write nothing, exit 1 if a file on disk differs from the output;
- ``--allow-version-mismatch``: accept a 1.x release other than
  ``EXPECTED_VERSION``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXPECTED_VERSION = "1.4.0"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT_DIR = REPO_ROOT / "linter" / "schemas" / "v1"


@dataclass(frozen=True)
class CoreModel:
    """One core model: the file stem it describes and where its class lives."""

    stem: str
    module: str
    class_name: str
    optional: bool = False


_CORE = "aind_data_schema.core"
CORE_MODELS: tuple[CoreModel, ...] = (
    CoreModel("data_description", f"{_CORE}.data_description", "DataDescription"),
    # A 1.x derived asset's data_description.json is a DerivedDataDescription (adds
    # input_data_name, process_name); the linter picks it when data_level is "derived".
    CoreModel("derived_data_description", f"{_CORE}.data_description", "DerivedDataDescription"),
    CoreModel("subject", f"{_CORE}.subject", "Subject"),
    CoreModel("procedures", f"{_CORE}.procedures", "Procedures"),
    CoreModel("processing", f"{_CORE}.processing", "Processing"),
    CoreModel("rig", f"{_CORE}.rig", "Rig"),
    CoreModel("session", f"{_CORE}.session", "Session"),
    CoreModel("instrument", f"{_CORE}.instrument", "Instrument"),
    CoreModel("acquisition", f"{_CORE}.acquisition", "Acquisition"),
    CoreModel("quality_control", f"{_CORE}.quality_control", "QualityControl"),
    # Metadata describes the merged ``metadata.nd.json``; written if the release has it.
    CoreModel("metadata", f"{_CORE}.metadata", "Metadata", optional=True),
)


def dumps(obj: Any) -> str:
    """Serialize deterministically and compactly."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text + "\n"


def package_version(name: str) -> str:
    """Installed distribution version, or ``"unknown"``."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def load_model(core: CoreModel) -> Any | None:
    """Import a core model class; ``None`` if it is optional and absent."""
    try:
        return getattr(importlib.import_module(core.module), core.class_name)
    except (ImportError, AttributeError):
        if core.optional:
            return None
        raise


def default_schema_version(model: Any) -> str:
    """Return the model's default ``schema_version`` literal (e.g. ``"1.0.4"``)."""
    default = model.model_fields["schema_version"].default
    if not isinstance(default, str):
        msg = f"{model.__name__}.schema_version has no string default: {default!r}"
        raise TypeError(msg)
    return default


def build(release: str) -> dict[str, str]:
    """Return ``{file name: file text}`` for every schema file and ``index.json``."""
    provenance = (
        f"aind-data-schema {release} "
        f"(aind-data-schema-models {package_version('aind-data-schema-models')}, "
        f"pydantic {package_version('pydantic')})"
    )
    files: dict[str, str] = {}
    index: dict[str, dict[str, str]] = {}
    for core in CORE_MODELS:
        model = load_model(core)
        if model is None:
            print(f"skipping {core.stem}: no {core.module}.{core.class_name}")
            continue
        schema: dict[str, Any] = model.model_json_schema(mode="validation")
        schema["$schema"] = DRAFT_2020_12
        schema["$comment"] = (
            f"Generated by scripts/generate_v1_schemas.py from {provenance}: "
            f"{core.module}.{core.class_name}.model_json_schema(). Do not edit by hand."
        )
        files[f"{core.stem}.json"] = dumps(schema)
        index[core.stem] = {
            "model": core.class_name,
            "schema_version": default_schema_version(model),
            "aind_data_schema": release,
        }
    files["index.json"] = dumps(index)
    return files


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    parser.add_argument(
        "--allow-version-mismatch",
        action="store_true",
        help=f"accept an aind-data-schema release other than {EXPECTED_VERSION}",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Generate (or check) the schema files; return the process exit status."""
    args = parse_args(argv)
    import aind_data_schema

    release: str = aind_data_schema.__version__
    if release != EXPECTED_VERSION and not args.allow_version_mismatch:
        print(
            f"aind-data-schema {release} is installed, expected {EXPECTED_VERSION} "
            "(pass --allow-version-mismatch to use it anyway)",
            file=sys.stderr,
        )
        return 2
    if not release.startswith("1."):
        print(f"aind-data-schema {release} is not a 1.x release", file=sys.stderr)
        return 2

    files = build(release)
    out_dir: Path = args.output_dir
    if args.check:
        stale = [
            name
            for name, text in files.items()
            if not (out_dir / name).is_file() or (out_dir / name).read_text(encoding="utf-8") != text
        ]
        for name in stale:
            print(f"out of date: {out_dir / name}", file=sys.stderr)
        return 1 if stale else 0

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out_dir / name).write_text(text, encoding="utf-8")
        print(f"wrote {out_dir / name} ({len(text.encode('utf-8'))} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
