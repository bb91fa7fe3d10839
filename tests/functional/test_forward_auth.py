"""Forward-auth: Debian's nginx (auth_request) asks iamd before passing requests to a small upstream;
Traefik's and Envoy's forms of the check straight against iamd."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.functional.authorize_support import signed_request, user_with_key
from tests.support.nginx import Nginx, start_nginx
from tests.support.server import ACCOUNT_ID, Server, postgres_database, start_server
from tests.support.signing import RawResponse, send

RULES = f"""
[vars]
region = "eu-west-1"
account = "{ACCOUNT_ID}"

[[rule]]
path = "/health"
anonymous = true

[[rule]]
method = ["GET", "HEAD"]
path = "/documents/{{id}}"
action = "myapp:GetDocument"
resource = "arn:aws:myapp:{{region}}:{{account}}:document/{{id}}"

[[rule]]
method = "PUT"
path = "/documents/{{id}}"
action = "myapp:PutDocument"
resource = "arn:aws:myapp:{{region}}:{{account}}:document/{{id}}"
"""


class _Upstream(BaseHTTPRequestHandler):
    """Says what reached it: the path and every X-Iamd-* header."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        data = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "iamd": {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-iamd-")},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def gated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Nginx]]:
    """An iamd serving forward-auth with RULES, and nginx in front of the upstream asking it."""
    workdir = tmp_path_factory.mktemp(f"forward-auth-{request.param}")
    rules = workdir / "rules.toml"
    rules.write_text(RULES)
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()

    def run(database_url: str | None) -> Iterator[tuple[Server, Nginx]]:
        srv = start_server(workdir / "iamd", database_url, extra_env={"IAMD_FORWARD_AUTH_RULES": str(rules)})
        nginx = start_nginx(
            workdir / "nginx",
            auth_url=f"{srv.url}/v1/forward-auth",
            upstream_url=f"http://127.0.0.1:{upstream.server_port}",
        )
        try:
            yield srv, nginx
        finally:
            nginx.stop()
            srv.stop()

    try:
        if request.param == "postgresql":
            request.getfixturevalue("pg_url")
            with postgres_database() as url:
                yield from run(url)
        else:
            yield from run(None)
    finally:
        upstream.shutdown()


@pytest.fixture
def fa(gated: tuple[Server, Nginx]) -> tuple[Server, Nginx]:
    gated[0].reset()
    return gated


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _get(
    url: str, creds: tuple[str, str] | None, method: str = "GET", extra: dict[str, str] | None = None
) -> RawResponse:
    headers = dict(extra or {})
    if creds is not None:
        headers = dict(signed_request(url, *creds, method=method, headers=headers).headers.items())
    return send(url, method, None, headers)


def test_nginx_passes_signed_requests_and_stops_the_rest(fa: tuple[Server, Nginx]) -> None:
    iamd, nginx = fa
    iam: Any = iamd.client("iam")
    alice = user_with_key(iam, "alice", {"Effect": "Allow", "Action": "myapp:GetDocument", "Resource": "*"})
    bob = user_with_key(iam, "bob")
    iam.tag_user(UserName="alice", Tags=[{"Key": "team", "Value": "docs"}])

    forged = {"X-Iamd-Principal-Arn": "arn:aws:iam::123456789012:root"}
    health = _get(f"{nginx.url}/health", None, extra=forged)
    assert health.status == 200 and json.loads(health.body)["iamd"] == {}  # anonymous: nothing, not even forged

    ok = _get(f"{nginx.url}/documents/42", alice, extra=forged)
    assert ok.status == 200, (ok.body, nginx.error_log())
    seen = json.loads(ok.body)["iamd"]
    assert seen["x-iamd-principal-arn"] == f"arn:aws:iam::{iamd.account_id}:user/alice"  # the forged one is gone
    assert seen["x-iamd-account"] == iamd.account_id
    assert seen["x-iamd-principal-type"] == "IAMUser"
    assert seen["x-iamd-action"] == "myapp:GetDocument"
    assert seen["x-iamd-resource"] == f"arn:aws:myapp:eu-west-1:{iamd.account_id}:document/42"
    assert seen["x-iamd-principal-tags"] == "team=docs"

    assert _get(f"{nginx.url}/documents/42", None).status == 401
    assert _get(f"{nginx.url}/documents/42", (alice[0], "nope" * 10)).status == 401
    assert _get(f"{nginx.url}/documents/42", bob).status == 403
    assert _get(f"{nginx.url}/documents/42", alice, method="PUT").status == 403  # no PutDocument for alice
    assert _get(f"{nginx.url}/elsewhere", alice).status == 403  # no rule


