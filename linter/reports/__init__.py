"""Output formats. A reporter is fed the run's header, then each asset's result as it is
produced, then the summary; streaming formats write as they go, whole-document ones at the end."""

from __future__ import annotations

import importlib
from typing import IO, Any, Protocol

from linter.engine import AssetResult

FORMATS: dict[str, str] = {
    "text": "linter.reports.text:TextReporter",
    "json": "linter.reports.json:JsonReporter",
    "jsonl": "linter.reports.json:JsonLinesReporter",
}


class Reporter(Protocol):
    def __init__(self, out: IO[str], options: dict[str, Any]) -> None: ...

    def start(self, header: dict[str, Any]) -> None: ...

    def asset(self, result: AssetResult) -> None: ...

    def finish(self, footer: dict[str, Any]) -> None: ...


def get_reporter(fmt: str, out: IO[str], options: dict[str, Any] | None = None) -> Reporter:
    try:
        module_name, cls_name = FORMATS[fmt].split(":")
    except KeyError:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})") from None
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(out, options or {})
