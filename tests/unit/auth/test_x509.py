"""Roles Anywhere request signatures (iamd.auth.x509) and certificate trust (iamd.auth.x509_trust).

Test PKIs (P-256 and RSA-2048 roots, intermediates and leaves) are made per test in memory. Requests are
signed by iamd's own signer here; tests/unit/auth/test_x509_clients.py checks the verifier against the
signatures of the real ``iam-rolesanywhere-session`` package.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from iamd.auth import x509 as sig
from iamd.auth.x509_trust import verify_path, verify_x509_request
from iamd.core.http import HttpRequest
from tests.support import pki

ARN_QUERY = (
    "profileArn=arn%3Aaws%3Arolesanywhere%3Aus-east-1%3A123456789012%3Aprofile%2Fp1"
    "&roleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fworkload"
    "&trustAnchorArn=arn%3Aaws%3Arolesanywhere%3Aus-east-1%3A123456789012%3Atrust-anchor%2Fta1"
)
BODY = json.dumps({"durationSeconds": 3600}).encode()


def signed(
    leaf: pki.Issued,
    *,
    when: dt.datetime | None = None,
    body: bytes = BODY,
    chain: list[x509.Certificate] | None = None,
    extra_headers: tuple[tuple[str, str], ...] = (),
    region: str = "us-east-1",
    service: str = sig.SERVICE,
) -> HttpRequest:
    """A CreateSession request signed by ``leaf`` with iamd's signer, as the web layer hands it on."""
    headers = sig.sign_request(
        method="POST",
        path="/sessions",
        query_string=ARN_QUERY,
        headers=[("Host", "iamd.example:8443"), ("Content-Type", "application/json"), *extra_headers],
        body=body,
        certificate=leaf.certificate,
        private_key=leaf.key,
        region=region,
        when=when or dt.datetime.now(dt.UTC),
        intermediates=leaf.intermediates if chain is None else chain,
        service=service,
    )
    return HttpRequest(
        method="POST",
        path="/sessions",
        query_string=ARN_QUERY,
        headers=tuple((name.lower(), value) for name, value in headers),
        body=body,
    )


def replace_header(request: HttpRequest, name: str, value: str) -> HttpRequest:
    headers = tuple((n, value if n == name else v) for n, v in request.headers)
    return HttpRequest(request.method, request.path, request.query_string, headers, request.body)


def verify(request: HttpRequest, anchors: list[pki.Issued], **options: object) -> object:
    return verify_x509_request(
        request,
        [a.certificate for a in anchors],
        now=options.pop("now", time.time()),
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["ec", "rsa"])
def key_type(request: pytest.FixtureRequest) -> pki.KeyType:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def root(key_type: pki.KeyType) -> pki.Issued:
    return pki.root_ca(key_type=key_type)


@pytest.fixture
def intermediate(root: pki.Issued, key_type: pki.KeyType) -> pki.Issued:
    return root.issue_ca("iamd test intermediate", key_type=key_type)


# --- the happy paths -----------------------------------------------------------------------------------


def test_leaf_signed_by_the_anchor_verifies(root: pki.Issued, key_type: pki.KeyType) -> None:
    leaf = root.issue_leaf("workload-1", key_type=key_type)
    verified = verify_x509_request(signed(leaf), [root.certificate], now=time.time())
    assert verified.signature.certificate == leaf.certificate
    assert verified.path.chain == (leaf.certificate, root.certificate)
    assert verified.signature.algorithm == (sig.ALGORITHM_RSA if key_type == "rsa" else sig.ALGORITHM_ECDSA)
    assert verified.signature.serial_number == leaf.certificate.serial_number


def test_leaf_through_an_intermediate_verifies(root: pki.Issued, intermediate: pki.Issued) -> None:
    leaf = intermediate.issue_leaf("workload-2", key_type="rsa")
    verified = verify_x509_request(signed(leaf), [root.certificate], now=time.time())
    assert verified.path.chain == (leaf.certificate, intermediate.certificate, root.certificate)
    assert verified.path.anchor == root.certificate


def test_an_intermediate_can_itself_be_the_anchor(intermediate: pki.Issued) -> None:
    leaf = intermediate.issue_leaf("workload-3")
    verified = verify_x509_request(signed(leaf, chain=[]), [intermediate.certificate], now=time.time())
    assert verified.path.anchor == intermediate.certificate


