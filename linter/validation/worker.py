"""The validation worker: runs with the Python of one release's environment, never imports the linter.

It imports only the standard library and what that environment holds (the aind-data-schema
release and its pydantic), so it works with pydantic 1 and 2 alike. Protocol: JSON lines, each
request followed by its document's bytes.

- On start it writes ``{"ready": true, "aind_data_schema": V, "pydantic": V}``.
- Each request is a JSON line ``{"id": N, "classes": [[module, class], ...], "size": S}``
  followed by the document itself, S bytes of UTF-8 (not escaped into the line: the worker hands
  the bytes to the model as they came). It is answered with
  ``{"id": N, "results": [{"class": C, "errors": [...] | [], "crash": null | "KeyError(...)"}]}``:
  the classes are tried in order and the first that accepts the text ends the list.
  An error is ``{"loc": [...], "msg": "...", "type": "..."}``, with ``"input"`` when it is a scalar.
  Requests are answered in the order they came; the linter may send the next before the last
  reply is read, so that the worker never waits between two files.
- A request ``{"kind": "asset", "asset": {...}, "sizes": [...], "size": S}`` judges a whole asset
  with the release's ``Metadata``: the S bytes are its files back to back (``sizes``), and the
  reply is ``{"id": N, "asset": {...}}`` (see ``asset.py``, loaded from beside this file).

The release's validators run exactly as in the release (``model_validate_json``, or
``parse_raw`` under pydantic 1); an exception other than a validation error (the release's
own validator failing, e.g. ``KeyError``) is what upstream gets too, and is reported as such.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import sys
import threading
import time
import warnings
from importlib import metadata
from typing import Any

SCALARS = (str, int, float, bool, type(None))


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


class Validator:
    def __init__(self) -> None:
        import pydantic

        self.pydantic_major = int(pydantic.VERSION.split(".")[0])
        self.error_type = pydantic.ValidationError
        self.models: dict[tuple[str, str], Any] = {}
        self.imported = 0.0  # seconds spent importing models (the zygote reports it per import)

    def model(self, module: str, cls: str) -> Any:
        key = (module, cls)
        if key not in self.models:
            started = time.perf_counter()
            self.models[key] = getattr(importlib.import_module(module), cls)
            self.imported += time.perf_counter() - started
        return self.models[key]

    def errors(self, model: Any, text: str | bytes) -> list[dict[str, Any]]:
        try:
            if self.pydantic_major >= 2:
                model.model_validate_json(text)
            else:
                model.parse_raw(text)
        except self.error_type as exc:
            out = []
            raw = exc.errors(include_url=False, include_context=False) if self.pydantic_major >= 2 else exc.errors()
            for err in raw:
                entry = {
                    "loc": [p if isinstance(p, int | str) else str(p) for p in err.get("loc", ())],
                    "msg": str(err.get("msg", "")),
                    "type": str(err.get("type", "")),
                }
                if "input" in err and isinstance(err["input"], SCALARS):
                    entry["input"] = err["input"]
                out.append(entry)
            return out or [{"loc": [], "msg": str(exc), "type": "validation_error", "input": None}]
        return []

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("kind") == "asset":
            return _asset_module().handle(self, request)  # type: ignore[no-any-return]
        results = []
        for module, cls in request["classes"]:
            entry: dict[str, Any] = {"class": cls, "errors": [], "crash": None}
            try:
                entry["errors"] = self.errors(self.model(module, cls), request["text"])
            except Exception as exc:  # the release's own code failed: upstream fails the same way
                entry["crash"] = f"{type(exc).__name__}({', '.join(repr(a) for a in exc.args)})"[:500]
            results.append(entry)
            if not entry["errors"] and entry["crash"] is None:
                break
        return {"id": request.get("id"), "results": results}


def _asset_module() -> Any:
    """``asset.py`` from beside this file (the linter itself is not importable in a release's
    environment), loaded once. Threads judging assets in one process ask for it at the same
    time: it enters ``sys.modules`` only once executed, under a lock, so no thread sees it
    half-loaded (a module without ``handle`` yet)."""
    module = sys.modules.get(_ASSET_MODULE)
    if module is not None:
        return module
    with _ASSET_LOCK:
        module = sys.modules.get(_ASSET_MODULE)
        if module is None:
            path = os.path.join(os.path.dirname(__file__), "asset.py")
            spec = importlib.util.spec_from_file_location(_ASSET_MODULE, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules[_ASSET_MODULE] = module
    return module


_ASSET_LOCK = threading.Lock()
_ASSET_MODULE = "aind_bucket_lint_asset_validation"


def serve(validator: Validator, requests: Any, out: Any) -> None:
    """Answer requests (read from the binary stream ``requests``) until the input ends."""
    ready = {"ready": True, "aind_data_schema": _version("aind-data-schema"), "pydantic": _version("pydantic")}
    out.write(json.dumps(ready) + "\n")
    out.flush()
    for line in requests:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            size = int(request.pop("size"))
            body = requests.read(size)
            if len(body) != size:
                return  # the input ended inside a document
            request["text"] = body
            reply = validator.handle(request)
        except Exception as exc:
            reply = {"id": None, "fatal": f"{type(exc).__name__}: {exc}"[:500]}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def zygote(control_fd: int, validator: Validator) -> None:
    """Import the release's models as the pool asks, and fork a validation worker per request.

    The control channel is a Unix socket carrying JSON lines, each answered with one line:
    ``{"import": [[module, class], ...]}`` imports models (``{"imported": seconds}``);
    ``{"fork": true}``, sent with two file descriptors (the read end of the new worker's request
    pipe, the write end of its reply pipe), forks a worker serving them (``{"forked": pid}``).
    Workers inherit the models imported so far: starting one costs a fork, not the import (20-50
    s of CPU for a 1.x release), and the models' memory is shared among them until written to.

    When the channel closes, the workers still running are killed, unless ``{"leave": true}``
    came first (a pool closed to make room lets its busy workers finish their requests): a
    channel closed without it means the linter ended, however it ended (a crash, a signal), and
    no worker of its outlives it. A thread watches the linter too, for when the zygote is busy
    importing models and reads nothing: its parent gone, it kills its workers and exits.
    """
    import signal
    import socket

    control = socket.socket(fileno=control_fd)

    def reply(obj: dict[str, Any]) -> None:
        control.sendall((json.dumps(obj) + "\n").encode())

    reply({"ready": True, "aind_data_schema": _version("aind-data-schema"), "pydantic": _version("pydantic")})
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked workers are reaped by the system
    buffer, fds = b"", []
    children: list[int] = []
    leave = False
    _watch_parent(children)
    while True:
        try:
            chunk, got, _flags, _addr = socket.recv_fds(control, 1 << 16, 2)
        except OSError:
            break
        if not chunk:
            break  # the pool closed the channel, or the linter ended
        buffer += chunk
        fds += got
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            request = json.loads(line)
            if request.get("leave"):
                leave = True
                reply({"leaving": True})
                continue
            if "import" in request:
                validator.imported = 0.0
                for module, cls in request["import"]:
                    try:
                        validator.model(module, cls)
                    except Exception:  # a worker that needs this model reports the failure
                        continue
                reply({"imported": round(validator.imported, 4), "models": len(validator.models)})
                continue
            mine, fds = fds[:2], fds[2:]
            if len(mine) != 2:
                for fd in mine:
                    os.close(fd)
                reply({"error": "a fork needs two file descriptors"})
                continue
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                control.close()
                for fd in fds:
                    os.close(fd)
                try:
                    requests = os.fdopen(mine[0], "rb")
                    with requests, os.fdopen(mine[1], "w", encoding="utf-8") as out:
                        serve(validator, requests, out)
                finally:
                    os._exit(0)
            for fd in mine:
                os.close(fd)
            children[:] = [*_own(children), pid]
            reply({"forked": pid})
    if not leave:
        for pid in _own(children):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue


def _watch_parent(children: list[int]) -> None:
    """Kill ``children`` and exit as soon as this process's parent (the linter) is gone."""
    import signal
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.25)
        for pid in _own(list(children)):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _own(pids: list[int]) -> list[int]:
    """The pids that are still this process's children (reaped ones may belong to others now)."""
    if not os.path.isdir("/proc"):
        return list(pids)
    mine = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except FileNotFoundError:
            continue  # gone
        except (OSError, ValueError, IndexError):
            parent = os.getpid()  # unreadable: still ours, as far as can be told
        if parent == os.getpid():
            mine.append(pid)
    return mine


def main() -> int:
    # The protocol owns the real stdout; whatever the release prints goes to stderr.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    validator = Validator()
    if len(sys.argv) == 3 and sys.argv[1] == "--zygote":
        out.close()
        zygote(int(sys.argv[2]), validator)
        return 0
    serve(validator, sys.stdin.buffer, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
