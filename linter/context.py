"""What a rule sees: one asset (or the whole target) and a context that does the I/O.

Rules never read anything themselves. They ask the context, which reads through the source
once, caches, and records what could not be read so the engine can report it (E901).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from linter import __version__
from linter.conventions import Convention
from linter.metadata.policy import policy
from linter.names import ParsedName, parse_name
from linter.plan import SchemaSettings
from linter.sidecar_json import parse_json_bytes
from linter.sources import Asset, ObjectInfo, Reader, ReadError, Source, SourceError, TooLarge

if TYPE_CHECKING:
    from linter.store.records import AssetHistory, VanishedAsset

T = TypeVar("T")
_MISSING = object()


class ContentVerdicts:
    """Verdicts by content identity (what ``AssetContext.by_content`` computes), shared by every
    asset a process checks: the least recently used are dropped past ``capacity``. Two threads
    asking for the same verdict at once compute it once: the second waits for the first."""

    def __init__(self, capacity: int = 8192) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._computing: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            return default

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._put(key, value)

    def _put(self, key: str, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def compute(self, key: str, compute: Callable[[], tuple[T, bool]]) -> tuple[T, bool]:
        """The verdict under ``key``, from the cache, or ``compute()`` -> (value, keep): kept
        only when ``keep``. Returns (value, whether it was computed here)."""
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return self._items[key], False
                running = self._computing.get(key)
                if running is None:
                    running = self._computing[key] = threading.Event()
                    break
            running.wait()  # another thread computes it; if it could not keep it, compute here
        try:
            self.misses += 1
            value, keep = compute()
            if keep:
                with self._lock:
                    self._put(key, value)
            return value, True
        finally:
            with self._lock:
                del self._computing[key]
            running.set()


def content_key(kind: str, identity: str, convention: Convention) -> str:
    """The verdict cache's key: what was computed, of which bytes, under which convention and linter."""
    return f"{kind}\0{identity}\0{convention.digest}\0{__version__}"


@dataclass(frozen=True, slots=True)
class JsonDocument:
    """A sidecar as read: ``data`` when it is a JSON object, else ``error`` says why not."""

    key: str
    data: dict[str, Any] | None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    text: str | None = None


@dataclass
class TargetInfo:
    """What every asset rule may know about the whole target."""

    label: str
    asset_names: frozenset[str]
    convention: Convention
    destination: str | None = None
    """``--destination s3://BUCKET[/PREFIX]``: where the target's assets will be published."""

    @property
    def object_store(self) -> bool:
        """True for S3 targets, whose LastModified times are upload times (not file mtimes)."""
        return self.label.startswith("s3://")


