"""``text``: one line a finding, ``path: CODE [severity] message``, then a summary."""

from __future__ import annotations

from typing import IO, Any

from linter.findings import AssetResult


class TextReporter:
    def __init__(self, out: IO[str], options: dict[str, Any]) -> None:
        self.out = out

    def start(self, header: dict[str, Any]) -> None:
        pass

    def target(self, label: str) -> None:
        """Called before each target's results; this format does not need it."""

    def asset(self, result: AssetResult) -> None:
        for f in result.findings:
            where = f.path or f.asset or "."
            self.out.write(f"{where}: {f.rule} [{f.severity}] {f.message}\n")

    def finish(self, footer: dict[str, Any]) -> None:
        s = footer["summary"]
        sev = s["by_severity"]
        line = (
            f"{s['assets']} assets, {s['objects']} objects: {s['findings']} findings "
            f"({sev['error']} errors, {sev['warning']} warnings, {sev['info']} info)"
        )
        if not footer["complete"]:
            line += "; INCOMPLETE: part of the target could not be read (see E901)"
        baselined = footer.get("baselined") or s.get("baselined")
        if baselined:
            line += f"; {baselined} baselined findings not shown"
        self.out.write(line + "\n")
