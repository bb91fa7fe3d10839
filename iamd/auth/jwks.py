"""JSON Web Key Sets of OpenID Connect providers: parsing, fetching over HTTPS and caching.

Three parts, each usable on its own:

* :func:`parse_jwks` turns a JWKS document into :class:`Jwk` public keys (RSA and EC signing keys only;
  private members and unusable keys are never accepted as signing keys);
* :class:`HttpsFetcher` fetches a document over HTTPS (system trust store or an operator's CA bundle),
  plain HTTP only for loopback hosts and only when allowed explicitly (tests, development);
* :class:`JwksCache` finds the keys of an issuer: the operator's offline keys for air-gapped sites, or
  ``ISSUER/.well-known/openid-configuration`` -> ``jwks_uri`` fetched with the injected fetcher and
  cached for a TTL.  An unknown ``kid`` (the provider rotated its keys) refetches at most once per
  ``refresh_interval``; one fetch per issuer runs at a time.

Failures are AWS's errors: a provider that cannot be reached is ``IDPCommunicationError`` (transient:
botocore retries it), keys that cannot be had or used are ``InvalidIdentityToken`` with AWS's message.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.client import HTTPMessage
from pathlib import Path
from typing import IO, Any, Protocol

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from iamd.core.clock import Clock
from iamd.core.errors import IDPCommunicationError, InvalidIdentityToken

KEY_RETRIEVAL_FAILED = (
    "Couldn't retrieve verification key from your identity provider,  "
    "please reference AssumeRoleWithWebIdentity documentation for requirements"
)
"""AWS's message (two spaces and all) when the provider's keys cannot be had or none verifies the token."""

IDP_UNREACHABLE = "The identity provider could not be reached to retrieve its verification keys. Retry the request."

MAX_DOCUMENT_BYTES = 512 * 1024
"""Largest discovery or JWKS document read (iamd's limit; real documents are a few KiB)."""

MAX_KEYS_PER_TYPE = 100
"""Keys of one type (RSA, EC) kept from one JWKS (iamd's limit, against documents that exhaust memory)."""

MIN_RSA_BITS = 2048

_EC_CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}


@dataclass(frozen=True)
class Jwk:
    """A public signing key from a JWKS."""

    kty: str
    """``RSA`` or ``EC``."""
    kid: str | None
    alg: str | None
    """The ``alg`` the key is restricted to, if the JWKS names one."""
    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    crv: str | None = None


class JwksError(ValueError):
    """A JWKS document that is not one (operator configuration, or a provider's answer)."""


def _b64url_uint(value: Any, member: str) -> int:
    if not isinstance(value, str) or not value:
        raise JwksError(f"JWK member {member} must be a base64url string")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JwksError(f"JWK member {member} is not base64url") from exc
    return int.from_bytes(raw, "big")


def _key_from_x5c(entry: Mapping[str, Any]) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    chain = entry.get("x5c")
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise JwksError("JWK has neither its public key members nor an x5c certificate")
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
    except (binascii.Error, ValueError) as exc:
        raise JwksError("JWK x5c certificate cannot be read") from exc
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise JwksError("JWK x5c certificate holds neither an RSA nor an EC key")
    return key


