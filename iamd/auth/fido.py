"""WebAuthn / FIDO2 relying party: a thin, typed wrapper around py_webauthn.

The functions here are pure (no database, no clock, no network): the caller stores challenges and credentials.
Every failure of a ceremony is reported as :class:`FidoError` with a machine-readable ``reason``; no exception
of the underlying library escapes the ceremony functions.

Ceremonies:

* registration: :func:`registration_options` -> browser ``navigator.credentials.create()`` ->
  :func:`verify_registration`;
* authentication: :func:`authentication_options` -> browser ``navigator.credentials.get()`` ->
  :func:`parse_assertion` (to find the stored credential) -> :func:`verify_authentication`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_attestation_object, parse_authentication_credential_json
from webauthn.helpers import parse_registration_credential_json as _parse_registration_json
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import (
    InvalidAttestationObjectStructure,
    InvalidAuthenticatorDataStructure,
    InvalidBackupFlags,
    InvalidCBORData,
    InvalidJSONStructure,
    InvalidPublicKeyStructure,
    UnsupportedAlgorithm,
    UnsupportedEC2Curve,
    UnsupportedPublicKey,
    UnsupportedPublicKeyType,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AttestationFormat,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

REASONS = frozenset(
    {
        "malformed",
        "challenge",
        "origin",
        "rp_id",
        "user_presence",
        "user_verification",
        "signature",
        "counter",
        "attestation",
        "unsupported",
    }
)
"""Every value :attr:`FidoError.reason` can take."""

USER_VERIFICATION_VALUES = ("required", "preferred", "discouraged")
ATTESTATION_VALUES = ("none", "direct")

SUPPORTED_ALGORITHMS: tuple[COSEAlgorithmIdentifier, ...] = (
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
)
"""Offered in this order (ES256 first) and the only ones accepted at registration."""

CERTIFICATE_FORMATS: tuple[str, ...] = ("packed", "fido-u2f", "tpm", "android-key", "android-safetynet", "apple")
"""Attestation statement formats whose certificate chains py_webauthn verifies against root certificates."""

CHALLENGE_BYTES = 32

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----", re.DOTALL)


class FidoError(Exception):
    """A WebAuthn ceremony failed.

    ``reason`` is one of: "malformed", "challenge", "origin", "rp_id", "user_presence", "user_verification",
    "signature", "counter", "attestation", "unsupported".
    """

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown FidoError reason {reason!r}")
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    """The RP ID, a registrable domain suffix of the origins, e.g. ``"localhost"``."""
    rp_name: str
    origins: tuple[str, ...]
    """Accepted ``clientDataJSON.origin`` values, e.g. ``("http://localhost:8080",)``."""
    user_verification: str = "preferred"
    """``"required"`` | ``"preferred"`` | ``"discouraged"``; only ``"required"`` is enforced."""
    attestation: str = "none"
    """``"none"`` | ``"direct"``. With ``"direct"`` and a non-empty trust store, registrations must carry an
    attestation statement chaining to a root of the store."""
    trust_store: Mapping[str, list[bytes]] = field(default_factory=dict, hash=False)
    """Attestation statement format -> PEM root certificates (see :func:`load_trust_store`)."""

    def __post_init__(self) -> None:
        if not self.rp_id:
            raise ValueError("rp_id must not be empty")
        if not self.rp_name:
            raise ValueError("rp_name must not be empty")
        if not self.origins:
            raise ValueError("origins must not be empty")
        if self.user_verification not in USER_VERIFICATION_VALUES:
            raise ValueError(f"user_verification must be one of {USER_VERIFICATION_VALUES}")
        if self.attestation not in ATTESTATION_VALUES:
            raise ValueError(f"attestation must be one of {ATTESTATION_VALUES}")

    @property
    def require_user_verification(self) -> bool:
        return self.user_verification == "required"

    @property
    def enforces_attestation(self) -> bool:
        return self.attestation == "direct" and any(self.trust_store.values())


@dataclass(frozen=True)
class Challenge:
    challenge: bytes
    """The raw random challenge, to be kept by the caller and passed to the matching ``verify_*`` call."""
    options_json: str
    """``PublicKeyCredentialCreationOptionsJSON`` / ``PublicKeyCredentialRequestOptionsJSON`` for the browser."""


@dataclass(frozen=True)
class RegisteredCredential:
    credential_id: bytes
    public_key: bytes
    """COSE_Key bytes, to be stored and handed back to :func:`verify_authentication`."""
    sign_count: int
    aaguid: str
    discoverable: bool
    """``clientExtensionResults.credProps.rk`` when the client reported it, else False."""
    user_verified: bool
    backed_up: bool
    attestation_format: str
    transports: tuple[str, ...]


@dataclass(frozen=True)
class Assertion:
    credential_id: bytes
    user_handle: bytes | None


@dataclass(frozen=True)
class VerifiedAssertion:
    new_sign_count: int
    user_verified: bool
    backed_up: bool


# --- options ----------------------------------------------------------------------------------------------------


def registration_options(
    rp: RelyingParty,
    *,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    exclude_credential_ids: Sequence[bytes],
    timeout_ms: int = 120_000,
) -> Challenge:
    """Options for ``navigator.credentials.create()``: resident key preferred, user verification and attestation
    as configured for ``rp``, the user's existing credentials excluded."""
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.rp_name,
        user_name=user_name,
        user_id=user_handle,
        user_display_name=display_name,
        challenge=challenge,
        timeout=timeout_ms,
        attestation=AttestationConveyancePreference(rp.attestation),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement(rp.user_verification),
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=bytes(cid)) for cid in exclude_credential_ids],
        supported_pub_key_algs=list(SUPPORTED_ALGORITHMS),
    )
    return Challenge(challenge=challenge, options_json=options_to_json(options))


