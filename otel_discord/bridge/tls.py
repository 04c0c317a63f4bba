"""HTTPS for the bridge: the stdlib ``ssl`` module, terminated in-process in front of waitress.

waitress speaks plain HTTP only (its maintainers point to a terminating proxy), and its
non-blocking loop cannot drive an ``ssl.SSLSocket`` correctly (decrypted bytes waiting
inside OpenSSL do not make the socket readable). So ``TLSFront`` is that proxy, built in:
it listens on the public address, completes each TLS handshake in a thread of its own, and
relays the plaintext to the waitress server on an ephemeral 127.0.0.1 port. The app behind
it is unchanged, including the bearer-token check (which also guards that loopback port).

Bounded: at most ``max_connections`` connections at a time (one thread each; a Collector
keeps ``num_consumers`` keep-alive connections), more are closed at once; a handshake must
finish within ``handshake_timeout``; a stalled peer is cut after ``io_timeout``. Idle
keep-alive connections end when waitress closes its side (``channel_timeout``, 120 s).

``server_context`` builds the context: TLS 1.2 or newer, OpenSSL's default ciphers, ALPN
``http/1.1`` (a Go client would otherwise try HTTP/2, which waitress does not speak).
"""

from __future__ import annotations

import selectors
import socket
import ssl
import threading
from pathlib import Path
from typing import Final

from otel_discord import environment_variables as env
from otel_discord.bridge.auth import RejectCounter
from otel_discord.config import ConfigError
from otel_discord.health.log import get_logger

__all__ = ["TLSFront", "server_context"]

_logger = get_logger(__name__)

MAX_CONNECTIONS: Final = 100  # waitress's own default connection_limit
HANDSHAKE_TIMEOUT: Final = 10.0
IO_TIMEOUT: Final = 120.0  # one blocked read or write of a peer; as long as waitress's idle limit
_CHUNK: Final = 64 * 1024


def _refuse_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key's passphrase.
    return b""


def server_context(cert_file: Path, key_file: Path | None = None) -> ssl.SSLContext:
    """A server ``SSLContext`` for ``cert_file`` (and ``key_file``); ``ConfigError`` naming the setting."""
    for path, setting in (
        (cert_file, env.OTEL_EXPORTER_DISCORD_BRIDGE_TLS_CERT),
        (key_file, env.OTEL_EXPORTER_DISCORD_BRIDGE_TLS_KEY),
    ):
        if path is not None and not path.is_file():
            raise ConfigError(f"{setting}: {path} is not a readable file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(cert_file, key_file, password=_refuse_password)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"{env.OTEL_EXPORTER_DISCORD_BRIDGE_TLS_CERT} ({cert_file}) and "
            f"{env.OTEL_EXPORTER_DISCORD_BRIDGE_TLS_KEY} ({key_file or 'in the certificate file'}) do not "
            f"load as a PEM certificate and its unencrypted private key: {exc.reason or exc}"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{env.OTEL_EXPORTER_DISCORD_BRIDGE_TLS_CERT}: cannot read {exc.filename or cert_file}: "
            f"{exc.strerror or exc}"
        ) from None
    return context


