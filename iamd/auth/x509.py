"""IAM Roles Anywhere request signatures: ``AWS4-X509-RSA-SHA256`` and ``AWS4-X509-ECDSA-SHA256``.

A CreateSession request (``POST /sessions``) is signed like SigV4 except for the key and the algorithm,
exactly as AWS's signing helper (``aws_signing_helper/signer.go``) and the ``iam-rolesanywhere-session``
package build it:

* headers ``X-Amz-Date`` (``YYYYMMDDTHHMMSSZ``), ``X-Amz-X509`` (the leaf certificate, base64 of its DER)
  and, when the client has intermediates, ``X-Amz-X509-Chain`` (base64 DER certificates joined by ``,``);
* the canonical request is SigV4's (method, normalised URI, canonical query, canonical headers, signed
  header names, hex SHA-256 of the body); both clients sign every header but ``Authorization``,
  ``User-Agent``, ``Expect`` and ``X-Amzn-Trace-Id``;
* the string to sign is ``ALGORITHM \\n X-Amz-Date \\n <date>/<region>/rolesanywhere/aws4_request \\n
  hex(SHA-256(canonical request))``;
* the signature is the hex of a PKCS#1 v1.5 (RSA) or DER-encoded ECDSA signature over the SHA-256 of the
  string to sign, made with the leaf certificate's private key;
* ``Authorization: ALGORITHM Credential=<leaf serial number, decimal>/<date>/<region>/rolesanywhere/
  aws4_request, SignedHeaders=<names>, Signature=<hex>``.

This module is pure (no I/O): it parses and verifies such requests (signature, the 15-minute request-time
window SigV4 uses, an optional replay cache) and signs them for iamd's own clients. Certificate path
validation and revocation live in :mod:`iamd.auth.x509_trust`, the identity AWS derives from a certificate
(principal tags, session name, source identity) in :mod:`iamd.auth.x509_identity`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from iamd.auth.sigv4 import canonical_query, canonical_uri
from iamd.core.http import HttpRequest

__all__ = [
    "ALGORITHM_ECDSA",
    "ALGORITHM_RSA",
    "MAX_SKEW_SECONDS",
    "SERVICE",
    "CertificateExpired",
    "CertificateNotYetValid",
    "CertificateProblem",
    "CertificateRevoked",
    "CertificateUsageInvalid",
    "MalformedX509Request",
    "ReplayedRequest",
    "RequestTimeOutOfWindow",
    "SignatureMismatch",
    "SignatureReplayCache",
    "SigningKey",
    "UntrustedCertificate",
    "X509AuthError",
    "X509Signature",
    "algorithm_for_key",
    "canonical_request",
    "check_request_time",
    "parse_x509_request",
    "sign_request",
    "string_to_sign",
    "verify_signature",
]

ALGORITHM_RSA = "AWS4-X509-RSA-SHA256"
ALGORITHM_ECDSA = "AWS4-X509-ECDSA-SHA256"
SERVICE = "rolesanywhere"
WORKLOAD_SERVICE = "iamd-workload"
"""The credential scope service of iamd's own workload requests (iamd.services.workloads)."""
"""The credential scope's service for CreateSession (AWS's signing name for Roles Anywhere)."""
TERMINATOR = "aws4_request"
MAX_SKEW_SECONDS = 900
"""A request's ``X-Amz-Date`` may differ from the server's clock by 15 minutes, as with SigV4."""
MAX_CHAIN_CERTIFICATES = 10
"""At most this many certificates in ``X-Amz-X509-Chain`` (a longer chain is refused before parsing)."""

HEADER_DATE = "x-amz-date"
HEADER_X509 = "x-amz-x509"
HEADER_CHAIN = "x-amz-x509-chain"
UNSIGNED_HEADERS = frozenset({"authorization", "user-agent", "expect", "x-amzn-trace-id"})
"""Headers the AWS clients leave out of the signature (the Go helper's and botocore's lists together)."""
_REQUIRED_SIGNED = (HEADER_DATE, HEADER_X509, "host")
_SINGLE_HEADERS = ("authorization", "host", HEADER_DATE, HEADER_X509, HEADER_CHAIN, "x-amz-content-sha256")

