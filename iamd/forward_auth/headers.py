"""The header contract between reverse proxies and iamd's forward-auth endpoint (pure).

A proxy asks iamd about each request it receives, then passes it on (2xx) or refuses it (401, 403).
What the proxy sends iamd:

========================= ====================================== ===================================
proxy                     the original method and URI            the original host
========================= ====================================== ===================================
nginx ``auth_request``    ``X-Original-Method``, ``X-Original-URI`` ``Host`` (``proxy_set_header Host $host``)
                          (set them in the auth location)        or ``X-Original-Host``
Traefik ``ForwardAuth``   ``X-Forwarded-Method``, ``X-Forwarded-Uri`` ``X-Forwarded-Host``
Envoy ``ext_authz`` (HTTP) the check request's own method and path, the check request's ``Host``
                          minus the ``path_prefix`` configured      (Envoy sends the original authority)
========================= ====================================== ===================================

Every other header of the original request the signature covers must reach iamd too:
``Authorization``, ``X-Amz-Date``, ``X-Amz-Security-Token``, ``X-Amz-Content-SHA256`` and any other
``SignedHeaders`` (nginx and Traefik pass the client's headers on; Envoy passes those listed in
``allowed_headers``).  None of the three proxies sends the body: a request whose signature covers
a body can only be checked when the client signs with an ``X-Amz-Content-SHA256`` header (the
upstream should then check the body against it), or by the service itself through
``POST /v1/authorize``.

What iamd answers:

* ``200`` and, for the upstream, ``X-Iamd-Principal-Arn``, ``X-Iamd-Account``,
  ``X-Iamd-Principal-Type``, ``X-Iamd-User-Id``, ``X-Iamd-Session-Name`` (role sessions),
  ``X-Iamd-Action``, ``X-Iamd-Resource``, ``X-Iamd-Request-Id``, and ``X-Iamd-Principal-Tags``
  (``key=value`` pairs, percent-encoded, joined by ``&``).  Copy them onto the upstream request
  (nginx: ``auth_request_set`` + ``proxy_set_header``; Traefik: ``authResponseHeaders``; Envoy:
  ``allowed_upstream_headers``) so that they *replace* anything the client sent under those names.
* ``401`` with ``WWW-Authenticate: AWS4-HMAC-SHA256`` when the request is not signed, or its
  signature, credentials or clock do not check (``X-Iamd-Error`` names AWS's error code);
* ``403`` when the request is authenticated but denied, or no rule maps it (``X-Iamd-Error``:
  ``AccessDenied``).

nginx's ``auth_request`` understands only 2xx, 401 and 403 (anything else is a 500 for the
client), so the endpoint answers nothing else, not even for its own failures (403).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

# what the proxies send
X_ORIGINAL_METHOD = "x-original-method"
X_ORIGINAL_URI = "x-original-uri"
X_ORIGINAL_HOST = "x-original-host"
X_FORWARDED_METHOD = "x-forwarded-method"
X_FORWARDED_URI = "x-forwarded-uri"
X_FORWARDED_HOST = "x-forwarded-host"
X_FORWARDED_PROTO = "x-forwarded-proto"
X_FORWARDED_FOR = "x-forwarded-for"

# what iamd answers
PRINCIPAL_ARN = "X-Iamd-Principal-Arn"
ACCOUNT = "X-Iamd-Account"
PRINCIPAL_TYPE = "X-Iamd-Principal-Type"
USER_ID = "X-Iamd-User-Id"
SESSION_NAME = "X-Iamd-Session-Name"
PRINCIPAL_TAGS = "X-Iamd-Principal-Tags"
ACTION = "X-Iamd-Action"
RESOURCE = "X-Iamd-Resource"
REQUEST_ID = "X-Iamd-Request-Id"
ERROR = "X-Iamd-Error"
RESPONSE_HEADERS = (
    PRINCIPAL_ARN,
    ACCOUNT,
    PRINCIPAL_TYPE,
    USER_ID,
    SESSION_NAME,
    PRINCIPAL_TAGS,
    ACTION,
    RESOURCE,
    REQUEST_ID,
)
"""Every header an allow carries: the proxy must overwrite all of them on the upstream request."""

# Headers that describe the hop to iamd, not the original request: never part of its signature.
HOP_HEADERS = frozenset(
    {
        X_ORIGINAL_METHOD,
        X_ORIGINAL_URI,
        X_ORIGINAL_HOST,
        X_FORWARDED_METHOD,
        X_FORWARDED_URI,
        X_FORWARDED_HOST,
        X_FORWARDED_PROTO,
        X_FORWARDED_FOR,
        "x-forwarded-port",
        "x-forwarded-server",
        "x-real-ip",
        "x-envoy-expected-rq-timeout-ms",
        "x-envoy-internal",
        "x-request-id",
        "connection",
        "content-length",
        "transfer-encoding",
    }
)


class Proxy(enum.Enum):
    NGINX = "nginx"
    TRAEFIK = "traefik"
    ENVOY = "envoy"


class HeaderError(ValueError):
    """The proxy did not send what the contract needs (a configuration error: answered 403)."""


@dataclass(frozen=True, slots=True)
class OriginalRequest:
    method: str
    uri: str
    """Path and query, as the client sent them (percent-encoded)."""
    host: str
    headers: tuple[tuple[str, str], ...]
    """The original request's headers (names lower-cased), hop headers removed."""

    @property
    def path(self) -> str:
        return self.uri.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.uri.split("?", 1)[1] if "?" in self.uri else ""


