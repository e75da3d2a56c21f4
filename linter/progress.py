"""The progress line on stderr: percentage, assets done/total, objects per second, findings so
far, elapsed time and ETA.

Shown only when stderr is a terminal (never in logs, pipes or CI captures) and not with
``--quiet``; redrawn in place at most a few times a second, cut to the terminal's width (so it
never wraps into a second line that ``\\r`` cannot erase), and erased at the end, so the report
on stdout and the diagnostics on stderr stay clean.

While something holds the assets up for seconds (a release environment being prepared, a
release's models being imported), whichever thread does it says so through :func:`busy`, and
the line starts with it (``importing aind-data-schema 1.4.0 models… | 42% ...``) until it ends.
Only what this process does is shown: the workers of ``--executor processes`` or ``dask`` keep
theirs to themselves.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO

from linter.terminal import plural, terminal_width


class Activities:
    """What this process is busy with that holds assets up for seconds (a release environment
    being prepared, a release's models being imported), said by whichever thread does it
    (:meth:`during`) and shown by whoever listens (the progress line)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now: dict[int, str] = {}
        self._next = 0
        self._listeners: list[Callable[[], None]] = []

    @contextlib.contextmanager
    def during(self, what: str) -> Iterator[None]:
        """Say ``what`` (``preparing aind-data-schema 1.4.0``) while the block runs."""
        with self._lock:
            token = self._next
            self._next += 1
            self._now[token] = what
        self._tell()
        try:
            yield
        finally:
            with self._lock:
                del self._now[token]
            self._tell()

    def current(self) -> str | None:
        """What is being done now (each thing once, oldest first), or None."""
        with self._lock:
            seen = list(dict.fromkeys(self._now.values()))
        return "; ".join(f"{what}…" for what in seen) or None

    def listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` whenever an activity starts or ends; returns what stops it."""
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop

    def _tell(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            with contextlib.suppress(Exception):  # a progress line never fails the work it shows
                listener()


ACTIVITIES = Activities()
"""This process's activities (see :class:`Activities`)."""


def busy(what: str) -> contextlib.AbstractContextManager[None]:
    """``with busy("importing aind-data-schema 1.4.0 models"):``: the progress line says so meanwhile."""
    return ACTIVITIES.during(what)


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
        activities: Activities | None = None,
    ) -> None:
        self.stream = stream
        self.enabled = enabled
        self.activities = activities if activities is not None else ACTIVITIES
        self._lock = threading.RLock()  # validation threads redraw it when an activity starts or ends
        self._stop_listening: Callable[[], None] | None = None
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

    def watch(self) -> None:
        """Show the activities (a release prepared, models imported) as they start and end."""
        if self.enabled and self._stop_listening is None:
            self._stop_listening = self.activities.listen(lambda: self.draw(force=True))

    def unwatch(self) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None

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
        # what holds the assets up comes first: the line is cut to the terminal's width
        doing = self.activities.current()
        return (f"{doing} | " if doing else "") + (
            f"{head}{self.done:,}/{self.total:,} assets, {self.objects / elapsed:,.0f} objects/s, "
            f"{plural(self.findings, 'finding')}, {clock(elapsed)}{eta}"
        )

    def draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        with self._lock:
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
        with self._lock:
            if self.enabled and self._shown:
                self.stream.write("\r" + " " * self._shown + "\r")
                self.stream.flush()
                self._shown = 0
