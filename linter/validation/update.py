"""Keeping the release table current: the releases of aind-data-schema published since it was made.

:func:`update` (``aind-bucket-lint schemas update``) reads the package index (see
``linter.validation.index``), reads the wheel of each release the table does not know yet (the
same static reading as ``scripts/make_release_table.py``), and writes the table with them into the
cache folder (``releases.json``), which :func:`linter.validation.releases.table` then prefers to the
packaged one. Era pins come from the index's upload times; the import check of the full build is
not run.

An online run that meets a ``schema_version`` newer than every published version of its model
refreshes first (:func:`refresh_if_due`), at most once a day per index: the time of each attempt
is kept in the cache folder (``releases-checked.json``), so parallel workers and later runs do not
ask again.

The cache folder and offline mode are the run's :class:`~linter.plan.SchemaSettings`, handed over
by the caller (a worker never reads them from its own environment).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from linter.plan import SchemaSettings
from linter.validation import envs
from linter.validation.index import IndexReadError, PackageIndex, index_url
from linter.validation.releases import ReleaseTable, Resolution, cached_table_path, forget, table
from linter.validation.tablemaker import add_release, era_pins, finish, read_wheel, stamp

PROJECT = "aind-data-schema"
CHECKED = "releases-checked.json"
REFRESH_EVERY = dt.timedelta(days=1)
COMMAND = "aind-bucket-lint schemas update"


class UpdateError(Exception):
    """The table could not be refreshed; the message names the index and the reason."""


@dataclass(frozen=True, slots=True)
class UpdateResult:
    index: str
    added: tuple[str, ...]
    """The releases new to the table, oldest first."""
    pairs: int
    """(model, version) pairs the new releases declare that the table did not know."""
    table: ReleaseTable


def _known(current: ReleaseTable) -> set[Version]:
    """Every release the table has read (a table of the first format lists none: every release
    some model version names)."""
    names = set(current.known) or {
        v for versions in current.models.values() for slot in versions.values() for v in slot["declared_by"]
    }
    out = set()
    for name in names:
        with contextlib.suppress(InvalidVersion):
            out.add(Version(name))
    return out


def _raw(current: ReleaseTable) -> dict[str, Any]:
    """A copy of the table's data as the tablemaker builds it."""
    data = copy.deepcopy(current.data)
    data.setdefault("known", {})
    data.setdefault("classes", {})
    data.setdefault("modules", {})
    for entry in data["releases"].values():
        entry.pop("pydantic_major", None)
    return data


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def checks(settings: SchemaSettings | None = None) -> dict[str, dict[str, Any]]:
    """The refresh attempts remembered in the settings' cache folder (None: this process's own):
    {index URL: {at, ok, error, added}}."""
    try:
        data = json.loads((envs.cache_dir(settings) / CHECKED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(url: str, error: str | None, added: tuple[str, ...], settings: SchemaSettings) -> None:
    found = checks(settings)
    found[url] = {"at": stamp(dt.datetime.now(dt.UTC)), "ok": error is None, "error": error, "added": list(added)}
    _write_atomically(settings.cache / CHECKED, json.dumps(found, indent=1, sort_keys=True) + "\n")


def _update(url: str, settings: SchemaSettings) -> UpdateResult:
    index = PackageIndex(url)
    current = table(settings)
    found = index.releases(PROJECT)
    if not found:
        raise IndexReadError(f"{index.url}: the index lists no release of {PROJECT}")
    new = sorted(set(found) - _known(current))
    if not new:
        return UpdateResult(index.url, (), 0, current)
    pydantic_times = index.releases("pydantic")
    models_times = index.releases("aind-data-schema-models")
    data = _raw(current)
    before = {(stem, v) for stem, versions in data["models"].items() for v in versions}
    now = dt.datetime.now(dt.UTC)
    ordered = sorted(found)
    with tempfile.TemporaryDirectory(prefix="aind-bucket-lint-wheels-") as tmp:
        for version in new:
            wheel = index.wheel(PROJECT, version, Path(tmp))
            facts = read_wheel(wheel) if wheel is not None else None
            later = [found[v] for v in ordered if v > version and found[v] is not None]
            published = found[version]
            requires = list(facts.requires) if facts is not None else []
            pins, _day = era_pins(requires, published, min(later) if later else None, pydantic_times, models_times)
            add_release(data, str(version), stamp(published or now), facts, pins)
    data["index"] = index.url
    made = finish(data, now)
    _write_atomically(cached_table_path(settings), json.dumps(made, indent=1) + "\n")
    forget()
    fresh = table(settings)
    after = {(stem, v) for stem, versions in made["models"].items() for v in versions}
    return UpdateResult(index.url, tuple(str(v) for v in new), len(after - before), fresh)


def _recent(url: str, within: dt.timedelta, settings: SchemaSettings) -> dict[str, Any] | None:
    """The remembered attempt to refresh from ``url`` when it is more recent than ``within``."""
    last = checks(settings).get(url)
    if not isinstance(last, dict):
        return None
    try:
        when = dt.datetime.fromisoformat(str(last.get("at", "")).replace("Z", "+00:00"))
    except ValueError:
        return None
    return last if dt.datetime.now(dt.UTC) - when < within else None


def update(
    explicit_index: str | None = None,
    unless_within: dt.timedelta | None = None,
    settings: SchemaSettings | None = None,
) -> UpdateResult | None:
    """Add the releases the index lists and the table does not know to the table of the settings'
    cache folder (None: this process's own); remember the attempt there.

    With ``unless_within``, nothing is done (None) when an attempt from this index is remembered
    within that time. Raises UpdateError (naming the index) when the index or a wheel cannot be
    read; the failed attempt is remembered too."""
    settings = envs.settings_or_own(settings)
    url = index_url(explicit_index)
    with envs._locked(settings.cache / ".releases.lock"):
        if unless_within is not None and _recent(url, unless_within, settings) is not None:
            return None
        try:
            result = _update(url, settings)
        except (IndexReadError, OSError, ValueError) as exc:
            message = str(exc)
            with contextlib.suppress(OSError):
                _remember(url, message, (), settings)
            raise UpdateError(f"cannot refresh the release table from {url}: {message}") from None
        with contextlib.suppress(OSError):
            _remember(url, None, result.added, settings)
    return result


_done: dict[tuple[str, str], str | None] = {}
"""Indexes this process has refreshed from, or found refreshed within the day: {(cache, url): error}."""
_state_lock = threading.Lock()


def last_error(settings: SchemaSettings | None = None) -> str | None:
    """Why the last refresh from the configured index failed, as the settings' cache folder
    remembers it (None: it did not, or none ran)."""
    last = checks(settings).get(index_url())
    return str(last["error"]) if isinstance(last, dict) and last.get("error") else None


def refresh_if_due(res: Resolution, settings: SchemaSettings | None = None) -> bool:
    """Refresh the table of the run's cache folder (``settings``; None: this process's own)
    before judging a version it does not know, when that can help: online (not
    ``settings.offline``), the version newer than every published one of its model (or class),
    and no refresh from this index in the last day (in this process or, as the cache folder
    remembers, any other). True when the table in use changed."""
    settings = envs.settings_or_own(settings)
    current = table(settings)
    if res.release is not None or settings.offline or not current.beyond(res.stem, res.version, res.named):
        return False
    url = index_url()
    key = (str(settings.cache), url)
    with _state_lock:
        if key in _done:
            return False
        before = table(settings).digest
        try:
            update(url, unless_within=REFRESH_EVERY, settings=settings)
        except UpdateError as exc:
            _done[key] = str(exc)
            return False
        _done[key] = None
        forget()  # refreshed now, or by another process within the day
        return table(settings).digest != before
