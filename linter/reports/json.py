"""``json``: one document (report_version 1); ``jsonl``: one record a line, streamed.

With ``--ledger`` each finding carries its ``status`` (``new`` or ``existing`` against the last
complete audit of its root), the summary counts ``new`` and ``fixed``, ``fixed`` lists the
findings of that audit that are gone (status ``fixed``) and ``trend`` the audits before this one.
``targets`` (in the document, and on the ``summary`` line) gives each target's ``root`` (the URI
its findings' paths are relative to) and how many of the ``assets`` and ``findings``, in order,
are its own. Both formats hold everything ``aind-bucket-lint report`` needs to render any other
format as the live run did.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import IO, Any

from linter.events import TargetStarted
from linter.findings import AssetResult
from linter.reports import BaseReporter, ReportOptions, RunFooter, RunHeader, writes_utf8
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
    if result.judged is not None:
        record["judged"] = result.judged
    return record


class Targets:
    """Each target's record in the report: its label, its root, and how many of the report's
    assets and findings, in order, are its own (what a saved report is split by again)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def started(self, target: TargetStarted) -> None:
        self.records.append({"label": target.label, "root": target.root, "assets": 0, "findings": 0})

    def add(self, result: AssetResult) -> None:
        if self.records:
            record = self.records[-1]
            record["assets"] += result.name is not None
            record["findings"] += len(result.findings)

    def fields(self) -> dict[str, Any]:
        """``{"targets": [...]}``, or nothing for a run whose targets were never announced."""
        return {"targets": self.records} if self.records else {}


class JsonReporter(BaseReporter):
    def __init__(self, out: IO[str], options: ReportOptions) -> None:
        super().__init__(out, options)
        self.ascii = not writes_utf8(out)
        self.targets = Targets()
        self.assets: list[dict[str, Any]] = []
        self.findings: list[dict[str, Any]] = []

    def target_started(self, target: TargetStarted) -> None:
        super().target_started(target)
        self.targets.started(target)

    def asset(self, result: AssetResult) -> None:
        self.targets.add(result)
        if result.name is not None:
            self.assets.append(asset_record(result))
        self.findings.extend(f.to_dict() for f in result.findings)

    def finish(self, footer: RunFooter) -> None:
        doc = {**self.header.to_dict(), **footer.to_dict(), **self.targets.fields()}
        doc.update(assets=self.assets, findings=self.findings)
        if footer.fixed is not None:
            doc["fixed"] = [f.to_dict() for f in footer.fixed]
        json.dump(scrub_obj(doc), self.out, indent=2, ensure_ascii=self.ascii)
        self.out.write("\n")


class JsonLinesReporter(BaseReporter):
    """A header line; per asset an ``asset`` line and a ``finding`` line per finding, as they are
    produced; with history a ``fixed`` line per fixed finding; a ``summary`` line last (with the
    closing fields of the json document: ``targets`` among them)."""

    def __init__(self, out: IO[str], options: ReportOptions) -> None:
        super().__init__(out, options)
        self.targets = Targets()
        self.ascii = not writes_utf8(out)
        # one encoder for every line (json.dumps with options makes one per call)
        self._encode = json.JSONEncoder(ensure_ascii=self.ascii, separators=(",", ":")).encode
        self._string = encode_basestring_ascii if self.ascii else encode_basestring

    def _line(self, obj: dict[str, Any]) -> None:
        self.out.write(self._encode(scrub_obj(obj)) + "\n")

    def start(self, header: RunHeader) -> None:
        super().start(header)
        self._line({"type": "header", **header.to_dict()})

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
        if result.judged is not None:
            line += f',"judged":{self._encode(scrub_obj(result.judged))}'
        return line + "}\n"

    def target_started(self, target: TargetStarted) -> None:
        super().target_started(target)
        self.targets.started(target)

    def asset(self, result: AssetResult) -> None:
        self.targets.add(result)
        if result.name is not None:
            self.out.write(self._asset_line(result))
        for f in result.findings:
            self._line({"type": "finding", **f.to_dict()})
        if result.findings:
            self.out.flush()

    def finish(self, footer: RunFooter) -> None:
        for f in footer.fixed or ():
            self._line({"type": "fixed", **f.to_dict()})
        self._line({"type": "summary", **footer.to_dict(), **self.targets.fields()})
