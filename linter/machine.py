"""Facts about the machine this process runs on."""

from __future__ import annotations

import os


def cores() -> int:
    """The CPU cores this process may run on (its affinity where the system tells, else all)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1