def parse_jwk(entry: Mapping[str, Any]) -> Jwk | None:
    """One JWK as a signing key; None for keys that are not for signatures (``use: enc``, other types)."""
    kty = entry.get("kty")
    use = entry.get("use")
    ops = entry.get("key_ops")
    if use not in (None, "sig") or (isinstance(ops, list) and "verify" not in ops):
        return None
    if kty not in ("RSA", "EC"):
        return None
    if "d" in entry:
        raise JwksError("a JWKS for verification must not contain private keys")
    kid = entry.get("kid")
    alg = entry.get("alg")
    if kid is not None and not isinstance(kid, str):
        raise JwksError("JWK kid must be a string")
    if alg is not None and not isinstance(alg, str):
        raise JwksError("JWK alg must be a string")
    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    if kty == "RSA":
        if "n" in entry or "e" in entry:
            try:
                key = rsa.RSAPublicNumbers(
                    _b64url_uint(entry.get("e"), "e"), _b64url_uint(entry.get("n"), "n")
                ).public_key()
            except ValueError as exc:
                raise JwksError("JWK holds an invalid RSA key") from exc
        else:
            key = _key_from_x5c(entry)
        if not isinstance(key, rsa.RSAPublicKey):
            raise JwksError("JWK of type RSA holds another kind of key")
        if key.key_size < MIN_RSA_BITS:
            return None
        return Jwk(kty="RSA", kid=kid, alg=alg, key=key)
    crv = entry.get("crv")
    if crv not in _EC_CURVES:
        return None
    if "x" in entry or "y" in entry:
        try:
            key = ec.EllipticCurvePublicNumbers(
                _b64url_uint(entry.get("x"), "x"), _b64url_uint(entry.get("y"), "y"), _EC_CURVES[crv]
            ).public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise JwksError("JWK holds an invalid EC key (not a point on its curve)") from exc
    else:
        key = _key_from_x5c(entry)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != _EC_CURVES[crv].name:
        raise JwksError("JWK of type EC holds another kind of key")
    return Jwk(kty="EC", kid=kid, alg=alg, key=key, crv=crv)


def parse_jwks(document: bytes | str | Mapping[str, Any], *, strict: bool = False) -> tuple[Jwk, ...]:
    """The signing keys of a JWKS document (``{"keys": [...]}``); :class:`JwksError` if it is not one.

    ``strict`` (an operator's document): a malformed key is an error.  Otherwise (a provider's answer)
    a malformed key is skipped, so that one bad entry does not make the provider's other keys unusable.
    """
    data: Any = document
    if isinstance(document, bytes | str):
        try:
            data = json.loads(document)
        except (UnicodeDecodeError, ValueError) as exc:
            raise JwksError("JWKS is not JSON") from exc
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise JwksError('JWKS must be a JSON object with a "keys" array')
    out: list[Jwk] = []
    per_type: dict[str, int] = {}
    for entry in data["keys"]:
        if not isinstance(entry, Mapping):
            raise JwksError("every JWKS key must be a JSON object")
        try:
            jwk = parse_jwk(entry)
        except JwksError:
            if strict:
                raise
            continue
        if jwk is None:
            continue
        per_type[jwk.kty] = per_type.get(jwk.kty, 0) + 1
        if per_type[jwk.kty] <= MAX_KEYS_PER_TYPE:
            out.append(jwk)
    return tuple(out)


# --- fetching -------------------------------------------------------------------------------------


class FetchFailed(Exception):
    """A document could not be fetched.  ``transient``: the provider may answer if asked again."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class Fetcher(Protocol):
    def __call__(self, url: str) -> bytes:
        """The body of a 200 answer to GET ``url``; :class:`FetchFailed` otherwise."""
        ...


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_fetch_url(url: str, *, allow_http_loopback: bool) -> None:
    """Only ``https://`` URLs (``http://`` to a loopback host when allowed), without credentials."""
    parts = urllib.parse.urlsplit(url)
    if parts.username or parts.password or not parts.hostname:
        raise FetchFailed(f"refusing to fetch {url!r}: not an absolute URL without credentials", transient=False)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and allow_http_loopback and is_loopback_host(parts.hostname):
        return
    raise FetchFailed(f"refusing to fetch {url!r}: only https:// URLs are fetched", transient=False)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = 3

    def __init__(self, allow_http_loopback: bool) -> None:
        self._allow_http_loopback = allow_http_loopback

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: HTTPMessage, newurl: str
    ) -> urllib.request.Request | None:
        check_fetch_url(newurl, allow_http_loopback=self._allow_http_loopback)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass(frozen=True)