def authentication_options(
    rp: RelyingParty, *, allow_credential_ids: Sequence[bytes] | None, timeout_ms: int = 120_000
) -> Challenge:
    """Options for ``navigator.credentials.get()``. No credential ids (None or empty): empty ``allowCredentials``, so
    the authenticator offers its discoverable credentials (passkey-first sign-in)."""
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=challenge,
        timeout=timeout_ms,
        allow_credentials=[PublicKeyCredentialDescriptor(id=bytes(cid)) for cid in allow_credential_ids or ()],
        user_verification=UserVerificationRequirement(rp.user_verification),
    )
    return Challenge(challenge=challenge, options_json=options_to_json(options))


# --- registration -----------------------------------------------------------------------------------------------


def verify_registration(
    rp: RelyingParty, credential_json: str | Mapping[str, Any], challenge: bytes
) -> RegisteredCredential:
    """Verify the browser's ``PublicKeyCredential`` (``RegistrationResponseJSON``) for ``challenge``."""
    document = _load_json(credential_json)
    try:
        credential = _parse_registration_json(document)
    except Exception as exc:
        raise _malformed(exc) from exc
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
            require_user_presence=True,
            require_user_verification=rp.require_user_verification,
            supported_pub_key_algs=list(SUPPORTED_ALGORITHMS),
            pem_root_certs_bytes_by_fmt=_roots_by_format(rp) if rp.enforces_attestation else None,
        )
    except Exception as exc:
        raise _classify_registration_error(exc) from exc
    fmt = str(verified.fmt.value if isinstance(verified.fmt, AttestationFormat) else verified.fmt)
    if rp.enforces_attestation:
        _require_trusted_attestation(rp, fmt, verified.attestation_object)
    return RegisteredCredential(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        discoverable=_resident_key(document),
        user_verified=verified.user_verified,
        backed_up=verified.credential_backed_up,
        attestation_format=fmt,
        transports=_transports(credential),
    )


def _roots_by_format(rp: RelyingParty) -> dict[AttestationFormat, list[bytes]]:
    roots: dict[AttestationFormat, list[bytes]] = {}
    for fmt, certs in rp.trust_store.items():
        try:
            key = AttestationFormat(fmt)
        except ValueError:
            continue
        if certs:
            roots[key] = list(certs)
    return roots


def _require_trusted_attestation(rp: RelyingParty, fmt: str, attestation_object: bytes) -> None:
    if fmt == AttestationFormat.NONE.value:
        raise FidoError("attestation", "the authenticator provided no attestation but one is required")
    if not rp.trust_store.get(fmt):
        raise FidoError("attestation", f"no trusted roots for attestation format {fmt!r}")
    if fmt == AttestationFormat.PACKED.value:
        # Packed self-attestation (no x5c) is signed by the credential key itself: nothing chains to a root.
        try:
            statement = parse_attestation_object(attestation_object).att_stmt
        except Exception as exc:
            raise FidoError("attestation", "the attestation object could not be re-read") from exc
        if not statement.x5c:
            raise FidoError("attestation", "self attestation does not chain to a trusted root")


