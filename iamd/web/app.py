"""The ASGI application: /healthz, the AWS API on /, and the dev-only reset endpoint."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from iamd.core.config import STORE_PREPARED_VARIABLE, Settings, load_settings
from iamd.core.errors import RequestEntityTooLarge
from iamd.core.http import HttpRequest
from iamd.services.console import sessions as console_sessions
from iamd.services.organizations import start_account_creation
from iamd.services.runtime import Runtime
from iamd.web.access_log import AccessLog, AccessRecord
from iamd.web.api import ApiHandler
from iamd.web.console.handler import ConsoleHandler
from iamd.web.extra import ExtraRoutes
from iamd.web.protocol.form import MAX_BODY
from iamd.web.protocol.xml_serializer import serialize_error
from iamd.web.rolesanywhere import PATH as CREATE_SESSION_PATH
from iamd.web.rolesanywhere import CreateSessionHandler
from iamd.web.rolesanywhere_api import RolesAnywhereApi
from iamd.web.workloads import PREFIX as WORKLOADS_PREFIX
from iamd.web.workloads import WorkloadsHandler

log = logging.getLogger("iamd")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_Response = tuple[int, list[tuple[bytes, bytes]], bytes]

KEY_USAGE_FLUSH_SECONDS = 5.0
CONSOLE_PRUNE_ROUNDS = 120
"""Expired console sessions, quiet throttle rows and stale challenges go every 120 flushes (10 minutes)."""


class IamdApp:
    def __init__(self, settings: Settings, runtime: Runtime | None = None, prepare: bool = True) -> None:
        self.settings = settings
        self.runtime = runtime or Runtime(settings)
        self.api = ApiHandler(self.runtime)
        self.console = ConsoleHandler(self.runtime)
        self.workloads = WorkloadsHandler(self.runtime)
        self.create_session = CreateSessionHandler(self.runtime)
        self.rolesanywhere = RolesAnywhereApi(self.runtime)
        self.extra = ExtraRoutes(self.runtime)
        self.access_log = AccessLog(settings.server.access_log, self.runtime.clock)
        self.ready = False
        self._prepare = prepare
        self._executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="iamd")
        self._flusher: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._logged_http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # -- lifespan ------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self._prepare:
                        await loop.run_in_executor(self._executor, self._startup)
                    self.extra.start()
                    self.ready = True
                    start_account_creation(self.runtime.services)  # CreateAccount requests a stopped node left
                    self._flusher = asyncio.create_task(self._flush_key_usage())
                except Exception as exc:
                    log.error("iamd cannot start: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._flusher is not None:
                    self._flusher.cancel()
                await loop.run_in_executor(self._executor, self.runtime.close)
                self._executor.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _startup(self) -> None:
        self.runtime.prepare_store()
        self.runtime.bootstrap()

    async def _flush_key_usage(self) -> None:
        loop = asyncio.get_running_loop()
        rounds = 0
        while True:
            await asyncio.sleep(KEY_USAGE_FLUSH_SECONDS)
            try:
                await loop.run_in_executor(self._executor, self.runtime.key_usage.flush)
            except Exception:
                log.warning("access key usage flush failed", exc_info=True)
            rounds += 1
            if rounds % CONSOLE_PRUNE_ROUNDS == 0:
                try:
                    await loop.run_in_executor(self._executor, self._prune_console)
                except Exception:
                    log.warning("pruning expired console sessions failed", exc_info=True)

    def _prune_console(self) -> None:
        rt = self.runtime
        with rt.db.side_write() as conn:
            removed = console_sessions.prune(conn, rt.clock.time())
        if removed:
            log.info("pruned %d expired console sessions", removed)

    # -- HTTP ------------------------------------------------------------------------------------

    async def _logged_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request and write its access log line once the response is sent."""
        client = scope.get("client")
        record = AccessRecord(
            client[0] if client else "", scope["method"], scope["path"], started=self.runtime.clock.monotonic()
        )

        async def send_noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = int(message["status"])
            await send(message)

        try:
            await self._http(scope, receive, send_noting_status, record)
        finally:
            self.access_log.write(record)

    async def _http(self, scope: Scope, receive: Receive, send: Send, record: AccessRecord) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/healthz" and method in ("GET", "HEAD"):
            if self.ready:
                await _respond(send, 200, b"ok\n", b"text/plain")
            else:
                await _respond(send, 503, b"starting\n", b"text/plain")
            return
        if path == "/_iamd/reset" and self.settings.server.dev:
            if method != "POST":
                await _respond(send, 405, b"use POST\n", b"text/plain")
                return
            await asyncio.get_running_loop().run_in_executor(self._executor, self.runtime.reset)
            await _respond(send, 200, b"reset\n", b"text/plain")
            return
        if path == "/console" or path.startswith("/console/"):
            await self._console(scope, receive, send)
            return
        if path.startswith(WORKLOADS_PREFIX):
            await self._off_loop(scope, receive, send, self.workloads.handle)
            return
        if path == CREATE_SESSION_PATH:  # Roles Anywhere's CreateSession, X.509-signed (no SigV4)
            await self._off_loop(scope, receive, send, self.create_session.handle)
            return
        if self.rolesanywhere.serves(path):  # Roles Anywhere's control plane (REST-JSON, SigV4)
            await self._off_loop(scope, receive, send, self.rolesanywhere.handle)
            return
        if path.startswith("/v1/") or path == "/metrics":
            await self._extra(scope, receive, send, path, method)
            return
        if path != "/":
            await _respond(send, 404, b"not found\n", b"text/plain")
            return
        if method == "GET" and not scope["query_string"] and not _has_header(scope, b"authorization"):
            await send({"type": "http.response.start", "status": 302, "headers": [(b"location", b"/console")]})
            await send({"type": "http.response.body", "body": b""})
            return
        body = await _read_body(receive)
        if body is None:
            err = RequestEntityTooLarge()
            await _respond(send, err.status, serialize_error(err, "0"), b"text/xml")
            return
        request = _request(scope, method, path, body)
        record.api = True
        status, headers, payload = await asyncio.get_running_loop().run_in_executor(
            self._executor, self.api.handle, request, record
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _extra(self, scope: Scope, receive: Receive, send: Send, path: str, method: str) -> None:
        """The authorization API, forward-auth and /metrics (iamd.web.extra)."""
        body = await _read_body(receive)
        if body is None:
            await _respond(send, 413, b"request too large\n", b"text/plain")
            return
        request = _request(scope, method, path, body)
        status, headers, payload = await asyncio.get_running_loop().run_in_executor(
            self._executor, self.extra.handle, request
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _console(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._off_loop(scope, receive, send, self.console.handle)

    async def _off_loop(
        self, scope: Scope, receive: Receive, send: Send, handle: Callable[[HttpRequest], _Response]
    ) -> None:
        """Read the body, run ``handle`` on a worker thread, send its answer."""
        body = await _read_body(receive)
        if body is None:
            await _respond(send, 413, b"request too large\n", b"text/plain")
            return
        request = _request(scope, scope["method"], scope["path"], body)
        status, headers, payload = await asyncio.get_running_loop().run_in_executor(self._executor, handle, request)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _has_header(scope: Scope, name: bytes) -> bool:
    return any(k.lower() == name for k, _ in scope["headers"])


def _request(scope: Scope, method: str, path: str, body: bytes) -> HttpRequest:
    raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
    client = scope.get("client")
    return HttpRequest(
        method=method,
        path=scope.get("raw_path", path.encode()).decode("latin-1") or "/",
        query_string=scope["query_string"].decode("latin-1"),
        headers=tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw_headers),
        body=body,
        source_ip=client[0] if client else "",
        secure=scope.get("scheme") == "https",
    )


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(environ: Mapping[str, str] | None = None) -> IamdApp:
    """uvicorn factory: settings from the IAMD_* variables of ``environ``, by default the process's
    environment, which the serve command sets for each worker."""
    env = os.environ if environ is None else environ
    return IamdApp(load_settings(env), prepare=env.get(STORE_PREPARED_VARIABLE) != "1")
