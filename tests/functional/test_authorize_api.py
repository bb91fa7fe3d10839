"""POST /v1/authorize through iamd.client: a resource server asks iamd about requests its clients signed."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from iamd.client import AuthorizeClient, IamdError, RequestParts
from tests.functional.authorize_support import (
    assume,
    parts_of,
    policy,
    service_identity,
    signed_request,
    user_with_key,
)
from tests.support.server import Server

DOC = "arn:aws:myapp:eu-west-1:{account}:document/{name}"
URL = "https://docs.example/documents/42?version=3"
OPENAPI = Path(__file__).resolve().parents[2] / "iamd" / "web" / "openapi" / "authorize.json"


def doc(iamd: Server, name: str = "42") -> str:
    return DOC.format(account=iamd.account_id, name=name)


@pytest.fixture
def client(iamd: Server, iam: Any) -> AuthorizeClient:
    key, secret = service_identity(iam, iamd.account_id)
    return AuthorizeClient(iamd.url, access_key_id=key, secret_access_key=secret)


@pytest.fixture
def alice(iamd: Server, iam: Any) -> tuple[str, str]:
    return user_with_key(
        iam,
        "alice",
        {"Sid": "Read", "Effect": "Allow", "Action": "myapp:GetDocument", "Resource": doc(iamd, "*")},
        {"Sid": "NoSecrets", "Effect": "Deny", "Action": "myapp:*", "Resource": doc(iamd, "secret")},
    )


def ask(client: AuthorizeClient, parts: RequestParts, action: str, resource: str, **kw: Any) -> Any:
    return client.authorize(parts, action, resource, **kw)


def test_allow_names_the_principal_and_the_statement(
    iamd: Server, iam: Any, client: AuthorizeClient, alice: tuple[str, str]
) -> None:
    iam.tag_user(UserName="alice", Tags=[{"Key": "team", "Value": "docs"}])
    result = ask(client, parts_of(signed_request(URL, *alice)), "myapp:GetDocument", doc(iamd))
    assert result.decision == "Allow" and result.allowed and result.authenticated
    assert result.principal is not None
    assert result.principal.arn == f"arn:aws:iam::{iamd.account_id}:user/alice"
    assert result.principal.type == "IAMUser" and result.principal.name == "alice"
    assert result.principal.account_id == iamd.account_id
    assert result.principal.user_id.startswith("AIDA")
    assert dict(result.principal.tags) == {"team": "docs"}
    assert [(s.policy_type, s.sid, s.effect) for s in result.matched_statements] == [("identity", "Read", "Allow")]
    assert result.request_id


def test_explicit_deny_is_explained(iamd: Server, client: AuthorizeClient, alice: tuple[str, str]) -> None:
    result = ask(client, parts_of(signed_request(URL, *alice)), "myapp:GetDocument", doc(iamd, "secret"))
    assert result.decision == "ExplicitDeny" and not result.allowed and result.authenticated
    assert result.denied_by == "identity"
    assert result.message == (
        f"User: arn:aws:iam::{iamd.account_id}:user/alice is not authorized to perform: myapp:GetDocument "
        f"on resource: {doc(iamd, 'secret')} with an explicit deny in an identity-based policy"
    )
    assert result.explanation is not None
    assert result.explanation.startswith("denied by statement `NoSecrets` in identity-based policy")
    assert [s.sid for s in result.matched_statements] == ["NoSecrets"]


def test_implicit_deny(iamd: Server, client: AuthorizeClient, alice: tuple[str, str]) -> None:
    result = ask(client, parts_of(signed_request(URL, *alice, method="DELETE")), "myapp:DeleteDocument", doc(iamd))
    assert result.decision == "ImplicitDeny" and result.denied_by == "identity"
    assert result.matched_statements == ()
    assert "because no identity-based policy allows the myapp:DeleteDocument action" in (result.message or "")
    assert result.explanation == f"denied because no identity-based policy allows myapp:DeleteDocument on {doc(iamd)}"


def test_permissions_boundary_limits(iamd: Server, iam: Any, client: AuthorizeClient) -> None:
    arn = iam.create_policy(
        PolicyName="read-only",
        PolicyDocument=policy({"Effect": "Allow", "Action": "myapp:Get*", "Resource": "*"}),
    )["Policy"]["Arn"]
    bob = user_with_key(iam, "bob", {"Effect": "Allow", "Action": "myapp:*", "Resource": "*"}, boundary=arn)
    put = ask(client, parts_of(signed_request(URL, *bob, method="PUT")), "myapp:PutDocument", doc(iamd))
    assert put.decision == "ImplicitDeny" and put.denied_by == "boundary"
    assert "permissions boundary" in (put.explanation or "")
    get = ask(client, parts_of(signed_request(URL, *bob)), "myapp:GetDocument", doc(iamd))
    assert get.allowed


def test_role_session_with_session_policy(iamd: Server, iam: Any, client: AuthorizeClient) -> None:
    creds = assume(
        iamd,
        iam,
        "Reader",
        {"Effect": "Allow", "Action": "myapp:*", "Resource": "*"},
        RoleSessionName="alice",
        Policy=policy({"Effect": "Allow", "Action": "myapp:GetDocument", "Resource": "*"}),
    )
    session = (creds["AccessKeyId"], creds["SecretAccessKey"])
    token = creds["SessionToken"]
    get = ask(client, parts_of(signed_request(URL, *session, token=token)), "myapp:GetDocument", doc(iamd))
    assert get.allowed
    assert get.principal is not None and get.principal.type == "AssumedRole"
    assert get.principal.arn == f"arn:aws:sts::{iamd.account_id}:assumed-role/Reader/alice"
    assert get.principal.session is not None
    assert get.principal.session.name == "alice"
    assert get.principal.session.issuer == f"arn:aws:iam::{iamd.account_id}:role/Reader"
    assert get.principal.session.expires_at and get.principal.session.issued_at
    put = ask(
        client, parts_of(signed_request(URL, *session, token=token, method="PUT")), "myapp:PutDocument", doc(iamd)
    )
    assert put.decision == "ImplicitDeny" and put.denied_by == "session"


def test_resource_policy_and_other_accounts(iamd: Server, client: AuthorizeClient) -> None:
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    other = json.loads(proc.stdout)
    other_iam = iamd.client("iam", access_key_id=other["AccessKeyId"], secret_access_key=other["SecretAccessKey"])
    carol = user_with_key(other_iam, "carol", {"Effect": "Allow", "Action": "myapp:GetDocument", "Resource": "*"})
    carol_arn = f"arn:aws:iam::{other['AccountId']}:user/carol"
    parts = parts_of(signed_request(URL, *carol))
    alone = ask(client, parts, "myapp:GetDocument", doc(iamd))
    assert alone.decision == "ImplicitDeny"
    assert alone.principal is not None and alone.principal.account_id == other["AccountId"]
    shared = policy(
        {
            "Sid": "Carol",
            "Effect": "Allow",
            "Principal": {"AWS": carol_arn},
            "Action": "myapp:GetDocument",
            "Resource": "*",
        }
    )
    allowed = ask(client, parts, "myapp:GetDocument", doc(iamd), resource_policy=shared)
    assert allowed.allowed
    assert ("resource", "Carol") in {(s.policy_type, s.sid) for s in allowed.matched_statements}
    # The same resource policy cannot stand in for an identity policy the other account does not give.
    denied = ask(client, parts, "myapp:PutDocument", doc(iamd), resource_policy=shared)
    assert not denied.allowed


def test_resource_tags_and_context_keys(iamd: Server, iam: Any, client: AuthorizeClient) -> None:
    dave = user_with_key(
        iam,
        "dave",
        {
            "Effect": "Allow",
            "Action": "myapp:GetDocument",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:ResourceTag/classification": "internal", "myapp:Owner": "${aws:username}"},
                "IpAddress": {"aws:SourceIp": "203.0.113.0/24"},
            },
        },
    )
    parts = parts_of(signed_request(URL, *dave))
    ok = ask(
        client,
        parts,
        "myapp:GetDocument",
        doc(iamd),
        resource_tags={"classification": "internal"},
        context={"myapp:Owner": "dave"},
    )
    assert ok.allowed
    wrong_tag = ask(
        client,
        parts,
        "myapp:GetDocument",
        doc(iamd),
        resource_tags={"classification": "secret"},
        context={"myapp:Owner": "dave"},
    )
    assert not wrong_tag.allowed
    elsewhere = parts_of(signed_request(URL, *dave), source_ip="198.51.100.7")
    far = ask(
        client,
        elsewhere,
        "myapp:GetDocument",
        doc(iamd),
        resource_tags={"classification": "internal"},
        context={"myapp:Owner": "dave"},
    )
    assert not far.allowed
    with pytest.raises(IamdError) as caught:
        ask(client, parts, "myapp:GetDocument", doc(iamd), context={"aws:SourceIp": "203.0.113.1"})
    assert caught.value.code == "ValidationException" and "aws:SourceIp" in caught.value.message


# -- authentication of the forwarded request ------------------------------------------------------------


def test_bad_signatures_are_unauthenticated(iamd: Server, client: AuthorizeClient, alice: tuple[str, str]) -> None:
    key, secret = alice
    wrong = ask(client, parts_of(signed_request(URL, key, "x" * 40)), "myapp:GetDocument", doc(iamd))
    assert wrong.decision == "Unauthenticated" and not wrong.authenticated and wrong.principal is None
    assert wrong.authentication_error == "SignatureDoesNotMatch"

    signed = signed_request(URL, key, secret)
    other_host = parts_of(signed_request("https://other.example/documents/42?version=3", key, secret))
    moved = RequestParts(
        signed.method,
        "/documents/42",
        "version=3",
        [*((k, v) for k, v in other_host.headers if k != "host"), ("host", "docs.example")],
    )
    assert ask(client, moved, "myapp:GetDocument", doc(iamd)).authentication_error == "SignatureDoesNotMatch"

    unknown = ask(client, parts_of(signed_request(URL, "AKIAUNKNOWNKEY000000", secret)), "myapp:GetDocument", doc(iamd))
    assert unknown.authentication_error == "InvalidClientTokenId"

    unsigned = ask(
        client, RequestParts("GET", "/documents/42", headers=[("host", "docs.example")]), "myapp:GetDocument", doc(iamd)
    )
    assert unsigned.authentication_error == "MissingAuthenticationToken"


def test_body_hash_is_checked(iamd: Server, client: AuthorizeClient, alice: tuple[str, str]) -> None:
    body = b'{"title": "draft"}'
    signed = signed_request("https://docs.example/documents", *alice, method="POST", body=body)
    assert ask(client, parts_of(signed, body), "myapp:GetDocument", doc(iamd)).allowed
    tampered = ask(client, parts_of(signed, b'{"title": "other"}'), "myapp:GetDocument", doc(iamd))
    assert tampered.authentication_error == "SignatureDoesNotMatch"


def test_skewed_clock_and_expired_presigned_url(iamd: Server, client: AuthorizeClient, alice: tuple[str, str]) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    old = ask(client, parts_of(signed_request(URL, *alice, when=past)), "myapp:GetDocument", doc(iamd))
    assert old.authentication_error == "SignatureDoesNotMatch"

    fresh = signed_request(URL, *alice, presign_expires=300)
    assert ask(client, parts_of(fresh), "myapp:GetDocument", doc(iamd)).allowed
    stale = signed_request(URL, *alice, presign_expires=60, when=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    expired = ask(client, parts_of(stale), "myapp:GetDocument", doc(iamd))
    assert expired.decision == "Unauthenticated" and expired.authentication_error == "AccessDenied"


# -- the calling service ------------------------------------------------------------------------------------


def test_service_needs_iamd_authorize(iamd: Server, iam: Any, alice: tuple[str, str]) -> None:
    key, secret = user_with_key(iam, "nosy")
    nosy = AuthorizeClient(iamd.url, access_key_id=key, secret_access_key=secret)
    with pytest.raises(IamdError) as caught:
        nosy.authorize(parts_of(signed_request(URL, *alice)), "myapp:GetDocument", doc(iamd))
    assert caught.value.status == 403 and caught.value.code == "AccessDenied"
    assert "iamd:Authorize" in caught.value.message

    key, secret = service_identity(iam, iamd.account_id, "scoped")
    scoped = AuthorizeClient(iamd.url, access_key_id=key, secret_access_key=secret)
    with pytest.raises(IamdError) as elsewhere:
        scoped.authorize(parts_of(signed_request(URL, *alice)), "otherapp:Get", "arn:aws:otherapp:::thing/1")
    assert elsewhere.value.code == "AccessDenied"


def test_service_with_bad_credentials(iamd: Server, alice: tuple[str, str]) -> None:
    bad = AuthorizeClient(iamd.url, access_key_id="AKIANOTAKEY000000000", secret_access_key="x" * 40)
    with pytest.raises(IamdError) as caught:
        bad.authorize(parts_of(signed_request(URL, *alice)), "myapp:GetDocument", doc(iamd))
    assert caught.value.status == 403 and caught.value.code == "InvalidClientTokenId"


def _raw(client: AuthorizeClient, body: bytes) -> tuple[int, dict[str, Any]]:
    status, _, data = client._post("/v1/authorize", body)
    return status, json.loads(data)


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (b"not json", "SerializationException", "not valid JSON"),
        (b"[1, 2]", "SerializationException", "JSON object"),
        (b'{"resource": "*", "consoleSession": "x"}', "ValidationException", "action is required"),
        (b'{"action": "nocolon", "resource": "*", "consoleSession": "x"}', "ValidationException", "action"),
        (b'{"action": "a:B", "resource": "", "consoleSession": "x"}', "ValidationException", "resource"),
        (b'{"action": "a:B", "resource": "*"}', "ValidationException", "exactly one"),
        (b'{"action": "a:B", "resource": "*", "consoleSession": "x", "extra": 1}', "ValidationException", "extra"),
        (b'{"action": 7, "resource": "*", "consoleSession": "x"}', "SerializationException", "action must be a string"),
        (
            b'{"action": "a:B", "resource": "*", "request": {"method": 1, "path": "/", "headers": {}}}',
            "SerializationException",
            "request.method",
        ),
        (
            b'{"action": "a:B", "resource": "*", "request": {"method": "GET", "path": "x", "headers": {}}}',
            "ValidationException",
            "request.path",
        ),
        (
            b'{"action": "a:B", "resource": "*", "request": {"method": "GET", "path": "/", "headers": {"h": [1]}}}',
            "SerializationException",
            "request.headers.h",
        ),
        (
            b'{"action": "a:B", "resource": "*", "resourceAccount": "12", "consoleSession": "x"}',
            "ValidationException",
            "resourceAccount",
        ),
        (
            b'{"action": "a:B", "resource": "*", "consoleSession": "x", "resourcePolicy": "{"}',
            "ValidationException",
            "resourcePolicy",
        ),
    ],
)
def test_malformed_bodies(client: AuthorizeClient, body: bytes, code: str, words: str) -> None:
    status, answer = _raw(client, body)
    assert status == 400, answer
    assert answer["__type"] == code
    assert words in answer["message"]


def test_openapi_document_is_served(iamd: Server) -> None:
    with urllib.request.urlopen(iamd.url + "/v1/openapi.json", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        assert json.loads(resp.read()) == json.loads(OPENAPI.read_text())


def test_temporary_credentials_for_the_service(iamd: Server, iam: Any, alice: tuple[str, str]) -> None:
    creds = assume(
        iamd,
        iam,
        "DocsService",
        {"Effect": "Allow", "Action": "iamd:Authorize", "Resource": "*"},
        RoleSessionName="svc",
    )
    client = AuthorizeClient(
        iamd.url,
        access_key_id=creds["AccessKeyId"],
        secret_access_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
    )
    assert client.authorize(parts_of(signed_request(URL, *alice)), "myapp:GetDocument", doc(iamd)).allowed


def test_console_session(iamd: Server, client: AuthorizeClient) -> None:
    result = client.authorize(None, "myapp:GetDocument", doc(iamd), console_session="not-a-live-session")
    assert result.decision == "Unauthenticated" and result.authentication_error == "InvalidClientTokenId"
