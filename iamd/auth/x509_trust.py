"""Whether a Roles Anywhere signing certificate can authenticate: its own requirements, a path to a trust
anchor, and revocation. Pure: trust anchors and CRLs come in as parsed objects, time as an argument.

What AWS documents for end-entity certificates, checked here with typed errors:

* X.509 v3, ``basicConstraints`` present with ``CA:false``, ``keyUsage`` with ``digitalSignature``;
* within its validity period (and so is every certificate of its path);
* a path through the certificates the client sent (``X-Amz-X509-Chain``) to one of the trust anchors'
  CA certificates, built and checked by ``cryptography.x509.verification`` with the WebPKI rules for
  CAs (``basicConstraints CA:true``, ``keyCertSign``, path length, name chaining, SHA-256 or stronger
  signatures, RSA keys of 2048 bits or more) and no extended-key-usage requirement on the leaf
  (Roles Anywhere asks for none);
* no certificate of the path but the anchor on a CRL its issuer signed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification

from iamd.auth.x509 import (
    MAX_SKEW_SECONDS,
    SERVICE,
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRevoked,
    CertificateUsageInvalid,
    SignatureReplayCache,
    UntrustedCertificate,
    X509Signature,
    check_request_time,
    parse_x509_request,
    verify_signature,
)
from iamd.core.http import HttpRequest

__all__ = [
    "MAX_CHAIN_DEPTH",
    "VerifiedPath",
    "VerifiedX509Request",
    "check_revocation",
    "check_signing_certificate",
    "verify_path",
    "verify_x509_request",
]

MAX_CHAIN_DEPTH = 8
"""Intermediates allowed between the leaf and the anchor (RFC 5280 path length, leaf excluded)."""
MIN_RSA_BITS = 2048
_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


@dataclass(frozen=True, slots=True)
class VerifiedPath:
    """A signing certificate and the validated path to its trust anchor."""

    chain: tuple[x509.Certificate, ...]
    """The leaf first, the trust anchor's CA certificate last."""

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def anchor(self) -> x509.Certificate:
        return self.chain[-1]


@dataclass(frozen=True, slots=True)
class VerifiedX509Request:
    """An X.509-signed request whose signature, time and certificate all passed."""

    signature: X509Signature
    path: VerifiedPath


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number}"


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_validity(cert: x509.Certificate, now: datetime, role: str) -> None:
    if now < cert.not_valid_before_utc:
        raise CertificateNotYetValid(
            f"The {role} '{_subject(cert)}' is not valid before {_stamp(cert.not_valid_before_utc)} "
            f"(now {_stamp(now)}). Check the clocks, or wait until it becomes valid."
        )
    if now > cert.not_valid_after_utc:
        raise CertificateExpired(
            f"The {role} '{_subject(cert)}' expired at {_stamp(cert.not_valid_after_utc)} (now {_stamp(now)}). "
            "Renew the certificate."
        )


def check_signing_certificate(cert: x509.Certificate, now: datetime) -> None:
    """The leaf's own requirements (version, CA flag, key usage, key strength, validity)."""
    if cert.version != x509.Version.v3:
        raise CertificateUsageInvalid("The signing certificate must be an X.509 v3 certificate (this one is v1).")
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise CertificateUsageInvalid(
            "The signing certificate must carry the basicConstraints extension with CA:false."
        ) from None
    if constraints.ca:
        raise CertificateUsageInvalid(
            "The signing certificate is a CA certificate (basicConstraints CA:true): sign with an end-entity "
            "certificate issued by the CA instead."
        )
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or not usage.digital_signature:
        raise CertificateUsageInvalid(
            "The signing certificate's keyUsage must include digitalSignature: issue it with "
            "keyUsage = critical, digitalSignature."
        )
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CertificateUsageInvalid(
                f"The signing certificate's RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} are required."
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _CURVES):
            raise CertificateUsageInvalid(
                f"The signing certificate's EC key is on {key.curve.name}: use P-256, P-384 or P-521."
            )
    else:
        raise CertificateUsageInvalid("The signing certificate's key must be an RSA or an elliptic-curve key.")
    _check_validity(cert, now, "signing certificate")


