"""The authorization API client against a stub server that checks its SigV4 signature with iamd's own verifier."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from iamd.auth.sigv4 import SigV4Verifier
from iamd.client import EMPTY_SHA256, AuthorizeClient, IamdError, RequestParts
from iamd.core.clock import SystemClock
from iamd.core.errors import AwsError
from iamd.core.http import HttpRequest

KEY = "AKIASERVICEEXAMPLE01"
SECRET = "servicesecretservicesecretservicesecret0"
OPENAPI = Path(__file__).resolve().parents[2] / "iamd" / "web" / "openapi" / "authorize.json"

ALLOW = {
    "decision": "Allow",
    "allowed": True,
    "authenticated": True,
    "principal": {
        "arn": "arn:aws:sts::123456789012:assumed-role/Reader/alice",
        "accountId": "123456789012",
        "type": "AssumedRole",
        "userId": "AROAEXAMPLE:alice",
        "name": "Reader",
        "tags": {"team": "docs"},
        "session": {"name": "alice", "issuer": "arn:aws:iam::123456789012:role/Reader", "mfaAuthenticated": True},
    },
    "matchedStatements": [
        {
            "policyType": "identity",
            "policyId": "arn:aws:iam::123456789012:policy/Read",
            "sid": "Read",
            "statementIndex": 0,
            "effect": "Allow",
        }
    ],
    "requestId": "req-allow",
}


class _Stub(BaseHTTPRequestHandler):
    """Checks the call's signature like iamd does, then answers what the test queued."""

    protocol_version = "HTTP/1.1"
    answers: list[tuple[int, dict[str, Any]]] = []
    received: list[dict[str, Any]] = []
    verifier = SigV4Verifier(SystemClock())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        path, _, query = self.path.partition("?")
        request = HttpRequest(
            method="POST",
            path=path,
            query_string=query,
            headers=tuple((k.lower(), v) for k, v in self.headers.items()),
            body=body,
        )
        try:
            info = self.verifier.parse(request)
            assert info is not None, "unsigned"
            assert (info.access_key_id, info.service) == (KEY, "iamd")
            self.verifier.verify(request, info, SECRET)
            status, answer = self.answers.pop(0)
            self.received.append(
                {"path": path, "body": json.loads(body), "region": info.region, "token": info.security_token}
            )
        except AwsError as err:
            status, answer = err.status, {"__type": err.code, "message": err.message}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-RequestId", "stub-request")
        if status != 200:
            self.send_header("x-amzn-ErrorType", str(answer.get("__type")))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    _Stub.answers = []
    _Stub.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


RECEIVED = RequestParts.from_body(
    "GET",
    "/documents/42",
    "version=3",
    [("Host", "docs.example"), ("X-Amz-Date", "20260115T080000Z"), ("X-Custom", "a"), ("x-custom", "b")],
    b"",
    source_ip="203.0.113.9",
)


def test_an_allow_with_the_principal(stub: str) -> None:
    _Stub.answers.append((200, ALLOW))
    client = AuthorizeClient(stub, access_key_id=KEY, secret_access_key=SECRET, region="eu-west-1")
    result = client.authorize(
        RECEIVED,
        "myapp:GetDocument",
        "arn:aws:myapp:eu-west-1:123456789012:document/42",
        resource_tags={"classification": "internal"},
        context={"myapp:Owner": "alice", "aws:SourceVpc": ("vpc-1",)},
        resource_policy='{"Version":"2012-10-17","Statement":[]}',
    )
    assert result.allowed and result.authenticated and result.decision == "Allow"
    assert result.principal is not None and result.principal.arn.endswith("assumed-role/Reader/alice")
    assert result.principal.session is not None and result.principal.session.mfa_authenticated
    assert result.principal.tags == {"team": "docs"}
    assert [s.sid for s in result.matched_statements] == ["Read"]
    assert result.request_id == "req-allow"
    sent = _Stub.received[0]
    assert sent["path"] == "/v1/authorize" and sent["region"] == "eu-west-1"
    assert sent["body"] == {
        "action": "myapp:GetDocument",
        "resource": "arn:aws:myapp:eu-west-1:123456789012:document/42",
        "request": {
            "method": "GET",
            "path": "/documents/42",
            "query": "version=3",
            "headers": {"host": "docs.example", "x-amz-date": "20260115T080000Z", "x-custom": ["a", "b"]},
            "bodySha256": EMPTY_SHA256,
            "sourceIp": "203.0.113.9",
            "secureTransport": True,
        },
        "resourcePolicy": '{"Version":"2012-10-17","Statement":[]}',
        "resourceTags": {"classification": "internal"},
        "context": {"myapp:Owner": "alice", "aws:SourceVpc": ["vpc-1"]},
    }


