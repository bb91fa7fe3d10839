"""The agent's HTTP listeners (stdlib, one thread per connection) and its background refresher.

Each listener serves one :class:`~iamd.agent.http.App` (the metadata endpoint, the container endpoint)
on its own address. Responses to IMDSv2 token requests go out with the configured hop limit (IP TTL),
as EC2 does, so a token cannot be fetched from further away than that many hops.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from iamd.agent.credentials import CredentialCache, CredentialsUnavailable
from iamd.agent.http import App, HttpResponse
from iamd.core.clock import Clock
from iamd.core.http import HttpRequest

__all__ = ["DEFAULT_HOP_LIMIT", "AgentServer", "Listener", "apply_hop_limit"]

log = logging.getLogger("iamd.agent")

DEFAULT_HOP_LIMIT = 1
MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class Listener:
    host: str
    port: int
    app: App
    hop_limit: int = DEFAULT_HOP_LIMIT


def apply_hop_limit(connection: socket.socket, hop_limit: int) -> None:
    """Set the IP TTL (IPv6: unicast hops) of ``connection``'s outgoing packets."""
    if connection.family == socket.AF_INET6:
        connection.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hop_limit)
    else:
        connection.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, hop_limit)


def _handler_for(listener: Listener) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), format % args)

        def _serve(self) -> None:
            length_text = self.headers.get("Content-Length") or "0"
            length = int(length_text) if length_text.isdigit() else 0
            if length > MAX_BODY:
                self._send(HttpResponse(413, (("Content-Type", "text/plain"),), b"Request body too large"), b"")
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            request = HttpRequest(
                method=self.command,
                path=path,
                query_string=query,
                headers=tuple((name.lower(), value) for name, value in self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
            )
            response = listener.app.handle(request)
            if response.token_response:
                apply_hop_limit(self.connection, listener.hop_limit)
            self._send(response, b"" if self.command == "HEAD" else response.body)

        def _send(self, response: HttpResponse, body: bytes) -> None:
            self._server_name = next((v for n, v in response.headers if n.lower() == "server"), "iamd-agent")
            self.send_response(response.status)
            for name, value in response.headers:
                if name.lower() != "server":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(body)

        def version_string(self) -> str:
            return getattr(self, "_server_name", "iamd-agent")

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = _serve

    return Handler


class AgentServer:
    """Runs the listeners and a thread that refreshes the cache ahead of expiry."""

    def __init__(
        self, listeners: Sequence[Listener], cache: CredentialCache | None = None, clock: Clock | None = None
    ) -> None:
        self._servers = [
            ThreadingHTTPServer((listener.host, listener.port), _handler_for(listener)) for listener in listeners
        ]
        for server in self._servers:
            server.daemon_threads = True
        self._cache = cache
        self._clock = clock
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [(str(s.server_address[0]), int(s.server_address[1])) for s in self._servers]

    def start(self) -> None:
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="iamd-agent-http", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        if self._cache is not None and self._clock is not None:
            thread = threading.Thread(target=self._refresh_loop, name="iamd-agent-refresh", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _refresh_loop(self) -> None:
        assert self._cache is not None and self._clock is not None
        while not self._stop.is_set():
            with contextlib.suppress(CredentialsUnavailable):  # the cache logged why and backs off
                self._cache.get()
            due = self._cache.refresh_at()
            wait = 5.0 if due is None else min(max(due - self._clock.time(), 1.0), 300.0)
            self._stop.wait(wait)

    def stop(self) -> None:
        self._stop.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)

    def __enter__(self) -> AgentServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