class HttpsFetcher:
    """GET over HTTPS with the standard library: certificate and host name verified, bounded in time and size."""

    timeout_seconds: float = 5.0
    ca_file: Path | None = None
    """PEM bundle of the CAs to trust instead of the system's (a private PKI)."""
    allow_http_loopback: bool = False
    max_bytes: int = MAX_DOCUMENT_BYTES
    user_agent: str = "iamd-jwks-fetcher"
    use_environment_proxies: bool = True
    """Honour HTTPS_PROXY / NO_PROXY (a site that reaches its identity provider through a proxy)."""

    def __call__(self, url: str) -> bytes:
        check_fetch_url(url, allow_http_loopback=self.allow_http_loopback)
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context),
            _CheckedRedirects(self.allow_http_loopback),
            urllib.request.ProxyHandler(None if self.use_environment_proxies else {}),
        )
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - check_fetch_url allowed https only
        try:
            with opener.open(request, timeout=self.timeout_seconds) as response:
                body: bytes = response.read(self.max_bytes + 1)
        except urllib.error.HTTPError as exc:
            raise FetchFailed(f"{url} answered HTTP {exc.code}", transient=exc.code >= 500 or exc.code == 429) from exc
        except ssl.SSLError as exc:
            raise FetchFailed(f"TLS with {url} failed: {exc.reason}", transient=False) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLError | ssl.CertificateError):
                raise FetchFailed(f"TLS with {url} failed: {exc.reason}", transient=False) from exc
            raise FetchFailed(f"{url} could not be reached: {exc.reason}", transient=True) from exc
        except (TimeoutError, OSError) as exc:
            raise FetchFailed(f"{url} could not be reached: {exc}", transient=True) from exc
        if len(body) > self.max_bytes:
            raise FetchFailed(f"{url} answered more than {self.max_bytes} bytes", transient=False)
        return body


# --- the cache -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JwksSettings:
    ttl_seconds: float = 3600.0
    """How long fetched keys are used before they are fetched again."""
    refresh_interval_seconds: float = 60.0
    """At most one refetch per issuer in this time when a token names an unknown ``kid``."""
    stale_seconds: float = 86400.0
    """How long past its TTL a key set still serves while the provider cannot be reached."""
    failure_backoff_seconds: float = 10.0
    """After a failed fetch with nothing cached, answer from memory for this long instead of asking again."""
    allow_http_loopback: bool = False
    """Accept ``http://`` issuers and ``jwks_uri`` on loopback hosts (tests, development only)."""
    offline_keys: Mapping[str, tuple[Jwk, ...]] = field(default_factory=dict)
    """Operator-supplied key sets by provider URL without scheme (``host/path``): never fetched."""


def offline_key_sets(documents: Mapping[str, str | bytes]) -> dict[str, tuple[Jwk, ...]]:
    """Parse operator-supplied JWKS documents (provider URL -> JWKS JSON); JwksError names the bad one."""
    out: dict[str, tuple[Jwk, ...]] = {}
    for provider, document in documents.items():
        name = provider.removeprefix("https://")
        try:
            keys = parse_jwks(document, strict=True)
        except JwksError as exc:
            raise JwksError(f"offline JWKS for {name}: {exc}") from exc
        if not keys:
            raise JwksError(f"offline JWKS for {name} holds no usable signing key")
        out[name] = keys
    return out


@dataclass
class _Entry:
    keys: tuple[Jwk, ...] = ()
    fetched_at: float | None = None
    """When ``keys`` were fetched (None: never)."""
    attempted_at: float | None = None
    """When a fetch was last started, successful or not."""
    failure: FetchFailed | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


