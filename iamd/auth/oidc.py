"""Web identity tokens (OpenID Connect ID tokens) for AssumeRoleWithWebIdentity, verified as AWS STS does.

Pure apart from the key source (a :class:`iamd.auth.jwks.JwksCache`, which holds the injected fetcher).

The caller (the STS handler) works in two steps:

1. :func:`provider_url_of` reads the token's ``iss`` *unverified* to find the account's IAM OIDC
   provider (``arn:aws:iam::ACCOUNT:oidc-provider/`` + that URL without ``https://``);
2. :func:`verify_web_identity_token` verifies the token against that provider and returns
   :class:`WebIdentityClaims`: who (``sub``), for which client (``aud``/``azp``), how (``amr``), the
   session tags and source identity the token carries, and the condition keys AWS fills
   (``PROVIDER:sub``, ``PROVIDER:aud``, ``PROVIDER:oaud``, ``PROVIDER:amr``).

Only compact JWS with an asymmetric signature is accepted: RS256/384/512, PS256/384/512 and
ES256/384/512.  ``alg: none``, HMAC (a provider's public keys are no HMAC secret), JWE, unknown
``crit`` extensions, duplicate JSON members and non-canonical base64url are refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from iamd.auth.jwks import KEY_RETRIEVAL_FAILED, Jwk, JwksCache, is_loopback_host
from iamd.core.errors import ExpiredTokenException, InvalidIdentityToken, InvalidInput, LimitExceeded

MIN_TOKEN_LENGTH = 4
MAX_TOKEN_LENGTH = 20000
"""AssumeRoleWithWebIdentity's WebIdentityToken: 4 to 20000 characters (botocore's clientTokenType)."""

TAGS_CLAIM = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM = "https://aws.amazon.com/source_identity"

MAX_SESSION_TAGS = 50
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
_TAG_KEY = re.compile(r"^[\w\s.:/=+\-@]+$")
_TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]*$")
_SOURCE_IDENTITY = re.compile(r"^[\w+=,.@-]{2,64}$")

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_EC_CURVE_OF_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_EC_COORDINATE_BYTES = {"ES256": 32, "ES384": 48, "ES512": 66}
SUPPORTED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)  # fmt: skip

NOT_A_JWT = "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
INCORRECT_AUDIENCE = "Incorrect token audience"


def missing_claim(name: str) -> InvalidIdentityToken:
    return InvalidIdentityToken(f"Missing a required claim: {name}")


# --- the compact JWS --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnverifiedJwt:
    """A token split and decoded, nothing about it verified yet."""

    header: Mapping[str, Any]
    payload: Mapping[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        return str(self.header.get("alg"))

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def _b64url_decode(part: str) -> bytes:
    if not part or not re.fullmatch(r"[A-Za-z0-9_-]+", part) or len(part) % 4 == 1:
        raise InvalidIdentityToken(NOT_A_JWT)
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidIdentityToken(NOT_A_JWT) from exc
    # Only the canonical encoding: no two token texts may carry the same signature check.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != part:
        raise InvalidIdentityToken(NOT_A_JWT)
    return raw


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate member {key!r}")
        out[key] = value
    return out


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidIdentityToken(NOT_A_JWT) from exc
    if not isinstance(data, dict):
        raise InvalidIdentityToken(NOT_A_JWT)
    return data


def parse_token(token: str) -> UnverifiedJwt:
    """Split and decode a compact JWS; InvalidIdentityToken for anything else (JWE, wrong sizes, bad JSON)."""
    if not MIN_TOKEN_LENGTH <= len(token) <= MAX_TOKEN_LENGTH:
        raise InvalidIdentityToken(NOT_A_JWT)
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidIdentityToken(NOT_A_JWT)
    header = _json_object(_b64url_decode(parts[0]))
    payload = _json_object(_b64url_decode(parts[1]))
    signature = _b64url_decode(parts[2])
    return UnverifiedJwt(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def check_header(jwt: UnverifiedJwt) -> None:
    alg = jwt.header.get("alg")
    if not isinstance(alg, str) or alg not in SUPPORTED_ALGORITHMS:
        # "none", HS* (a provider's public key is no shared secret), EdDSA and anything unknown.
        raise InvalidIdentityToken(f"Unsupported token signing algorithm: {alg}")
    if "crit" in jwt.header:
        raise InvalidIdentityToken("The token uses critical header extensions that are not supported")
    if "kid" in jwt.header and not isinstance(jwt.header["kid"], str):
        raise InvalidIdentityToken(NOT_A_JWT)


def _key_fits(jwk: Jwk, alg: str) -> bool:
    if jwk.alg is not None and jwk.alg != alg:
        return False
    if alg.startswith(("RS", "PS")):
        return jwk.kty == "RSA"
    return jwk.kty == "EC" and jwk.crv == _EC_CURVE_OF_ALG[alg]


def signature_valid(jwt: UnverifiedJwt, jwk: Jwk) -> bool:
    """Does ``jwk`` verify the token's signature under its (already checked) ``alg``?"""
    alg = jwt.alg
    if not _key_fits(jwk, alg):
        return False
    digest = _HASHES[alg[2:]]()
    try:
        if isinstance(jwk.key, rsa.RSAPublicKey):
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if alg.startswith("RS")
                else padding.PSS(mgf=padding.MGF1(_HASHES[alg[2:]]()), salt_length=digest.digest_size)
            )
            jwk.key.verify(jwt.signature, jwt.signing_input, pad, digest)
            return True
        size = _EC_COORDINATE_BYTES[alg]
        if len(jwt.signature) != 2 * size:
            return False
        r = int.from_bytes(jwt.signature[:size], "big")
        s = int.from_bytes(jwt.signature[size:], "big")
        jwk.key.verify(encode_dss_signature(r, s), jwt.signing_input, ec.ECDSA(digest))
        return True
    except InvalidSignature:
        return False


