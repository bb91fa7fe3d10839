"""The CreateSession client (iamd.helper.session) as the agent's credential source.

CreateSession is the local stand-in of tests/support/rolesanywhere_stub.py, with iamd's verifier inside.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest

from iamd.agent.credentials import CredentialSourceError
from iamd.helper.files import SigningMaterial
from iamd.helper.session import RolesAnywhereClient, SessionRequest, parse_arn_region
from tests.support import pki
from tests.support.rolesanywhere_stub import CreateSessionStub, running_stub

REQUEST = SessionRequest(
    trust_anchor_arn="arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/ta",
    profile_arn="arn:aws:rolesanywhere:us-east-1:123456789012:profile/p",
    role_arn="arn:aws:iam::123456789012:role/app",
    duration_seconds=900,
)


def material(issued: pki.Issued) -> SigningMaterial:
    return SigningMaterial(issued.certificate, issued.key, tuple(issued.intermediates))  # type: ignore[arg-type]


def test_fetch_returns_credentials() -> None:
    root = pki.root_ca()
    with running_stub(CreateSessionStub(anchors=[root.certificate])) as stub:
        creds = RolesAnywhereClient(material(root.issue_leaf("w")), REQUEST, endpoint=stub.url).fetch()
    assert creds.access_key_id == stub.accepted[0].access_key_id
    assert creds.account_id == "123456789012"
    assert creds.role_arn == REQUEST.role_arn
    assert timedelta(seconds=890) < creds.expiration - datetime.now(UTC) <= timedelta(seconds=900)


def test_refusal_is_denied() -> None:
    with running_stub(CreateSessionStub(anchors=[pki.root_ca().certificate])) as stub:
        client = RolesAnywhereClient(material(pki.root_ca("other").issue_leaf("w")), REQUEST, endpoint=stub.url)
        with pytest.raises(CredentialSourceError) as raised:
            client.fetch()
    assert raised.value.denied and raised.value.code == "AccessDeniedException"


def test_outage_is_not_a_refusal() -> None:
    root = pki.root_ca()
    with running_stub(CreateSessionStub(anchors=[root.certificate], outage=True)) as stub:
        client = RolesAnywhereClient(material(root.issue_leaf("w")), REQUEST, endpoint=stub.url)
        with pytest.raises(CredentialSourceError) as raised:
            client.fetch()
    assert not raised.value.denied and raised.value.code == "ServiceUnavailableException"


def test_unreachable_endpoint_is_not_a_refusal() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = pki.root_ca()
    client = RolesAnywhereClient(material(root.issue_leaf("w")), REQUEST, endpoint=f"http://127.0.0.1:{port}")
    with pytest.raises(CredentialSourceError, match="Cannot reach") as raised:
        client.fetch()
    assert not raised.value.denied


def test_default_endpoint_and_arn_checks() -> None:
    assert parse_arn_region(REQUEST.trust_anchor_arn, "trust-anchor") == "us-east-1"
    with pytest.raises(ValueError, match="not a Roles Anywhere profile ARN"):
        parse_arn_region(REQUEST.role_arn, "profile")
    with pytest.raises(ValueError, match="http"):
        RolesAnywhereClient(material(pki.root_ca().issue_leaf("w")), REQUEST, endpoint="ftp://x")
