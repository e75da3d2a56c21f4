"""Validation of one sidecar by the aind-data-schema release that declares its version.

The one entry point is :func:`validate` ``(stem, version, raw, data, settings, classes) -> Verdict``:
thread-safe, usable from any executor. ``settings`` (:class:`~linter.plan.SchemaSettings`: the
cache folder of the releases' environments and offline mode) come from the run plan, handed over
by whoever checks the asset, in whichever process or machine; this process's environment is read
only when a caller gives none.

How a file is judged:

1. The release table (``linter/data/releases.json``, or the newer one ``schemas update`` wrote
   into the cache folder) names the release whose model declares the file's (model,
   ``schema_version``): with the file's class when it is known (a 0.x file's ``describedBy``
   names it; 0.x ``EphysSession`` and ``MriSession`` numbered their versions apart), else any
   class of that file. No release declares it: when the version is newer than every published
   one and the run is online, the table is refreshed from the package index first (at most once
   a day, see ``linter.validation.update``); still none: the verdict is ``unknown-version`` with
   the nearest published versions.
2. When the installed aind-data-schema declares it, its models validate in this process (the
   fast path).
3. Otherwise the release's own environment (prepared by ``uv`` on first need, cached) runs a
   long-lived worker process that validates with that release's models, pydantic and
   pre-validators (``model_validate_json``, or ``parse_raw`` under pydantic 1). An environment
   that is not prepared and cannot be (offline, install failure) gives ``unavailable`` with the
   reason and the command that prepares it.

Where a release has several classes for one file and version (a 1.x ``data_description.json`` is
a ``DataDescription`` or a ``DerivedDataDescription``; a 0.x ``session.json`` whose class is not
known may be any session class declaring its version), the file is valid when one of them accepts
it; otherwise the errors are those of the class with the fewest.

Errors carry a JSONPath into the document (``$.subject_details.strain.name``,
``$.data_streams[0].modalities[1]``).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Literal

from linter.plan import SchemaSettings
from linter.progress import busy
from linter.sidecar_json import json_path
from linter.validation import envs, update, verdict_cache, workers
from linter.validation.releases import Resolution, table
from linter.validation.worker import Validator

Status = Literal["valid", "invalid", "unavailable", "unknown-version"]
MESSAGE_LIMIT = 300
_SCALARS = (str, int, float, bool, type(None))
_MISSING = ("missing", "value_error.missing")
_NO_VALUE = (*_MISSING, "extra_forbidden", "value_error.extra")


@dataclass(frozen=True, slots=True)
class SchemaError:
    """One validation error: where in the document (JSONPath), the model's message, its kind."""

    json_path: str
    message: str
    kind: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of validating one sidecar.

    ``schema`` names what judged it (``aind-data-schema 1.1.1 Procedures``); ``message`` says why
    an ``unavailable`` or ``unknown-version`` file was not judged, ``command`` what prepares it.
    """

    status: Status
    stem: str
    version: str
    release: str | None = None
    schema: str | None = None
    errors: tuple[SchemaError, ...] = ()
    message: str | None = None
    command: str | None = None
    nearest: tuple[str, ...] = ()
    declared_by: tuple[str, ...] = field(default=())
    awaits_release: bool = False
    """An unknown version newer than every published one: a release published after the table
    was made may declare it, so the verdict is not final."""

    @property
    def judged(self) -> bool:
        return self.status in ("valid", "invalid")


@functools.cache
def installed_release() -> str | None:
    """The installed aind-data-schema (read once: the package metadata lookup cost 16% of an
    in-process validation)."""
    try:
        return importlib_metadata.version("aind-data-schema")
    except importlib_metadata.PackageNotFoundError:
        return None


class _Local:
    """The installed release's models, in this process (imported on first use only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._validator: Validator | None = None

    def handle(self, classes: list[tuple[str, str]], text: str) -> list[dict[str, Any]]:
        _quiet_aind_data_schema()
        with self._lock:
            if self._validator is None:
                self._validator = Validator()
        validator = self._validator
        if all(tuple(c) in validator.models for c in classes):
            return validator.handle({"classes": classes, "text": text})["results"]  # type: ignore[no-any-return]
        with busy(f"importing aind-data-schema {installed_release()} models"):  # seconds: said on the progress line
            return validator.handle({"classes": classes, "text": text})["results"]  # type: ignore[no-any-return]