class computed_once(Generic[T]):
    """A property computed on first use and kept in the instance: ``functools.cached_property``
    without its lock, which on Python 3.11 is one lock per property for every instance of the
    class, so threads checking different assets waited on each other's first use (Python 3.12
    dropped that lock for this reason). Two threads never share an AssetContext."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> computed_once[T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...
    def __get__(self, instance: object | None, owner: type | None = None) -> T | computed_once[T]:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


class AssetContext:
    def __init__(
        self,
        asset: Asset,
        target: TargetInfo,
        source: Reader,
        history: AssetHistory | None = None,
        *,
        verdicts: ContentVerdicts | None = None,
        known: dict[str, Any] | None = None,
        schemas: SchemaSettings | None = None,
    ) -> None:
        """``source``: what reads the asset's bytes; ``verdicts``: the process's verdict cache by
        content; ``known``: verdicts by content the driver already had (e.g. from the ledger);
        ``schemas``: the run plan's schema settings, for validation (None: this process's own)."""
        self.asset = asset
        # what earlier audits recorded about this asset (with --ledger; None when never recorded)
        self.history = history
        self.target = target
        self.convention = target.convention
        self._source = source
        self._memo: dict[Any, Any] = {}
        self._verdicts = verdicts
        self._known = known or {}
        self._schemas = schemas
        self.provisional = False
        """True when a verdict on this asset is not final: its findings are not remembered."""
        self.read_errors: list[ReadError] = []
        self.learned: dict[str, tuple[str, Any]] = {}
        """Verdicts computed here by content: {cache key: (content identity, value)}, for the driver."""
        self.judged: dict[str, Any] = {}
        """What the content rules judged that no finding says (the ``status`` report's part):
        ``{core file key: {"schema": what judged it, "fields": {name: "set" | "empty"}}}`` for
        each sidecar M203 validated, and ``"metadata"``: the ``Metadata`` that judged the asset
        as a whole (M211). Kept after the documents are let go."""

    @property
    def name(self) -> str:
        return self.asset.name

    @computed_once
    def parsed(self) -> ParsedName:
        return parse_name(self.asset.name, self.convention)

    @property
    def schemas(self) -> SchemaSettings:
        """The run's schema cache and offline mode, which validation uses wherever this runs."""
        if self._schemas is None:
            self._schemas = SchemaSettings.resolve()
        return self._schemas

    @property
    def max_json_bytes(self) -> int:
        """The largest sidecar that is read (the convention's ``metadata.max_json_bytes``)."""
        return policy(self.convention).max_json_bytes

    @computed_once
    def objects_by_key(self) -> dict[str, ObjectInfo]:
        return {o.key: o for o in self.asset.objects}

    @computed_once
    def folders(self) -> frozenset[str]:
        """Every folder path below the asset root ('a', 'a/b', ...), from the object keys."""
        out: set[str] = set()
        for key in self.objects_by_key:
            end = key.rfind("/")
            while end >= 0:
                folder = key[:end]
                if folder in out:
                    break  # and so are the folders above it
                out.add(folder)
                end = key.rfind("/", 0, end)
        return frozenset(out)

    def path(self, key: str) -> str:
        """A key inside the asset, as a path relative to the target root."""
        return f"{self.asset.name}/{key}"

    def has(self, key: str) -> bool:
        return key in self.objects_by_key

    def holder(self, folder: str) -> Callable[[str], bool]:
        """``holds(key)``: whether ``folder`` (a folder below the asset root) holds the file ``key``
        (for :func:`linter.names.is_asset_folder`)."""
        return lambda key: f"{folder}/{key}" in self.objects_by_key

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """Compute once per asset and share between rules (e.g. a sidecar's validation)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def content_identity(self, key: str) -> str | None:
        """What identifies the bytes of ``key``: its ETag or listed hash, else a hash of its bytes
        (None when it cannot be read)."""
        obj = self.objects_by_key.get(key)
        if obj is None:
            return None
        if obj.content_id is not None:
            return obj.content_id
        raw = self.read_bytes(key, self.max_json_bytes)
        return "sha256:" + hashlib.sha256(raw).hexdigest() if isinstance(raw, bytes) else None

    def by_content(self, key: str, kind: str, compute: Callable[[], T]) -> T:
        """``compute()``, a verdict on the bytes of ``key`` alone, once per distinct content: an
        object with the same identity (ETag, or content hash) checked for another asset, or by an
        earlier run with a ledger, gives its verdict without computing again. ``kind`` names what
        is computed (and any version it depends on, e.g. a schema release); the value must pickle."""

        def lookup() -> T:
            identity = self.content_identity(key)
            if identity is None:
                value = compute()
                if not getattr(value, "cacheable", True):
                    self.provisional = True
                return value
            cache_key = content_key(kind, identity, self.convention)
            found = self._known.get(cache_key, _MISSING)
            if found is not _MISSING:
                return found  # type: ignore[no-any-return]

            def run() -> tuple[T, bool]:
                errors = len(self.read_errors)
                value = compute()
                if not getattr(value, "cacheable", True):
                    # not final (e.g. its schema release is not prepared): keep neither it nor the
                    # asset's findings, so a later run judges it
                    self.provisional = True
                    return value, False
                return value, len(self.read_errors) == errors  # a verdict on unread parts is not kept

            if self._verdicts is None:
                value, computed = run()
                keep = computed
            else:
                value, computed = self._verdicts.compute(cache_key, run)
                keep = computed and cache_key in self._verdicts
            if keep:
                self.learned[cache_key] = (identity, value)
            return value

        return self.memo(("by_content", kind, key), lookup)

    def release_documents(self) -> None:
        """Forget the sidecars read and what was computed from them (the content rules are done),
        so an asset holds their memory only while its sidecars are being judged."""
        self._memo.clear()

    def read_bytes(self, key: str, limit: int) -> bytes | TooLarge | None:
        """The object's bytes; TooLarge past ``limit``; None when unreadable (recorded for E901)."""

        def load() -> bytes | TooLarge | None:
            try:
                return self._source.read(self.asset.name, key, limit)
            except TooLarge as exc:
                return exc
            except ReadError as exc:
                self.read_errors.append(exc)
                return None

        return self.memo(("bytes", key), load)

    def read_head(self, key: str, length: int) -> bytes | None:
        """The first ``length`` bytes of an object (fewer when it is shorter): one ranged read,
        never the whole object; None when unreadable (recorded for E901)."""

        def load() -> bytes | None:
            try:
                ranged = getattr(self._source, "read_range", None)
                if ranged is not None:
                    return ranged(self.asset.name, key, 0, length)  # type: ignore[no-any-return]
                listed = self.objects_by_key.get(key)  # a reader without ranged reads: the whole object
                return self._source.read(self.asset.name, key, max(length, listed.size if listed else 0))[:length]
            except (ReadError, TooLarge) as exc:
                self.read_errors.append(exc if isinstance(exc, ReadError) else ReadError(self.path(key), str(exc)))
                return None

        return self.memo(("head", key, length), load)

    def cannot_judge(self, path: str, message: str) -> None:
        """Record that part of the asset could not be judged (E901: the run is not complete), e.g.
        because the validator a rule needs is not installed."""
        if not any(e.path == path and e.message == message for e in self.read_errors):
            self.read_errors.append(ReadError(path, message))

    def declared_schema_version(self, key: str = "data_description.json") -> str | None:
        """The ``schema_version`` the sidecar declares, if a rule has read it (never reads)."""
        doc = self._memo.get(("json", key))
        data = doc.data if isinstance(doc, JsonDocument) else None
        version = data.get("schema_version") if data is not None else None
        return version if isinstance(version, str) else None

    def json(self, key: str) -> JsonDocument | None:
        """A JSON object file at ``key``; None when absent or unreadable."""
        if key not in self.objects_by_key:
            return None
        return self.memo(("json", key), lambda: self._load_json(key))

    def _load_json(self, key: str) -> JsonDocument | None:
        limit = self.max_json_bytes
        listed = self.objects_by_key[key].size
        # the listing already tells: an object listed larger than the limit is not fetched at all
        raw = TooLarge(listed, limit) if listed > limit else self.read_bytes(key, limit)
        if raw is None:
            return None
        if isinstance(raw, TooLarge):
            return JsonDocument(
                key, None, f"larger than the limit of {limit} bytes; not read", {"size": raw.size, "limit": limit}
            )
        parsed = parse_json_bytes(raw)
        del raw
        self._memo.pop(("bytes", key), None)  # the text and the data are kept; the bytes need not be
        text, data = parsed.text, parsed.data
        if parsed.error is not None:
            return JsonDocument(key, None, parsed.error, parsed.details, text)
        if not isinstance(data, dict):
            return JsonDocument(key, None, f"not a JSON object (top level is {type(data).__name__})", {}, text)
        return JsonDocument(key, data, None, {}, text)


class TargetContext:
    """What a target rule sees: the names of all assets, the objects at the root, and facts no
    single asset holds (gathered by the engine, or read through the context on demand)."""

    def __init__(
        self,
        target: TargetInfo,
        root_objects: list[ObjectInfo],
        *,
        linted: Sequence[str] | None = None,
        vanished: Sequence[VanishedAsset] | None = None,
        destination: Callable[[], Source] | None = None,
    ) -> None:
        self.target = target
        self.convention = target.convention
        self.root_objects = root_objects
        self.linted: tuple[str, ...] = tuple(sorted(target.asset_names) if linted is None else linted)
        """The assets this run checks (all of them, unless the run is limited to some)."""
        self.vanished = tuple(vanished) if vanished is not None else None
        """Assets the ledger recorded under this root that the listing no longer shows; None when
        that cannot be told (no ledger, a partial listing, or a run limited to some assets)."""
        self._destination = destination
        self._at_destination: frozenset[str] | None = None
        self._lock = threading.Lock()
        self.read_errors: list[ReadError] = []

    def at_destination(self) -> frozenset[str]:
        """The checked assets that already exist at ``--destination`` (asked once; empty, with
        the error recorded for E901, when the destination cannot be listed)."""
        with self._lock:
            if self._at_destination is None:
                self._at_destination = frozenset()
                if self._destination is not None:
                    try:
                        self._at_destination = self._destination().existing_assets(self.linted)
                    except ReadError as exc:
                        self.read_errors.append(exc)
                    except SourceError as exc:
                        where = self.target.destination or "the destination"
                        self.read_errors.append(ReadError(".", f"cannot open {where}: {exc}"))
            return self._at_destination