def test_traefik_and_envoy_forms(fa: tuple[Server, Nginx]) -> None:
    iamd, _ = fa
    iam: Any = iamd.client("iam")
    alice = user_with_key(iam, "alice", {"Effect": "Allow", "Action": "myapp:GetDocument", "Resource": "*"})
    original = "https://docs.example/documents/7?rev=2"
    signed = dict(signed_request(original, *alice).headers.items())

    traefik = send(
        f"{iamd.url}/v1/forward-auth",
        "GET",
        None,
        {
            **signed,
            "X-Forwarded-Method": "GET",
            "X-Forwarded-Uri": "/documents/7?rev=2",
            "X-Forwarded-Host": "docs.example",
            "X-Forwarded-Proto": "https",
        },
    )
    assert traefik.status == 200, traefik.headers
    assert _lower(traefik.headers)["x-iamd-principal-arn"] == f"arn:aws:iam::{iamd.account_id}:user/alice"
    assert _lower(traefik.headers)["x-iamd-request-id"]

    envoy = send(f"{iamd.url}/v1/forward-auth/envoy/documents/7?rev=2", "GET", None, {**signed, "Host": "docs.example"})
    assert envoy.status == 200, envoy.headers
    assert _lower(envoy.headers)["x-iamd-resource"] == f"arn:aws:myapp:eu-west-1:{iamd.account_id}:document/7"

    unsigned = send(f"{iamd.url}/v1/forward-auth/envoy/documents/7", "GET", None, {"Host": "docs.example"})
    assert unsigned.status == 401
    assert _lower(unsigned.headers)["www-authenticate"] == "AWS4-HMAC-SHA256"
    assert _lower(unsigned.headers)["x-iamd-error"] == "MissingAuthenticationToken"


def test_forward_auth_is_off_without_rules(iamd: Server, tmp_path: Path) -> None:
    assert send(f"{iamd.url}/v1/forward-auth", "GET", None, {}).status == 404


def test_forward_auth_decisions_are_recorded(fa: tuple[Server, Nginx]) -> None:
    from tests.functional.test_audit_trail import named, wait_for

    iamd, nginx = fa
    iam: Any = iamd.client("iam")
    alice = user_with_key(iam, "alice", {"Effect": "Allow", "Action": "myapp:GetDocument", "Resource": "*"})
    assert _get(f"{nginx.url}/documents/5", alice).status == 200
    assert _get(f"{nginx.url}/documents/5", alice, method="PUT").status == 403
    assert _get(f"{nginx.url}/documents/5", None).status == 401
    records = wait_for(iamd, lambda rs: len(named(rs, "ForwardAuth")) >= 3)
    allowed, denied, unsigned = named(records, "ForwardAuth")[:3]
    assert allowed["requestParameters"]["httpMethod"] == "GET"
    assert allowed["requestParameters"]["httpPath"] == "/documents/5"
    assert allowed["userIdentity"]["arn"].endswith(":user/alice") and "errorCode" not in allowed
    assert denied["errorCode"] == "AccessDenied" and denied["requestParameters"]["action"] == "myapp:PutDocument"
    assert unsigned["errorCode"] == "Unauthenticated" and unsigned["userIdentity"]["type"] == "Unknown"
    assert alice[1] not in json.dumps(records)