def test_the_authorization_header_has_aws_shape(root: pki.Issued) -> None:
    leaf = root.issue_leaf("workload")
    when = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    request = signed(leaf, when=when)
    authorization = request.header("authorization")
    assert authorization is not None
    _, _, rest = authorization.partition(" ")
    credential, signed_headers, signature = rest.split(", ")
    assert credential == f"Credential={leaf.certificate.serial_number}/20240506/us-east-1/rolesanywhere/aws4_request"
    assert signed_headers == "SignedHeaders=content-type;host;x-amz-date;x-amz-x509"
    assert signature.startswith("Signature=") and int(signature[10:], 16) > 0
    assert request.header("x-amz-date") == "20240506T070809Z"
    der = base64.b64decode(request.header("x-amz-x509") or "")
    assert der == leaf.certificate.public_bytes(serialization.Encoding.DER)


def test_string_to_sign_is_the_sigv4_layout(root: pki.Issued) -> None:
    leaf = root.issue_leaf("workload")
    request = signed(leaf, when=dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC))
    parsed = sig.parse_x509_request(request)
    creq = sig.canonical_request(request, parsed)
    assert creq.splitlines()[:3] == ["POST", "/sessions", ARN_QUERY]
    lines = sig.string_to_sign(parsed, creq).decode().split("\n")
    assert lines[:3] == [parsed.algorithm, "20240506T070809Z", "20240506/us-east-1/rolesanywhere/aws4_request"]
    assert len(lines[3]) == 64


def test_the_chain_header_joins_intermediates_with_commas(root: pki.Issued, intermediate: pki.Issued) -> None:
    second = intermediate.issue_ca("second intermediate")
    leaf = second.issue_leaf("deep")
    request = signed(leaf)
    pieces = (request.header("x-amz-x509-chain") or "").split(",")
    assert [x509.load_der_x509_certificate(base64.b64decode(p)) for p in pieces] == [
        second.certificate,
        intermediate.certificate,
    ]
    assert verify_x509_request(request, [root.certificate], now=time.time()).path.chain[-1] == root.certificate


def test_no_extended_key_usage_is_required_of_the_leaf(root: pki.Issued) -> None:
    server_only = root.issue_leaf("tls server cert", extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH])
    assert verify(signed(server_only), [root])


# --- certificates that must not authenticate -----------------------------------------------------------


def test_expired_leaf(root: pki.Issued) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = root.issue_leaf("old", not_before=now - dt.timedelta(days=10), not_after=now - dt.timedelta(days=1))
    with pytest.raises(sig.CertificateExpired, match="expired at"):
        verify(signed(leaf), [root])


def test_leaf_not_yet_valid(root: pki.Issued) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = root.issue_leaf("early", not_before=now + dt.timedelta(days=1), not_after=now + dt.timedelta(days=9))
    with pytest.raises(sig.CertificateNotYetValid, match="not valid before"):
        verify(signed(leaf), [root])


def test_expired_intermediate_is_named(root: pki.Issued) -> None:
    now = dt.datetime.now(dt.UTC)
    stale = root.issue_ca(
        "stale intermediate", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
    )
    leaf = stale.issue_leaf("under stale", not_before=now - dt.timedelta(days=2))
    with pytest.raises(sig.CertificateExpired, match="stale intermediate"):
        verify(signed(leaf), [root])


def test_ca_true_leaf_is_refused(root: pki.Issued) -> None:
    leaf = root.issue_ca("a ca signing requests")
    with pytest.raises(sig.CertificateUsageInvalid, match="CA:true"):
        verify(signed(leaf), [root])


def test_leaf_without_basic_constraints_is_refused(root: pki.Issued) -> None:
    leaf = root.issue_leaf("no bc", basic_constraints=False)
    with pytest.raises(sig.CertificateUsageInvalid, match="basicConstraints"):
        verify(signed(leaf), [root])


def test_leaf_without_digital_signature_is_refused(root: pki.Issued) -> None:
    leaf = root.issue_leaf("encipher only", digital_signature=False)
    with pytest.raises(sig.CertificateUsageInvalid, match="digitalSignature"):
        verify(signed(leaf), [root])