def _resident_key(document: Mapping[str, Any]) -> bool:
    extensions = document.get("clientExtensionResults")
    if not isinstance(extensions, Mapping):
        return False
    cred_props = extensions.get("credProps")
    if not isinstance(cred_props, Mapping):
        return False
    rk = cred_props.get("rk")
    return rk if isinstance(rk, bool) else False


def _transports(credential: RegistrationCredential) -> tuple[str, ...]:
    return tuple(str(t.value) for t in credential.response.transports or ())


# --- authentication ---------------------------------------------------------------------------------------------


def parse_assertion(credential_json: str | Mapping[str, Any]) -> Assertion:
    """Decode the credential id and user handle of an ``AuthenticationResponseJSON`` so the caller can find the
    stored credential. Verifies nothing."""
    document = _load_json(credential_json)
    raw_id = document.get("rawId", document.get("id"))
    ident = document.get("id", raw_id)
    if not isinstance(raw_id, str) or not isinstance(ident, str):
        raise FidoError("malformed", "credential has no id")
    credential_id = _b64url_decode(raw_id, "rawId")
    if _b64url_decode(ident, "id") != credential_id:
        raise FidoError("malformed", "id and rawId differ")
    if not credential_id:
        raise FidoError("malformed", "credential id is empty")
    response = document.get("response")
    if not isinstance(response, Mapping):
        raise FidoError("malformed", "credential has no response")
    handle = response.get("userHandle")
    if handle is None:
        return Assertion(credential_id=credential_id, user_handle=None)
    if not isinstance(handle, str):
        raise FidoError("malformed", "userHandle is not a string")
    user_handle = _b64url_decode(handle, "userHandle")
    return Assertion(credential_id=credential_id, user_handle=user_handle or None)


def verify_authentication(
    rp: RelyingParty,
    credential_json: str | Mapping[str, Any],
    challenge: bytes,
    *,
    public_key: bytes,
    current_sign_count: int,
) -> VerifiedAssertion:
    """Verify the browser's ``AuthenticationResponseJSON`` for ``challenge`` against a stored credential.

    The signature counter is checked only once the signature is known to be good, so a forged response is
    reported as "signature" and only a genuine-but-stale counter (a cloned authenticator) as "counter".
    """
    document = _load_json(credential_json)
    try:
        credential: AuthenticationCredential = parse_authentication_credential_json(document)
    except Exception as exc:
        raise _malformed(exc) from exc
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
            credential_public_key=public_key,
            # 0 disables py_webauthn's own counter check, which runs before the signature check.
            credential_current_sign_count=0,
            require_user_verification=rp.require_user_verification,
        )
    except Exception as exc:
        raise _classify_authentication_error(exc) from exc
    new = verified.new_sign_count
    if (new > 0 or current_sign_count > 0) and new <= current_sign_count:
        raise FidoError("counter", f"sign count went from {current_sign_count} to {new} (cloned authenticator?)")
    return VerifiedAssertion(
        new_sign_count=new, user_verified=verified.user_verified, backed_up=verified.credential_backed_up
    )


# --- trust store ------------------------------------------------------------------------------------------------


def load_trust_store(directory: Path) -> dict[str, list[bytes]]:
    """Read every ``*.pem`` under ``directory`` (recursively; a file may hold several certificates) and return the
    certificates as attestation roots for every certificate-based format. Empty dict when there are none.

    Raises ``FileNotFoundError``/``NotADirectoryError`` for a missing directory and ``ValueError`` (naming the
    file) for a certificate that does not parse: a misconfigured trust store must not silently disable
    attestation checks.
    """
    if not directory.exists():
        raise FileNotFoundError(f"attestation trust store {directory} does not exist")
    if not directory.is_dir():
        raise NotADirectoryError(f"attestation trust store {directory} is not a directory")
    roots: list[bytes] = []
    for path in sorted(p for p in directory.rglob("*.pem") if p.is_file()):
        data = path.read_bytes()
        for block in _PEM_CERTIFICATE.findall(data):
            try:
                cert = x509.load_pem_x509_certificate(block)
            except ValueError as exc:
                raise ValueError(f"{path}: invalid certificate: {exc}") from exc
            pem = cert.public_bytes(Encoding.PEM)
            if pem not in roots:
                roots.append(pem)
    if not roots:
        return {}
    return {fmt: list(roots) for fmt in CERTIFICATE_FORMATS}


