"""The user's config file: ``.aind-bucket-lint.yaml`` or ``[tool.aind-bucket-lint]`` in
``pyproject.toml``, found from the working directory upward. Command-line options win."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from linter.yamlsafe import YamlError, load_yaml

CONFIG_NAME = ".aind-bucket-lint.yaml"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "select": {"type": "array", "items": {"type": "string"}},
        "ignore": {"type": "array", "items": {"type": "string"}},
        "fail-on": {"enum": ["error", "warning", "info", "never"]},
        "convention": {"type": "string"},
        "format": {"type": "string"},
        "jobs": {"type": "integer", "minimum": 1, "maximum": 512},
        "executor": {"enum": ["auto", "threads", "processes", "dask"]},
        "dask-scheduler": {"type": "string"},
        "severity": {
            "type": "object",
            "propertyNames": {"pattern": "^[A-Z][0-9]{3}$"},
            "additionalProperties": {"enum": ["error", "warning", "info"]},
        },
        "baseline": {"type": "string"},
        "ledger": {"type": "string"},
        "bucket-root": {"type": "string"},
        "per-asset-ignores": {
            "type": "object",
            "description": "glob on the asset name -> rule codes or prefixes not reported for those assets",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 604800},
        "allow-empty": {"type": "boolean"},
        "sidecar-budget": {"type": "integer", "minimum": 1, "maximum": 65536},
        "s3-connect-timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
        "s3-read-timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
        "s3-max-attempts": {"type": "integer", "minimum": 1, "maximum": 20},
        "schema-cache": {"type": "string"},
        "offline": {"type": "boolean"},
    },
}


class ConfigError(Exception):
    pass


@dataclass
class Config:
    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def resolve_path(self, value: str) -> str:
        """A path written in the config file is relative to the file's folder."""
        if self.path is None or Path(value).is_absolute():
            return value
        return str(self.path.parent / value)


def _validate(values: Any, where: str) -> dict[str, Any]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: the configuration must be a mapping")
    for key in ("select", "ignore"):
        if isinstance(values.get(key), str):
            values[key] = [v.strip() for v in values[key].split(",") if v.strip()]
    errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(values))
    if errors:
        e = errors[0]
        at = "/".join(str(p) for p in e.absolute_path) or "(top)"
        raise ConfigError(f"{where}: invalid configuration at {at}: {e.message}")
    return values


def read_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    if path.name == "pyproject.toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        values = data.get("tool", {}).get("aind-bucket-lint")
        return Config(path, _validate(values, f"{path} [tool.aind-bucket-lint]"))
    try:
        values = load_yaml(text)
    except YamlError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return Config(path, _validate(values, str(path)))


def find_config(start: Path) -> Config:
    """The nearest config file from ``start`` upward; an empty Config when there is none."""
    for folder in [start, *start.parents]:
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return read_config(candidate)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"{pyproject}: cannot read: {exc}") from None
            if "aind-bucket-lint" in data.get("tool", {}):
                return read_config(pyproject)
    return Config()
