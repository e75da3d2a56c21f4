"""A fault-injecting HTTP proxy on 127.0.0.1 in front of a real S3 server (SeaweedFS).

The linter's S3 client is pointed at the proxy (``--endpoint-url``); every request is passed
on to the server byte for byte (headers included, so SigV4 signatures stay valid), unless a
:class:`Fault` matches it. A fault can

- ``stall``: accept the request and never answer (until the proxy stops),
- ``status``: answer with an S3-style XML error (e.g. 503 SlowDown) instead of the server,
- ``reset``: close the connection without an answer,
- ``truncate``: pass the server's answer on but cut its body in half.

Faults match on the method, the path (``/bucket/key``) and the query parameters, and may be
limited to a number of hits, so "the second and later pages of this asset's listing fail" or
"every request stalls" are one line each::

    with FaultProxy(server.endpoint_url) as proxy:
        proxy.add(Fault("status", query={"prefix": f"{asset}/", "continuation-token": ANY}, status=503))
        run the linter with --endpoint-url proxy.url
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal, Self
from urllib.parse import parse_qsl, urlsplit

ANY = object()
"""As a query value in :class:`Fault`: the parameter is present, whatever its value."""

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class Fault:
    """What to do to the requests it matches. ``path_prefix`` matches the path (``/bucket/...``);
    ``query`` maps parameter names to a required value (or :data:`ANY`; ``None``: absent);
    ``times``: how many matching requests it applies to (None: all)."""

    action: Literal["stall", "status", "reset", "truncate"]
    method: str | None = None
    path_prefix: str = "/"
    query: Mapping[str, object] = field(default_factory=dict)
    status: int = 503
    code: str = "SlowDown"
    times: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str, params: Mapping[str, str]) -> bool:
        if self.method is not None and method != self.method:
            return False
        if not path.startswith(self.path_prefix):
            return False
        for name, wanted in self.query.items():
            if wanted is None:
                if name in params:
                    return False
            elif name not in params or (wanted is not ANY and params[name] != wanted):
                return False
        return self.times is None or self.hits < self.times


class FaultProxy:
    """A threaded proxy to ``upstream`` (``http://host:port``) on a free loopback port."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname is not None and parts.port is not None
        self.upstream = (parts.hostname, parts.port)
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.requests: Counter[str] = Counter()
        """Requests seen, by ``METHOD kind`` (``GET list``, ``GET object``, ``HEAD``...)."""
        self.injected: Counter[str] = Counter()
        """Faults applied, by action."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self)

            do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True)

    def add(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def _fault_for(self, method: str, path: str, params: Mapping[str, str]) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path, params):
                    fault.hits += 1
                    self.injected[fault.action] += 1
                    return fault
        return None

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        listing = "list-type" in params or "versions" in params or split.path.strip("/").count("/") == 0
        kind = "list" if listing else "object"
        with self.lock:
            self.requests[f"{h.command} {kind}"] += 1
        fault = self._fault_for(h.command, split.path, params)
        if fault is not None and fault.action == "stall":
            self.stopping.wait()
            h.close_connection = True
            return
        if fault is not None and fault.action == "reset":
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.action == "status":
            payload = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{fault.code}</Code>'
                f"<Message>injected by the test proxy</Message><Resource>{split.path}</Resource></Error>"
            ).encode()
            h.send_response(fault.status)
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(payload)
            return
        upstream = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request(h.command, h.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            if fault is not None and fault.action == "truncate":
                declared, data = len(data), data[: len(data) // 2]
            else:
                declared = len(data)
            h.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    h.send_header(name, value)
            h.send_header("Content-Length", str(declared))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(data)
            if declared != len(data):
                h.wfile.flush()
                h.close_connection = True
                with contextlib.suppress(OSError):
                    h.connection.shutdown(socket.SHUT_RDWR)
        finally:
            upstream.close()

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
