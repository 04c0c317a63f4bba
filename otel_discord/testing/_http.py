"""HTTP plumbing of the strict server: stdlib ``ThreadingHTTPServer``, keep-alive, JSON out.

Kept apart from the Discord logic so the handler stays dumb: it reads a request,
asks ``dispatch`` for a ``Response`` (``None`` means "hang up without answering", how
an outage looks to a client) and writes it.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message as Headers
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from otel_discord.config.webhook_url import redact
from otel_discord.health.log import get_logger

_logger = get_logger(__name__)

MAX_BODY_BYTES: Final = 25 * 1024 * 1024
TOO_LARGE: Final = {"code": 40005, "message": "Request entity too large"}


@dataclass(frozen=True)
class Request:
    """One request as handlers see it. ``target`` is the raw path with query: it holds tokens."""

    method: str
    path: str
    query: dict[str, str]  # last value of each parameter, like Discord reads them
    headers: Headers
    body: bytes
    target: str = field(repr=False)

    @property
    def masked_target(self) -> str:
        return redact(self.target)


@dataclass
class Response:
    """What to send back: a JSON ``body`` (``None`` for no body) or ``raw`` bytes."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"
    payload: Any = None  # the parsed request body, kept for the server's rejection log


class HTTPError(Exception):
    """Raised deep inside request handling to answer with ``response`` at once."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def error(status: int, code: int, message: str) -> HTTPError:
    """Discord's plain error body: ``{"code": ..., "message": ...}``."""
    return HTTPError(Response(status, {"code": code, "message": message}))


Dispatch = Callable[[Request], "Response | None"]


class HTTPServer(ThreadingHTTPServer):
    """Tracks its connections so ``close_connections`` can end idle keep-alive ones."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], dispatch: Dispatch) -> None:
        self.dispatch = dispatch
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def close_connections(self) -> None:
        """Cut every open connection, so a pooled client connection cannot outlive an outage."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Mostly clients hanging up or connections we cut; not worth stderr noise.
        _logger.debug("test server: connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like Discord
    server_version = "cloudflare"  # what Discord's responses say
    sys_version = ""
    timeout = 30  # idle keep-alive connections end eventually
    server: HTTPServer

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: with Nagle on, the body would wait for the
        # client's delayed ACK of the headers (40 ms a response), a latency Discord does not have.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PATCH = do_DELETE = do_PUT = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would poison the connection
            raise HTTPError(Response(413, dict(TOO_LARGE)))
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                self.close_connection = True
                raise HTTPError(Response(413, dict(TOO_LARGE)))
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)  # the CRLF after each chunk

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            body = self._read_body()
            request = Request(self.command, parts.path, query, self.headers, body, self.path)
            response = self.server.dispatch(request)
        except HTTPError as early:
            response = early.response
        except Exception as exc:  # a bug here must show up as a 500, not a hung client
            _logger.error(
                "test server: internal error on %s %s: %s",
                self.command,
                redact(self.path),
                redact(repr(exc)),
                exc_info=True,
            )
            response = Response(500, {"code": 0, "message": "500: Internal Server Error"})
        if response is None:
            self.close_connection = True  # an outage: hang up without a word
            return
        self._write(response)

    def _write(self, response: Response) -> None:
        if response.raw is not None:
            data = response.raw
        elif response.body is not None and response.status != 204:
            data = json.dumps(response.body).encode()
        else:
            data = b""
        self.send_response(response.status)
        headers = {"Via": "1.1 google", **response.headers}  # set "Via": "" to leave it out
        if response.status != 204:
            headers["Content-Type"] = response.content_type
            headers["Content-Length"] = str(len(data))
        for name, value in headers.items():
            if value:
                self.send_header(name, value)
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        _logger.debug("test server: %s", redact(format % args))
