"""Sidecar metadata: policy (``policy``), declared versions (``versions``), shared fields
(``fields``) and, in ``linter.validation``, validation by the release that declares a file's
version. ``sidecar`` ties them together for the M2xx rules."""

from linter.metadata.fields import LEVEL_ALIASES, creation_moment, data_level, modalities, source_names
from linter.metadata.policy import (
    DEFAULT_CORE_FILES,
    DEFAULT_MAX_ERRORS_PER_FILE,
    DEFAULT_MAX_JSON_BYTES,
    Alias,
    MetadataPolicy,
    RequiredClause,
    RequiredSet,
    policy,
)
from linter.metadata.sidecar import SidecarModel, Validation, described_module, sidecar_model, validate_sidecar
from linter.metadata.versions import VERSION_RE, VersionVerdict, declared_version, stem

__all__ = [
    "DEFAULT_CORE_FILES",
    "DEFAULT_MAX_ERRORS_PER_FILE",
    "DEFAULT_MAX_JSON_BYTES",
    "LEVEL_ALIASES",
    "VERSION_RE",
    "Alias",
    "MetadataPolicy",
    "RequiredClause",
    "RequiredSet",
    "SidecarModel",
    "Validation",
    "VersionVerdict",
    "creation_moment",
    "data_level",
    "declared_version",
    "described_module",
    "modalities",
    "policy",
    "sidecar_model",
    "source_names",
    "stem",
    "validate_sidecar",
]
