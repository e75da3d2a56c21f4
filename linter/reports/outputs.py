"""Where reports are written: standard output, or files that appear whole or not at all."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from typing import IO


class OutputError(Exception):
    """A report file that cannot be written; the message names the file and why."""


class Outputs:
    """The run's report files: each written to a temporary file beside it and renamed into
    place when the run is over, so a report file is never seen half-written and a failed run
    leaves the previous night's report as it was."""

    def __init__(self) -> None:
        self.files: list[tuple[IO[str], str | None, str]] = []

    def open(self, path: str | None) -> IO[str]:
        """A stream for the report to ``path`` (None: standard output)."""
        if path is None:
            return sys.stdout
        tmp: str | None = None
        if not os.path.exists(path) or stat.S_ISREG(os.stat(path).st_mode):
            tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp-{os.getpid()}")
        # else a device or pipe (/dev/null, a FIFO): written in place, since renaming onto it
        # would replace the device with a plain file
        try:
            fh = open(tmp or path, "w", encoding="utf-8")  # noqa: SIM115  (closed by commit or discard)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write the report: {exc.strerror or exc}") from None
        self.files.append((fh, tmp, path))
        return fh

    def commit(self) -> None:
        """Every report is written: put each in its place."""
        sys.stdout.flush()
        files, self.files = self.files, []
        for fh, tmp, path in files:
            try:
                fh.close()
                if tmp is not None:
                    os.replace(tmp, path)
            except OSError as exc:
                if tmp is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                raise OutputError(f"{path}: cannot write the report: {exc.strerror or exc}") from None

    def discard(self) -> None:
        """Drop the reports not committed (the files they would replace stay as they were)."""
        for fh, tmp, _ in self.files:
            fh.close()
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        self.files = []