def test_leaf_without_key_usage_is_refused(root: pki.Issued) -> None:
    leaf = root.issue_leaf("no ku", key_usage=False)
    with pytest.raises(sig.CertificateUsageInvalid, match="digitalSignature"):
        verify(signed(leaf), [root])


def test_v1_leaf_is_refused(root: pki.Issued) -> None:
    leaf = root.issue_leaf("version one", version1=True)
    assert leaf.certificate.version == x509.Version.v1
    with pytest.raises(sig.CertificateUsageInvalid, match="v3"):
        verify(signed(leaf), [root])


def test_weak_rsa_key_is_refused(root: pki.Issued) -> None:
    leaf = root.issue_leaf("short key", key_type="rsa", rsa_bits=1024)
    with pytest.raises(sig.CertificateUsageInvalid, match="1024 bits"):
        verify(signed(leaf), [root])


def test_leaf_of_another_ca_is_untrusted(root: pki.Issued, key_type: pki.KeyType) -> None:
    stranger = pki.root_ca("another root", key_type=key_type).issue_leaf("stranger", key_type=key_type)
    with pytest.raises(sig.UntrustedCertificate, match="Untrusted signing certificate"):
        verify(signed(stranger), [root])


def test_missing_intermediate_is_untrusted(root: pki.Issued, intermediate: pki.Issued) -> None:
    leaf = intermediate.issue_leaf("orphan")
    with pytest.raises(sig.UntrustedCertificate, match="X-Amz-X509-Chain"):
        verify(signed(leaf, chain=[]), [root])


def test_wrong_chain_is_untrusted(root: pki.Issued, intermediate: pki.Issued) -> None:
    other = root.issue_ca("other intermediate")
    leaf = intermediate.issue_leaf("mislabelled")
    with pytest.raises(sig.UntrustedCertificate):
        verify(signed(leaf, chain=[other.certificate]), [root])


def test_intermediate_that_is_not_a_ca_breaks_the_path(root: pki.Issued) -> None:
    fake_ca = pki.issue("not a ca", issuer=root, ca=False, key_usage=True)
    leaf = fake_ca.issue_leaf("under a non-CA")
    with pytest.raises(sig.UntrustedCertificate):
        verify(signed(leaf), [root])


def test_no_anchor_at_all_is_untrusted(root: pki.Issued) -> None:
    with pytest.raises(sig.UntrustedCertificate, match="no trust anchor"):
        verify(signed(root.issue_leaf("alone")), [])


def test_revoked_leaf(root: pki.Issued, intermediate: pki.Issued) -> None:
    leaf = intermediate.issue_leaf("revoked")
    crl = intermediate.crl([leaf.certificate.serial_number])
    with pytest.raises(sig.CertificateRevoked, match="signing certificate"):
        verify(signed(leaf), [root], crls=[crl])
    other = intermediate.issue_leaf("still good")
    assert verify(signed(other), [root], crls=[crl])


def test_revoked_intermediate(root: pki.Issued, intermediate: pki.Issued) -> None:
    leaf = intermediate.issue_leaf("under revoked")
    crl = root.crl([intermediate.certificate.serial_number])
    with pytest.raises(sig.CertificateRevoked, match="CA certificate"):
        verify(signed(leaf), [root], crls=[crl])


def test_crl_signed_by_someone_else_is_ignored(root: pki.Issued, intermediate: pki.Issued) -> None:
    leaf = intermediate.issue_leaf("target")
    impostor = pki.issue("iamd test intermediate", ca=True)  # same name, other key
    forged = impostor.crl([leaf.certificate.serial_number])
    assert forged.issuer == intermediate.certificate.subject
    assert verify(signed(leaf), [root], crls=[forged])


# --- requests that must not authenticate ---------------------------------------------------------------


def test_tampered_signature(root: pki.Issued) -> None:
    request = signed(root.issue_leaf("w"))
    authorization = request.header("authorization") or ""
    head, _, hexsig = authorization.rpartition("Signature=")
    flipped = hexsig[:-2] + format(int(hexsig[-2:], 16) ^ 0x01, "02x")
    with pytest.raises(sig.SignatureMismatch, match="does not verify"):
        verify(replace_header(request, "authorization", head + "Signature=" + flipped), [root])


def test_tampered_body(root: pki.Issued) -> None:
    request = signed(root.issue_leaf("w"))
    forged = HttpRequest(
        request.method, request.path, request.query_string, request.headers, b'{"durationSeconds":43200}'
    )
    with pytest.raises(sig.SignatureMismatch):
        verify(forged, [root])


