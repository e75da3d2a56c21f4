"""A local folder laid out like the bucket."""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from linter import names as grammar
from linter.conventions import Convention
from linter.safetext import scrub
from linter.sources import Asset, ObjectInfo, ReadError, SourceError, TooLarge

if TYPE_CHECKING:
    from linter.plan import RunPlan


def open_local(target: str, plan: RunPlan) -> LocalSource:
    try:
        return LocalSource(target, plan.convention)
    except OSError as exc:
        raise SourceError(str(exc)) from None


def is_asset_folder(path: Path, convention: Convention) -> bool:
    """Whether a local folder is an asset (:func:`linter.names.is_asset_folder` of its name and files)."""
    return grammar.is_asset_folder(path.name, convention, lambda key: (path / key).is_file())


HASHED_SUFFIX = ".json"
HASH_LIMIT = 32 * 1024 * 1024
"""Root-level ``*.json`` files (the sidecars) up to this size carry a content hash in the listing:
what the verdict cache knows their content by, across assets and runs."""


def special_kind(mode: int) -> str | None:
    """What a file that is neither a regular file nor a folder is (None for a regular file)."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "a special file"


_ESCAPED_BYTE = re.compile(r"\\x([89a-f][0-9a-f])")


def on_disk(root: Path, rel: str) -> Path:
    """The path of a key as shown (a name that is not UTF-8 is shown with its bytes escaped,
    ``\\xff``, by :func:`linter.safetext.scrub`): as written when that exists, else unescaped."""
    path = root / rel
    if "\\x" not in rel or os.path.lexists(path):
        return path
    raw = _ESCAPED_BYTE.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), rel)
    return root / raw


def _info(key: str, st: os.stat_result, content_hash: str | None = None) -> ObjectInfo:
    modified = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)
    return ObjectInfo(key, st.st_size, None, modified, content_hash=content_hash)


def _hash(path: str, size: int) -> str | None:
    if size > HASH_LIMIT:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with open(fd, "rb", closefd=True) as fh:
            if special_kind(os.fstat(fh.fileno()).st_mode) is not None:
                return None  # swapped for a FIFO or device since it was listed: never read
            return "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None  # the reader reports it when a rule asks for the bytes


@dataclass(frozen=True)
class LocalReader:
    """Reads objects below ``root``, never anything outside ``fence`` (picklable)."""

    root: Path
    fence: Path

    def read(self, asset: str, key: str, limit: int) -> bytes:
        """At most ``limit`` bytes of a regular file; anything else is a ReadError. A FIFO is
        never waited on: opened non-blocking and checked before any read."""
        rel = f"{asset}/{key}"
        path = on_disk(self.root, rel)
        try:
            real = path.resolve(strict=True)
            if not real.is_relative_to(self.fence):
                raise ReadError(rel, "symlink points outside the target; not followed")
            fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
            with open(fd, "rb", closefd=True) as fh:
                st = os.fstat(fh.fileno())
                kind = special_kind(st.st_mode)
                if kind is not None:
                    raise ReadError(rel, f"not a regular file ({kind}); not read")
                data = fh.read(limit + 1)
        except ReadError:
            raise
        except OSError as exc:
            raise ReadError(rel, f"cannot read: {exc.strerror or exc}") from None
        if len(data) > limit:
            raise TooLarge(st.st_size, limit)
        return data


class LocalSource:
    """Assets are the target's subfolders, or the target itself when it is an asset."""

    def __init__(self, target: str | Path, convention: Convention) -> None:
        path = Path(target)
        if not path.exists():
            raise FileNotFoundError(f"{target}: no such file or directory")
        if not path.is_dir():
            raise NotADirectoryError(f"{target}: not a directory (give the bucket folder or an asset folder)")
        self.label = str(target)
        self._ignore = convention.layout_ignore
        resolved = path.resolve()
        self.single_asset = is_asset_folder(resolved, convention)
        self.root = resolved.parent if self.single_asset else resolved
        self._fence = resolved  # nothing outside this is ever read
        self._asset_dir = resolved if self.single_asset else None
        self._root_objects: list[ObjectInfo] = []
        self._root_errors: list[ReadError] = []
        self._scanned = False

    @property
    def root_url(self) -> str:
        return str(self.root)

    def existing_assets(self, names: Sequence[str]) -> frozenset[str]:
        return frozenset(n for n in names if (self.root / n).is_dir())

    def _ignored(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self._ignore)

    def _scan_root(self) -> list[str]:
        if self._asset_dir is not None:
            self._scanned = True
            return [self._asset_dir.name]
        names: list[str] = []
        try:
            entries = sorted(os.scandir(self.root), key=lambda e: e.name)
        except OSError as exc:
            self._root_errors.append(ReadError(".", f"cannot list the target folder: {exc.strerror or exc}"))
            entries = []
        for entry in entries:
            if self._ignored(entry.name):
                continue
            shown = scrub(entry.name)  # a name that is not UTF-8 is shown escaped, read as it is
            if entry.is_symlink():
                st = self._follow_link(Path(entry.path), shown, self._root_errors)
                if st is not None:
                    self._add_root_object(shown, st)
                continue
            if entry.is_dir(follow_symlinks=False):
                names.append(shown)
            else:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    self._root_errors.append(ReadError(shown, f"cannot stat: {exc.strerror or exc}"))
                    continue
                self._add_root_object(shown, st)
        self._scanned = True
        return names

    def asset_names(self) -> Iterator[str]:
        yield from self._scan_root()

    def root_objects(self) -> list[ObjectInfo]:
        if not self._scanned:
            self._scan_root()
        return self._root_objects

    def root_errors(self) -> list[ReadError]:
        return self._root_errors

    def _add_root_object(self, key: str, st: os.stat_result) -> None:
        kind = special_kind(st.st_mode)
        if kind is not None:  # listed (it is there), never opened, and reported
            self._root_errors.append(ReadError(key, f"not a regular file ({kind}); not read"))
        self._root_objects.append(_info(key, st))

    def _follow_link(self, path: Path, rel: str, sink: list[ReadError]) -> os.stat_result | None:
        """A symlinked file is read only when it resolves inside the target; folders are never followed."""
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            sink.append(ReadError(rel, f"broken symlink: {exc}"))
            return None
        if not real.is_relative_to(self._fence):
            sink.append(ReadError(rel, f"symlink points outside the target ({real}); not followed"))
            return None
        if real.is_dir():
            sink.append(ReadError(rel, "symlink to a folder; not followed"))
            return None
        return real.stat()

    def load_asset(self, name: str) -> Asset:
        """Every file below the asset folder, walked with an explicit stack (any depth), in
        sorted order. A FIFO, socket or device node is listed (it is there) and reported (E901),
        but never opened, so it can neither block the run nor feed it bytes."""
        asset = Asset(name)
        base = str(on_disk(self.root, name))
        prefix = f"{name}/"
        objects: list[ObjectInfo] = []
        stack: list[tuple[str, str]] = [(base, "")]  # (folder, its key prefix inside the asset)
        while stack:
            folder, rel_dir = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                where = (prefix + rel_dir).rstrip("/")
                asset.errors.append(ReadError(where, f"cannot list folder: {exc.strerror or exc}"))
                asset.partial = True
                continue
            subfolders: list[tuple[str, str]] = []
            for entry in entries:
                key = rel_dir + scrub(entry.name)
                try:
                    if entry.is_symlink():
                        if entry.is_dir():
                            self._follow_link(Path(entry.path), prefix + key, asset.errors)
                            continue
                        st = self._follow_link(Path(entry.path), prefix + key, asset.errors)
                    elif entry.is_dir(follow_symlinks=False):
                        subfolders.append((entry.path, key + "/"))
                        continue
                    else:
                        st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    asset.errors.append(ReadError(prefix + key, f"cannot stat: {exc.strerror or exc}"))
                    continue
                if st is None:
                    continue
                kind = special_kind(st.st_mode)
                if kind is not None:  # listed (it is there), never opened, and reported
                    asset.errors.append(ReadError(prefix + key, f"not a regular file ({kind}); not read"))
                    objects.append(_info(key, st))
                    continue
                hashed = not rel_dir and entry.name.endswith(HASHED_SUFFIX) and not entry.is_symlink()
                objects.append(_info(key, st, _hash(entry.path, st.st_size) if hashed else None))
            stack.extend(reversed(subfolders))
        asset.objects = objects
        return asset

    def reader(self) -> LocalReader:
        return LocalReader(self.root, self._fence)

    def read(self, asset: str, key: str, limit: int) -> bytes:
        return LocalReader(self.root, self._fence).read(asset, key, limit)