_AMZ_DATE_RE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")
_SERIAL_RE = re.compile(r"[0-9]{1,60}")
_REGION_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_HEX_RE = re.compile(r"(?:[0-9a-fA-F]{2}){8,1024}")
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/]+={0,2}")

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
"""A private key that can sign Roles Anywhere requests."""


# --- errors ------------------------------------------------------------------------------------------


class X509AuthError(Exception):
    """A Roles Anywhere request that must get no credentials.

    ``aws_code``/``status`` are what AWS answers (``AccessDeniedException``, 403, unless a subclass says
    otherwise); the message names the problem and, where the caller can act on it, the fix.
    """

    aws_code = "AccessDeniedException"
    status = 403

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedX509Request(X509AuthError):
    """The request is not a well-formed X.509-signed request (missing or unreadable signing pieces)."""

    aws_code = "ValidationException"
    status = 400


class SignatureMismatch(X509AuthError):
    """The signature does not verify with the signing certificate's public key."""


class RequestTimeOutOfWindow(X509AuthError):
    """``X-Amz-Date`` is more than 15 minutes away from the server's clock (the replay window)."""


class ReplayedRequest(X509AuthError):
    """The very same signature was already accepted within its replay window."""


class CertificateProblem(X509AuthError):
    """The signing certificate (or its chain) cannot authenticate anyone."""


class CertificateExpired(CertificateProblem):
    """The signing certificate, or a certificate of its chain, is past its notAfter."""


class CertificateNotYetValid(CertificateProblem):
    """The signing certificate, or a certificate of its chain, is before its notBefore."""


class CertificateRevoked(CertificateProblem):
    """A certificate of the chain is on a CRL of its issuer."""


class UntrustedCertificate(CertificateProblem):
    """No valid path leads from the signing certificate to an enabled trust anchor."""


class CertificateUsageInvalid(CertificateProblem):
    """The signing certificate is not fit for signing requests (v1, a CA, no digitalSignature, weak key)."""


# --- parsing --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class X509Signature:
    """What an X.509-signed request claims, before anything is verified."""

    algorithm: str
    serial_number: int
    """From the credential scope; equal to the leaf certificate's serial number."""
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: bytes
    request_time: datetime
    """From ``X-Amz-Date``, timezone-aware UTC."""
    certificate: x509.Certificate
    """The leaf (signing) certificate from ``X-Amz-X509``."""
    intermediates: tuple[x509.Certificate, ...]
    """The certificates from ``X-Amz-X509-Chain``, in the order sent."""

    @property
    def credential_scope(self) -> str:
        return f"{self.scope_date}/{self.region}/{self.service}/{TERMINATOR}"


def _to_bytes(text: str) -> bytes:
    """The bytes ``text`` was decoded from (latin-1, as the web layer decodes), else its UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _amz_date(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _decode_certificate(text: str, where: str) -> x509.Certificate:
    text = text.strip()
    if not _BASE64_RE.fullmatch(text):
        raise MalformedX509Request(f"The {where} header is not base64: send the certificate's DER, base64-encoded.")
    try:
        return x509.load_der_x509_certificate(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise MalformedX509Request(f"The {where} header does not hold a DER-encoded X.509 certificate.") from None


def algorithm_for_key(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | SigningKey) -> str:
    """The signing algorithm a key of this type uses."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return ALGORITHM_RSA
    return ALGORITHM_ECDSA


def _authorization_parts(authorization: str) -> tuple[str, dict[str, str]]:
    algorithm, _, rest = authorization.strip().partition(" ")
    parts: dict[str, str] = {}
    for piece in rest.split(","):
        piece = piece.strip()
        if not piece:
            continue
        key, eq, value = piece.partition("=")
        if not eq or key in parts:
            raise MalformedX509Request(
                f"The Authorization header must be '{algorithm} Credential=..., SignedHeaders=..., Signature=...': "
                f"'{piece}' is not one of its key=value parameters (or repeats one)."
            )
        parts[key] = value.strip()
    return algorithm, parts


