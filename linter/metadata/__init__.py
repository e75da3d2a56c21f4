"""Sidecar metadata: policy (``policy``), declared versions (``versions``), shared fields
(``fields``) and, in ``linter.validation``, validation by the release that declares a file's
version. ``sidecar`` ties them together for the M2xx rules."""

from linter.metadata.fields import LEVEL_ALIASES, creation_moment, data_level, modalities, source_names
from linter.metadata.policy import (
    DEFAULT_CORE_FILES,
    DEFAULT_MAX_ERRORS_PER_FILE,
    DEFAULT_MAX_JSON_BYTES,
    MetadataPolicy,
    RequiredClause,
    RequiredSet,
    policy,
)
from linter.metadata.sidecar import Validation, validate_sidecar
from linter.metadata.versions import VERSION_RE, VersionVerdict, declared_version, stem

__all__ = [
    "DEFAULT_CORE_FILES",
    "DEFAULT_MAX_ERRORS_PER_FILE",
    "DEFAULT_MAX_JSON_BYTES",
    "LEVEL_ALIASES",
    "VERSION_RE",
    "MetadataPolicy",
    "RequiredClause",
    "RequiredSet",
    "Validation",
    "VersionVerdict",
    "creation_moment",
    "data_level",
    "declared_version",
    "modalities",
    "policy",
    "source_names",
    "stem",
    "validate_sidecar",
]