# --- helpers ----------------------------------------------------------------------------------------------------


def _load_json(credential_json: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(credential_json, str):
        try:
            value = json.loads(credential_json)
        except (ValueError, RecursionError) as exc:
            raise FidoError("malformed", "credential is not valid JSON") from exc
    else:
        value = credential_json
    if not isinstance(value, Mapping):
        raise FidoError("malformed", "credential is not a JSON object")
    return _plain(value)


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``value`` made of plain dicts and lists (py_webauthn checks ``isinstance(..., dict)``)."""

    def convert(item: Any) -> Any:
        if isinstance(item, Mapping):
            return {key: convert(sub) for key, sub in item.items()}
        if isinstance(item, list | tuple):
            return [convert(sub) for sub in item]
        return item

    return {key: convert(sub) for key, sub in value.items()}


def _b64url_decode(value: str, what: str) -> bytes:
    if not _B64URL.fullmatch(value) or len(value) % 4 == 1:
        raise FidoError("malformed", f"{what} is not base64url")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise FidoError("malformed", f"{what} is not base64url") from exc


def _malformed(exc: BaseException) -> FidoError:
    return FidoError("malformed", str(exc) or type(exc).__name__)


_MALFORMED_TYPES: tuple[type[BaseException], ...] = (
    InvalidJSONStructure,
    InvalidCBORData,
    InvalidAuthenticatorDataStructure,
    InvalidAttestationObjectStructure,
    InvalidPublicKeyStructure,
    InvalidBackupFlags,
    KeyError,
    IndexError,
    TypeError,
    binascii.Error,
    UnicodeError,
)
_UNSUPPORTED_TYPES: tuple[type[BaseException], ...] = (
    UnsupportedPublicKeyType,
    UnsupportedAlgorithm,
    UnsupportedEC2Curve,
    UnsupportedPublicKey,
)

# Message prefixes of the exceptions verify_registration_response / verify_authentication_response (py_webauthn
# 3.0.x) raise themselves. Prefixes, not substrings: the attestation format verifiers raise messages that mention
# e.g. "attestationChallenge" or "teeEnforced.origin", which are attestation failures.
_PREFIX_RULES: tuple[tuple[str, str], ...] = (
    ("id and raw_id were not equivalent", "malformed"),
    ("Unexpected credential type", "malformed"),
    ("clientDataJSON was malformed", "malformed"),
    ("attestationObject was malformed", "malformed"),
    ("authenticatorData was malformed", "malformed"),
    ("Could not parse registration credential", "malformed"),
    ("Could not parse authentication credential", "malformed"),
    ("Unexpected client data type", "malformed"),
    ("Unexpected token_binding status", "malformed"),
    ("Authenticator did not provide", "malformed"),
    ("Client data challenge was not expected challenge", "challenge"),
    ("Unexpected client data origin", "origin"),
    ("Unexpected RP ID hash", "rp_id"),
    ("User presence was required", "user_presence"),
    ("User was not present", "user_presence"),
    ("User verification is required", "user_verification"),
    ("Unsupported credential public key alg", "unsupported"),
    ("Unsupported attestation type", "unsupported"),
    ("Response sign count", "counter"),
    ("Could not verify authentication signature", "signature"),
)


def _classify(exc: BaseException, default: str) -> FidoError:
    message = str(exc) or type(exc).__name__
    for prefix, reason in _PREFIX_RULES:
        if message.startswith(prefix):
            return FidoError(reason, message)
    if isinstance(exc, _UNSUPPORTED_TYPES):
        return FidoError("unsupported", message)
    if isinstance(exc, _MALFORMED_TYPES):
        return FidoError("malformed", message)
    return FidoError(default, message)


def _classify_registration_error(exc: BaseException) -> FidoError:
    # Whatever is left once the client data, RP ID, flags and key were accepted comes from the attestation
    # statement verification (format verifiers, certificate chains, a "none" attestation with a statement).
    return _classify(exc, "attestation")


def _classify_authentication_error(exc: BaseException) -> FidoError:
    # InvalidSignature is mapped by py_webauthn; anything else escaping signature verification (e.g. a DER
    # signature that does not parse) is a bad signature too.
    return _classify(exc, "signature")
