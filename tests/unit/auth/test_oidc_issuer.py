"""Tokens of a real OpenID Connect provider (panva/oidc-provider over HTTPS) verified by iamd/auth/oidc.py.

Discovery and JWKS are fetched over TLS from the running provider with iamd's own fetcher, trusting only
the test CA; key rotation is the provider's own (new keys, same issuer).
"""

from __future__ import annotations

import json
import time

import pytest

from iamd.auth.jwks import HttpsFetcher, JwksCache, JwksSettings
from iamd.auth.oidc import OidcProvider, parse_token, provider_url_of, verify_web_identity_token
from iamd.core.clock import FixedClock, SystemClock
from iamd.core.errors import ExpiredTokenException, InvalidIdentityToken
from tests.support.fixtures_federation import OidcIssuer, oidc_issuer  # noqa: F401
from tests.support.jwt_signer import SigningKey

pytestmark = pytest.mark.slow


def provider_for(issuer: OidcIssuer, *client_ids: str) -> OidcProvider:
    return OidcProvider(url=issuer.provider_url, client_ids=client_ids or ("iamd-client",))


def cache_for(issuer: OidcIssuer, **settings: float) -> JwksCache:
    return JwksCache(HttpsFetcher(ca_file=issuer.tls.ca_file), SystemClock(), JwksSettings(**settings))


def test_discovery_document_is_the_providers(oidc_issuer: OidcIssuer) -> None:  # noqa: F811
    config = json.loads(oidc_issuer.get("/.well-known/openid-configuration"))
    assert config["issuer"] == oidc_issuer.issuer
    assert config["jwks_uri"] == f"{oidc_issuer.issuer}/jwks"


@pytest.mark.parametrize(("client_id", "alg"), [("iamd-client", "RS256"), ("iamd-ec", "ES256")])
def test_a_minted_id_token_verifies_over_real_discovery_and_jwks(
    oidc_issuer: OidcIssuer,  # noqa: F811
    client_id: str,
    alg: str,
) -> None:
    client = next(c for c in oidc_issuer.clients if c.client_id == client_id)
    tags = {"principal_tags": {"Team": ["blue"]}, "transitive_tag_keys": ["Team"]}
    token = oidc_issuer.mint(
        "alice", client=client, claims={"amr": ["pwd", "mfa"], "https://aws.amazon.com/tags": tags}
    )
    assert parse_token(token).alg == alg
    assert provider_url_of(token) == oidc_issuer.provider_url
    cache = cache_for(oidc_issuer)
    result = verify_web_identity_token(token, provider_for(oidc_issuer, client_id), cache, time.time())
    assert (result.subject, result.audience, result.issuer) == ("alice", client_id, oidc_issuer.issuer)
    assert result.principal_tags == {"Team": "blue"}
    assert result.transitive_tag_keys == ("Team",)
    assert result.condition_keys()[f"{oidc_issuer.provider_url}:amr"] == ["pwd", "mfa"]
    assert cache.fetch_count == 2


def test_a_token_for_another_client_is_incorrect_audience(oidc_issuer: OidcIssuer) -> None:  # noqa: F811
    token = oidc_issuer.mint("alice", client=oidc_issuer.clients[1])
    with pytest.raises(InvalidIdentityToken, match="Incorrect token audience"):
        verify_web_identity_token(token, provider_for(oidc_issuer, "iamd-client"), cache_for(oidc_issuer), time.time())


def test_a_provider_token_expires(oidc_issuer: OidcIssuer) -> None:  # noqa: F811
    token = oidc_issuer.mint("alice", ttl=60)
    exp = parse_token(token).payload["exp"]
    cache = JwksCache(HttpsFetcher(ca_file=oidc_issuer.tls.ca_file), FixedClock(exp + 61))
    with pytest.raises(ExpiredTokenException, match="Token expired"):
        verify_web_identity_token(token, provider_for(oidc_issuer), cache, exp + 61)


def test_the_providers_certificate_must_be_trusted(oidc_issuer: OidcIssuer) -> None:  # noqa: F811
    token = oidc_issuer.mint("alice")
    untrusting = JwksCache(HttpsFetcher(), SystemClock())
    with pytest.raises(InvalidIdentityToken, match="Couldn't retrieve verification key"):
        verify_web_identity_token(token, provider_for(oidc_issuer), untrusting, time.time())


def test_key_rotation_is_followed_by_one_refetch(oidc_issuer: OidcIssuer) -> None:  # noqa: F811
    provider = provider_for(oidc_issuer)
    clock = FixedClock(time.time())
    cache = JwksCache(HttpsFetcher(ca_file=oidc_issuer.tls.ca_file), clock, JwksSettings(refresh_interval_seconds=60))
    old_keys = list(oidc_issuer.keys)
    before = oidc_issuer.mint("alice")
    verify_web_identity_token(before, provider, cache, clock.time())
    assert cache.fetch_count == 2
    try:
        # The provider publishes a new key first (both served), then signs with it.
        new_rsa = SigningKey.generate("RS256", kid="rsa-2")
        oidc_issuer.rotate([new_rsa, *old_keys])
        after = oidc_issuer.mint("alice")
        assert parse_token(after).kid == "rsa-2"
        # Within the refresh interval the unknown kid is not fetched again...
        with pytest.raises(InvalidIdentityToken):
            verify_web_identity_token(after, provider, cache, clock.time())
        assert cache.fetch_count == 2
        # ...after it, one refetch finds the new key; the old token still verifies (its key is still served).
        clock.advance(61)
        assert verify_web_identity_token(after, provider, cache, clock.time()).subject == "alice"
        assert verify_web_identity_token(before, provider, cache, clock.time()).subject == "alice"
        assert cache.fetch_count == 4
        # The old key is withdrawn: once the TTL runs out, tokens it signed no longer verify.
        oidc_issuer.rotate([new_rsa, old_keys[1]])
        clock.advance(3600)
        with pytest.raises(InvalidIdentityToken):
            verify_web_identity_token(before, provider, cache, clock.time())
        assert (
            verify_web_identity_token(oidc_issuer.mint("bob", ttl=7200), provider, cache, clock.time()).subject == "bob"
        )
    finally:
        oidc_issuer.rotate(old_keys)
