"""An asset judged as a whole by upstream's own ``Metadata``, in the environment of one release.

:func:`validate_asset` chooses the release (:func:`choose_release`), sends the asset's core files
to that release's worker in one request (the installed release judges it in this process) and
returns an :class:`AssetVerdict`: what became of each file under that release, and each of the
``Metadata`` class's own validators' answer (passed, raised, crashed; its warnings; the files it
reads). ``asset.py`` is the part that runs inside the release's environment.

Choosing the release: a ``Metadata`` judges files of its own release, and real assets mix
versions (a 2.x ``data_description.json`` beside 0.x subject and procedures files). The newest
release that declares every core file's version is taken; when none does, the release of
``data_description.json``'s version (the one AIND's indexer goes by); without a usable
``data_description.json``, the newest release declaring the most files. The verdict says which
and why (``basis``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from linter.plan import SchemaSettings
from linter.progress import busy
from linter.validation import _python_for, envs, installed_release, verdict_cache, workers
from linter.validation.releases import Release, table, version_key
from linter.validation.worker import Validator, _asset_module

Outcome = Literal["ok", "raised", "crashed"]
FileStatus = Literal["valid", "invalid", "not-in-metadata"]


@dataclass(frozen=True, slots=True)
class Document:
    """One core file of the asset: its key, model (stem), declared version and JSON text."""

    key: str
    stem: str
    version: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Choice:
    release: Release | None
    basis: str
    """Why this release, in words: 'the newest release declaring every core file's version'."""


@dataclass(frozen=True, slots=True)
class FileUnderRelease:
    """What became of one file under the asset's release: ``valid`` (as ``schema``), ``invalid``
    (it entered unvalidated, as upstream builds it; ``errors`` counted, ``first`` the first
    messages), or ``not-in-metadata`` (that release's ``Metadata`` has no such field)."""

    key: str
    status: FileStatus
    schema: str | None = None
    errors: int = 0
    first: tuple[str, ...] = ()
    crash: str | None = None


@dataclass(frozen=True, slots=True)
class ValidatorAnswer:
    """One of ``Metadata``'s validators on this asset. ``files``: the keys of the files it reads;
    ``crash_in``: the file whose object the crashing code was working on, when known."""

    name: str
    outcome: Outcome
    message: str | None
    warnings: tuple[str, ...]
    files: tuple[str, ...]
    crash_in: str | None = None


@dataclass(frozen=True, slots=True)
class AssetVerdict:
    """``judged`` False means the asset was not validated as a whole: ``message`` says why
    (``command`` prepares the release when that is what is missing)."""

    judged: bool
    release: str | None
    basis: str
    message: str | None = None
    command: str | None = None
    files: tuple[FileUnderRelease, ...] = ()
    validators: tuple[ValidatorAnswer, ...] = ()
    cacheable: bool = True

    @property
    def schema(self) -> str:
        return f"aind-data-schema {self.release} Metadata"

    def file(self, key: str) -> FileUnderRelease | None:
        return next((f for f in self.files if f.key == key), None)

    @property
    def unvalidated(self) -> frozenset[str]:
        """The files that entered ``Metadata`` unvalidated (their release rejects them)."""
        return frozenset(f.key for f in self.files if f.status == "invalid")


def choose_release(versions: Mapping[str, str | None]) -> Choice:
    """The release whose ``Metadata`` judges an asset whose core files (stem -> declared version)
    are these (see the module's docstring)."""
    known = table()
    declared: dict[str, set[str]] = {}
    for stem, version in versions.items():
        slot = known.models.get(stem, {}).get(version or "")
        if slot is not None:
            declared[stem] = {r for r in slot["declared_by"] if r in known.releases}
    if not declared:
        return Choice(None, "no core file declares a version a published release declares")
    unknown = sorted(set(versions) - set(declared))
    every = set.intersection(*declared.values())
    if every:
        release = max(every, key=version_key)
        basis = "the newest release declaring every core file's version"
        if unknown:
            basis = f"the newest release declaring the versions of every core file but {', '.join(unknown)}"
        return Choice(known.releases[release], basis)
    description = versions.get("data_description")
    if "data_description" in declared:
        slot = known.models["data_description"][description or ""]
        return Choice(
            known.releases[slot["release"]],
            f"no release declares every core file's version; the release of data_description {description}",
        )
    counts: dict[str, int] = {}
    for releases in declared.values():
        for release in releases:
            counts[release] = counts.get(release, 0) + 1
    release = max(counts, key=lambda r: (counts[r], version_key(r)))
    return Choice(
        known.releases[release],
        f"no release declares every core file's version; the newest declaring {counts[release]} of {len(versions)}",
    )


def metadata_class(release: Release) -> tuple[str, str] | None:
    entries = release.models.get("metadata", ())
    return (entries[0][0], entries[0][1]) if entries else None


def _classes(release: Release, stem: str) -> list[tuple[str, str]]:
    """Every class the release has for ``stem``, the plain one first (DataDescription before
    DerivedDataDescription)."""
    found = {(m, c) for m, c, _v in release.models.get(stem, ())}
    return sorted(found, key=lambda mc: (len(mc[1]), mc[1]))


