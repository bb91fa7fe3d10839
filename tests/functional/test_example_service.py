"""examples/docs_service.py in front of a real iamd: its handlers ask iamd about every signed request."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from examples.docs_service import DocsService, serve
from iamd.client import AuthorizeClient
from tests.functional.authorize_support import signed_request, user_with_key
from tests.support.server import Server
from tests.support.signing import RawResponse, send


@pytest.fixture
def docs(iamd: Server, iam: Any) -> Iterator[str]:
    key, secret = user_with_key(
        iam,
        "docs-service",
        {"Effect": "Allow", "Action": "iamd:Authorize", "Resource": f"arn:aws:docs:*:{iamd.account_id}:*"},
    )
    app = DocsService(AuthorizeClient(iamd.url, access_key_id=key, secret_access_key=secret), iamd.account_id)
    server = serve(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def call(url: str, creds: tuple[str, str] | None, method: str = "GET", body: bytes = b"") -> RawResponse:
    if creds is None:
        return send(url, method, body or None, {})
    request = signed_request(url, *creds, method=method, body=body, service="docs")
    return send(url, method, body or None, dict(request.headers.items()))


def test_the_example_service_obeys_policies(iamd: Server, iam: Any, docs: str) -> None:
    alice = user_with_key(
        iam,
        "alice",
        {"Effect": "Allow", "Action": ["docs:GetDocument", "docs:ListDocuments"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "docs:PutDocument",
            "Resource": "*",
            "Condition": {"NumericLessThanEquals": {"docs:ContentLength": "100"}},
        },
        {
            "Effect": "Allow",
            "Action": "docs:DeleteDocument",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/owner": "${aws:username}"}},
        },
    )
    bob = user_with_key(
        iam,
        "bob",
        {"Effect": "Allow", "Action": ["docs:GetDocument", "docs:DeleteDocument"], "Resource": "*"},
        {
            "Sid": "OnlyOwners",
            "Effect": "Deny",
            "Action": "docs:DeleteDocument",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:ResourceTag/owner": "${aws:username}"}},
        },
    )
    created = call(f"{docs}/documents/plan", alice, "PUT", b"the plan")
    assert created.status == 201, created.body
    assert json.loads(created.body) == {
        "name": "plan",
        "owner": "alice",
        "writtenBy": f"arn:aws:iam::{iamd.account_id}:user/alice",
    }
    too_big = call(f"{docs}/documents/big", alice, "PUT", b"x" * 101)
    assert too_big.status == 403

    read = call(f"{docs}/documents/plan", bob)
    assert read.status == 200 and json.loads(read.body)["content"] == "the plan"
    listed = call(f"{docs}/documents", bob)
    assert listed.status == 403
    assert "no identity-based policy allows" in json.loads(listed.body)["message"]

    refused = call(f"{docs}/documents/plan", bob, "DELETE")
    assert refused.status == 403
    assert json.loads(refused.body)["why"].startswith("denied by statement `OnlyOwners`")

    assert call(f"{docs}/documents/plan", None).status == 401
    assert call(f"{docs}/documents/plan", (alice[0], "wrong" * 8)).status == 401

    assert call(f"{docs}/documents/plan", alice, "DELETE").status == 200
    assert json.loads(call(f"{docs}/documents", alice).body) == {"documents": []}
