"""The progress line on stderr: assets done/total, objects per second, findings so far.

Shown only when stderr is a terminal (never in logs, pipes or CI captures) and not with
``--quiet``; redrawn in place at most a few times a second and erased at the end, so the
report on stdout and the diagnostics on stderr stay clean.
"""

from __future__ import annotations

import time
from typing import IO


class Progress:
    def __init__(self, stream: IO[str], enabled: bool, interval: float = 0.2) -> None:
        self.stream = stream
        self.enabled = enabled
        self.interval = interval
        self.total = 0
        self.done = 0
        self.objects = 0
        self.findings = 0
        self._started = time.monotonic()
        self._drawn = 0.0
        self._width = 0

    @classmethod
    def for_stream(cls, stream: IO[str], quiet: bool) -> Progress:
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        return cls(stream, tty and not quiet)

    def listed(self, assets: int) -> None:
        """A target was listed: its assets join the total."""
        self.total += assets
        self.draw(force=True)

    def update(self, is_asset: bool, objects: int, findings: int) -> None:
        self.done += is_asset
        self.objects += objects
        self.findings += findings
        self.draw()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        return (
            f"{self.done}/{self.total} assets, {self.objects / elapsed:,.0f} objects/s, "
            f"{self.findings} findings, {elapsed:.0f} s"
        )

    def draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and self._width and now - self._drawn < self.interval:
            return  # redrawn at most every interval, but at once after it was erased
        self._drawn = now
        text = self.line()
        self.stream.write("\r" + text + " " * max(0, self._width - len(text)))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        """Erase the line, so what follows on the terminal starts on a clean row."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
