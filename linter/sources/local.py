"""A local folder laid out like the bucket."""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from linter.conventions import Convention
from linter.names import parse_name
from linter.sources import Asset, ObjectInfo, ReadError, SourceError, TooLarge

if TYPE_CHECKING:
    from linter.plan import RunPlan


def open_local(target: str, plan: RunPlan) -> LocalSource:
    try:
        return LocalSource(target, plan.convention)
    except OSError as exc:
        raise SourceError(str(exc)) from None


def is_asset_folder(path: Path, convention: Convention) -> bool:
    """A folder is an asset when its name parses as an asset name or it holds data_description.json."""
    return parse_name(path.name, convention).is_asset_name or (path / "data_description.json").is_file()


HASHED_SUFFIX = ".json"
HASH_LIMIT = 32 * 1024 * 1024
"""Root-level ``*.json`` files (the sidecars) up to this size carry a content hash in the listing:
what the verdict cache knows their content by, across assets and runs."""


def _info(key: str, st: os.stat_result, content_hash: str | None = None) -> ObjectInfo:
    modified = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)
    return ObjectInfo(key, st.st_size, None, modified, content_hash=content_hash)


def _hash(path: str, size: int) -> str | None:
    if size > HASH_LIMIT:
        return None
    try:
        with open(path, "rb") as fh:
            return "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None  # the reader reports it when a rule asks for the bytes


@dataclass(frozen=True)
class LocalReader:
    """Reads objects below ``root``, never anything outside ``fence`` (picklable)."""

    root: Path
    fence: Path

    def read(self, asset: str, key: str, limit: int) -> bytes:
        path = self.root / asset / key
        rel = f"{asset}/{key}"
        try:
            real = path.resolve(strict=True)
            if not real.is_relative_to(self.fence):
                raise ReadError(rel, "symlink points outside the target; not followed")
            with open(real, "rb") as fh:
                data = fh.read(limit + 1)
        except ReadError:
            raise
        except OSError as exc:
            raise ReadError(rel, f"cannot read: {exc.strerror or exc}") from None
        if len(data) > limit:
            raise TooLarge(os.path.getsize(real), limit)
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
            if entry.is_symlink():
                st = self._follow_link(Path(entry.path), entry.name, self._root_errors)
                if st is not None:
                    self._root_objects.append(_info(entry.name, st))
                continue
            if entry.is_dir(follow_symlinks=False):
                names.append(entry.name)
            else:
                info = self._stat_object(Path(entry.path), entry.name)
                if info is not None:
                    self._root_objects.append(info)
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

    def _stat_object(self, path: Path, key: str) -> ObjectInfo | None:
        try:
            return _info(key, path.stat())
        except OSError as exc:
            self._root_errors.append(ReadError(key, f"cannot stat: {exc.strerror or exc}"))
            return None

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
        asset = Asset(name)
        base = self.root / name
        prefix = f"{name}/"

        def onerror(exc: OSError) -> None:
            rel = os.path.relpath(exc.filename, self.root) if exc.filename else name
            asset.errors.append(ReadError(rel.replace(os.sep, "/"), f"cannot list folder: {exc.strerror or exc}"))

        objects = []
        for dirpath, dirnames, filenames in os.walk(base, onerror=onerror, followlinks=False):
            rel_dir = os.path.relpath(dirpath, base)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            dirnames.sort()
            for d in list(dirnames):
                if os.path.islink(os.path.join(dirpath, d)):
                    dirnames.remove(d)
                    self._follow_link(Path(dirpath, d), prefix + rel_dir + d, asset.errors)
            for fname in sorted(filenames):
                full = os.path.join(dirpath, fname)
                key = rel_dir + fname
                if os.path.islink(full):
                    st = self._follow_link(Path(full), prefix + key, asset.errors)
                    if st is not None:
                        objects.append(_info(key, st))
                    continue
                try:
                    st = os.stat(full)
                    digest = _hash(full, st.st_size) if not rel_dir and fname.endswith(HASHED_SUFFIX) else None
                    objects.append(_info(key, st, digest))
                except OSError as exc:
                    asset.errors.append(ReadError(prefix + key, f"cannot stat: {exc.strerror or exc}"))
        asset.objects = objects
        return asset

    def reader(self) -> LocalReader:
        return LocalReader(self.root, self._fence)

    def read(self, asset: str, key: str, limit: int) -> bytes:
        return LocalReader(self.root, self._fence).read(asset, key, limit)