def _check_single_headers(request: HttpRequest) -> None:
    seen: set[str] = set()
    for name, _ in request.headers:
        if name in _SINGLE_HEADERS:
            if name in seen:
                raise MalformedX509Request(f"The request carries the {name} header more than once: send it once.")
            seen.add(name)


def _parse_time(text: str) -> datetime:
    match = _AMZ_DATE_RE.fullmatch(text.strip())
    if match is None:
        raise MalformedX509Request(f"X-Amz-Date must be in ISO 8601 basic format (YYYYMMDDTHHMMSSZ), not '{text}'.")
    year, month, day, hour, minute, second = (int(group) for group in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise MalformedX509Request(f"X-Amz-Date is not a valid date: '{text}'.") from None


def parse_x509_request(request: HttpRequest, *, service: str = SERVICE) -> X509Signature:
    """The signing claims of ``request``; raises MalformedX509Request when they are missing or unreadable.

    ``service`` is the credential scope's service the endpoint expects (``rolesanywhere`` for
    CreateSession): a signature made for another endpoint is refused, so it cannot be replayed here.
    """
    _check_single_headers(request)
    authorization = request.header("authorization")
    if authorization is None:
        raise MalformedX509Request("The request is not signed: the Authorization header is missing.")
    algorithm, parts = _authorization_parts(authorization)
    if algorithm not in (ALGORITHM_RSA, ALGORITHM_ECDSA):
        raise MalformedX509Request(
            f"Unsupported signing algorithm '{algorithm}': use {ALGORITHM_RSA} or {ALGORITHM_ECDSA}."
        )
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not parts.get(name)]
    if missing:
        raise MalformedX509Request("The Authorization header lacks " + ", ".join(missing) + ".")
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != TERMINATOR:
        raise MalformedX509Request(
            f"Credential must be '<certificate serial number>/<YYYYMMDD>/<region>/{service}/{TERMINATOR}', "
            f"not '{parts['Credential']}'."
        )
    serial_text, scope_date, region, scope_service, _ = scope
    if not _SERIAL_RE.fullmatch(serial_text):
        raise MalformedX509Request(
            f"The credential scope must start with the certificate's serial number in decimal, not '{serial_text}'."
        )
    if not _REGION_RE.fullmatch(region):
        raise MalformedX509Request(f"The credential scope names an invalid region: '{region}'.")
    if scope_service != service:
        raise MalformedX509Request(
            f"The credential scope's service is '{scope_service}': this endpoint takes signatures for '{service}'."
        )
    signed = tuple(parts["SignedHeaders"].lower().split(";"))
    for name in signed:
        if not _HEADER_NAME_RE.fullmatch(name):
            raise MalformedX509Request(f"SignedHeaders has an invalid header name: '{name}'.")
    unsigned = [name for name in _REQUIRED_SIGNED if name not in signed]
    if request.header(HEADER_CHAIN) is not None and HEADER_CHAIN not in signed:
        unsigned.append(HEADER_CHAIN)
    if unsigned:
        raise MalformedX509Request("These headers must be signed (listed in SignedHeaders): " + ", ".join(unsigned))
    if not _HEX_RE.fullmatch(parts["Signature"]):
        raise MalformedX509Request("Signature must be the hex encoding of the signature bytes.")
    amz_date = request.header(HEADER_DATE)
    if amz_date is None:
        raise MalformedX509Request("The X-Amz-Date header is missing.")
    request_time = _parse_time(amz_date)
    if _amz_date(request_time)[:8] != scope_date:
        raise MalformedX509Request(
            f"The credential scope's date '{scope_date}' is not the date of X-Amz-Date '{amz_date.strip()}'."
        )
    leaf_text = request.header(HEADER_X509)
    if leaf_text is None:
        raise MalformedX509Request("The X-Amz-X509 header with the signing certificate is missing.")
    leaf = _decode_certificate(leaf_text, "X-Amz-X509")
    intermediates: tuple[x509.Certificate, ...] = ()
    chain_text = request.header(HEADER_CHAIN)
    if chain_text is not None and chain_text.strip():
        pieces = chain_text.split(",")
        if len(pieces) > MAX_CHAIN_CERTIFICATES:
            raise MalformedX509Request(
                f"X-Amz-X509-Chain holds {len(pieces)} certificates; at most {MAX_CHAIN_CERTIFICATES} are accepted."
            )
        intermediates = tuple(_decode_certificate(piece, "X-Amz-X509-Chain") for piece in pieces)
    if int(serial_text) != leaf.serial_number:
        raise MalformedX509Request(
            f"The credential scope names serial number {serial_text}, but the certificate in X-Amz-X509 has "
            f"serial number {leaf.serial_number}."
        )
    key = leaf.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise MalformedX509Request("The signing certificate's key must be an RSA or an elliptic-curve key.")
    if algorithm_for_key(key) != algorithm:
        raise MalformedX509Request(
            f"The signing certificate has {'an RSA' if isinstance(key, rsa.RSAPublicKey) else 'an EC'} key: "
            f"sign with {algorithm_for_key(key)}, not {algorithm}."
        )
    return X509Signature(
        algorithm=algorithm,
        serial_number=leaf.serial_number,
        scope_date=scope_date,
        region=region,
        service=scope_service,
        signed_headers=signed,
        signature=bytes.fromhex(parts["Signature"]),
        request_time=request_time,
        certificate=leaf,
        intermediates=intermediates,
    )