class JwksCache:
    """The signing keys of every issuer this node has seen, shared by all request threads."""

    def __init__(self, fetcher: Fetcher, clock: Clock, settings: JwksSettings | None = None) -> None:
        self._fetch = fetcher
        self._clock = clock
        self.settings = settings or JwksSettings()
        self._entries: dict[str, _Entry] = {}
        self._guard = threading.Lock()
        self.fetch_count = 0
        """Documents fetched so far (discovery and JWKS both count): for tests and metrics."""

    def _entry(self, issuer: str) -> _Entry:
        with self._guard:
            entry = self._entries.get(issuer)
            if entry is None:
                entry = self._entries[issuer] = _Entry()
            return entry

    def keys_for(self, issuer: str, kid: str | None) -> tuple[Jwk, ...]:
        """The keys that may have signed a token of ``issuer`` naming ``kid`` (all of them when kid is None).

        ``issuer`` is the token's verified-equal-to-the-provider ``iss`` (``https://host/path``).
        Raises IDPCommunicationError or InvalidIdentityToken; never returns an empty tuple.
        """
        offline = self.settings.offline_keys.get(issuer.removeprefix("https://").removeprefix("http://"))
        if offline is not None:
            return self._select(offline, kid) or self._no_key()
        entry = self._entry(issuer)
        now = self._clock.time()
        if self._fresh(entry, now):
            found = self._select(entry.keys, kid)
            if found or not self._may_refresh(entry, now):
                return found or self._no_key()
        with entry.lock:
            now = self._clock.time()
            # Another thread may have fetched while this one waited for the lock.
            found = self._select(entry.keys, kid)
            if self._fresh(entry, now) and (found or not self._may_refresh(entry, now)):
                return found or self._no_key()
            if entry.failure is not None and not self._may_retry_failure(entry, now):
                # The provider failed moments ago: answer from memory rather than ask it again.
                if entry.keys:
                    return found or self._no_key()
                raise self._failure_error(entry.failure)
            self._refresh(issuer, entry, now)
            return self._select(entry.keys, kid) or self._no_key()

    def _fresh(self, entry: _Entry, now: float) -> bool:
        return entry.fetched_at is not None and now - entry.fetched_at < self.settings.ttl_seconds

    def _may_refresh(self, entry: _Entry, now: float) -> bool:
        return entry.attempted_at is None or now - entry.attempted_at >= self.settings.refresh_interval_seconds

    def _may_retry_failure(self, entry: _Entry, now: float) -> bool:
        return entry.attempted_at is None or now - entry.attempted_at >= self.settings.failure_backoff_seconds

    def _refresh(self, issuer: str, entry: _Entry, now: float) -> None:
        entry.attempted_at = now
        try:
            keys = self._download(issuer)
        except FetchFailed as failure:
            entry.failure = failure
            usable_stale = entry.fetched_at is not None and now - entry.fetched_at < (
                self.settings.ttl_seconds + self.settings.stale_seconds
            )
            if usable_stale:
                return  # serve the last good keys while the provider is away
            entry.keys = ()
            raise self._failure_error(failure) from failure
        entry.keys, entry.fetched_at, entry.failure = keys, now, None

    def _download(self, issuer: str) -> tuple[Jwk, ...]:
        allow_http = self.settings.allow_http_loopback
        check_fetch_url(issuer, allow_http_loopback=allow_http)
        self.fetch_count += 1
        config = _json_object(self._fetch(discovery_url(issuer)), "discovery document")
        announced = config.get("issuer")
        if not isinstance(announced, str) or announced.rstrip("/") != issuer.rstrip("/"):
            raise FetchFailed("the discovery document names another issuer", transient=False)
        jwks_uri = config.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise FetchFailed("the discovery document has no jwks_uri", transient=False)
        check_fetch_url(jwks_uri, allow_http_loopback=allow_http)
        self.fetch_count += 1
        body = self._fetch(jwks_uri)
        try:
            keys = parse_jwks(body)
        except JwksError as exc:
            raise FetchFailed(f"the JWKS is invalid: {exc}", transient=False) from exc
        if not keys:
            raise FetchFailed("the JWKS holds no usable signing key", transient=False)
        return keys

    @staticmethod
    def _select(keys: Sequence[Jwk], kid: str | None) -> tuple[Jwk, ...]:
        if kid is None:
            return tuple(keys)
        return tuple(k for k in keys if k.kid == kid)

    @staticmethod
    def _no_key() -> tuple[Jwk, ...]:
        raise InvalidIdentityToken(KEY_RETRIEVAL_FAILED)

    @staticmethod
    def _failure_error(failure: FetchFailed) -> IDPCommunicationError | InvalidIdentityToken:
        return (
            IDPCommunicationError(IDP_UNREACHABLE) if failure.transient else InvalidIdentityToken(KEY_RETRIEVAL_FAILED)
        )

    def forget(self, issuer: str) -> None:
        """Drop an issuer's cached keys (its provider was deleted or changed)."""
        with self._guard:
            self._entries.pop(issuer, None)


def _json_object(body: bytes, what: str) -> Mapping[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FetchFailed(f"the {what} is not JSON", transient=False) from exc
    if not isinstance(data, Mapping):
        raise FetchFailed(f"the {what} is not a JSON object", transient=False)
    return data