def test_tampered_query(root: pki.Issued) -> None:
    request = signed(root.issue_leaf("w"))
    forged = HttpRequest(
        request.method, request.path, ARN_QUERY.replace("workload", "admin"), request.headers, request.body
    )
    with pytest.raises(sig.SignatureMismatch):
        verify(forged, [root])


def test_signature_by_another_key_for_the_same_certificate(root: pki.Issued) -> None:
    leaf = root.issue_leaf("w")
    thief = pki.issue("w", issuer=root, ca=False)
    request = signed(thief)
    swapped = replace_header(
        request, "x-amz-x509", base64.b64encode(leaf.certificate.public_bytes(serialization.Encoding.DER)).decode()
    )
    swapped = replace_header(
        swapped,
        "authorization",
        (swapped.header("authorization") or "").replace(
            str(thief.certificate.serial_number), str(leaf.certificate.serial_number)
        ),
    )
    with pytest.raises(sig.SignatureMismatch):
        verify(swapped, [root])


def test_request_outside_the_window(root: pki.Issued) -> None:
    leaf = root.issue_leaf("w")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)
    with pytest.raises(sig.RequestTimeOutOfWindow, match="Signature expired"):
        verify(signed(leaf, when=old), [root])
    future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
    with pytest.raises(sig.RequestTimeOutOfWindow, match="not yet current"):
        verify(signed(leaf, when=future), [root])
    inside = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=14)
    assert verify(signed(leaf, when=inside), [root])


def test_scope_date_must_match_x_amz_date(root: pki.Issued) -> None:
    request = signed(root.issue_leaf("w"), when=dt.datetime(2024, 5, 6, 0, 0, 1, tzinfo=dt.UTC))
    forged = replace_header(request, "x-amz-date", "20240505T235959Z")
    with pytest.raises(sig.MalformedX509Request, match="credential scope's date"):
        sig.parse_x509_request(forged)


def test_serial_number_must_be_the_certificates(root: pki.Issued) -> None:
    request = signed(root.issue_leaf("w"))
    authorization = (request.header("authorization") or "").replace("Credential=", "Credential=1", 1)
    with pytest.raises(sig.MalformedX509Request, match="serial number"):
        sig.parse_x509_request(replace_header(request, "authorization", authorization))


def test_algorithm_must_match_the_key(root: pki.Issued, key_type: pki.KeyType) -> None:
    request = signed(root.issue_leaf("w", key_type=key_type))
    good, bad = (
        (sig.ALGORITHM_RSA, sig.ALGORITHM_ECDSA) if key_type == "rsa" else (sig.ALGORITHM_ECDSA, sig.ALGORITHM_RSA)
    )
    authorization = (request.header("authorization") or "").replace(good, bad)
    with pytest.raises(sig.MalformedX509Request, match=f"sign with {good}"):
        sig.parse_x509_request(replace_header(request, "authorization", authorization))


def test_sigv4_hmac_algorithm_is_not_accepted(root: pki.Issued) -> None:
    request = signed(root.issue_leaf("w"))
    authorization = (request.header("authorization") or "").split(" ", 1)[1]
    with pytest.raises(sig.MalformedX509Request, match="Unsupported signing algorithm"):
        sig.parse_x509_request(replace_header(request, "authorization", "AWS4-HMAC-SHA256 " + authorization))


def test_signature_for_another_service_is_refused(root: pki.Issued) -> None:
    request = signed(root.issue_leaf("w"), service="iamd-workload")
    with pytest.raises(sig.MalformedX509Request, match="this endpoint takes signatures for 'rolesanywhere'"):
        sig.parse_x509_request(request)
    assert sig.parse_x509_request(request, service="iamd-workload").service == "iamd-workload"


@pytest.mark.parametrize("missing", ["authorization", "x-amz-date", "x-amz-x509"])
def test_missing_signing_headers(root: pki.Issued, missing: str) -> None:
    request = signed(root.issue_leaf("w"))
    stripped = HttpRequest(
        request.method,
        request.path,
        request.query_string,
        tuple(h for h in request.headers if h[0] != missing),
        request.body,
    )
    with pytest.raises(sig.MalformedX509Request) as raised:
        sig.parse_x509_request(stripped)
    assert raised.value.status == 400 and raised.value.aws_code == "ValidationException"