# --- canonical forms ------------------------------------------------------------------------------------


def _payload_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _canonical_request(
    method: str, path: str, query_string: str, headers: Iterable[tuple[str, str]], signed: Sequence[str], body: bytes
) -> str:
    wanted = set(signed)
    values: dict[str, list[str]] = {}
    for name, value in headers:
        if name in wanted:
            values.setdefault(name, []).append(" ".join(value.split()))
    missing = [name for name in signed if name not in values]
    if missing:
        raise MalformedX509Request(f"'{missing[0]}' is named in SignedHeaders but is not in the request.")
    header_lines = "".join(f"{name}:{','.join(values[name])}\n" for name in signed)
    return (
        f"{method}\n{canonical_uri(path)}\n{canonical_query(query_string)}\n"
        f"{header_lines}\n{';'.join(signed)}\n{_payload_hash(body)}"
    )


def canonical_request(request: HttpRequest, signature: X509Signature) -> str:
    """The canonical request of ``request`` over the headers ``signature`` names."""
    return _canonical_request(
        request.method, request.path, request.query_string, request.headers, signature.signed_headers, request.body
    )


def _string_to_sign(algorithm: str, when: datetime, scope: str, creq: str) -> bytes:
    return _to_bytes(f"{algorithm}\n{_amz_date(when)}\n{scope}\n{hashlib.sha256(_to_bytes(creq)).hexdigest()}")


def string_to_sign(signature: X509Signature, creq: str) -> bytes:
    return _string_to_sign(signature.algorithm, signature.request_time, signature.credential_scope, creq)


# --- verification ----------------------------------------------------------------------------------------


def check_request_time(signature: X509Signature, now: float, max_skew_seconds: int = MAX_SKEW_SECONDS) -> None:
    """Refuse a request dated more than ``max_skew_seconds`` before or after ``now`` (epoch seconds)."""
    sent = signature.request_time.timestamp()
    if sent < now - max_skew_seconds:
        raise RequestTimeOutOfWindow(
            f"Signature expired: X-Amz-Date {_amz_date(signature.request_time)} is more than "
            f"{max_skew_seconds // 60} minutes before the server's time {_amz_date(datetime.fromtimestamp(now, UTC))}."
        )
    if sent > now + max_skew_seconds:
        raise RequestTimeOutOfWindow(
            f"Signature not yet current: X-Amz-Date {_amz_date(signature.request_time)} is more than "
            f"{max_skew_seconds // 60} minutes after the server's time {_amz_date(datetime.fromtimestamp(now, UTC))}."
            " Check the client's clock."
        )


