"""The nginx harness the forward-auth functional tests use: a real nginx asks an auth server, then proxies."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.support.nginx import Nginx, nginx_binary, start_nginx


class _Auth(BaseHTTPRequestHandler):
    """200 for ``Authorization: allow``, 403 for ``deny``, 401 otherwise; says what it saw."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        self.seen.append({k.lower(): v for k, v in self.headers.items()})
        verdict = self.headers.get("Authorization", "")
        status = {"allow": 200, "deny": 403}.get(verdict, 401)
        self.send_response(status)
        if status == 200:
            self.send_header("X-Iamd-Principal-Arn", "arn:aws:iam::123456789012:user/alice")
            self.send_header("X-Iamd-Account", "123456789012")
        if status == 401:
            self.send_header("WWW-Authenticate", "AWS4-HMAC-SHA256")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _Upstream(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        data = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "principal": self.headers.get("X-Iamd-Principal-Arn"),
                "account": self.headers.get("X-Iamd-Account"),
                "session": self.headers.get("X-Iamd-Session-Name"),
                "body": body.decode(),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Nginx]:
    if nginx_binary() is None:
        if os.environ.get("IAMD_TEST_SKIP_NGINX") == "1":
            pytest.skip("IAMD_TEST_SKIP_NGINX=1")
        pytest.fail("nginx is not installed (scripts/test installs it; IAMD_TEST_SKIP_NGINX=1 skips)")
    _Auth.seen = []
    auth = _serve(_Auth)
    upstream = _serve(_Upstream)
    auth_url, upstream_url = next(auth), next(upstream)
    nginx = start_nginx(tmp_path / "nginx", auth_url=auth_url, upstream_url=upstream_url)
    try:
        yield nginx
    finally:
        nginx.stop()
        for gen in (auth, upstream):
            gen.close()


def test_nginx_proxies_allowed_requests_and_refuses_the_rest(proxy: Nginx) -> None:
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        allowed = client.post(
            "/documents/42?x=1",
            headers={"Authorization": "allow", "X-Iamd-Session-Name": "forged", "Host": "docs.example"},
            content=b"payload",
        )
        assert allowed.status_code == 200
        seen_upstream = allowed.json()
        assert seen_upstream == {
            "method": "POST",
            "path": "/documents/42?x=1",
            "principal": "arn:aws:iam::123456789012:user/alice",
            "account": "123456789012",
            "session": None,  # the client's forged header was replaced by the (empty) answer
            "body": "payload",
        }
        assert client.get("/documents/42", headers={"Authorization": "deny"}).status_code == 403
        unsigned = client.get("/documents/42")
        assert unsigned.status_code == 401
    asked = _Auth.seen[0]
    assert asked["x-original-method"] == "POST"
    assert asked["x-original-uri"] == "/documents/42?x=1"
    assert asked["host"] == "docs.example"
    assert asked["authorization"] == "allow"
    assert "content-length" not in asked or asked["content-length"] in ("", "0")
