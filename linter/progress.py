"""The progress line on stderr: percentage, assets done/total, objects per second, findings so
far, elapsed time and ETA.

Shown only when stderr is a terminal (never in logs, pipes or CI captures) and not with
``--quiet``; redrawn in place at most a few times a second, cut to the terminal's width (so it
never wraps into a second line that ``\\r`` cannot erase), and erased at the end, so the report
on stdout and the diagnostics on stderr stay clean.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO

from linter.terminal import plural, terminal_width


def clock(seconds: float) -> str:
    """``0:07``, ``12:34``, ``1:02:03``."""
    s = max(0, int(seconds + 0.5))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    def __init__(
        self,
        stream: IO[str],
        enabled: bool,
        interval: float = 0.2,
        width: Callable[[], int] | None = None,
    ) -> None:
        self.stream = stream
        self.enabled = enabled
        self.interval = interval
        self.width = width or (lambda: terminal_width(stream))
        self.total = 0
        self.done = 0
        self.objects = 0
        self.findings = 0
        self._started = time.monotonic()
        self._drawn = 0.0
        self._shown = 0

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

    def line(self, now: float | None = None) -> str:
        elapsed = max((now if now is not None else time.monotonic()) - self._started, 1e-6)
        head = f"{100 * self.done // self.total:3d}% " if self.total else ""
        eta = ""
        if self.total and 0 < self.done < self.total:
            eta = f", ETA {clock(elapsed / self.done * (self.total - self.done))}"
        return (
            f"{head}{self.done:,}/{self.total:,} assets, {self.objects / elapsed:,.0f} objects/s, "
            f"{plural(self.findings, 'finding')}, {clock(elapsed)}{eta}"
        )

    def draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and self._shown and now - self._drawn < self.interval:
            return  # redrawn at most every interval, but at once after it was erased
        self._drawn = now
        # one column less than the terminal: writing into the last column wraps on some terminals
        text = self.line(now)[: max(1, self.width() - 1)]
        self.stream.write("\r" + text + " " * max(0, self._shown - len(text)))
        self.stream.flush()
        self._shown = len(text)

    def close(self) -> None:
        """Erase the line, so what follows on the terminal starts on a clean row."""
        if self.enabled and self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
            self._shown = 0
