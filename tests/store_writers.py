"""Real Zarr stores and NWB files for the tests, written by the real libraries at test time.

hdmf-zarr 0.13 needs zarr 2 and ome-zarr-models (the linter's OME validator) needs zarr 3, so
the writers cannot live in the test environment: each set lives in its own virtual environment,
made with ``uv`` (installed with the linter) on first need and kept in the cache folder
(``$AIND_BUCKET_LINT_CACHE``, else ``~/.cache/aind-bucket-lint``) under ``test-writers/``, with
the same lock-and-marker scheme as the aind-data-schema release environments. A clean machine
pays about a minute once; then writing the stores takes a few seconds.

- ``zarr2``: pynwb + hdmf-zarr + zarr 2 + h5py, and ome-zarr-py 0.11 (the last on zarr 2:
  OME-NGFF 0.4);
- ``zarr3``: ome-zarr-py 0.18 on zarr 3 (OME-NGFF 0.5).

``python -m tests.store_writers`` prepares both (``.ci/run`` does, so that the first test does
not wait for them).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from linter.validation.envs import _uv, cache_dir

WRITERS: dict[str, tuple[str, ...]] = {
    "zarr2": ("pynwb==4.2.0", "hdmf-zarr==0.13.0", "zarr==2.18.7", "h5py==3.16.0", "ome-zarr==0.11.1"),
    "zarr3": ("ome-zarr==0.18.0", "zarr==3.1.6"),
}
SCRIPT = Path(__file__).with_name("writers") / "write_stores.py"
MARKER = "ready.json"


def _env_dir(name: str) -> Path:
    pins = WRITERS[name]
    digest = hashlib.sha256(json.dumps([sys.version_info[:2], pins]).encode()).hexdigest()[:12]
    return cache_dir() / "test-writers" / f"{name}-{digest}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def writer_python(name: str) -> Path:
    """The Python of writer environment ``name``, made on first need (under a lock)."""
    folder = _env_dir(name)
    python = folder / "bin" / "python"
    if (folder / MARKER).exists():
        return python
    with _locked(folder.with_suffix(".lock")):
        if (folder / MARKER).exists():
            return python
        env = {**os.environ, "UV_CACHE_DIR": str(cache_dir() / "uv")}
        uv = _uv()
        for cmd in (
            [uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(folder)],
            [uv, "pip", "install", "--quiet", "--python", str(python), *WRITERS[name]],
        ):
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"cannot make the {name} writer environment: {' '.join(cmd)}\n{proc.stderr}")
        (folder / MARKER).write_text(json.dumps({"pins": WRITERS[name]}))
    return python


def write(name: str, *args: str | Path) -> None:
    """Run the writer script in environment ``name`` (see ``tests/writers/write_stores.py``)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}  # its own packages only
    proc = subprocess.run(
        [str(writer_python(name)), str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=clean,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the {name} writer failed on {args}:\n{proc.stderr}")


def write_plan(folder: Path) -> dict[str, Path]:
    return {
        "ome-0.4": folder / "image.ome.zarr",
        "ome-0.5": folder / "image-v3.ome.zarr",
        "nwb-zarr": folder / "session.nwb.zarr",
        "nwb-hdf5": folder / "session.nwb",
    }


def write_real_stores(folder: Path) -> dict[str, Path]:
    """Write every real store into ``folder``: {what: path}."""
    out = write_plan(folder)
    write("zarr2", "ome-zarr", out["ome-0.4"])
    write("zarr3", "ome-zarr", out["ome-0.5"])
    write("zarr2", "nwb", out["nwb-zarr"], out["nwb-hdf5"])
    return out


def real_stores() -> dict[str, Path]:
    """The real stores, written once per set of writer pins and kept beside the environments
    (copy them before changing them): {what: path}."""
    digest = hashlib.sha256(
        json.dumps([sys.version_info[:2], WRITERS, SCRIPT.read_text(encoding="utf-8")]).encode()
    ).hexdigest()[:12]
    folder = cache_dir() / "test-writers" / f"stores-{digest}"
    if not (folder / MARKER).exists():
        with _locked(folder.with_suffix(".lock")):
            if not (folder / MARKER).exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                write_real_stores(folder)
                (folder / MARKER).write_text("{}")
    return {what: folder / path.name for what, path in write_plan(folder).items()}


if __name__ == "__main__":
    for env_name in WRITERS:
        print(f"{env_name}: {writer_python(env_name)}")
    print(f"stores: {real_stores()['ome-0.4'].parent}")
