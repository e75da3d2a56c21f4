"""Terminal manners: plurals, colour (``--color``, ``NO_COLOR``, ``FORCE_COLOR``), widths."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import IO

COLOR_CHOICES = ("auto", "always", "never")
_CODES = {"error": "31;1", "warning": "33", "info": "36", "bold": "1", "dim": "2", "green": "32", "red": "31"}


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 finding``, ``2 findings``; ``many`` for irregular plurals (``info`` stays ``info``)."""
    return f"{n} {word}" if n == 1 else f"{n} {many if many is not None else word + 's'}"


def severity_counts(by_severity: Mapping[str, int]) -> str:
    """``1 error, 2 warnings, 0 info``."""
    return (
        f"{plural(by_severity.get('error', 0), 'error')}, {plural(by_severity.get('warning', 0), 'warning')}, "
        f"{by_severity.get('info', 0)} info"
    )


def is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def use_color(stream: IO[str], choice: str | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Whether to colour ``stream``: ``--color always|never`` wins; with ``auto`` (the default)
    ``NO_COLOR`` (any non-empty value) turns colour off, ``FORCE_COLOR`` (non-empty, not ``0``)
    turns it on, else colour only on a terminal whose ``TERM`` is not ``dumb``."""
    env = os.environ if env is None else env
    if choice == "always":
        return True
    if choice == "never":
        return False
    if env.get("NO_COLOR"):
        return False
    force = env.get("FORCE_COLOR")
    if force is not None and force not in ("", "0", "false"):
        return True
    return is_terminal(stream) and env.get("TERM") != "dumb"


class Painter:
    """Wraps text in ANSI colours when enabled; the identity otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        code = _CODES.get(style)
        if not self.enabled or code is None:
            return text
        return f"\x1b[{code}m{text}\x1b[0m"


def terminal_width(stream: IO[str], default: int = 80) -> int:
    """Columns of the terminal ``stream`` is on (``COLUMNS`` wins), at least 20."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return max(20, int(env))
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = shutil.get_terminal_size((default, 24)).columns
    # a pseudo-terminal nobody gave a size reports 0 columns
    return max(20, columns) if columns > 0 else default
