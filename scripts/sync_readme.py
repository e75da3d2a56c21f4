"""Regenerate the README's rule table from the rules' own metadata.

Run after adding or changing a rule:  python scripts/sync_readme.py
(tests/test_cli.py::test_readme_rule_table_is_in_sync fails while the table is stale).
"""

from __future__ import annotations

import re
from pathlib import Path

from linter.commands.rules import rules_markdown
from linter.registry import load_rules

README = Path(__file__).resolve().parent.parent / "README.md"


def main() -> int:
    text = README.read_text(encoding="utf-8")
    table = rules_markdown(load_rules())
    new, count = re.subn(
        r"(<!-- rules-table:start -->\n).*?(<!-- rules-table:end -->)",
        lambda m: m.group(1) + table + m.group(2),
        text,
        flags=re.S,
    )
    if count != 1:
        raise SystemExit("README.md lacks the <!-- rules-table:start/end --> markers")
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
