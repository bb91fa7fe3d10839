"""The JWKS cache (TTL, key rotation, rate limits, outages) and the HTTPS fetcher (iamd/auth/jwks.py)."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from iamd.auth.jwks import (
    IDP_UNREACHABLE,
    KEY_RETRIEVAL_FAILED,
    MAX_KEYS_PER_TYPE,
    FetchFailed,
    HttpsFetcher,
    JwksCache,
    JwksError,
    JwksSettings,
    offline_key_sets,
    parse_jwks,
)
from iamd.core.clock import FixedClock
from iamd.core.errors import IDPCommunicationError, InvalidIdentityToken
from tests.support.jwt_signer import SigningKey, jwks
from tests.support.tls_ca import TlsFiles, make_tls_files

ISSUER = "https://idp.example.com"
NOW = 1_700_000_000


class ScriptedFetcher:
    """An identity provider whose answers the test changes; ``down`` makes it unreachable."""

    def __init__(self, key_set: dict[str, Any]) -> None:
        self.key_set = key_set
        self.discovery: dict[str, Any] = {"issuer": ISSUER, "jwks_uri": f"{ISSUER}/keys"}
        self.down: FetchFailed | None = None
        self.requests: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.requests.append(url)
        if self.down is not None:
            raise self.down
        if url == f"{ISSUER}/.well-known/openid-configuration":
            return json.dumps(self.discovery).encode()
        if url == self.discovery["jwks_uri"]:
            return json.dumps(self.key_set).encode()
        raise FetchFailed(f"{url} answered HTTP 404", transient=False)


@pytest.fixture(scope="module")
def k1() -> SigningKey:
    return SigningKey.generate("RS256", kid="k1")


@pytest.fixture(scope="module")
def k2() -> SigningKey:
    return SigningKey.generate("ES256", kid="k2")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def idp(k1: SigningKey) -> ScriptedFetcher:
    return ScriptedFetcher(jwks(k1))


@pytest.fixture
def cache(idp: ScriptedFetcher, clock: FixedClock) -> JwksCache:
    return JwksCache(idp, clock, JwksSettings(ttl_seconds=600, refresh_interval_seconds=60, failure_backoff_seconds=10))


def kids(keys: tuple[Any, ...]) -> list[str | None]:
    return [k.kid for k in keys]


def test_discovery_then_jwks_then_cached_for_the_ttl(cache: JwksCache, idp: ScriptedFetcher, clock: FixedClock) -> None:
    assert kids(cache.keys_for(ISSUER, "k1")) == ["k1"]
    assert idp.requests == [f"{ISSUER}/.well-known/openid-configuration", f"{ISSUER}/keys"]
    clock.advance(599)
    cache.keys_for(ISSUER, "k1")
    assert len(idp.requests) == 2
    clock.advance(1)
    cache.keys_for(ISSUER, "k1")
    assert len(idp.requests) == 4


def test_an_unknown_kid_refetches_once_then_is_rate_limited(
    cache: JwksCache, idp: ScriptedFetcher, clock: FixedClock, k1: SigningKey, k2: SigningKey
) -> None:
    cache.keys_for(ISSUER, "k1")
    clock.advance(61)
    idp.key_set = jwks(k1, k2)  # the provider rotates in a new key
    assert kids(cache.keys_for(ISSUER, "k2")) == ["k2"]
    assert len(idp.requests) == 4
    # Tokens naming a kid nobody knows cost one fetch per refresh interval, not one per request.
    clock.advance(61)
    for _ in range(5):
        with pytest.raises(InvalidIdentityToken, match="Couldn't retrieve verification key"):
            cache.keys_for(ISSUER, "forged")
    assert len(idp.requests) == 6
    clock.advance(60)
    with pytest.raises(InvalidIdentityToken):
        cache.keys_for(ISSUER, "forged")
    assert len(idp.requests) == 8


def test_a_rotated_out_key_stops_verifying_after_the_refresh(
    cache: JwksCache, idp: ScriptedFetcher, clock: FixedClock, k2: SigningKey
) -> None:
    cache.keys_for(ISSUER, "k1")
    idp.key_set = jwks(k2)
    clock.advance(600)
    with pytest.raises(InvalidIdentityToken):
        cache.keys_for(ISSUER, "k1")
    assert kids(cache.keys_for(ISSUER, "k2")) == ["k2"]


def test_an_unreachable_provider_is_idp_communication_error_with_a_backoff(
    cache: JwksCache, idp: ScriptedFetcher, clock: FixedClock
) -> None:
    idp.down = FetchFailed("connection refused", transient=True)
    for _ in range(3):
        with pytest.raises(IDPCommunicationError) as info:
            cache.keys_for(ISSUER, "k1")
        assert str(info.value) == IDP_UNREACHABLE
    assert len(idp.requests) == 1
    clock.advance(10)
    idp.down = None
    assert kids(cache.keys_for(ISSUER, "k1")) == ["k1"]


def test_a_provider_answering_nonsense_is_invalid_identity_token(cache: JwksCache, idp: ScriptedFetcher) -> None:
    idp.down = FetchFailed("answered HTTP 404", transient=False)
    with pytest.raises(InvalidIdentityToken) as info:
        cache.keys_for(ISSUER, "k1")
    assert str(info.value) == KEY_RETRIEVAL_FAILED


def test_stale_keys_serve_while_the_provider_is_down(cache: JwksCache, idp: ScriptedFetcher, clock: FixedClock) -> None:
    cache.keys_for(ISSUER, "k1")
    idp.down = FetchFailed("timed out", transient=True)
    clock.advance(700)
    assert kids(cache.keys_for(ISSUER, "k1")) == ["k1"]
    assert kids(cache.keys_for(ISSUER, "k1")) == ["k1"]
    assert len(idp.requests) == 3  # one failed attempt, then the backoff answers from memory
    clock.advance(86400)
    with pytest.raises(IDPCommunicationError):
        cache.keys_for(ISSUER, "k1")


@pytest.mark.parametrize(
    "discovery",
    [
        {"issuer": "https://evil.example.com", "jwks_uri": f"{ISSUER}/keys"},
        {"issuer": ISSUER},
        {"issuer": ISSUER, "jwks_uri": "http://idp.example.com/keys"},
        {"issuer": ISSUER, "jwks_uri": "file:///etc/passwd"},
    ],
)
def test_a_bad_discovery_document_is_refused(cache: JwksCache, idp: ScriptedFetcher, discovery: dict[str, Any]) -> None:
    idp.discovery = discovery
    with pytest.raises(InvalidIdentityToken, match="Couldn't retrieve verification key"):
        cache.keys_for(ISSUER, "k1")


def test_an_http_issuer_is_not_fetched_unless_allowed_for_loopback(idp: ScriptedFetcher, clock: FixedClock) -> None:
    cache = JwksCache(idp, clock)
    with pytest.raises(InvalidIdentityToken):
        cache.keys_for("http://127.0.0.1:9", "k1")
    assert idp.requests == []


def test_one_fetch_for_many_concurrent_requests(k1: SigningKey, clock: FixedClock) -> None:
    gate = threading.Event()

    class SlowFetcher(ScriptedFetcher):
        def __call__(self, url: str) -> bytes:
            gate.wait(5)
            return super().__call__(url)

    idp = SlowFetcher(jwks(k1))
    cache = JwksCache(idp, clock)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(cache.keys_for(ISSUER, "k1"))) for _ in range(8)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert len(results) == 8
    assert len(idp.requests) == 2


def test_forget_drops_an_issuer(cache: JwksCache, idp: ScriptedFetcher) -> None:
    cache.keys_for(ISSUER, "k1")
    cache.forget(ISSUER)
    cache.keys_for(ISSUER, "k1")
    assert len(idp.requests) == 4


# --- JWKS documents ----------------------------------------------------------------------------------------


def test_parse_jwks_skips_unusable_keys_of_a_provider(k1: SigningKey, k2: SigningKey) -> None:
    document = {
        "keys": [
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "RSA", "n": "!!", "e": "AQAB", "kid": "broken"},
            {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "off-curve"},
            k1.public_jwk(),
            k2.public_jwk(),
        ]
    }
    assert kids(parse_jwks(json.dumps(document).encode())) == ["k1", "k2"]
    with pytest.raises(JwksError):
        parse_jwks(document, strict=True)


def test_a_jwks_with_private_keys_is_refused(k1: SigningKey) -> None:
    with pytest.raises(JwksError, match="private"):
        parse_jwks({"keys": [k1.private_jwk()]}, strict=True)


@pytest.mark.parametrize("document", [b"not json", b"[]", b'{"keys": {}}', b'{"keys": [1]}'])
def test_documents_that_are_not_a_jwks(document: bytes) -> None:
    with pytest.raises(JwksError):
        parse_jwks(document)


def test_keys_per_type_are_capped(k1: SigningKey) -> None:
    many = {"keys": [dict(k1.public_jwk(), kid=str(i)) for i in range(MAX_KEYS_PER_TYPE + 5)]}
    assert len(parse_jwks(many)) == MAX_KEYS_PER_TYPE


def test_offline_key_sets_name_the_bad_document(k1: SigningKey) -> None:
    assert kids(offline_key_sets({"https://a.example": json.dumps(jwks(k1))})["a.example"]) == ["k1"]
    with pytest.raises(JwksError, match=r"b\.example"):
        offline_key_sets({"b.example": '{"keys": []}'})


# --- the HTTPS fetcher against a real local server ---------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def _serve(tls_files: TlsFiles | None) -> Iterator[tuple[str, dict[str, tuple[int, dict[str, str], bytes]]]]:
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if tls_files is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls_files.cert_file, tls_files.key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def https_server(tls: TlsFiles) -> Iterator[tuple[str, dict[str, tuple[int, dict[str, str], bytes]]]]:
    yield from _serve(tls)


@pytest.fixture
def http_server() -> Iterator[tuple[str, dict[str, tuple[int, dict[str, str], bytes]]]]:
    yield from _serve(None)


Server = tuple[str, dict[str, tuple[int, dict[str, str], bytes]]]


def test_fetches_over_https_with_the_operator_ca(https_server: Server, tls: TlsFiles) -> None:
    base, routes = https_server
    routes["/doc"] = (200, {}, b'{"ok": true}')
    assert HttpsFetcher(ca_file=tls.ca_file)(f"{base}/doc") == b'{"ok": true}'


def test_an_untrusted_certificate_is_refused_and_not_retried(https_server: Server) -> None:
    base, routes = https_server
    routes["/doc"] = (200, {}, b"{}")
    with pytest.raises(FetchFailed) as info:
        HttpsFetcher()(f"{base}/doc")
    assert info.value.transient is False


def test_a_host_name_mismatch_is_refused(https_server: Server, tls: TlsFiles) -> None:
    base, routes = https_server
    routes["/doc"] = (200, {}, b"{}")
    # The certificate names 127.0.0.1 and localhost; reach the same server as 127.0.0.2 (loopback too).
    other = base.replace("127.0.0.1", "127.0.0.2")
    with pytest.raises(FetchFailed):
        HttpsFetcher(ca_file=tls.ca_file, timeout_seconds=2)(f"{other}/doc")


@pytest.mark.parametrize(("status", "transient"), [(404, False), (403, False), (500, True), (503, True), (429, True)])
def test_http_errors(https_server: Server, tls: TlsFiles, status: int, transient: bool) -> None:
    base, routes = https_server
    routes["/doc"] = (status, {}, b"no")
    with pytest.raises(FetchFailed) as info:
        HttpsFetcher(ca_file=tls.ca_file)(f"{base}/doc")
    assert info.value.transient is transient


def test_a_document_over_the_size_limit_is_refused(https_server: Server, tls: TlsFiles) -> None:
    base, routes = https_server
    routes["/big"] = (200, {}, b"x" * 2048)
    with pytest.raises(FetchFailed, match="more than 1024 bytes"):
        HttpsFetcher(ca_file=tls.ca_file, max_bytes=1024)(f"{base}/big")


def test_a_redirect_to_plain_http_is_refused(https_server: Server, tls: TlsFiles) -> None:
    base, routes = https_server
    routes["/moved"] = (302, {"Location": "http://example.com/keys"}, b"")
    routes["/ok"] = (302, {"Location": f"{base}/doc"}, b"")
    routes["/doc"] = (200, {}, b"{}")
    fetch = HttpsFetcher(ca_file=tls.ca_file)
    with pytest.raises(FetchFailed, match="only https"):
        fetch(f"{base}/moved")
    assert fetch(f"{base}/ok") == b"{}"


def test_plain_http_only_for_loopback_and_only_when_allowed(http_server: Server) -> None:
    base, routes = http_server
    routes["/doc"] = (200, {}, b"{}")
    with pytest.raises(FetchFailed, match="only https"):
        HttpsFetcher()(f"{base}/doc")
    assert HttpsFetcher(allow_http_loopback=True)(f"{base}/doc") == b"{}"
    with pytest.raises(FetchFailed, match="only https"):
        HttpsFetcher(allow_http_loopback=True)("http://example.com/doc")


@pytest.mark.parametrize("url", ["ftp://x/y", "file:///etc/passwd", "https://user:pw@idp.example/x", "/relative"])
def test_only_absolute_https_urls_without_credentials(url: str) -> None:
    with pytest.raises(FetchFailed):
        HttpsFetcher()(url)


def test_a_closed_port_is_transient() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchFailed) as info:
        HttpsFetcher(timeout_seconds=2)(f"https://127.0.0.1:{port}/doc")
    assert info.value.transient is True


def test_the_cache_over_a_real_https_provider(https_server: Server, tls: TlsFiles, k1: SigningKey) -> None:
    base, routes = https_server
    routes["/.well-known/openid-configuration"] = (
        200,
        {},
        json.dumps({"issuer": base, "jwks_uri": f"{base}/jwks"}).encode(),
    )
    routes["/jwks"] = (200, {}, json.dumps(jwks(k1)).encode())
    cache = JwksCache(HttpsFetcher(ca_file=tls.ca_file), FixedClock(NOW))
    assert kids(cache.keys_for(base, "k1")) == ["k1"]
