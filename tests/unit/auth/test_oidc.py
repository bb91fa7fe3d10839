"""Web identity token verification (iamd/auth/oidc.py) against keys served from memory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iamd.auth.jwks import KEY_RETRIEVAL_FAILED, JwksCache, JwksSettings, offline_key_sets
from iamd.auth.oidc import (
    INCORRECT_AUDIENCE,
    NOT_A_JWT,
    OidcProvider,
    VerificationSettings,
    WebIdentityClaims,
    check_client_ids,
    check_thumbprints,
    normalize_provider_url,
    provider_url_of,
    verify_web_identity_token,
)
from iamd.core.clock import FixedClock
from iamd.core.errors import ExpiredTokenException, InvalidIdentityToken, InvalidInput, LimitExceeded
from tests.support.jwt_signer import (
    SigningKey,
    b64url,
    encode_part,
    hmac_token_with_public_key,
    jwks,
    make_token,
    unsigned_token,
)

NOW = 1_700_000_000
ISSUER = "https://idp.example.com"
PROVIDER = OidcProvider(url="idp.example.com", client_ids=("client-a", "client-b"))


class MemoryFetcher:
    """Documents by URL, as an identity provider would serve them; counts the requests."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}
        self.requests: list[str] = []

    def serve(self, issuer: str, key_set: dict[str, Any]) -> None:
        self.documents[f"{issuer}/.well-known/openid-configuration"] = json.dumps(
            {"issuer": issuer, "jwks_uri": f"{issuer}/jwks"}
        ).encode()
        self.documents[f"{issuer}/jwks"] = json.dumps(key_set).encode()

    def __call__(self, url: str) -> bytes:
        self.requests.append(url)
        return self.documents[url]


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("RS256", kid="k1")


@pytest.fixture
def fetcher(key: SigningKey) -> MemoryFetcher:
    f = MemoryFetcher()
    f.serve(ISSUER, jwks(key))
    return f


@pytest.fixture
def cache(fetcher: MemoryFetcher) -> JwksCache:
    return JwksCache(fetcher, FixedClock(NOW))


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": ISSUER, "sub": "user-123", "aud": "client-a", "iat": NOW, "exp": NOW + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


Verify = Callable[..., WebIdentityClaims]


@pytest.fixture
def verify(cache: JwksCache) -> Verify:
    def run(token: str, provider: OidcProvider = PROVIDER, now: float = NOW, **settings: Any) -> WebIdentityClaims:
        return verify_web_identity_token(token, provider, cache, now, VerificationSettings(**settings))

    return run


def refused(verify: Verify, token: str, error: type[Exception] = InvalidIdentityToken, **kwargs: Any) -> str:
    with pytest.raises(error) as info:
        verify(token, **kwargs)
    return str(info.value)


# --- accepted tokens ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"])
def test_every_algorithm_aws_accepts_verifies(alg: str) -> None:
    signer = SigningKey.generate(alg, kid=f"kid-{alg}")
    fetcher = MemoryFetcher()
    fetcher.serve(ISSUER, jwks(signer))
    result = verify_web_identity_token(make_token(signer, claims()), PROVIDER, JwksCache(fetcher, FixedClock(NOW)), NOW)
    assert result.subject == "user-123"


def test_a_valid_token_yields_claims_and_condition_keys(key: SigningKey, verify: Verify) -> None:
    token = make_token(key, claims(amr=["authenticated", "mfa"], jti="j-1", nbf=NOW - 5, email="a@example.com"))
    result = verify(token)
    assert (result.provider, result.issuer, result.subject) == ("idp.example.com", ISSUER, "user-123")
    assert (result.audience, result.original_audiences, result.authorized_party) == ("client-a", ("client-a",), None)
    assert (result.issued_at, result.expires_at, result.not_before, result.token_id) == (NOW, NOW + 600, NOW - 5, "j-1")
    assert result.amr == ("authenticated", "mfa")
    assert result.claims["email"] == "a@example.com"
    assert result.condition_keys() == {
        "idp.example.com:sub": "user-123",
        "idp.example.com:aud": "client-a",
        "idp.example.com:oaud": "client-a",
        "idp.example.com:amr": ["authenticated", "mfa"],
    }


def test_an_audience_list_matches_any_client_id(key: SigningKey, verify: Verify) -> None:
    result = verify(make_token(key, claims(aud=["other", "client-b"])))
    assert result.audience == "client-b"
    assert result.condition_keys()["idp.example.com:oaud"] == ["other", "client-b"]


