"""``json``: one document (report_version 1); ``jsonl``: one finding a line, streamed."""

from __future__ import annotations

import json
from typing import IO, Any

from linter.findings import AssetResult


class JsonReporter:
    def __init__(self, out: IO[str], options: dict[str, Any]) -> None:
        self.out = out
        self.header: dict[str, Any] = {}
        self.assets: list[dict[str, Any]] = []
        self.findings: list[dict[str, Any]] = []

    def start(self, header: dict[str, Any]) -> None:
        self.header = header

    def target(self, label: str) -> None:
        """Called before each target's results; this format does not need it."""

    def asset(self, result: AssetResult) -> None:
        if result.name is not None:
            self.assets.append(
                {"name": result.name, "level": result.level, "source": result.source, "objects": result.objects}
            )
        self.findings.extend(f.to_dict() for f in result.findings)

    def finish(self, footer: dict[str, Any]) -> None:
        doc = {
            **self.header,
            "finished_at": footer["finished_at"],
            "complete": footer["complete"],
            "summary": footer["summary"],
            "assets": self.assets,
            "findings": self.findings,
        }
        json.dump(doc, self.out, indent=2, ensure_ascii=False)
        self.out.write("\n")


class JsonLinesReporter:
    """A header line, one line per finding as it is produced, a summary line last."""

    def __init__(self, out: IO[str], options: dict[str, Any]) -> None:
        self.out = out

    def _line(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")

    def start(self, header: dict[str, Any]) -> None:
        self._line({"type": "header", **header})

    def target(self, label: str) -> None:
        """Called before each target's results; this format does not need it."""

    def asset(self, result: AssetResult) -> None:
        for f in result.findings:
            self._line({"type": "finding", **f.to_dict()})
        if result.findings:
            self.out.flush()

    def finish(self, footer: dict[str, Any]) -> None:
        self._line({"type": "summary", **footer})