def _issuer_walk_problem(
    leaf: x509.Certificate, pool: Sequence[x509.Certificate], now: datetime
) -> CertificateExpired | CertificateNotYetValid | None:
    """The first certificate out of its validity period on the issuer-name walk from ``leaf``, if any."""
    current = leaf
    seen: list[x509.Certificate] = [leaf]
    for _ in range(MAX_CHAIN_DEPTH + 1):
        issuers = [c for c in pool if c.subject == current.issuer and c not in seen]
        if not issuers:
            return None
        for issuer in issuers:
            try:
                _check_validity(issuer, now, "CA certificate")
            except (CertificateExpired, CertificateNotYetValid) as problem:
                return problem
        current = issuers[0]
        seen.append(current)
        if current.subject == current.issuer:
            return None
    return None


def verify_path(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    now: datetime,
    crls: Iterable[x509.CertificateRevocationList] = (),
) -> VerifiedPath:
    """Check the leaf, build and validate its path to one of ``anchors``, then check the CRLs."""
    check_signing_certificate(leaf, now)
    if not anchors:
        raise UntrustedCertificate("Untrusted signing certificate: no trust anchor is enabled.")
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(list(anchors)))
        .time(now)
        .max_chain_depth(MAX_CHAIN_DEPTH)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
        .build_client_verifier()
    )
    try:
        chain = tuple(verifier.verify(leaf, list(intermediates)).chain)
    except verification.VerificationError as failure:
        problem = _issuer_walk_problem(leaf, [*intermediates, *anchors], now)
        if problem is not None:
            raise problem from None
        raise UntrustedCertificate(
            f"Untrusted signing certificate: no valid path leads from '{_subject(leaf)}' (issued by "
            f"'{leaf.issuer.rfc4514_string()}') to an enabled trust anchor; send the intermediate CA "
            f"certificates in X-Amz-X509-Chain. ({failure})"
        ) from None
    check_revocation(chain, crls)
    return VerifiedPath(chain=chain)


def check_revocation(chain: Sequence[x509.Certificate], crls: Iterable[x509.CertificateRevocationList]) -> None:
    """Refuse a path where a certificate (the anchor excepted) is listed on a CRL its issuer signed.

    A CRL counts only for the issuer whose name it carries and whose key verifies its signature; CRLs
    are used whatever their nextUpdate (iamd holds what was imported, as AWS does).
    """
    crl_list = list(crls)
    if not crl_list:
        return
    for cert, issuer in itertools.pairwise(chain):
        issuer_key = issuer.public_key()
        if not isinstance(issuer_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            continue
        for crl in crl_list:
            if crl.issuer != cert.issuer or not crl.is_signature_valid(issuer_key):
                continue
            revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if revoked is not None:
                role = "signing certificate" if cert is chain[0] else "CA certificate"
                raise CertificateRevoked(
                    f"The {role} '{_subject(cert)}' (serial {cert.serial_number}) was revoked at "
                    f"{_stamp(revoked.revocation_date_utc)} by a CRL of '{issuer.subject.rfc4514_string()}'."
                )


def verify_x509_request(
    request: HttpRequest,
    anchors: Sequence[x509.Certificate],
    *,
    now: float,
    crls: Iterable[x509.CertificateRevocationList] = (),
    service: str = SERVICE,
    replay_cache: SignatureReplayCache | None = None,
    max_skew_seconds: int = MAX_SKEW_SECONDS,
) -> VerifiedX509Request:
    """Everything CreateSession checks before it looks at profiles and roles, in this order:

    the signing pieces parse, the request time is within the window, the leaf is fit for signing, the
    signature verifies with the leaf's key, a path leads to an anchor, nothing on it is revoked, and (with
    ``replay_cache``) the signature was not used before. ``now`` is epoch seconds.
    """
    signature = parse_x509_request(request, service=service)
    check_request_time(signature, now, max_skew_seconds)
    moment = datetime.fromtimestamp(now, UTC)
    check_signing_certificate(signature.certificate, moment)
    verify_signature(request, signature)
    path = verify_path(signature.certificate, signature.intermediates, anchors, moment, crls)
    if replay_cache is not None:
        replay_cache.check_and_record(signature, now)
    return VerifiedX509Request(signature=signature, path=path)