def test_azp_is_the_audience_key_and_aud_the_original_one_as_for_google_hybrid_apps(
    key: SigningKey, verify: Verify
) -> None:
    result = verify(make_token(key, claims(aud="android-client", azp="client-a")))
    assert (result.audience, result.original_audiences) == ("client-a", ("android-client",))
    keys = result.condition_keys()
    assert (keys["idp.example.com:aud"], keys["idp.example.com:oaud"]) == ("client-a", "android-client")


def test_amr_as_a_single_string(key: SigningKey, verify: Verify) -> None:
    assert verify(make_token(key, claims(amr="pwd"))).amr == ("pwd",)


def test_a_provider_url_with_a_path_and_trailing_slash_is_kept_as_iam_stores_it(key: SigningKey) -> None:
    issuer = "https://tenant.example.auth0.com/"
    fetcher = MemoryFetcher()
    fetcher.serve(issuer.rstrip("/"), jwks(key))
    # Auth0's discovery document names the issuer with its slash; discovery is at ISSUER/.well-known/...
    fetcher.documents["https://tenant.example.auth0.com/.well-known/openid-configuration"] = json.dumps(
        {"issuer": issuer, "jwks_uri": "https://tenant.example.auth0.com/jwks"}
    ).encode()
    provider = OidcProvider(url="tenant.example.auth0.com/", client_ids=("client-a",))
    token = make_token(key, claims(iss=issuer))
    assert provider_url_of(token) == "tenant.example.auth0.com/"
    result = verify_web_identity_token(token, provider, JwksCache(fetcher, FixedClock(NOW)), NOW)
    assert result.condition_keys()["tenant.example.auth0.com/:sub"] == "user-123"


def test_without_kid_every_key_of_the_issuer_is_tried(key: SigningKey) -> None:
    other = SigningKey.generate("ES256", kid=None)
    keyless = SigningKey(key.alg, None, key.private)
    fetcher = MemoryFetcher()
    fetcher.serve(ISSUER, {"keys": [other.public_jwk(), keyless.public_jwk()]})
    result = verify_web_identity_token(
        make_token(keyless, claims()), PROVIDER, JwksCache(fetcher, FixedClock(NOW)), NOW
    )
    assert result.subject == "user-123"


def test_a_jwk_given_only_as_an_x5c_certificate_verifies(key: SigningKey) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp")])
    start = datetime.datetime(2023, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.private.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(key.private, hashes.SHA256())  # type: ignore[arg-type]
    )
    import base64

    der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    fetcher = MemoryFetcher()
    fetcher.serve(ISSUER, {"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "x5c": [der]}]})
    result = verify_web_identity_token(make_token(key, claims()), PROVIDER, JwksCache(fetcher, FixedClock(NOW)), NOW)
    assert result.subject == "user-123"


# --- signatures and structure ---------------------------------------------------------------------------


def test_alg_none_is_refused(verify: Verify) -> None:
    assert refused(verify, unsigned_token(claims())) == NOT_A_JWT  # the empty signature part
    with_signature = unsigned_token(claims()) + "c2ln"
    assert refused(verify, with_signature) == "Unsupported token signing algorithm: none"


def test_hmac_keyed_with_the_public_key_is_refused(key: SigningKey, verify: Verify) -> None:
    assert "HS256" in refused(verify, hmac_token_with_public_key(key, claims()))


@pytest.mark.parametrize("alg", ["EdDSA", "HS512", "RSA-OAEP", "", None])
def test_other_algorithms_are_refused(key: SigningKey, verify: Verify, alg: str | None) -> None:
    refused(verify, make_token(key, claims(), header={"alg": alg}))


def test_a_signature_by_another_key_with_the_same_kid_is_refused(verify: Verify) -> None:
    impostor = SigningKey.generate("RS256", kid="k1")
    assert refused(verify, make_token(impostor, claims())) == "Invalid token signature"


def test_a_tampered_payload_is_refused(key: SigningKey, verify: Verify) -> None:
    header, _, signature = make_token(key, claims()).split(".")
    forged = f"{header}.{encode_part(claims(sub='admin'))}.{signature}"
    refused(verify, forged)


def test_a_key_of_the_wrong_curve_or_alg_does_not_verify(verify: Verify, fetcher: MemoryFetcher) -> None:
    es256 = SigningKey.generate("ES256", kid="ec")
    fetcher.serve(ISSUER, jwks(es256))
    token = make_token(es256, claims())
    _, payload, signature = token.split(".")
    relabelled = f"{encode_part({'alg': 'ES384', 'kid': 'ec'})}.{payload}.{signature}"
    refused(verify, relabelled)


def test_a_jwk_restricted_to_another_alg_is_not_used(key: SigningKey, fetcher: MemoryFetcher, verify: Verify) -> None:
    fetcher.serve(ISSUER, {"keys": [key.public_jwk(alg="RS512")]})
    refused(verify, make_token(key, claims()))


def test_an_rsa_key_below_2048_bits_is_not_a_signing_key(fetcher: MemoryFetcher, verify: Verify) -> None:
    weak = SigningKey.generate("RS256", kid="weak", rsa_bits=1024)
    fetcher.serve(ISSUER, jwks(weak))
    assert refused(verify, make_token(weak, claims())) == KEY_RETRIEVAL_FAILED


def test_encryption_keys_are_not_signing_keys(key: SigningKey, fetcher: MemoryFetcher, verify: Verify) -> None:
    fetcher.serve(ISSUER, {"keys": [key.public_jwk(use="enc")]})
    assert refused(verify, make_token(key, claims())) == KEY_RETRIEVAL_FAILED


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + ".extra.part",  # JWE-like: five parts
        lambda t: t.rsplit(".", 1)[0],  # no signature part
        lambda t: t.replace(".", "=.", 1),  # padding
        lambda t: t.replace(".", "+.", 1),  # standard base64 alphabet
        lambda t: "." + t,
        lambda t: t + "x" * 20001,  # over AWS's 20000 characters
        lambda t: "abc",  # under 4
    ],
)
def test_malformed_tokens_are_not_jwts(key: SigningKey, verify: Verify, mangle: Callable[[str], str]) -> None:
    assert refused(verify, mangle(make_token(key, claims()))) == NOT_A_JWT