def _first(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def detect(headers: Iterable[tuple[str, str]]) -> Proxy:
    """Which proxy sent the check: nginx's or Traefik's headers; else Envoy (the request itself)."""
    names = {k for k, _ in headers}
    if X_ORIGINAL_URI in names or X_ORIGINAL_METHOD in names:
        return Proxy.NGINX
    if X_FORWARDED_URI in names or X_FORWARDED_METHOD in names:
        return Proxy.TRAEFIK
    return Proxy.ENVOY


def original_request(
    method: str,
    path: str,
    query: str,
    headers: Iterable[tuple[str, str]],
    *,
    envoy_prefix: str = "",
    proxy: Proxy | None = None,
) -> OriginalRequest:
    """The request the proxy received, from the check request iamd received.

    ``method``/``path``/``query``: the check request's own; ``headers``: its (name, value) pairs,
    names lower-cased; ``envoy_prefix``: Envoy's ``path_prefix`` (stripped from the path).
    """
    pairs = tuple((k.lower(), v) for k, v in headers)
    kind = proxy or detect(pairs)
    if kind is Proxy.NGINX:
        original_method = _first(pairs, X_ORIGINAL_METHOD)
        uri = _first(pairs, X_ORIGINAL_URI)
        host = _first(pairs, X_ORIGINAL_HOST) or _first(pairs, "host")
        missing = [n for n, v in ((X_ORIGINAL_METHOD, original_method), (X_ORIGINAL_URI, uri)) if not v]
    elif kind is Proxy.TRAEFIK:
        original_method = _first(pairs, X_FORWARDED_METHOD)
        uri = _first(pairs, X_FORWARDED_URI)
        host = _first(pairs, X_FORWARDED_HOST) or _first(pairs, "host")
        missing = [n for n, v in ((X_FORWARDED_METHOD, original_method), (X_FORWARDED_URI, uri)) if not v]
    else:
        original_method = method
        if envoy_prefix and not path.startswith(envoy_prefix):
            raise HeaderError(f"the check request's path does not start with the configured prefix {envoy_prefix}")
        rest = path[len(envoy_prefix) :] if envoy_prefix else path
        uri = (rest or "/") + (f"?{query}" if query else "")
        host = _first(pairs, "host")
        missing = []
    if missing:
        raise HeaderError(f"the proxy sent no {' and no '.join(missing)} header: see the forward-auth configuration")
    if not host:
        raise HeaderError("the proxy sent no Host header for the original request")
    assert original_method is not None and uri is not None
    if not uri.startswith("/"):
        raise HeaderError("the original URI must start with /")
    kept = [(k, v) for k, v in pairs if k not in HOP_HEADERS and k != "host"]
    kept.insert(0, ("host", host))
    return OriginalRequest(method=original_method.upper(), uri=uri, host=host, headers=tuple(kept))


@dataclass(frozen=True, slots=True)
class Grant:
    """Who was let through, for the upstream."""

    principal_arn: str
    account_id: str
    principal_type: str
    user_id: str
    action: str
    resource: str
    request_id: str
    session_name: str | None = None
    tags: Mapping[str, str] | None = None


def _clean(value: str) -> str:
    """Header values never carry control characters (a tag cannot add a header)."""
    return "".join(ch if 32 <= ord(ch) < 127 else quote(ch) for ch in value)


def allow_headers(grant: Grant) -> list[tuple[str, str]]:
    """The headers of a 200 answer (every name in RESPONSE_HEADERS, empty when not applicable)."""
    tags = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted((grant.tags or {}).items()))
    values = {
        PRINCIPAL_ARN: grant.principal_arn,
        ACCOUNT: grant.account_id,
        PRINCIPAL_TYPE: grant.principal_type,
        USER_ID: grant.user_id,
        SESSION_NAME: grant.session_name or "",
        PRINCIPAL_TAGS: tags,
        ACTION: grant.action,
        RESOURCE: grant.resource,
        REQUEST_ID: grant.request_id,
    }
    return [(name, _clean(values[name])) for name in RESPONSE_HEADERS]


def unauthenticated_headers(error_code: str, request_id: str) -> list[tuple[str, str]]:
    return [("WWW-Authenticate", "AWS4-HMAC-SHA256"), (ERROR, _clean(error_code)), (REQUEST_ID, request_id)]


def denied_headers(request_id: str, error_code: str = "AccessDenied") -> list[tuple[str, str]]:
    return [(ERROR, _clean(error_code)), (REQUEST_ID, request_id)]
