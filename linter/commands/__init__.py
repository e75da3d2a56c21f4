"""One module per command (as pre-commit's ``commands/``): each takes explicit arguments and
returns the exit code. ``linter.cli`` parses the command line and calls them.

Exit codes: 0 clean, 1 findings at or above ``--fail-on``, 2 the linter could not do its job
(usage, config, unreadable target).
"""

from __future__ import annotations

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    """A command used wrongly; the message says what to change."""
