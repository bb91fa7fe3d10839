"""Self-contained session tokens for temporary credentials.

A token is ``base64url(b"IQ" | version | key-id(4) | nonce(12) | AES-GCM(zlib(json(claims))))``.
The key id is in the clear so a key ring can hold retired keys; the claims carry everything
needed to authenticate and authorize a request made with the temporary credentials (including
the secret access key the request is signed with), so validation needs no database access and
any node that holds the token keys can serve it.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from iamd.core import counters
from iamd.core.clock import Clock
from iamd.core.crypto import constant_time_equals
from iamd.core.errors import ExpiredToken, InvalidClientTokenId
from iamd.core.principal import Principal, PrincipalKind

_MAGIC = b"IQ"
_VERSION = 1
_AAD = b"iamd-session-token-v1"
_HEADER = len(_MAGIC) + 1 + 4 + 12


@dataclass(frozen=True)
class SessionClaims:
    account_id: str
    access_key_id: str
    secret_access_key: str
    principal_kind: str
    """``assumed-role`` | ``federated-user`` | ``user`` (GetSessionToken) | ``root`` (GetSessionToken)."""
    arn: str
    user_id: str
    """aws:userid: ``AROA…:session``, ``ACCOUNT:name`` for federated users, AIDA… for users."""
    name: str
    issued_at: float
    expires_at: float
    entity_id: str | None = None
    """Role id (assumed-role), user id (user session, federated user's parent), None for root."""
    session_name: str | None = None
    session_policies: tuple[str, ...] = ()
    session_policy_arns: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    mfa_authenticated_at: float | None = None
    chained: bool = False
    source_arn: str | None = None
    """The principal that created the session (for role chaining and auditing)."""
    role_arn: str | None = None
    """Role sessions: the role's ARN with its path (``aws:PrincipalArn``)."""
    federated_context: Mapping[str, str | list[str]] = field(default_factory=dict)
    """Web identity and SAML sessions: the condition keys their requests carry (``PROVIDER:sub``,
    ``saml:sub``, ``aws:FederatedProvider`` ...)."""
    console: bool = False
    """A web console sign-in (never sealed into a token): not subject to GetSessionToken's limits."""
    context: Mapping[str, str] = field(default_factory=dict)
    """Condition keys the issuer attached to every request of the session (workloads:
    ``ec2:SourceInstanceARN``, ``ec2:RoleDelivery``, as EC2 sets them on instance profile credentials)."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = dict(self.tags)
        data["context"] = dict(self.context)
        data["federated_context"] = dict(self.federated_context)
        return {k: v for k, v in data.items() if v not in (None, (), [], {}) and not (k == "console" and not v)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionClaims:
        values = dict(data)
        for key in ("session_policies", "session_policy_arns", "transitive_tag_keys"):
            values[key] = tuple(values.get(key, ()))
        values["tags"] = dict(values.get("tags", {}))
        values["context"] = dict(values.get("context", {}))
        values["federated_context"] = dict(values.get("federated_context", {}))
        values.pop("console", None)  # console claims are never sealed; a token cannot claim to be one
        return cls(**values)


class TokenKeyRing:
    """Token keys: one primary for issuing, every known key for validating."""

    def __init__(self, keys: Mapping[bytes, bytes], primary: bytes) -> None:
        if primary not in keys:
            raise ValueError("primary key id not in the ring")
        self._aead = {kid: AESGCM(key) for kid, key in keys.items()}
        self._primary = primary

    @property
    def primary_id(self) -> bytes:
        return self._primary

    def seal(self, claims: SessionClaims) -> str:
        if claims.console:
            raise ValueError("console claims are never handed out as a token")
        nonce = os.urandom(12)
        payload = zlib.compress(json.dumps(claims.to_json(), separators=(",", ":")).encode(), 6)
        header = _MAGIC + bytes([_VERSION]) + self._primary + nonce
        sealed = self._aead[self._primary].encrypt(nonce, payload, _AAD + header)
        return base64.urlsafe_b64encode(header + sealed).decode().rstrip("=")

    def open(self, token: str) -> SessionClaims:
        """Decrypt and authenticate a token; InvalidClientTokenId for anything not ours or altered."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError as exc:
            raise InvalidClientTokenId() from exc
        if base64.urlsafe_b64encode(raw).decode().rstrip("=") != token:
            raise InvalidClientTokenId()  # only the canonical text of a token is accepted
        if len(raw) < _HEADER + 16 or raw[:2] != _MAGIC or raw[2] != _VERSION:
            raise InvalidClientTokenId()
        aead = self._aead.get(raw[3:7])
        if aead is None:
            raise InvalidClientTokenId()
        header, sealed = raw[:_HEADER], raw[_HEADER:]
        try:
            payload = aead.decrypt(raw[7:_HEADER], sealed, _AAD + header)
            return SessionClaims.from_json(json.loads(zlib.decompress(payload)))
        except Exception as exc:  # InvalidTag, zlib/json errors: not a token of this deployment
            raise InvalidClientTokenId() from exc


_KINDS = {
    "assumed-role": PrincipalKind.ASSUMED_ROLE,
    "federated-user": PrincipalKind.FEDERATED_USER,
    "user": PrincipalKind.USER,
    "root": PrincipalKind.ROOT,
}


def principal_from_claims(claims: SessionClaims) -> Principal:
    """The caller a session token stands for; the claims ride along in ``extra["session"]``."""
    return Principal(
        kind=_KINDS[claims.principal_kind],
        account_id=claims.account_id,
        arn=claims.arn,
        user_id=claims.user_id,
        name=claims.name,
        access_key_id=claims.access_key_id,
        entity_id=claims.entity_id,
        session_name=claims.session_name,
        extra={"session": claims},
    )


def session_of(principal: Principal) -> SessionClaims | None:
    claims = principal.extra.get("session")
    return claims if isinstance(claims, SessionClaims) else None


def validate(ring: TokenKeyRing, token: str | None, access_key_id: str, clock: Clock) -> SessionClaims:
    """The claims of a request's session token, checked against its access key id and the clock."""
    if not token:
        raise InvalidClientTokenId()
    claims = ring.open(token)
    if not constant_time_equals(claims.access_key_id, access_key_id):
        raise InvalidClientTokenId()
    if clock.time() >= claims.expires_at:
        raise ExpiredToken()
    return claims


class TokenCache:
    """Opened tokens by their text, so a busy session is decrypted once, not on every request.

    Expiry and the access key binding are still checked on every request; a token is only
    cached after it opened under a key of the ring, so a tampered token can never hit.
    """

    def __init__(self, max_entries: int = 20_000) -> None:
        self._entries: dict[str, tuple[SessionClaims, Principal]] = {}
        self._max = max_entries

    def clear(self) -> None:
        self._entries = {}

    def resolve(
        self, ring: TokenKeyRing, token: str | None, access_key_id: str, clock: Clock
    ) -> tuple[SessionClaims, Principal]:
        if not token:
            raise InvalidClientTokenId()
        hit = self._entries.get(token)
        counters.count_cache("session_token", hit is not None)
        if hit is None:
            claims = ring.open(token)
            hit = (claims, principal_from_claims(claims))
            if len(self._entries) >= self._max:
                self._entries = {}
            self._entries[token] = hit
        claims = hit[0]
        if not constant_time_equals(claims.access_key_id, access_key_id):
            raise InvalidClientTokenId()
        if clock.time() >= claims.expires_at:
            raise ExpiredToken()
        return hit
