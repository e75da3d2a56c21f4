"""The store's one error: a ledger that cannot be used, said with the file's name and what to do."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

DAMAGED = "the file is damaged; restore it from a backup or give a new --ledger"


class LedgerError(Exception):
    """The ledger cannot be used (not a ledger, newer schema, in use by another run, damaged,
    read-only); the message names the file."""


def ledger_failure(path: Path, exc: sqlite3.Error) -> LedgerError:
    """SQLite's error on the ledger at ``path`` as a LedgerError saying what the user can do."""
    text = str(exc)
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        hint = DAMAGED
    elif "readonly" in text or "read-only" in text:
        hint = "the ledger is read-only; give a writable --ledger"
    else:
        hint = "the ledger cannot be used"
    return LedgerError(f"{path}: {hint} (SQLite: {text})")


def damaged(path: Path, what: str) -> LedgerError:
    """A ledger SQLite reads intact but whose content is not what the store wrote."""
    return LedgerError(f"{path}: {DAMAGED} ({what})")


F = TypeVar("F", bound=Callable[..., Any])


def guarded(method: F) -> F:
    """SQLite's errors in the middle of a run (a damaged page: "database disk image is
    malformed"; a file that became read-only; a full disk) become one LedgerError naming the
    ledger (the method's ``self.path``), which ends the run with exit 2 instead of a traceback."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise ledger_failure(self.path, exc) from None

    return wrapper  # type: ignore[return-value]
