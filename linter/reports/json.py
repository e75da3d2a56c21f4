"""``json``: one document (report_version 1); ``jsonl``: one record a line, streamed.

With ``--ledger`` each finding carries its ``status`` (``new`` or ``existing`` against the last
complete audit of its root), the summary counts ``new`` and ``fixed``, ``fixed`` lists the
findings of that audit that are gone (status ``fixed``) and ``trend`` the audits before this one.
Both formats hold everything ``aind-bucket-lint report`` needs to render any other format.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import IO, Any

from linter.findings import AssetResult
from linter.reports import writes_utf8
from linter.safetext import scrub, scrub_obj


def asset_record(result: AssetResult) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": result.name,
        "level": result.level,
        "source": result.source,
        "objects": result.objects,
    }
    schema_version = result.schema_version
    if schema_version is not None:
        record["schema_version"] = schema_version
    return record


def closing_fields(footer: dict[str, Any]) -> dict[str, Any]:
    """The footer's JSON fields (``fixed`` aside)."""
    out = {"finished_at": footer["finished_at"], "complete": footer["complete"], "summary": footer["summary"]}
    if "trend" in footer:
        out["trend"] = footer["trend"]
    if "previous_audit" in footer:
        out["previous_audit"] = footer["previous_audit"]
    return out


class JsonReporter:
    def __init__(self, out: IO[str], options: dict[str, Any]) -> None:
        self.out = out
        self.ascii = not writes_utf8(out)
        self.header: dict[str, Any] = {}
        self.assets: list[dict[str, Any]] = []
        self.findings: list[dict[str, Any]] = []

    def start(self, header: dict[str, Any]) -> None:
        self.header = header

    def target(self, label: str) -> None:
        """Called before each target's results; this format does not need it."""

    def asset(self, result: AssetResult) -> None:
        if result.name is not None:
            self.assets.append(asset_record(result))
        self.findings.extend(f.to_dict() for f in result.findings)

    def finish(self, footer: dict[str, Any]) -> None:
        doc = {**self.header, **closing_fields(footer), "assets": self.assets, "findings": self.findings}
        if "fixed" in footer:
            doc["fixed"] = [f.to_dict() for f in footer["fixed"]]
        json.dump(scrub_obj(doc), self.out, indent=2, ensure_ascii=self.ascii)
        self.out.write("\n")


class JsonLinesReporter:
    """A header line; per asset an ``asset`` line and a ``finding`` line per finding, as they are
    produced; with history a ``fixed`` line per fixed finding; a ``summary`` line last."""

    def __init__(self, out: IO[str], options: dict[str, Any]) -> None:
        self.out = out
        self.ascii = not writes_utf8(out)
        # one encoder for every line (json.dumps with options makes one per call)
        self._encode = json.JSONEncoder(ensure_ascii=self.ascii, separators=(",", ":")).encode
        self._string = encode_basestring_ascii if self.ascii else encode_basestring

    def _line(self, obj: dict[str, Any]) -> None:
        self.out.write(self._encode(scrub_obj(obj)) + "\n")

    def start(self, header: dict[str, Any]) -> None:
        self._line({"type": "header", **header})

    def _asset_line(self, result: AssetResult) -> str:
        """``_line({"type": "asset", **asset_record(result)})``, written out directly: most lines of
        a report of a bucket are these, and the encoder's walk of a dict cost more than the rest
        of an asset's output."""
        string = self._string
        source = "null" if result.source is None else string(scrub(result.source))
        level = "null" if result.level is None else string(result.level)
        line = (
            f'{{"type":"asset","name":{string(scrub(result.name or ""))},"level":{level},"source":{source},'
            f'"objects":{int(result.objects)}'
        )
        if result.schema_version is not None:
            line += f',"schema_version":{string(scrub(result.schema_version))}'
        return line + "}\n"

    def target(self, label: str) -> None:
        """Called before each target's results; this format does not need it."""

    def asset(self, result: AssetResult) -> None:
        if result.name is not None:
            self.out.write(self._asset_line(result))
        for f in result.findings:
            self._line({"type": "finding", **f.to_dict()})
        if result.findings:
            self.out.flush()

    def finish(self, footer: dict[str, Any]) -> None:
        for f in footer.get("fixed", ()):
            self._line({"type": "fixed", **f.to_dict()})
        self._line({"type": "summary", **closing_fields(footer)})