def test_a_denial_and_an_unauthenticated_request(stub: str) -> None:
    _Stub.answers.append(
        (
            200,
            {
                "decision": "ExplicitDeny",
                "allowed": False,
                "authenticated": True,
                "matchedStatements": [
                    {
                        "policyType": "scp",
                        "policyId": "p-1",
                        "sid": "DenyProd",
                        "statementIndex": 0,
                        "effect": "Deny",
                        "level": 1,
                        "attachedTo": "ou-prod",
                    }
                ],
                "denial": {
                    "deniedBy": "scp",
                    "message": "User: x is not authorized",
                    "explanation": "denied by statement `DenyProd` in SCP `guardrails`",
                },
                "requestId": "r2",
            },
        )
    )
    _Stub.answers.append(
        (
            200,
            {
                "decision": "Unauthenticated",
                "allowed": False,
                "authenticated": False,
                "matchedStatements": [],
                "authenticationError": {"__type": "SignatureDoesNotMatch", "message": "..."},
                "requestId": "r3",
            },
        )
    )
    client = AuthorizeClient(stub, access_key_id=KEY, secret_access_key=SECRET)
    denied = client.authorize(RECEIVED, "myapp:GetDocument", "*")
    assert not denied.allowed and denied.denied_by == "scp"
    assert denied.explanation == "denied by statement `DenyProd` in SCP `guardrails`"
    assert denied.matched_statements[0].attached_to == "ou-prod"
    unsigned = client.authorize(RECEIVED, "myapp:GetDocument", "*")
    assert not unsigned.authenticated and unsigned.authentication_error == "SignatureDoesNotMatch"


def test_console_sessions_and_temporary_credentials(stub: str) -> None:
    _Stub.answers.append((200, ALLOW))
    client = AuthorizeClient(stub, access_key_id=KEY, secret_access_key=SECRET, session_token="IQtoken")
    client.authorize(None, "myapp:GetDocument", "*", console_session="cookie-value", resource_account="123456789012")
    sent = _Stub.received[0]
    assert sent["token"] == "IQtoken"
    assert sent["body"] == {
        "action": "myapp:GetDocument",
        "resource": "*",
        "consoleSession": "cookie-value",
        "resourceAccount": "123456789012",
    }
    with pytest.raises(ValueError, match="either"):
        client.authorize(None, "a:b", "*")
    with pytest.raises(ValueError, match="either"):
        client.authorize(RECEIVED, "a:b", "*", console_session="c")


def test_errors_of_the_call_are_raised_with_their_code(stub: str) -> None:
    _Stub.answers.append(
        (403, {"__type": "AccessDenied", "message": "User: svc is not authorized to perform: iamd:Authorize"})
    )
    client = AuthorizeClient(stub, access_key_id=KEY, secret_access_key=SECRET)
    with pytest.raises(IamdError) as info:
        client.authorize(RECEIVED, "a:b", "*")
    assert (info.value.status, info.value.code, info.value.request_id) == (403, "AccessDenied", "stub-request")
    wrong = AuthorizeClient(stub, access_key_id=KEY, secret_access_key="not-the-secret-not-the-secret-not-the-se")
    with pytest.raises(IamdError) as bad:
        wrong.authorize(RECEIVED, "a:b", "*")
    assert bad.value.code == "SignatureDoesNotMatch"


