"""iamd's Roles Anywhere verifier against signatures made by the real ``iam-rolesanywhere-session`` package.

Two levels: the package's signer (``IAMRolesAnywhereSigner.add_auth``) on a botocore request, verified
directly; and the package's whole session (``IAMRolesAnywhereSession``) calling a local HTTPS stand-in for
CreateSession (tests/support/rolesanywhere_stub.py) that runs iamd's verifier on what arrives.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from botocore.awsrequest import AWSRequest
from iam_rolesanywhere_session import CredentialsRetrievalError, IAMRolesAnywhereSession, IAMRolesAnywhereSigner

from iamd.auth import x509 as sig
from iamd.auth.x509_trust import verify_x509_request
from iamd.core.http import HttpRequest
from tests.support import pki
from tests.support.rolesanywhere_stub import CreateSessionStub, running_stub, tls_files

PROFILE = "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p1"
ROLE = "arn:aws:iam::123456789012:role/workload"
ANCHOR = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/ta1"


def as_http_request(request: AWSRequest) -> HttpRequest:
    _, _, rest = request.url.partition("://")[2].partition("/")
    path, _, query = ("/" + rest).partition("?")
    body = request.body if isinstance(request.body, bytes) else (request.body or b"")
    return HttpRequest(
        method=request.method,
        path=path,
        query_string=query,
        headers=tuple((name.lower(), value) for name, value in request.headers.items()),
        body=body,
    )


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
@pytest.mark.parametrize("with_intermediate", [False, True])
def test_package_signer_verifies(key_type: pki.KeyType, with_intermediate: bool) -> None:
    root = pki.root_ca(key_type=key_type)
    issuer = root.issue_ca("intermediate", key_type=key_type) if with_intermediate else root
    leaf = issuer.issue_leaf("pkg-workload", key_type=key_type)
    signer = IAMRolesAnywhereSigner(
        certificate=leaf.cert_pem(),
        private_key=leaf.key_pem(),
        certificate_chain=leaf.chain_pem() or None,
        region="eu-west-3",
    )
    body = {"durationSeconds": 900, "profileArn": PROFILE, "roleArn": ROLE, "trustAnchorArn": ANCHOR}
    request = AWSRequest(method="POST", url="https://iamd.example:8443/sessions", data=json.dumps(body))
    signer.add_auth(request)
    http_request = as_http_request(request)

    verified = verify_x509_request(http_request, [root.certificate], now=time.time())

    assert verified.signature.algorithm == (sig.ALGORITHM_RSA if key_type == "rsa" else sig.ALGORITHM_ECDSA)
    assert verified.signature.region == "eu-west-3"
    assert verified.path.certificate == leaf.certificate
    assert ("x-amz-x509-chain" in verified.signature.signed_headers) is with_intermediate
    tampered = HttpRequest(
        http_request.method, http_request.path, "", http_request.headers, http_request.body.replace(b"900", b"901")
    )
    with pytest.raises(sig.SignatureMismatch):
        verify_x509_request(tampered, [root.certificate], now=time.time())


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_package_session_gets_credentials_over_https(tmp_path: Path, key_type: pki.KeyType) -> None:
    root = pki.root_ca(key_type=key_type)
    leaf = root.issue_ca("issuing", key_type=key_type).issue_leaf("pkg-session", key_type=key_type)
    cert, key, bundle = tls_files(tmp_path)
    with running_stub(CreateSessionStub(anchors=[root.certificate]), tls=(cert, key)) as stub:
        session = IAMRolesAnywhereSession(
            profile_arn=PROFILE,
            role_arn=ROLE,
            trust_anchor_arn=ANCHOR,
            certificate=leaf.cert_pem(),
            private_key=leaf.key_pem("traditional"),
            certificate_chain=leaf.chain_pem(),
            region="us-east-1",
            endpoint=stub.url.removeprefix("https://"),
            verify=str(bundle),
            session_duration=1800,
        )
        frozen = session.get_refreshable_credentials().get_frozen_credentials()

    assert [a.access_key_id for a in stub.accepted] == [frozen.access_key]
    accepted = stub.accepted[0]
    assert accepted.parameters == {
        "durationSeconds": 1800,
        "profileArn": PROFILE,
        "roleArn": ROLE,
        "trustAnchorArn": ANCHOR,
    }
    assert accepted.verified.path.chain[0] == leaf.certificate
    assert frozen.token.startswith("token-")


def test_package_session_with_an_untrusted_certificate_gets_no_credentials(tmp_path: Path) -> None:
    trusted = pki.root_ca("trusted")
    stranger = pki.root_ca("stranger").issue_leaf("intruder")
    cert, key, bundle = tls_files(tmp_path)
    with running_stub(CreateSessionStub(anchors=[trusted.certificate]), tls=(cert, key)) as stub:
        session = IAMRolesAnywhereSession(
            profile_arn=PROFILE,
            role_arn=ROLE,
            trust_anchor_arn=ANCHOR,
            certificate=stranger.cert_pem(),
            private_key=stranger.key_pem(),
            endpoint=stub.url.removeprefix("https://"),
            verify=str(bundle),
        )
        with pytest.raises(CredentialsRetrievalError) as raised:
            session.get_refreshable_credentials().get_frozen_credentials()
    assert raised.value.status_code == 403
    assert "Untrusted signing certificate" in raised.value.message
    assert stub.accepted == []