class _InProcess(logging.Filter):
    """The installed release's ``Metadata``, in this process (the models are imported once).

    Its validators also log what they raise (``logger.error`` in the compatibility check); a
    worker process drops its logs, and here they are dropped too, while a thread judges an asset."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._validator: Validator | None = None
        self._judging = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self._judging, "active", False)

    def call(self, fields: dict[str, Any], body: bytes) -> dict[str, Any]:
        with self._lock:
            if self._validator is None:
                self._validator = Validator()
        meta = tuple(fields["asset"]["metadata"])
        if meta not in self._validator.models:  # seconds: said on the progress line
            with busy(f"importing aind-data-schema {installed_release()} models"):
                self._validator.model(*meta)
        self._validator.model(*meta)  # its modules' loggers exist from now on
        self._watch_loggers()
        self._judging.active = True
        try:
            reply: dict[str, Any] = _asset_module().handle(self._validator, {**fields, "text": body})
        finally:
            self._judging.active = False
            self._watch_loggers()
        return reply

    def _watch_loggers(self) -> None:
        """Filter every aind-data-schema logger (a logger's filter is not its children's)."""
        for name, logger in list(logging.root.manager.loggerDict.items()):
            if name.startswith("aind_data_schema") and isinstance(logger, logging.Logger):
                logger.addFilter(self)  # once: addFilter keeps a filter once


_IN_PROCESS = _InProcess()


def validate_asset(
    name: str, location: str, documents: Sequence[Document], settings: SchemaSettings | None = None
) -> AssetVerdict:
    """Judge the asset ``name`` (at ``location``) whose core files are ``documents``; ``settings``:
    the run's schema cache and offline mode (None: this process's own)."""
    choice = choose_release({d.stem: d.version for d in documents})
    release = choice.release
    if release is None:
        return AssetVerdict(False, None, choice.basis, message=choice.basis)
    meta = metadata_class(release)
    if meta is None:
        return AssetVerdict(
            False,
            release.version,
            choice.basis,
            message=f"aind-data-schema {release.version} has no Metadata model (it came with late 0.x releases)",
        )
    if release.pydantic_major < 2:
        return AssetVerdict(
            False,
            release.version,
            choice.basis,
            message=f"aind-data-schema {release.version}'s Metadata is a pydantic 1 model, "
            "whose validators cannot be called one by one",
        )
    sent = [d for d in documents if _classes(release, d.stem)]
    bodies = [d.text.encode("utf-8") for d in sent]
    fields = {
        "kind": "asset",
        "sizes": [len(b) for b in bodies],
        "asset": {
            "metadata": list(meta),
            "name": name,
            "location": location,
            "files": [{"field": d.stem, "classes": [list(c) for c in _classes(release, d.stem)]} for d in sent],
        },
    }
    body = b"".join(bodies)
    settings = envs.settings_or_own(settings)
    local = release.version == installed_release()
    # the asset's verdict kept by an earlier run: the same files in the same order, the same
    # name, location and release, the same linter; nothing is imported or started for it
    runner = verdict_cache.runner(release, local)
    kept = verdict_cache.lookup(settings, "asset", release.version, runner, fields, body)
    if kept.hit:
        try:
            return _verdict(release.version, choice.basis, documents, sent, kept.reply)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            pass  # an entry of another shape: judged again, and kept anew
    try:
        if local:
            reply = _IN_PROCESS.call(fields, body)
        else:
            python, why = _python_for(release.version, settings)
            if python is None:
                return AssetVerdict(
                    False,
                    release.version,
                    choice.basis,
                    message=why,
                    command=envs.install_command(release.version),
                    cacheable=False,
                )
            need = {meta, *(c for d in sent for c in _classes(release, d.stem))}
            reply = _call(release.version, python, need, fields, body)
    except (workers.WorkerError, OSError, ValueError) as exc:
        return AssetVerdict(False, release.version, choice.basis, message=str(exc), cacheable=False)
    kept.keep(reply["asset"])
    return _verdict(release.version, choice.basis, documents, sent, reply["asset"])


def _call(release: str, python: Any, need: set[tuple[str, str]], fields: dict[str, Any], body: bytes) -> dict[str, Any]:
    for _attempt in range(8):
        try:
            with workers.using(release, python) as held:
                return held.call(need, fields, body)
        except workers.PoolClosed:  # closed by another thread to make room: a new one
            continue
    raise workers.WorkerError(f"the workers of aind-data-schema {release} kept being closed")


def _verdict(
    release: str, basis: str, documents: Sequence[Document], sent: Sequence[Document], answer: dict[str, Any]
) -> AssetVerdict:
    if "unsupported" in answer:
        return AssetVerdict(False, release, basis, message=f"aind-data-schema {release}: {answer['unsupported']}")
    key_of = {d.stem: d.key for d in sent}
    files = [FileUnderRelease(d.key, "not-in-metadata") for d in documents if d.stem not in key_of]
    for entry in answer["files"]:
        key = key_of[entry["field"]]
        if entry["status"] == "valid":
            files.append(FileUnderRelease(key, "valid", f"aind-data-schema {release} {entry['class']}"))
        elif entry["status"] == "invalid":
            first = tuple(_located(e) for e in entry.get("first", ()))
            files.append(FileUnderRelease(key, "invalid", None, int(entry["errors"]), first, entry.get("crash")))
        else:
            files.append(FileUnderRelease(key, "not-in-metadata"))
    validators = tuple(
        ValidatorAnswer(
            v["name"],
            v["outcome"],
            v["message"],
            tuple(v["warnings"]),
            tuple(key_of[f] for f in v["involves"]),
            key_of.get(v["crash_in"]) if v["crash_in"] else None,
        )
        for v in answer["validators"]
    )
    order = {d.key: i for i, d in enumerate(documents)}
    ordered = tuple(sorted(files, key=lambda f: order[f.key]))
    return AssetVerdict(True, release, basis, files=ordered, validators=validators)


def _located(error: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ()))
    return f"{loc}: {error['msg']}" if loc else str(error["msg"])