# --- provider URLs ----------------------------------------------------------------------------------


def provider_url_of(token: str) -> str:
    """The IAM OIDC provider URL (``host/path``, no scheme) a token claims to come from - unverified.

    AWS looks the provider up by the ``iss`` claim without its ``https://``; a token without ``iss``
    cannot name one.
    """
    iss = parse_token(token).payload.get("iss")
    if not isinstance(iss, str) or not iss:
        raise missing_claim("iss")
    if iss.startswith("http://") and is_loopback_host(urllib.parse.urlsplit(iss).hostname or ""):
        return iss.removeprefix("http://")  # a development issuer; the provider must name it (OidcProvider.issuer)
    return iss.removeprefix("https://")


def issuer_url(provider_url: str) -> str:
    """The ``iss`` a provider's tokens carry: its URL with ``https://`` (IAM stores it without)."""
    if provider_url.startswith(("https://", "http://")):
        return provider_url
    return "https://" + provider_url


# --- IAM OIDC provider rules (CreateOpenIDConnectProvider and friends) ----------------------------------

MAX_PROVIDER_URL_LENGTH = 255
MAX_CLIENT_ID_LENGTH = 255
MAX_CLIENT_IDS = 100
MAX_THUMBPRINTS = 5
_THUMBPRINT = re.compile(r"^[0-9A-Fa-f]{40}$")