def test_non_canonical_base64url_is_refused(key: SigningKey, verify: Verify) -> None:
    header, payload, signature = make_token(key, claims()).split(".")
    # A final character whose unused low bits are set decodes to the same bytes: refuse it.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    if len(signature) % 4:
        bumped = signature[:-1] + alphabet[alphabet.index(signature[-1]) + 1]
        assert refused(verify, f"{header}.{payload}.{bumped}") == NOT_A_JWT


def test_duplicate_json_members_are_refused(key: SigningKey, verify: Verify) -> None:
    raw = b'{"iss":"%s","sub":"user-123","sub":"admin","aud":"client-a","exp":%d}' % (ISSUER.encode(), NOW + 60)
    head = encode_part({"alg": "RS256", "kid": "k1"})
    signing_input = f"{head}.{b64url(raw)}"
    token = f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"
    assert refused(verify, token) == NOT_A_JWT


def test_a_payload_that_is_not_an_object_is_refused(key: SigningKey, verify: Verify) -> None:
    head = encode_part({"alg": "RS256", "kid": "k1"})
    signing_input = f"{head}.{b64url(b'[1,2]')}"
    assert refused(verify, f"{signing_input}.{b64url(key.sign(signing_input.encode()))}") == NOT_A_JWT


def test_critical_header_extensions_are_refused(key: SigningKey, verify: Verify) -> None:
    refused(verify, make_token(key, claims(), header={"crit": ["b64"], "b64": False}))


# --- issuer ------------------------------------------------------------------------------------------------


def test_another_issuer_is_refused_before_any_key_is_fetched(
    key: SigningKey, verify: Verify, fetcher: MemoryFetcher
) -> None:
    message = refused(verify, make_token(key, claims(iss="https://evil.example.com")))
    assert "https://evil.example.com" in message
    assert fetcher.requests == []


def test_http_issuer_does_not_match_an_https_provider(key: SigningKey, verify: Verify) -> None:
    refused(verify, make_token(key, claims(iss="http://idp.example.com")))


def test_a_missing_issuer_is_a_missing_claim(key: SigningKey, verify: Verify) -> None:
    assert refused(verify, make_token(key, claims(iss=None))) == "Missing a required claim: iss"
    with pytest.raises(InvalidIdentityToken, match="Missing a required claim: iss"):
        provider_url_of(make_token(key, claims(iss=None)))


def test_provider_url_of_strips_the_scheme_as_iam_names_providers(key: SigningKey) -> None:
    assert provider_url_of(make_token(key, claims(iss="https://a.example/tenant/1"))) == "a.example/tenant/1"
    assert provider_url_of(make_token(key, claims(iss="http://127.0.0.1:9000"))) == "127.0.0.1:9000"
    assert provider_url_of(make_token(key, claims(iss="http://idp.example"))) == "http://idp.example"


# --- times ---------------------------------------------------------------------------------------------------


def test_exp_is_required(key: SigningKey, verify: Verify) -> None:
    assert refused(verify, make_token(key, claims(exp=None))) == "Missing a required claim: exp"