_LOCAL = _Local()
_failed: dict[tuple[str, bool, str], str] = {}
_ready: dict[tuple[str, bool, str], Path] = {}
"""Releases found prepared in this process: their Python (not looked up again for every file)."""
_prepare_locks: dict[str, threading.Lock] = {}
_state_lock = threading.Lock()


def _unknown(res: Resolution, settings: SchemaSettings) -> Verdict:
    current = table(settings)
    known = current.models.get(res.stem)
    command = None
    awaits = False
    if not known:
        message = f"no aind-data-schema release has a {res.stem} model"
    else:
        near = ", ".join(res.nearest) or "none"
        # the 0.x line numbered the versions of each class of a file apart: name the class
        model = f"{res.stem} ({' or '.join(res.named)})" if res.named and res.version.startswith("0.") else res.stem
        message = (
            f"no published aind-data-schema release declares {model} schema_version {res.version}; "
            f"nearest published versions: {near}"
        )
        awaits = current.beyond(res.stem, res.version, res.named)
        if awaits:
            # a release published after the table was made may declare it
            if settings.offline:
                command = update.COMMAND
                message += f"; the release table is of {current.day} (offline): `{command}` adds newer releases"
            elif (error := update.last_error(settings)) is not None:
                command = update.COMMAND
                message += f"; the release table of {current.day} could not be refreshed ({error})"
    return Verdict(
        "unknown-version",
        res.stem,
        res.version,
        message=message,
        nearest=res.nearest,
        command=command,
        awaits_release=awaits,
    )


def _python_for(release: str, settings: SchemaSettings) -> tuple[Path | None, str | None]:
    """The Python of the release's environment, or (None, why not). A failure is remembered for
    the process (per cache folder and offline mode), so a bucket of such files tries once."""
    key = (str(settings.cache), settings.offline, release)
    with _state_lock:
        ready = _ready.get(key)
        if ready is not None and ready.exists():  # not pruned meanwhile
            return ready, None
        if key in _failed:
            return None, _failed[key]
        lock = _prepare_locks.setdefault(release, threading.Lock())
    with lock:
        if key in _failed:
            return None, _failed[key]
        try:
            python = envs.prepare(table(settings).releases[release], settings)
        except envs.PrepareError as exc:
            _failed[key] = str(exc)
            return None, str(exc)
    with _state_lock:
        _ready[key] = python
    return python, None


def reset() -> None:
    """Forget failed preparations and stop every worker (e.g. after a cache folder was emptied)."""
    with _state_lock:
        _failed.clear()
        _ready.clear()
    workers.close_all()


def validate(
    stem: str,
    version: str,
    raw: bytes | str,
    data: Any = None,
    settings: SchemaSettings | None = None,
    classes: Collection[str] = (),
) -> Verdict:
    """Validate one sidecar (its JSON bytes or text; ``data`` the parsed object when at hand).

    ``settings``: the run's schema cache and offline mode (None: this process's own, from its
    environment): the cache folder's release table, whether it may be refreshed, and the
    environment of a release validated outside this process. ``classes``: the file's own
    class(es) when known (see :func:`linter.metadata.sidecar_model`); the release is then one
    where that class declares the version, and only it is tried."""
    settings = envs.settings_or_own(settings)
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    if data is None:
        data = json.loads(text)
    res = table(settings).resolve(stem, version, classes)
    if res.release is None and update.refresh_if_due(res, settings):
        res = table(settings).resolve(stem, version, classes)
    if res.release is None:
        return _unknown(res, settings)
    installed = installed_release()
    current = table(settings)
    local = installed is not None and installed in res.declared_by and installed in current.releases
    release = current.releases[installed] if local and installed is not None else res.release
    pairs = release.classes(stem, version, res.named or None) if local else list(res.classes)
    # a verdict kept by an earlier run (or another process) on the same bytes, release and linter:
    # nothing is prepared, imported or started for it
    runner = verdict_cache.runner(release, local)
    kept = verdict_cache.lookup(settings, "file", release.version, runner, {"classes": pairs}, raw)
    if kept.hit:
        try:
            return _verdict(stem, version, release.version, res.declared_by, kept.reply, data)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            pass  # an entry of another shape: judged again, and kept anew
    if local:
        results = _LOCAL.handle(pairs, text)
    else:
        python, why = _python_for(release.version, settings)
        base = Verdict(
            "unavailable",
            stem,
            version,
            release.version,
            declared_by=res.declared_by,
            command=envs.install_command(release.version),
        )
        if python is None:
            return _replace(base, message=why)
        try:
            for _attempt in range(8):
                try:
                    with workers.using(release.version, python) as held:
                        results = held.request(pairs, raw)
                    break
                except workers.PoolClosed:  # closed by another thread to make room: a new one
                    continue
            else:
                raise workers.WorkerError(f"the workers of aind-data-schema {release.version} kept being closed")
        except (workers.WorkerError, OSError, ValueError) as exc:
            return _replace(base, message=str(exc))  # not kept: the next run tries again
    kept.keep(results)
    return _verdict(stem, version, release.version, res.declared_by, results, data)


