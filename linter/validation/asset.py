"""Asset-level validation with upstream's own ``Metadata``, run inside one release's environment.

Like ``worker.py`` it imports only the standard library and what the release's environment holds
(it is loaded by ``worker.py`` from its path: the linter is not installed there), so it runs in a
release's worker and, for the installed release, in the linter's own process.

One request judges one asset: every core file present, each with the classes of the release that
may hold it, and the release's ``Metadata`` class. Each file is validated with those classes;
where none accepts it, it enters as upstream's ``Metadata.validate_core_fields`` builds it, with
``model_construct`` (unvalidated). The ``Metadata`` is then built with ``model_construct`` and its
own ``mode="after"`` model validators (those the class declares, not the per-model checks it
inherits, nor the one that re-validates each file alone: :data:`PER_FILE`) are called one by
one, in upstream's order, each on the object the last one returned: upstream stops at the first
that raises; calling each gives every failing validator its own answer. Each answer says
whether the validator passed, raised (``ValueError``/``AssertionError``, what pydantic turns
into a validation error) or crashed (any other exception), what it warned (``warnings.warn``,
captured per validator) and which files it reads (the core fields its source names, all
present files when it reads them by name).
"""

from __future__ import annotations

import inspect
import json
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, get_args

MESSAGE_LIMIT = 1000
PER_FILE = frozenset({"validate_metadata"})
"""Validators that judge each file alone, not the files together: 0.x-1.x ``validate_metadata``
re-validates every file with ``Model(**file.model_dump())`` and only sets ``metadata_status``
(the per-file validation does that job). It is not called: in 1.2-1.4 it crashes on every valid
rig (``Rig.model_dump``: ``TypeError: unhashable type: 'dict'``, upstream's serializer failing on
its ``Set`` of modalities), which says nothing about the asset."""
FIRST_ERRORS = 3
_capture_lock = threading.Lock()
_sources: dict[Any, str | None] = {}


