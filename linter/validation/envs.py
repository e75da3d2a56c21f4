"""Environments of aind-data-schema releases, made with ``uv`` on first need and kept in a cache.

Every function here takes the run's :class:`~linter.plan.SchemaSettings` (the cache folder and
offline mode, decided once by the driver and carried by the run plan to every worker); without
them, this process's own (``SchemaSettings.resolve()``: ``$AIND_BUCKET_LINT_CACHE``, else
``$XDG_CACHE_HOME/aind-bucket-lint``, ``~/.cache/aind-bucket-lint``). The cache folder holds
``envs/<release>/`` (one virtual environment per release, with the release and its pins) and
``uv/`` (uv's own cache, whose files the environments share by hard links, so each environment
costs little disk).

An environment is ready when its marker file ``aind-bucket-lint.json`` exists; it is written last,
so an interrupted preparation is redone. Preparation holds a file lock, so parallel runs (pytest
workers, two lint runs) prepare each release once. Offline (``--offline``), preparation may use
only what uv's cache already holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linter.plan import CACHE_ENV as CACHE_ENV  # the environment variables, read by SchemaSettings.resolve
from linter.plan import OFFLINE_ENV as OFFLINE_ENV
from linter.plan import SchemaSettings
from linter.progress import busy
from linter.validation.releases import Release, table, version_key

MARKER = "aind-bucket-lint.json"
INSTALL_TIMEOUT = 900


class PrepareError(Exception):
    """An environment could not be made; the message says why (and what to run)."""


def settings_or_own(settings: SchemaSettings | None) -> SchemaSettings:
    """The settings given, else this process's own (from its environment)."""
    return settings if settings is not None else SchemaSettings.resolve()


def cache_dir(settings: SchemaSettings | None = None) -> Path:
    return settings_or_own(settings).cache


def env_dir(release: str, settings: SchemaSettings | None = None) -> Path:
    return cache_dir(settings) / "envs" / release


def python_of(env: Path) -> Path:
    return env / "bin" / "python"


def install_command(release: str) -> str:
    return f"aind-bucket-lint schemas install {release}"


@dataclass(frozen=True, slots=True)
class EnvInfo:
    release: str
    path: Path
    ready: bool
    details: dict[str, Any]

    @property
    def size_bytes(self) -> int:
        """Bytes this environment adds (files hard-linked from uv's cache count once, there)."""
        total = 0
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                with contextlib.suppress(OSError):
                    st = os.lstat(os.path.join(root, name))
                    if st.st_nlink <= 1:
                        total += st.st_size
        return total


def read_marker(env: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((env / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def prepared(settings: SchemaSettings | None = None) -> list[EnvInfo]:
    root = cache_dir(settings) / "envs"
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.iterdir(), key=lambda p: version_key(p.name)):
        if path.is_dir():
            marker = read_marker(path)
            out.append(EnvInfo(path.name, path, marker is not None, marker or {}))
    return out


def is_ready(release: str, settings: SchemaSettings | None = None) -> bool:
    """Prepared, with the requirements the table gives now (a changed table remakes it)."""
    env = env_dir(release, settings)
    marker = read_marker(env)
    if marker is None or not python_of(env).exists():
        return False
    known = table(settings).releases.get(release)
    return known is None or marker.get("requirements") == known.requirements()


_uv_lock = threading.Lock()
_uv_found: list[str] = []


def _uv() -> str:
    """The uv binary, found once. Under a lock: ``uv.find_uv_bin`` reads ``sysconfig``, whose
    first use is not thread-safe on Python 3.11 (another thread may see the variables half made,
    ``EXE`` None), and ``schemas install`` prepares releases in threads."""
    with _uv_lock:
        if not _uv_found:
            try:
                import uv  # the uv package ships its binary in the wheel

                _uv_found.append(str(uv.find_uv_bin()))
            except (ImportError, FileNotFoundError):
                found = shutil.which("uv")
                if found is None:
                    raise PrepareError("uv is not installed (pip install uv)") from None
                _uv_found.append(found)
        return _uv_found[0]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: list[str], settings: SchemaSettings) -> None:
    env = dict(os.environ)
    env["UV_CACHE_DIR"] = str(settings.cache / "uv")
    env.pop("VIRTUAL_ENV", None)
    if settings.offline:
        env["UV_OFFLINE"] = "1"
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise PrepareError(f"{' '.join(cmd[1:3])} took more than {INSTALL_TIMEOUT} s") from None
    except OSError as exc:
        raise PrepareError(f"cannot run uv: {exc}") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        raise PrepareError(" ".join(" ".join(lines[-3:]).split())[:400] or f"uv exited with {proc.returncode}")


def prepare(release: Release, settings: SchemaSettings | None = None) -> Path:
    """The environment of ``release`` in the settings' cache, made now if it is not ready (and
    may be: not offline). Returns its Python.

    Raises PrepareError with a message for the user: offline and not in uv's cache, a failed
    install (the message ends with uv's own words), ...
    """
    settings = settings_or_own(settings)
    env = env_dir(release.version, settings)
    if is_ready(release.version, settings):
        return python_of(env)
    with _locked(settings.cache / "envs" / f".{release.version}.lock"):
        if is_ready(release.version, settings):
            return python_of(env)
        started = time.perf_counter()
        if env.exists():
            shutil.rmtree(env)
        uv = _uv()
        try:
            with busy(f"preparing aind-data-schema {release.version}"):
                _run([uv, "venv", "--quiet", "--python", sys.executable, str(env)], settings)
                # Bytecode now, not in every worker's first import (aind-data-schema-models is large).
                install = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python_of(env))]
                _run([*install, *release.requirements()], settings)
        except PrepareError as exc:
            shutil.rmtree(env, ignore_errors=True)
            if settings.offline:
                raise PrepareError(
                    f"aind-data-schema {release.version} is not prepared and cannot be offline "
                    f"(run `{install_command(release.version)}` with network)"
                ) from None
            raise PrepareError(f"cannot prepare aind-data-schema {release.version}: {exc}") from None
        marker = {
            "release": release.version,
            "requirements": release.requirements(),
            "python": sys.version.split()[0],
            "prepared": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "prepare_seconds": round(time.perf_counter() - started, 2),
        }
        (env / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        return python_of(env)


def prune(everything: bool = False, settings: SchemaSettings | None = None) -> list[str]:
    """Remove unfinished environments and those of releases the table no longer uses (all of
    them, and uv's cache, with ``everything``). Returns what was removed."""
    removed = []
    needed = set(table(settings).needed_releases())
    for info in prepared(settings):
        if everything or not info.ready or info.release not in needed:
            shutil.rmtree(info.path, ignore_errors=True)
            removed.append(str(info.path))
    root = cache_dir(settings)
    for lock in (root / "envs").glob(".*.lock") if (root / "envs").is_dir() else ():
        if everything or not (root / "envs" / lock.name[1:-5]).exists():
            lock.unlink(missing_ok=True)
    if everything and (root / "uv").exists():
        shutil.rmtree(root / "uv", ignore_errors=True)
        removed.append(str(root / "uv"))
    return removed