def _replace(verdict: Verdict, **changes: Any) -> Verdict:
    values = {name: getattr(verdict, name) for name in Verdict.__slots__}
    values.update(changes)
    return Verdict(**values)


def _verdict(
    stem: str, version: str, release: str, declared_by: tuple[str, ...], results: list[dict[str, Any]], data: Any
) -> Verdict:
    label = f"aind-data-schema {release}"
    for result in results:
        if not result["errors"] and result["crash"] is None:
            return Verdict("valid", stem, version, release, f"{label} {result['class']}", declared_by=declared_by)

    # The errors of the class that came closest; a class whose own code failed is chosen only
    # when every class did (a 0.x DerivedDataDescription cannot even be built from a file).
    judged = [r for r in results if r["crash"] is None]
    best = min(judged, key=lambda r: len(r["errors"])) if judged else results[0]
    schema = f"{label} {best['class']}"
    if best["crash"] is not None:
        errors: tuple[SchemaError, ...] = (
            SchemaError("$", _short(f"{best['class']} raised {best['crash']} while validating"), "validator_error"),
        )
    else:
        errors = tuple(_error(err, data) for err in best["errors"])
    return Verdict("invalid", stem, version, release, schema, errors, declared_by=declared_by)


def _error(err: Mapping[str, Any], data: Any) -> SchemaError:
    kind = str(err.get("type", ""))
    path = json_path(resolve_loc(data, err.get("loc", ()), missing=kind in _MISSING))
    message = str(err.get("msg", ""))
    value = err.get("input")
    if kind not in _NO_VALUE and "input" in err and isinstance(value, _SCALARS):
        message += f", got {json.dumps(value)}"
    else:
        value = None
    return SchemaError(path, _short(message), kind, value)


def resolve_loc(data: Any, loc: Sequence[str | int], missing: bool) -> list[str | int]:
    """Map a pydantic error ``loc`` onto the document: keep the parts that are real members or
    indexes, drop the ones pydantic adds for union members and validators ('Mouse subject',
    'function-after[...]', '__root__'). A missing field is kept as the last part."""
    parts: list[str | int] = []
    current = data
    for i, item in enumerate(loc):
        member = isinstance(current, dict) and isinstance(item, str) and item in current
        element = isinstance(current, list) and isinstance(item, int) and 0 <= item < len(current)
        if member or element:
            parts.append(item)
            current = current[item]  # type: ignore[index]
        elif missing and i == len(loc) - 1 and isinstance(current, dict) and isinstance(item, str):
            parts.append(item)
    return parts


def _short(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 1] + "…"


_AIND_MODULES = r"aind_data_schema(\.|$)"


def _quiet_aind_data_schema() -> None:
    """aind-data-schema's validators warn (deprecations, 'recommended' fields) and log; a lint
    run would print them once per location on stderr, unrelated to any finding. Checked before
    each validation, because whoever embeds the linter (pytest, for one) may reset the filters."""
    if not any(f[0] == "ignore" and getattr(f[3], "pattern", f[3]) == _AIND_MODULES for f in warnings.filters):
        warnings.filterwarnings("ignore", module=_AIND_MODULES)
    logging.getLogger("aind_data_schema").setLevel(logging.ERROR)


__all__ = ["SchemaError", "Verdict", "envs", "json_path", "resolve_loc", "table", "validate"]