def handle(validator: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Answer an ``{"kind": "asset"}`` request: ``request["text"]`` holds the files' bytes back to
    back, ``request["sizes"]`` their lengths, ``request["asset"]`` the rest (see :func:`check`)."""
    body: bytes | str = request["text"]
    raw = body.encode("utf-8") if isinstance(body, str) else body
    texts, at = [], 0
    for size in request["sizes"]:
        texts.append(raw[at : at + int(size)])
        at += int(size)
    return {"id": request.get("id"), "asset": check(validator, request["asset"], texts)}


def check(validator: Any, spec: dict[str, Any], texts: list[bytes]) -> dict[str, Any]:
    """``spec``: ``{"metadata": [module, class], "name": N, "location": L, "files": [{"field": F,
    "classes": [[module, class], ...]}, ...]}``, one entry per text. Returns ``{"files": [...],
    "validators": [...]}``, or ``{"unsupported": why}``."""
    if validator.pydantic_major < 2:
        return {"unsupported": "its Metadata is a pydantic 1 model, whose validators cannot be called one by one"}
    metadata = validator.model(*spec["metadata"])
    fields = metadata.model_fields
    objects: dict[str, Any] = {}
    unvalidated: set[str] = set()
    files = []
    for entry, text in zip(spec["files"], texts, strict=True):
        field = entry["field"]
        if field not in fields:
            files.append({"field": field, "status": "not-in-metadata"})
            continue
        outcome, obj = _build(validator, metadata, field, entry["classes"], text)
        files.append(outcome)
        if obj is not None:
            objects[field] = obj
            if outcome["status"] != "valid":
                unvalidated.add(field)
    record = metadata.model_construct(name=spec["name"], location=spec["location"], **objects)
    present = [f for f in objects]
    found = []
    for name, func in _after_validators(metadata):
        answer: dict[str, Any] = {"name": name, "outcome": "ok", "message": None, "crash_in": None}
        answer["involves"] = _involves(func, present)
        with _captured() as caught:
            try:
                returned = func(record)
                if returned is not None:
                    record = returned
            except (ValueError, AssertionError) as exc:
                answer["outcome"] = "raised"
                answer["message"] = _short(str(exc))
            except Exception as exc:  # upstream's own code failed on these objects
                answer["outcome"] = "crashed"
                answer["message"] = _short(f"{type(exc).__name__}: {exc}")
                answer["crash_in"] = _culprit(exc, objects)
        answer["warnings"] = list(dict.fromkeys(_short(w) for w in caught))
        found.append(answer)
    return {"files": files, "validators": found, "unvalidated": sorted(unvalidated)}


def _build(validator: Any, metadata: Any, field: str, classes: list[list[str]], text: bytes) -> tuple[dict, Any]:
    """(what became of the file, its object): the object of the first class that accepts it, else
    the one upstream builds unvalidated; None when the text is not a JSON object."""
    errors: list[dict[str, Any]] = []
    count = 0
    crash = None
    for module, cls in classes:
        try:
            model = validator.model(module, cls)
            obj = model.model_validate_json(text)
        except validator.error_type as exc:
            raw = exc.errors(include_url=False, include_context=False)
            if not errors or len(raw) < count:  # the class that came closest
                count = len(raw)
                errors = [
                    {"loc": [p if isinstance(p, int | str) else str(p) for p in e.get("loc", ())], "msg": str(e["msg"])}
                    for e in raw[:FIRST_ERRORS]
                ]
            continue
        except Exception as exc:
            crash = _short(f"{cls} raised {type(exc).__name__}: {exc}")
            continue
        return {"field": field, "status": "valid", "class": cls}, obj
    outcome = {"field": field, "status": "invalid", "errors": count, "first": errors, "crash": crash}
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return outcome, None
    annotation = metadata.model_fields[field].annotation
    candidates = [a for a in (*get_args(annotation), annotation) if inspect.isclass(a)]
    try:
        return outcome, candidates[0].model_construct(**data)
    except Exception as exc:  # even upstream's unvalidated object cannot be made
        outcome["crash"] = _short(f"model_construct raised {type(exc).__name__}: {exc}")
        return outcome, None


def _after_validators(metadata: Any) -> list[tuple[str, Any]]:
    """The ``mode="after"`` model validators the Metadata class itself declares, in upstream's
    order, but those of :data:`PER_FILE`."""
    out = []
    for name, decorator in metadata.__pydantic_decorators__.model_validators.items():
        func = decorator.func
        owner = getattr(func, "__qualname__", "").split(".")[0]
        if decorator.info.mode == "after" and owner == metadata.__name__ and name not in PER_FILE:
            out.append((name, func))
    return out


def _involves(func: Any, present: list[str]) -> list[str]:
    """The present core fields the validator reads: those its source names as ``self.<field>``;
    every present one when it reads fields by name (``getattr(self, ...)``)."""
    if func not in _sources:
        try:
            _sources[func] = inspect.getsource(func)
        except (OSError, TypeError):
            _sources[func] = None
    source = _sources[func]
    if source is None or "getattr(self" in source:
        return list(present)
    return [f for f in present if re.search(rf"\bself\.{f}\b", source)]


def _culprit(exc: BaseException, objects: dict[str, Any]) -> str | None:
    """The core field whose object a crashing frame was working on (its ``self``), innermost first."""
    by_id = {id(obj): field for field, obj in objects.items()}
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        field = by_id.get(id(frame.f_locals.get("self")))
        if field is not None:
            return field
    return None


@contextmanager
def _captured() -> Iterator[list[str]]:
    """The messages of the warnings aind-data-schema's code raises in this thread meanwhile
    (deprecation warnings about the code itself left out). In the linter's own process other
    threads validate at the same time: their warnings are not this asset's and are dropped (the
    linter ignores aind-data-schema's warnings anyway); one asset at a time is judged here."""
    caught: list[str] = []
    me = threading.get_ident()

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        # upstream's own warnings about the asset, not pydantic's about upstream's code
        ours = "aind_data_schema" in filename and not issubclass(category, DeprecationWarning)
        if ours and threading.get_ident() == me:
            caught.append(str(message))

    with _capture_lock, warnings.catch_warnings():
        # the hook before the filter: another thread's warning raised in between would otherwise
        # be shown on stderr ("always" with the default hook)
        warnings.showwarning = show
        warnings.simplefilter("always")
        yield caught


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"