def test_one_connection_is_reused(stub: str) -> None:
    client = AuthorizeClient(stub, access_key_id=KEY, secret_access_key=SECRET)
    for _ in range(3):
        _Stub.answers.append((200, ALLOW))
        assert client.authorize(RECEIVED, "a:b", "*").allowed
    client.close()
    _Stub.answers.append((200, ALLOW))
    assert client.authorize(RECEIVED, "a:b", "*").allowed


def test_request_parts_from_wsgi_and_asgi() -> None:
    wsgi = RequestParts.from_wsgi(
        {
            "REQUEST_METHOD": "POST",
            "RAW_URI": "/a%20b?x=1",
            "HTTP_HOST": "docs.example",
            "HTTP_X_AMZ_DATE": "20260115T080000Z",
            "CONTENT_TYPE": "application/json",
            "REMOTE_ADDR": "192.0.2.1",
            "wsgi.url_scheme": "https",
        },
        b"{}",
    )
    assert (wsgi.method, wsgi.path, wsgi.query, wsgi.source_ip, wsgi.secure_transport) == (
        "POST",
        "/a%20b",
        "x=1",
        "192.0.2.1",
        True,
    )
    assert ("x-amz-date", "20260115T080000Z") in wsgi.headers and ("content-type", "application/json") in wsgi.headers
    assert wsgi.body_sha256 == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    plain = RequestParts.from_wsgi({"REQUEST_METHOD": "GET", "PATH_INFO": "/a b", "QUERY_STRING": "q=1"})
    assert (plain.path, plain.query, plain.secure_transport) == ("/a%20b", "q=1", False)
    asgi = RequestParts.from_asgi(
        {
            "method": "GET",
            "raw_path": b"/d%2F1",
            "path": "/d/1",
            "query_string": b"a=1",
            "headers": [(b"Host", b"x")],
            "client": ("10.0.0.1", 5),
            "scheme": "http",
        }
    )
    assert (asgi.path, asgi.query, asgi.headers, asgi.source_ip, asgi.body_sha256) == (
        "/d%2F1",
        "a=1",
        (("host", "x"),),
        "10.0.0.1",
        EMPTY_SHA256,
    )


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        AuthorizeClient("iamd.internal", access_key_id=KEY, secret_access_key=SECRET)
    with pytest.raises(ValueError, match="credentials"):
        AuthorizeClient("https://iamd.internal")


def test_the_client_and_the_openapi_document_agree() -> None:
    spec = json.loads(OPENAPI.read_text())
    assert spec["openapi"].startswith("3.1")
    operation = spec["paths"]["/v1/authorize"]["post"]
    schemas = spec["components"]["schemas"]
    request_fields = set(schemas["AuthorizeRequest"]["properties"])
    assert request_fields == {
        "request",
        "consoleSession",
        "action",
        "resource",
        "resourceAccount",
        "resourcePolicy",
        "resourcePolicyRequired",
        "resourceTags",
        "context",
    }
    assert set(RECEIVED.as_json()) <= set(schemas["ReceivedRequest"]["properties"])
    example = operation["responses"]["200"]["content"]["application/json"]["examples"]["denied"]["value"]
    assert set(example) <= set(schemas["AuthorizeResponse"]["properties"])
    assert set(ALLOW) <= set(schemas["AuthorizeResponse"]["properties"])
    assert set(ALLOW["principal"]) <= set(schemas["Principal"]["properties"])
    assert set(ALLOW["matchedStatements"][0]) <= set(schemas["MatchedStatement"]["properties"])
    assert schemas["AuthorizeResponse"]["properties"]["decision"]["enum"] == [
        "Allow",
        "ExplicitDeny",
        "ImplicitDeny",
        "Unauthenticated",
    ]
    assert {"200", "400", "403", "413", "503"} <= set(operation["responses"])