def normalize_provider_url(url: str, *, allow_http_loopback: bool = False) -> str:
    """CreateOpenIDConnectProvider's ``Url`` as IAM stores it (``host/path``); InvalidInput if IAM would refuse it.

    The URL must begin with ``https://`` and have a host; per the OIDC standard a path is allowed but no
    query or fragment.  A port is allowed (AWS only says it "should not" have one).  ``http://`` is
    accepted for a loopback host only when the operator allows it (development).
    """
    if not 1 <= len(url) <= MAX_PROVIDER_URL_LENGTH:
        raise InvalidInput(f"The URL must be 1 to {MAX_PROVIDER_URL_LENGTH} characters.")
    parts = urllib.parse.urlsplit(url)
    loopback_http = parts.scheme == "http" and allow_http_loopback and is_loopback_host(parts.hostname or "")
    if parts.scheme != "https" and not loopback_http:
        raise InvalidInput("The URL of an OpenID Connect provider must begin with https://")
    if not parts.hostname or parts.username or parts.password:
        raise InvalidInput("The URL of an OpenID Connect provider must name a host (and no user or password).")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise InvalidInput("The URL of an OpenID Connect provider must not have a query or a fragment.")
    return url.split("://", 1)[1]


def check_client_ids(client_ids: Sequence[str]) -> None:
    if len(client_ids) > MAX_CLIENT_IDS:
        raise LimitExceeded(f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}")
    for client_id in client_ids:
        if not 1 <= len(client_id) <= MAX_CLIENT_ID_LENGTH:
            raise InvalidInput(f"A client ID must be 1 to {MAX_CLIENT_ID_LENGTH} characters.")


def check_thumbprints(thumbprints: Sequence[str]) -> tuple[str, ...]:
    """Thumbprints as IAM keeps them (lower-case hex): 40 hexadecimal characters each, at most five."""
    if len(thumbprints) > MAX_THUMBPRINTS:
        raise LimitExceeded(f"Cannot exceed quota for ThumbprintsPerOpenIdConnectProvider: {MAX_THUMBPRINTS}")
    for thumbprint in thumbprints:
        if not _THUMBPRINT.match(thumbprint):
            raise InvalidInput(f"Thumbprint {thumbprint} must be 40 hexadecimal characters (a SHA-1 fingerprint).")
    return tuple(dict.fromkeys(t.lower() for t in thumbprints))


# --- verification ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OidcProvider:
    """An IAM OIDC provider as the store holds it."""

    url: str
    """Without scheme, exactly as IAM keeps it: ``token.actions.githubusercontent.com``, ``host/path/``."""
    client_ids: tuple[str, ...]
    arn: str = ""
    issuer: str | None = None
    """The ``iss`` its tokens carry when not ``https://`` + url (an ``http://`` loopback issuer in tests)."""

    @property
    def expected_issuer(self) -> str:
        return self.issuer or issuer_url(self.url)


@dataclass(frozen=True)
class VerificationSettings:
    leeway_seconds: int = 60
    """Clock skew allowed on ``exp``, ``nbf`` and ``iat``."""
    max_token_age_seconds: int | None = None
    """Refuse tokens issued longer ago than this (``Token too old``); None: only ``exp`` limits a token."""


@dataclass(frozen=True)
class WebIdentityClaims:
    """What a verified token says, in the shapes STS needs."""

    provider: str
    """The provider URL without scheme: the condition keys' prefix and AssumeRoleWithWebIdentity's ``Provider``."""
    issuer: str
    subject: str
    audience: str
    """``PROVIDER:aud`` and the answer's ``Audience``: ``azp`` when the token has one, else the matching ``aud``."""
    original_audiences: tuple[str, ...]
    """``PROVIDER:oaud``: the token's ``aud`` as issued."""
    authorized_party: str | None
    amr: tuple[str, ...]
    issued_at: int | None
    expires_at: int
    not_before: int | None
    token_id: str | None
    principal_tags: Mapping[str, str] = field(default_factory=dict)
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    """Every claim of the verified payload."""

    def condition_keys(self) -> dict[str, str | list[str]]:
        """The request context keys AWS fills for AssumeRoleWithWebIdentity (trust policy) and the session."""
        keys: dict[str, str | list[str]] = {
            f"{self.provider}:sub": self.subject,
            f"{self.provider}:aud": self.audience,
            f"{self.provider}:oaud": list(self.original_audiences)
            if len(self.original_audiences) > 1
            else self.original_audiences[0],
        }
        if self.amr:
            keys[f"{self.provider}:amr"] = list(self.amr)
        return keys


