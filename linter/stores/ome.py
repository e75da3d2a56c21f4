"""OME metadata judged by the field's maintained models: ome-zarr-models-py.

The models (``ome_zarr_models.v04`` for NGFF 0.4, ``v05`` for 0.5) are pydantic models of the
attributes alone, so they judge ``multiscales``, ``omero`` and ``labels`` from the JSON the
linter already read, without opening the store through zarr. They are imported on first
need (the ``zarr`` extra; importing them takes about a second, as they import zarr 3), so a
bucket without OME-Zarr never pays for them.
"""

from __future__ import annotations

import functools
from typing import Any

from linter.stores.judge import ValidatorUnavailable

INSTALL_HINT = "pip install 'aind-bucket-lint[zarr]'"
MAX_ERRORS = 20


@functools.cache
def _models(version: str) -> dict[str, Any]:
    try:
        if version == "0.4":
            from ome_zarr_models.v04.image import ImageAttrs
            from ome_zarr_models.v04.labels import LabelsAttrs
        else:
            from ome_zarr_models.v05.image import ImageAttrs  # type: ignore[assignment]
            from ome_zarr_models.v05.labels import LabelsAttrs  # type: ignore[assignment]
    except ImportError as exc:
        raise ValidatorUnavailable(
            f"OME metadata not judged: ome-zarr-models cannot be imported ({exc}); {INSTALL_HINT}"
        ) from None
    return {"image": ImageAttrs, "labels": LabelsAttrs}


def validator_version() -> str | None:
    """The installed ome-zarr-models' version (None when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ome-zarr-models")
    except PackageNotFoundError:
        return None


def validate_ome(version: str, what: str, attrs: dict[str, Any]) -> list[str]:
    """The models' complaints about ``attrs`` (``image``: multiscales and omero; ``labels``), each
    as ``location: message``. Raises ValidatorUnavailable when the models cannot be imported."""
    from pydantic import ValidationError

    model = _models(version)[what]
    try:
        model.model_validate(attrs)
    except ValidationError as exc:
        out = []
        for error in exc.errors(include_url=False)[:MAX_ERRORS]:
            where = ".".join(str(p) for p in error.get("loc", ())) or "(top)"
            out.append(f"{where}: {error.get('msg', 'invalid')}")
        rest = exc.error_count() - MAX_ERRORS
        if rest > 0:
            out.append(f"... and {rest} more errors")
        return out
    except Exception as exc:  # a model that crashes on odd input still gives a verdict, never a traceback
        return [f"the OME models could not judge these attributes ({type(exc).__name__}: {exc})"]
    return []