def test_an_expired_token_gets_aws_message(key: SigningKey, verify: Verify) -> None:
    token = make_token(key, claims(iat=NOW - 7200, exp=NOW - 3600))
    message = refused(verify, token, ExpiredTokenException)
    assert message == f"Token expired: current date/time {NOW} must be before the expiration date/time{NOW - 3600}"


def test_expiry_allows_the_configured_leeway(key: SigningKey, verify: Verify) -> None:
    token = make_token(key, claims(exp=NOW - 30))
    assert verify(token).subject == "user-123"
    refused(verify, token, ExpiredTokenException, leeway_seconds=0)


def test_a_token_not_valid_yet_is_refused(key: SigningKey, verify: Verify) -> None:
    assert "not valid yet" in refused(verify, make_token(key, claims(nbf=NOW + 3600)))
    assert verify(make_token(key, claims(nbf=NOW + 30))).subject == "user-123"


def test_a_token_issued_in_the_future_is_refused(key: SigningKey, verify: Verify) -> None:
    assert "issued in the future" in refused(verify, make_token(key, claims(iat=NOW + 3600, exp=NOW + 7200)))


def test_a_maximum_token_age_refuses_old_tokens(key: SigningKey, verify: Verify) -> None:
    token = make_token(key, claims(iat=NOW - 100_000, exp=NOW + 600))
    assert verify(token).subject == "user-123"
    assert refused(verify, token, ExpiredTokenException, max_token_age_seconds=86400) == "Token too old: 100000"


@pytest.mark.parametrize("value", ["soon", True, [NOW]])
def test_times_must_be_numbers(key: SigningKey, verify: Verify, value: Any) -> None:
    refused(verify, make_token(key, claims(exp=value)))


# --- audience and subject ---------------------------------------------------------------------------------


def test_an_unregistered_audience_is_aws_incorrect_token_audience(key: SigningKey, verify: Verify) -> None:
    assert refused(verify, make_token(key, claims(aud="sts.amazon.com"))) == INCORRECT_AUDIENCE
    assert refused(verify, make_token(key, claims(aud=["x", "y"]))) == INCORRECT_AUDIENCE


def test_a_missing_audience_is_a_missing_claim(key: SigningKey, verify: Verify) -> None:
    assert refused(verify, make_token(key, claims(aud=None))) == "Missing a required claim: aud"


@pytest.mark.parametrize("aud", [[], [1], 7, {"a": 1}])
def test_malformed_audiences_are_refused(key: SigningKey, verify: Verify, aud: Any) -> None:
    refused(verify, make_token(key, claims(aud=aud)))


def test_a_missing_subject_is_a_missing_claim(key: SigningKey, verify: Verify) -> None:
    assert refused(verify, make_token(key, claims(sub=None))) == "Missing a required claim: sub"
    refused(verify, make_token(key, claims(sub="x" * 256)))


# --- session tags and source identity --------------------------------------------------------------------


def tagged(key: SigningKey, tags: Any, **more: Any) -> str:
    return make_token(key, claims(**{"https://aws.amazon.com/tags": tags}, **more))


def test_session_tags_in_aws_format(key: SigningKey, verify: Verify) -> None:
    token = tagged(
        key,
        {
            "principal_tags": {"Project": ["Automation"], "CostCenter": ["987654"], "Department": ["Engineering"]},
            "transitive_tag_keys": ["Project", "CostCenter"],
        },
    )
    result = verify(token)
    assert result.principal_tags == {"Project": "Automation", "CostCenter": "987654", "Department": "Engineering"}
    assert result.transitive_tag_keys == ("Project", "CostCenter")


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"principal_tags": {f"k{i}": ["v"] for i in range(51)}}, "at most 50"),
        ({"principal_tags": {"Team": ["a"], "team": ["b"]}}, "case insensitive"),
        ({"principal_tags": {"aws:Team": ["a"]}}, "Invalid session tag key"),
        ({"principal_tags": {"k" * 129: ["a"]}}, "Invalid session tag key"),
        ({"principal_tags": {"Team": ["a", "b"]}}, "exactly one value"),
        ({"principal_tags": {"Team": "a"}}, "exactly one value"),
        ({"principal_tags": {"Team": ["v" * 257]}}, "Invalid value"),
        ({"principal_tags": {"Team": ["a"]}, "transitive_tag_keys": ["Other"]}, "not among the session tags"),
        ({"principal_tags": [["Team", "a"]]}, "JSON object"),
        ({"principal_tags": {}, "session_tags": {}}, "unknown members"),
        ("Team=a", "JSON object"),
    ],
)
def test_session_tags_outside_aws_rules_are_refused(key: SigningKey, verify: Verify, tags: Any, message: str) -> None:
    assert message in refused(verify, tagged(key, tags))


