"""``text``: one line a finding, ``path: CODE [severity] message``, then a summary."""

from __future__ import annotations

from typing import IO, Any

from linter.findings import AssetResult


class TextReporter:
    """``options["relocate"]``, when given: ``(target label, path) -> path`` as shown (the hook
    shows paths relative to the repository's root); else paths relative to the target root."""

    def __init__(self, out: IO[str], options: dict[str, Any]) -> None:
        self.out = out
        self.relocate = options.get("relocate")
        self.label: str | None = None

    def start(self, header: dict[str, Any]) -> None:
        pass

    def target(self, label: str) -> None:
        self.label = label

    def asset(self, result: AssetResult) -> None:
        for f in result.findings:
            where = f.path or f.asset or "."
            if self.relocate is not None and self.label is not None and "://" not in self.label:
                where = self.relocate(self.label, where)
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
