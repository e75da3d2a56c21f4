"""``aind-bucket-lint explain CODE``: one rule's documentation."""

from __future__ import annotations

from linter.commands import EXIT_OK, UsageError
from linter.registry import load_rules


def run(code: str) -> int:
    rules = load_rules()
    match = rules.get(code.strip().upper()) or next((r for r in rules.values() if r.name == code.strip()), None)
    if match is None:
        raise UsageError(f"no rule {code!r} (see `aind-bucket-lint rules`)")
    print(f"{match.code} {match.name} ({match.severity})\n\n{match.summary}\n\n{match.doc}")
    return EXIT_OK