def test_certificate_headers_must_be_signed(root: pki.Issued, intermediate: pki.Issued) -> None:
    request = signed(intermediate.issue_leaf("w"))
    authorization = (request.header("authorization") or "").replace(";x-amz-x509-chain", "")
    with pytest.raises(sig.MalformedX509Request, match="x-amz-x509-chain"):
        sig.parse_x509_request(replace_header(request, "authorization", authorization))


def test_duplicate_certificate_header_is_refused(root: pki.Issued) -> None:
    request = signed(root.issue_leaf("w"))
    doubled = HttpRequest(
        request.method,
        request.path,
        request.query_string,
        (*request.headers, ("x-amz-x509", request.header("x-amz-x509") or "")),
        request.body,
    )
    with pytest.raises(sig.MalformedX509Request, match="more than once"):
        sig.parse_x509_request(doubled)


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"not a certificate").decode()])
def test_unreadable_certificate(root: pki.Issued, value: str) -> None:
    request = replace_header(signed(root.issue_leaf("w")), "x-amz-x509", value)
    with pytest.raises(sig.MalformedX509Request, match="X-Amz-X509"):
        sig.parse_x509_request(request)


def test_content_sha256_header_must_match_the_body(root: pki.Issued) -> None:
    leaf = root.issue_leaf("w")
    request = signed(leaf, extra_headers=(("X-Amz-Content-SHA256", "0" * 64),))
    with pytest.raises(sig.SignatureMismatch, match="X-Amz-Content-SHA256"):
        verify(request, [root])


def test_replayed_signature_is_refused(root: pki.Issued) -> None:
    cache = sig.SignatureReplayCache()
    request = signed(root.issue_leaf("w"))
    now = time.time()
    verify(request, [root], replay_cache=cache, now=now)
    with pytest.raises(sig.ReplayedRequest, match="already used"):
        verify(request, [root], replay_cache=cache, now=now + 1)
    fresh = signed(root.issue_leaf("w2"))
    assert verify(fresh, [root], replay_cache=cache, now=now + 1)


def test_replay_cache_forgets_closed_windows_and_stays_bounded(root: pki.Issued) -> None:
    cache = sig.SignatureReplayCache(max_entries=2)
    leaf = root.issue_leaf("w")
    now = time.time()
    requests = [signed(leaf, when=dt.datetime.fromtimestamp(now - i, dt.UTC), body=b"%d" % i) for i in range(3)]
    for request in requests:
        cache.check_and_record(sig.parse_x509_request(request), now)
    assert len(cache) == 2
    late = now + sig.MAX_SKEW_SECONDS + 1
    cache.check_and_record(sig.parse_x509_request(requests[2]), late)  # its window has closed


def test_forged_request_does_not_poison_the_replay_cache(root: pki.Issued) -> None:
    cache = sig.SignatureReplayCache()
    request = signed(root.issue_leaf("w"))
    forged = HttpRequest(request.method, request.path, request.query_string, request.headers, b"{}")
    with pytest.raises(sig.SignatureMismatch):
        verify(forged, [root], replay_cache=cache)
    assert len(cache) == 0
    assert verify(request, [root], replay_cache=cache)


def test_verify_path_alone(root: pki.Issued, intermediate: pki.Issued) -> None:
    leaf = intermediate.issue_leaf("direct")
    path = verify_path(leaf.certificate, [intermediate.certificate], [root.certificate], dt.datetime.now(dt.UTC))
    assert path.certificate == leaf.certificate and path.anchor == root.certificate


def test_signer_refuses_a_key_of_another_certificate(root: pki.Issued) -> None:
    leaf = root.issue_leaf("w")
    with pytest.raises(ValueError, match="does not belong"):
        sig.sign_request(
            method="POST",
            path="/sessions",
            query_string="",
            headers=[("Host", "h")],
            body=b"",
            certificate=leaf.certificate,
            private_key=pki.new_key("ec"),
            region="us-east-1",
            when=dt.datetime.now(dt.UTC),
        )


def test_errors_carry_aws_codes() -> None:
    assert sig.UntrustedCertificate("x").aws_code == "AccessDeniedException"
    assert sig.CertificateExpired("x").status == 403
    assert sig.MalformedX509Request("x").status == 400