def test_transitive_keys_match_tags_case_insensitively(key: SigningKey, verify: Verify) -> None:
    result = verify(tagged(key, {"principal_tags": {"Team": ["a"]}, "transitive_tag_keys": ["team"]}))
    assert result.transitive_tag_keys == ("team",)


def test_source_identity_claim(key: SigningKey, verify: Verify) -> None:
    claim = "https://aws.amazon.com/source_identity"
    assert verify(make_token(key, claims(**{claim: "jdoe@example.com"}))).source_identity == "jdoe@example.com"
    refused(verify, make_token(key, claims(**{claim: "John Doe"})))
    refused(verify, make_token(key, claims(**{claim: "aws:x"})))


# --- offline keys --------------------------------------------------------------------------------------------


def test_offline_keys_verify_without_any_fetch(key: SigningKey) -> None:
    fetcher = MemoryFetcher()
    settings = JwksSettings(offline_keys=offline_key_sets({"idp.example.com": json.dumps(jwks(key))}))
    cache = JwksCache(fetcher, FixedClock(NOW), settings)
    assert verify_web_identity_token(make_token(key, claims()), PROVIDER, cache, NOW).subject == "user-123"
    rotated = SigningKey.generate("RS256", kid="k2")
    with pytest.raises(InvalidIdentityToken, match="Couldn't retrieve verification key"):
        verify_web_identity_token(make_token(rotated, claims()), PROVIDER, cache, NOW)
    assert fetcher.requests == []


# --- documented workload token shapes ------------------------------------------------------------------------

SHAPES = json.loads((Path(__file__).parent / "data" / "oidc_token_shapes.json").read_text())


@pytest.mark.parametrize("name", ["github_actions", "kubernetes_service_account"])
def test_documented_workload_token_shapes(name: str) -> None:
    shape = SHAPES[name]
    signer = SigningKey.generate("RS256", kid=shape["header"]["kid"])
    body = dict(shape["claims"])
    for claim in ("exp", "iat", "nbf"):
        body[claim] = NOW + body[claim]
    issuer = body["iss"]
    fetcher = MemoryFetcher()
    fetcher.serve(issuer, jwks(signer))
    provider = OidcProvider(url=shape["provider_url"], client_ids=tuple(shape["client_ids"]))
    token = make_token(signer, body, header=shape["header"])
    assert provider_url_of(token) == shape["provider_url"]
    result = verify_web_identity_token(token, provider, JwksCache(fetcher, FixedClock(NOW)), NOW)
    assert result.condition_keys() == shape["condition_keys"]
    assert result.claims == body


# --- IAM OIDC provider rules -----------------------------------------------------------------------------


def test_provider_urls_as_iam_stores_them() -> None:
    assert (
        normalize_provider_url("https://token.actions.githubusercontent.com") == "token.actions.githubusercontent.com"
    )
    assert normalize_provider_url("https://tenant.auth0.com/") == "tenant.auth0.com/"
    assert normalize_provider_url("https://idp.example.com/realms/corp") == "idp.example.com/realms/corp"
    assert normalize_provider_url("http://127.0.0.1:8443", allow_http_loopback=True) == "127.0.0.1:8443"


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example.com",
        "idp.example.com",
        "https://",
        "https://idp.example.com/?tenant=1",
        "https://idp.example.com/#x",
        "https://user:pw@idp.example.com",
        "https://" + "a" * 250,
        "http://127.0.0.1:8443",
    ],
)
def test_provider_urls_iam_refuses(url: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_provider_url(url)


def test_thumbprints_and_client_ids() -> None:
    assert check_thumbprints(["6938FD4D98BAB03FAADB97B34396831E3780AEA1"]) == (
        "6938fd4d98bab03faadb97b34396831e3780aea1",
    )
    with pytest.raises(InvalidInput):
        check_thumbprints(["6938fd4d98bab03faadb97b34396831e3780aea"])
    with pytest.raises(LimitExceeded, match="ThumbprintsPerOpenIdConnectProvider: 5"):
        check_thumbprints(["a" * 40] * 6)
    check_client_ids(["sts.amazonaws.com", "x" * 255])
    with pytest.raises(InvalidInput):
        check_client_ids(["x" * 256])
    with pytest.raises(LimitExceeded, match="ClientIdsPerOpenIdConnectProvider: 100"):
        check_client_ids([str(i) for i in range(101)])