def _numeric_date(payload: Mapping[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidIdentityToken(f"The {name} claim must be a number of seconds since the epoch")
    return int(value)


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidIdentityToken(f"The {name} claim must be a string or a non-empty array of strings")


def check_times(
    payload: Mapping[str, Any], now: float, settings: VerificationSettings
) -> tuple[int, int | None, int | None]:
    exp = _numeric_date(payload, "exp")
    if exp is None:
        raise missing_claim("exp")
    leeway = settings.leeway_seconds
    current = int(now)
    if current >= exp + leeway:
        raise ExpiredTokenException(
            f"Token expired: current date/time {current} must be before the expiration date/time{exp}"
        )
    nbf = _numeric_date(payload, "nbf")
    if nbf is not None and current + leeway < nbf:
        raise InvalidIdentityToken(
            f"Token is not valid yet: current date/time {current} must be after the not-before date/time {nbf}"
        )
    iat = _numeric_date(payload, "iat")
    if iat is not None and current + leeway < iat:
        raise InvalidIdentityToken(f"Token was issued in the future: issue date/time {iat}")
    if (
        iat is not None
        and settings.max_token_age_seconds is not None
        and current - iat > settings.max_token_age_seconds
    ):
        raise ExpiredTokenException(f"Token too old: {current - iat}")
    return exp, nbf, iat


def match_audience(payload: Mapping[str, Any], client_ids: Sequence[str]) -> tuple[str, tuple[str, ...], str | None]:
    """(the ``:aud`` value, the token's audiences, ``azp``); InvalidIdentityToken unless a client id matches.

    A token is for one of the provider's client ids when its ``aud`` holds one, or - Google's hybrid
    apps - its ``azp`` (the client the token was issued to) is one.  ``PROVIDER:aud`` is then ``azp``
    when the token has one, as AWS documents for ``accounts.google.com:aud``, and ``oaud`` the ``aud``.
    """
    if "aud" not in payload:
        raise missing_claim("aud")
    audiences = _strings(payload["aud"], "aud")
    azp = payload.get("azp")
    if azp is not None and not isinstance(azp, str):
        raise InvalidIdentityToken("The azp claim must be a string")
    allowed = set(client_ids)
    matching = [a for a in audiences if a in allowed]
    if not matching and (azp is None or azp not in allowed):
        raise InvalidIdentityToken(INCORRECT_AUDIENCE)
    return (azp if azp is not None else matching[0]), audiences, azp


def session_tags(payload: Mapping[str, Any]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The ``https://aws.amazon.com/tags`` claim: principal tags (one value each) and transitive tag keys."""
    claim = payload.get(TAGS_CLAIM)
    if claim is None:
        return {}, ()
    if not isinstance(claim, Mapping):
        raise InvalidIdentityToken(f"The {TAGS_CLAIM} claim must be a JSON object")
    unknown = set(claim) - {"principal_tags", "transitive_tag_keys"}
    if unknown:
        raise InvalidIdentityToken(f"The {TAGS_CLAIM} claim has unknown members: {', '.join(sorted(unknown))}")
    raw_tags = claim.get("principal_tags") or {}
    if not isinstance(raw_tags, Mapping):
        raise InvalidIdentityToken("principal_tags must be a JSON object of tag keys to one-value arrays")
    if len(raw_tags) > MAX_SESSION_TAGS:
        raise InvalidIdentityToken(f"A token can carry at most {MAX_SESSION_TAGS} session tags")
    tags: dict[str, str] = {}
    seen: set[str] = set()
    for key, values in raw_tags.items():
        if not (1 <= len(key) <= MAX_TAG_KEY_LENGTH) or not _TAG_KEY.match(key) or key.lower().startswith("aws:"):
            raise InvalidIdentityToken(f"Invalid session tag key: {key}")
        if key.lower() in seen:
            raise InvalidIdentityToken("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        seen.add(key.lower())
        if not isinstance(values, list) or len(values) != 1 or not isinstance(values[0], str):
            raise InvalidIdentityToken(f"Session tag {key} must have exactly one value, as an array of one string")
        value = values[0]
        if len(value) > MAX_TAG_VALUE_LENGTH or not _TAG_VALUE.match(value):
            raise InvalidIdentityToken(f"Invalid value for session tag {key}")
        tags[key] = value
    raw_transitive = claim.get("transitive_tag_keys") or []
    if not isinstance(raw_transitive, list) or not all(isinstance(k, str) for k in raw_transitive):
        raise InvalidIdentityToken("transitive_tag_keys must be an array of tag keys")
    for key in raw_transitive:
        if key.lower() not in seen:
            raise InvalidIdentityToken(f"The transitive tag key {key} is not among the session tags.")
    return tags, tuple(dict.fromkeys(raw_transitive))


def source_identity(payload: Mapping[str, Any]) -> str | None:
    value = payload.get(SOURCE_IDENTITY_CLAIM)
    if value is None:
        return None
    if not isinstance(value, str) or not _SOURCE_IDENTITY.match(value) or value.lower().startswith("aws:"):
        raise InvalidIdentityToken(
            "The source identity must be 2 to 64 characters: letters, digits and _+=,.@- (not starting with aws:)"
        )
    return value


def verify_signature(jwt: UnverifiedJwt, issuer: str, keys: JwksCache) -> None:
    """The token is signed by a key of ``issuer``: found by ``kid`` (an unknown kid refetches the JWKS once)."""
    candidates = keys.keys_for(issuer, jwt.kid)
    if not any(signature_valid(jwt, jwk) for jwk in candidates):
        raise InvalidIdentityToken(KEY_RETRIEVAL_FAILED if not candidates else "Invalid token signature")


def verify_web_identity_token(
    token: str,
    provider: OidcProvider,
    keys: JwksCache,
    now: float,
    settings: VerificationSettings | None = None,
) -> WebIdentityClaims:
    """Verify ``token`` for ``provider`` and return its claims; AWS's errors otherwise.

    Order: structure and algorithm, issuer, signature (so nothing about an unsigned token's claims is
    revealed), then times, audience, subject, tags.
    """
    settings = settings or VerificationSettings()
    jwt = parse_token(token)
    check_header(jwt)
    payload = jwt.payload
    iss = payload.get("iss")
    if not isinstance(iss, str) or not iss:
        raise missing_claim("iss")
    expected = provider.expected_issuer
    if iss != expected:
        raise InvalidIdentityToken(f"Issuer mismatch: the token's issuer is {iss}, the provider's is {expected}")
    verify_signature(jwt, iss, keys)
    exp, nbf, iat = check_times(payload, now, settings)
    audience, audiences, azp = match_audience(payload, provider.client_ids)
    sub = payload.get("sub")
    if sub is None:
        raise missing_claim("sub")
    if not isinstance(sub, str) or not 1 <= len(sub) <= 255:
        raise InvalidIdentityToken("The sub claim must be a string of 1 to 255 characters")
    amr = _strings(payload["amr"], "amr") if payload.get("amr") is not None else ()
    tags, transitive = session_tags(payload)
    jti = payload.get("jti")
    return WebIdentityClaims(
        provider=provider.url,
        issuer=iss,
        subject=sub,
        audience=audience,
        original_audiences=audiences,
        authorized_party=azp,
        amr=amr,
        issued_at=iat,
        expires_at=exp,
        not_before=nbf,
        token_id=jti if isinstance(jti, str) else None,
        principal_tags=tags,
        transitive_tag_keys=transitive,
        source_identity=source_identity(payload),
        claims=dict(payload),
    )