def verify_signature(request: HttpRequest, signature: X509Signature) -> None:
    """Check the request's signature with the leaf certificate's public key; SignatureMismatch unless it holds."""
    claimed = request.header("x-amz-content-sha256")
    if claimed is not None and not hmac.compare_digest(claimed.strip().encode(), _payload_hash(request.body).encode()):
        raise SignatureMismatch("The X-Amz-Content-SHA256 header does not match the SHA-256 of the request body.")
    data = string_to_sign(signature, canonical_request(request, signature))
    key = signature.certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature.signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature.signature, data, ec.ECDSA(hashes.SHA256()))
        else:  # parse_x509_request admits only RSA and EC keys
            raise SignatureMismatch("The signing certificate's key type cannot verify signatures.")
    except InvalidSignature:
        raise SignatureMismatch(
            "The request signature does not verify with the public key of the certificate in X-Amz-X509. "
            "Sign with the private key that belongs to that certificate, over the canonical request AWS's "
            "signing process describes."
        ) from None


class SignatureReplayCache:
    """Remembers accepted signatures until their replay window closes; a second use is refused.

    In memory and bounded (``max_entries``; the oldest entries go first when it is full), so it protects
    one server process. RSA PKCS#1 v1.5 signatures are deterministic: two identical requests signed in the
    same second by one RSA key carry the same signature, and the second is refused as a replay.
    """

    def __init__(self, max_skew_seconds: int = MAX_SKEW_SECONDS, max_entries: int = 100_000) -> None:
        self._window = max_skew_seconds
        self._max = max(1, max_entries)
        self._seen: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_record(self, signature: X509Signature, now: float) -> None:
        """Record ``signature`` (accepted at ``now``); ReplayedRequest if it was recorded and is still live."""
        digest = hashlib.sha256(signature.signature).digest()
        closes = signature.request_time.timestamp() + self._window
        with self._lock:
            seen = self._seen
            previous = seen.get(digest)
            if previous is not None and previous >= now:
                raise ReplayedRequest(
                    "This signed request was already used: sign each CreateSession request afresh "
                    "(a new X-Amz-Date and signature)."
                )
            if len(seen) >= self._max:
                for key in [key for key, until in seen.items() if until < now]:
                    del seen[key]
                while len(seen) >= self._max:
                    del seen[next(iter(seen))]
            seen[digest] = closes


# --- signing (iamd's own clients) ----------------------------------------------------------------------


def _certificate_header(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")


def sign_request(
    *,
    method: str,
    path: str,
    query_string: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    certificate: x509.Certificate,
    private_key: SigningKey,
    region: str,
    when: datetime,
    intermediates: Sequence[x509.Certificate] = (),
    service: str = SERVICE,
) -> list[tuple[str, str]]:
    """Sign a request the way AWS's signing helper does; returns ``headers`` plus the signing headers.

    ``headers`` must include ``Host``. Every header but those in UNSIGNED_HEADERS is signed. ``path`` and
    ``query_string`` are as sent (percent-encoded).
    """
    if certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise ValueError("The private key does not belong to the certificate.")
    algorithm = algorithm_for_key(private_key)
    replaced = ("authorization", HEADER_DATE, HEADER_X509, HEADER_CHAIN)
    out = [(name, value) for name, value in headers if name.lower() not in replaced]
    out.append(("X-Amz-Date", _amz_date(when)))
    out.append(("X-Amz-X509", _certificate_header(certificate)))
    if intermediates:
        out.append(("X-Amz-X509-Chain", ",".join(_certificate_header(cert) for cert in intermediates)))
    lowered = [(name.lower(), value) for name, value in out]
    signed = sorted({name for name, _ in lowered if name not in UNSIGNED_HEADERS})
    creq = _canonical_request(method, path, query_string, lowered, signed, body)
    scope = f"{_amz_date(when)[:8]}/{region}/{service}/{TERMINATOR}"
    data = _string_to_sign(algorithm, when, scope, creq)
    if isinstance(private_key, rsa.RSAPrivateKey):
        raw = private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        raw = private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    out.append(
        (
            "Authorization",
            f"{algorithm} Credential={certificate.serial_number}/{scope}, SignedHeaders={';'.join(signed)}, "
            f"Signature={raw.hex()}",
        )
    )
    return out