class TLSFront:
    """Accepts TLS on ``host:port`` and relays each connection to ``backend`` in plaintext."""

    def __init__(
        self,
        context: ssl.SSLContext,
        host: str,
        port: int,
        backend: tuple[str, int],
        *,
        max_connections: int = MAX_CONNECTIONS,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        io_timeout: float = IO_TIMEOUT,
    ) -> None:
        family, _, _, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        self._listener = socket.create_server(address[:2], family=family, backlog=128)
        self.host: str = host
        self.port: int = self._listener.getsockname()[1]
        self._context = context
        self._backend = backend
        self._max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._handshake_timeout = handshake_timeout
        self._io_timeout = io_timeout
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._relays: set[threading.Thread] = set()
        self._closing = False
        self.handshake_failures = RejectCounter()
        self.turned_away = RejectCounter()
        self._wake_r, self._wake_w = socket.socketpair()
        self._acceptor = threading.Thread(target=self._accept_loop, name="otel-discord-bridge-tls", daemon=True)
        self._acceptor.start()

    # --- accepting -----------------------------------------------------------------

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._closing:
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r or self._closing:
                        return
                    try:
                        raw, peer = self._listener.accept()
                    except OSError:
                        continue  # the peer gave up between select and accept
                    self._start_relay(raw, peer)

    def _start_relay(self, raw: socket.socket, peer: tuple[object, ...]) -> None:
        if not self._slots.acquire(blocking=False):
            raw.close()  # the sender retries; unbounded threads would be worse
            if (total := self.turned_away.add()) is not None:
                _logger.warning(
                    "TLS: %d connection(s) turned away, over the limit of %d open at once", total, self._max_connections
                )
            return
        thread = threading.Thread(
            target=self._relay, args=(raw, peer), name="otel-discord-bridge-tls-relay", daemon=True
        )
        with self._lock:
            self._relays.add(thread)
        thread.start()

    # --- one connection --------------------------------------------------------------

    def _relay(self, raw: socket.socket, peer: tuple[object, ...]) -> None:
        backend: socket.socket | None = None
        client: socket.socket = raw
        try:
            self._track(raw)
            raw.settimeout(self._handshake_timeout)
            try:
                client = self._context.wrap_socket(raw, server_side=True)  # the handshake, here
            except (OSError, ValueError) as exc:
                if self._closing:
                    return  # cut by close(), not the peer's fault
                if (total := self.handshake_failures.add()) is not None:
                    reason = getattr(exc, "reason", None) or str(exc)
                    hint = " (it spoke plain HTTP: use an https:// URL)" if reason == "HTTP_REQUEST" else ""
                    _logger.warning("TLS handshake with %s failed (%d so far): %s%s", peer[0], total, reason, hint)
                return
            self._track(client, replaces=raw)
            client.settimeout(self._io_timeout)
            backend = socket.create_connection(self._backend, timeout=self._io_timeout)
            self._track(backend)
            self._pump(client, backend)
        except OSError as exc:
            _logger.debug("TLS relay for %s ended: %s", peer[0], exc)
        finally:
            for sock in (backend, client):
                if sock is not None:
                    self._untrack(sock)
                    sock.close()
            with self._lock:
                self._relays.discard(threading.current_thread())
            self._slots.release()

    @staticmethod
    def _pump(client: socket.socket, backend: socket.socket) -> None:
        """Copy bytes both ways until either side closes."""
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, backend)
            selector.register(backend, selectors.EVENT_READ, client)
            while True:
                for key, _ in selector.select():
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    target: socket.socket = key.data
                    try:
                        # Blocking with a timeout: a partial TLS record is waited for, not lost.
                        data = source.recv(_CHUNK)
                    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                        return
                    if not data:
                        return
                    # Decrypted bytes still inside OpenSSL do not make the socket readable.
                    while isinstance(source, ssl.SSLSocket) and source.pending():
                        data += source.recv(source.pending())
                    target.sendall(data)

    def _track(self, sock: socket.socket, replaces: socket.socket | None = None) -> None:
        with self._lock:
            if replaces is not None:
                self._open.discard(replaces)
            self._open.add(sock)
            closing = self._closing
        if closing:
            raise OSError("the bridge is stopping")

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    # --- stopping --------------------------------------------------------------------

    def stop_accepting(self) -> None:
        """Close the listening socket; open connections carry on (waitress drains them)."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self._wake_w.send(b"x")
        self._acceptor.join(5.0)
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()

    def close(self, timeout: float = 1.0) -> None:
        """Stop accepting and cut every connection still open; wait up to ``timeout`` s for the relays."""
        self.stop_accepting()
        with self._lock:
            socks, relays = list(self._open), list(self._relays)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the relay's select; it closes the socket
            except OSError:
                pass
        for relay in relays:
            relay.join(timeout)
