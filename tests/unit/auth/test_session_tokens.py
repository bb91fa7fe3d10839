from __future__ import annotations

import os

import pytest

from iamd.auth.session_tokens import SessionClaims, TokenCache, TokenKeyRing, principal_from_claims, validate
from iamd.core.clock import FixedClock
from iamd.core.errors import ExpiredToken, InvalidClientTokenId
from iamd.core.principal import PrincipalKind


def claims(**overrides: object) -> SessionClaims:
    values: dict[str, object] = dict(
        account_id="123456789012",
        access_key_id="ASIAAAAAAAAAAAAAAAAA",
        secret_access_key="s" * 40,
        principal_kind="assumed-role",
        arn="arn:aws:sts::123456789012:assumed-role/r/s",
        user_id="AROAAAAAAAAAAAAAAAAAA:s",
        name="r",
        issued_at=1000.0,
        expires_at=2000.0,
        entity_id="AROAAAAAAAAAAAAAAAAAA",
        session_name="s",
        session_policies=('{"Version":"2012-10-17","Statement":[]}',),
        tags={"team": "blue"},
        transitive_tag_keys=("team",),
        source_identity="alice",
        mfa_authenticated_at=990.0,
    )
    values.update(overrides)
    return SessionClaims(**values)  # type: ignore[arg-type]


def ring(key_id: bytes = b"\x00\x00\x00\x01", key: bytes | None = None) -> TokenKeyRing:
    return TokenKeyRing({key_id: key or os.urandom(32)}, key_id)


def test_round_trip_carries_everything() -> None:
    r = ring()
    token = r.seal(claims())
    opened = validate(r, token, "ASIAAAAAAAAAAAAAAAAA", FixedClock(1500))
    assert opened == claims()
    principal = principal_from_claims(opened)
    assert principal.kind is PrincipalKind.ASSUMED_ROLE and principal.entity_id == "AROAAAAAAAAAAAAAAAAAA"
    assert b"alice" not in token.encode() and "s" * 40 not in token


def test_expiry_boundary() -> None:
    r = ring()
    token = r.seal(claims())
    validate(r, token, "ASIAAAAAAAAAAAAAAAAA", FixedClock(1999.9))
    with pytest.raises(ExpiredToken):
        validate(r, token, "ASIAAAAAAAAAAAAAAAAA", FixedClock(2000))


def test_every_changed_character_is_refused() -> None:
    r = ring()
    token = r.seal(claims())
    for i in range(len(token)):
        replacement = "A" if token[i] != "A" else "B"
        tampered = token[:i] + replacement + token[i + 1 :]
        with pytest.raises(InvalidClientTokenId):
            validate(r, tampered, "ASIAAAAAAAAAAAAAAAAA", FixedClock(1500))


def test_wrong_key_id_missing_token_foreign_ring() -> None:
    r = ring()
    token = r.seal(claims())
    with pytest.raises(InvalidClientTokenId):
        validate(r, token, "ASIABBBBBBBBBBBBBBBB", FixedClock(1500))
    with pytest.raises(InvalidClientTokenId):
        validate(r, None, "ASIAAAAAAAAAAAAAAAAA", FixedClock(1500))
    with pytest.raises(InvalidClientTokenId):
        validate(ring(), token, "ASIAAAAAAAAAAAAAAAAA", FixedClock(1500))  # same key id, other key


def test_rotation_keeps_old_tokens() -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    old_ring = TokenKeyRing({b"old1": old_key}, b"old1")
    token = old_ring.seal(claims())
    rotated = TokenKeyRing({b"old1": old_key, b"new1": new_key}, b"new1")
    validate(rotated, token, "ASIAAAAAAAAAAAAAAAAA", FixedClock(1500))
    fresh = rotated.seal(claims())
    with pytest.raises(InvalidClientTokenId):
        validate(old_ring, fresh, "ASIAAAAAAAAAAAAAAAAA", FixedClock(1500))


def test_cache_still_checks_expiry_and_key() -> None:
    r = ring()
    token = r.seal(claims())
    cache = TokenCache()
    cache.resolve(r, token, "ASIAAAAAAAAAAAAAAAAA", FixedClock(1500))
    with pytest.raises(ExpiredToken):
        cache.resolve(r, token, "ASIAAAAAAAAAAAAAAAAA", FixedClock(2500))
    with pytest.raises(InvalidClientTokenId):
        cache.resolve(r, token, "ASIACCCCCCCCCCCCCCCC", FixedClock(1500))


def test_console_claims_are_never_sealed_and_never_read_back() -> None:
    r = ring()
    with pytest.raises(ValueError):
        r.seal(claims(principal_kind="user", console=True))
    assert SessionClaims.from_json({**claims().to_json(), "console": True}).console is False
    assert "console" not in claims().to_json()
