"""``aind-bucket-lint rules``: the rule table."""

from __future__ import annotations

import json
import sys

from linter.commands import EXIT_OK
from linter.registry import Rule, load_rules

FORMATS = ("text", "json", "markdown")


def rules_markdown(rules: dict[str, Rule]) -> str:
    lines = ["| Code | Name | Severity | Summary |", "| --- | --- | --- | --- |"]
    for r in rules.values():
        lines.append(f"| {r.code} | {r.name} | {r.severity} | {r.summary} |")
    return "\n".join(lines) + "\n"


def run(fmt: str) -> int:
    rules = load_rules()
    if fmt == "json":
        rows = [
            {
                "code": r.code,
                "name": r.name,
                "severity": str(r.severity),
                "summary": r.summary,
                "doc": r.doc,
                "origin": r.origin,
            }
            for r in rules.values()
        ]
        print(json.dumps(rows, indent=2))
    elif fmt == "markdown":
        sys.stdout.write(rules_markdown(rules))
    else:
        width = max(len(r.name) for r in rules.values())
        for r in rules.values():
            print(f"{r.code}  {r.name:<{width}}  {r.severity!s:<7}  {r.summary}")
    return EXIT_OK
