"""The engine's stream: what auditing one target yields, in order.

    TargetStarted ──> AssetResult (the target's own, ``name`` None) ──> AssetResult per asset ──> TargetFinished

Each event is plain, frozen data (:class:`~linter.findings.AssetResult` is the one record of an
asset), so whatever reads the stream (the audit, a reporter, a test) learns a target's root,
its executor or its request counts from the stream itself and never from a source or from the
engine after the run. A target that cannot be opened yields nothing: the engine raises
:class:`~linter.sources.SourceError` before :class:`TargetStarted`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from linter.findings import AssetResult

__all__ = ["AssetResult", "TargetEvent", "TargetFinished", "TargetStarted", "root_uri"]


def root_uri(location: str) -> str:
    """A folder or prefix as an absolute URI ending in '/': ``s3://bucket/prefix/`` stays as it
    is, a local folder becomes ``file:///...``."""
    uri = location if "://" in location else Path(location).absolute().as_uri()
    return uri if uri.endswith("/") else uri + "/"


@dataclass(frozen=True)
class TargetStarted:
    """A target was opened and listed; its results follow."""

    label: str
    """The target as given (a path or an ``s3://`` URL)."""
    root: str | None = None
    """The folder or prefix the findings' paths are relative to, as an absolute URI ending in '/'
    (``file:///...`` or ``s3://bucket/prefix/``); a target that is one asset has its parent as
    root. None when the target could not be opened."""
    root_url: str | None = None
    """What the ledger records the root under (the source's ``root_url``)."""
    single_asset: bool = False
    """The target is one asset, not a folder or prefix of assets."""
    assets: int = 0
    """The assets that will be checked (the progress line's total)."""

    @property
    def base(self) -> str:
        """:attr:`root`, or for a target that could not be opened, the target itself as a URI."""
        if self.root is not None:
            return self.root
        return root_uri(self.label if "://" in self.label else str(Path(self.label).resolve()))

    @property
    def local_base(self) -> Path | None:
        """:attr:`base` as a local folder; None for a remote target (``s3://``)."""
        parsed = urlparse(self.base)
        if parsed.scheme != "file":
            return None
        from urllib.request import url2pathname  # (urllib.request is slow to import)

        return Path(url2pathname(parsed.path))  # which also undoes the percent-encoding


@dataclass(frozen=True)
class TargetFinished:
    """The target's last result was yielded."""

    label: str
    complete: bool
    """Every part of the target was read and every asset checked (no E901)."""
    timed_out: bool = False
    """The run's ``--timeout`` ran out during this target (its unfinished assets got E901)."""
    executor: str | None = None
    """Where the assets were checked (``threads``, ``processes``, ``dask``); None when none was started."""
    cleared: int = 0
    """Assets the source's listing summary cleared (never listed one by one)."""
    summary_off_by: tuple[tuple[str, str], ...] = ()
    """``(code, name)`` of the selected asset rules that state no ``clears`` condition, when the
    source could have summarized its listing: they turned the summary off for this target."""
    requests: Mapping[str, int] = field(default_factory=dict)
    """Requests the source made, by operation (S3: ListObjectsV2, GetObject, ...); empty when it
    does not count them."""


TargetEvent = TargetStarted | AssetResult | TargetFinished
"""What :meth:`linter.engine.Linter.run_target` yields."""
