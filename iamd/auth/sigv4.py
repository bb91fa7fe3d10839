"""AWS Signature Version 4 verification (server side).

Two request forms are understood:

* the ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`` header
  (date from ``X-Amz-Date``, or the ``Date`` header as a fallback), and
* presigned (query-string) requests carrying ``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
  ``X-Amz-SignedHeaders``, ``X-Amz-Signature`` and usually ``X-Amz-Expires``.

Canonicalisation follows AWS for every service but S3: the path is normalised (``.``/``..`` segments
removed, duplicate slashes collapsed) and URI-encoded once more even though it arrives percent-encoded;
query names and values are decoded and re-encoded with the strict unreserved rule and sorted; header
values are trimmed with inner runs of white space (folded lines included) collapsed to one space and
repeated headers joined with ``,`` in arrival order.

Ambiguous requests are refused (``IncompleteSignature``) rather than read one way: a proxy or a log
that read them another way would disagree with iamd about who is calling.  That is

* a header the signature depends on given more than once (``Authorization``, ``Host``,
  ``X-Amz-Date``, ``Date``, ``X-Amz-Security-Token``, ``X-Amz-Content-SHA256``);
* an ``Authorization`` header whose parameters are not all ``key=value`` (AWS's "missing
  equal-sign" error, which also catches two headers folded into one) or name one twice;
* signing parameters in more than one place: an ``Authorization`` header next to any
  ``X-Amz-*`` signing parameter (or a SigV2 ``Signature``) in the query string or the form body
  (AWS's "Only one auth mechanism allowed"); a presigned request with a signing parameter in the
  form body, an ``X-Amz-Date`` header, or its security token both in the query and in a header.

Strings in :class:`~iamd.core.http.HttpRequest` are taken to be the request's bytes decoded as
latin-1 (what the web layer does), so they are turned back into the very bytes the client signed;
characters beyond U+00FF, which latin-1 cannot hold, are encoded as UTF-8.

Derived signing keys are kept in a bounded cache keyed by a SHA-256 of the secret plus the scope,
so steady traffic costs two SHA-256 hashes and one HMAC per request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import TypeVar
from urllib.parse import quote, unquote, unquote_to_bytes

from iamd.core.clock import Clock
from iamd.core.errors import IncompleteSignature, SignatureDoesNotMatch
from iamd.core.http import HttpRequest

__all__ = ["ALGORITHM", "MAX_PRESIGN_EXPIRES", "SigV4Verifier", "SignatureInfo"]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_PRESIGN_EXPIRES = 604800
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_Q_ALGORITHM = "X-Amz-Algorithm"
_Q_CREDENTIAL = "X-Amz-Credential"
_Q_DATE = "X-Amz-Date"
_Q_EXPIRES = "X-Amz-Expires"
_Q_SIGNED_HEADERS = "X-Amz-SignedHeaders"
_Q_SIGNATURE = "X-Amz-Signature"
_Q_TOKEN = "X-Amz-Security-Token"  # noqa: S105 - a parameter name, not a secret
_Q_AUTH_NAMES = frozenset({_Q_ALGORITHM, _Q_CREDENTIAL, _Q_DATE, _Q_EXPIRES, _Q_SIGNED_HEADERS, _Q_SIGNATURE, _Q_TOKEN})
_Q_REQUIRED = (_Q_ALGORITHM, _Q_CREDENTIAL, _Q_SIGNATURE, _Q_DATE, _Q_SIGNED_HEADERS)
_V2_SIGNATURE = "Signature"
"""The SigV2 signature parameter: a second mechanism next to SigV4 (iamd does not take SigV2)."""

_ONE_MECHANISM = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
    "Signature query string parameter or the Authorization header should be specified"
)
_SINGLE_HEADERS = {
    "authorization": "Authorization",
    "host": "Host",
    "x-amz-date": "X-Amz-Date",
    "date": "Date",
    "x-amz-security-token": "X-Amz-Security-Token",
    "x-amz-content-sha256": "X-Amz-Content-SHA256",
}
"""Headers authentication reads (lower-case name -> display name): each may appear once."""
_HAS_SPACE_RE = re.compile(r"\s")

_AMZ_DATE_RE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")
_REGION_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_EXPIRES_RE = re.compile(r"[0-9]{1,10}")
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")

_MEMO_MAX = 1024

_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(memo: dict[_K, _V], key: _K, value: _V) -> dict[_K, _V]:
    """Store ``key`` in ``memo``, starting a fresh dict when it is full; returns the dict to keep."""
    if len(memo) >= _MEMO_MAX:
        memo = {}
    memo[key] = value
    return memo


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    """What a SigV4-signed request claims, before the signature is checked."""

    access_key_id: str
    scope_date: str
    """``YYYYMMDD`` from the credential scope."""
    region: str
    service: str
    """The credential scope's service, e.g. ``iam`` or ``sts``: the server dispatches on it."""
    signed_headers: tuple[str, ...]
    signature: str
    """Hex signature as sent."""
    request_time: datetime
    """From ``X-Amz-Date`` (or the ``Date`` header), timezone-aware UTC."""
    security_token: str | None
    """``X-Amz-Security-Token`` from the header or the query."""
    presigned: bool
    expires: int | None
    """``X-Amz-Expires`` of a presigned request."""


def _to_bytes(text: str) -> bytes:
    """The bytes ``text`` was decoded from (latin-1), or its UTF-8 when it holds wider characters."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


@lru_cache(maxsize=1024)
def _amz_date(when: datetime) -> str:
    """``YYYYMMDDTHHMMSSZ`` (ISO 8601 basic format, UTC)."""
    if when.utcoffset():
        when = when.astimezone(UTC)
    return f"{when.year:04d}{when.month:02d}{when.day:02d}T{when.hour:02d}{when.minute:02d}{when.second:02d}Z"


def _amz_date_ts(ts: float) -> str:
    return _amz_date(datetime.fromtimestamp(int(ts // 1), UTC))


def _window(seconds: int) -> str:
    return f"{seconds // 60} min." if seconds % 60 == 0 else f"{seconds} sec."


def normalize_path(path: str) -> str:
    """Remove ``.``/``..`` segments and empty segments (RFC 3986 5.2.4 plus AWS's slash collapsing).

    A trailing slash is kept when the path had one and anything is left.
    """
    if not path:
        return "/"
    out: list[str] = []
    for segment in path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if out:
                out.pop()
        else:
            out.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and out else ""
    return first + "/".join(out) + last


def canonical_uri(path: str, normalize: bool = True) -> str:
    """The canonical URI: (normalised) path with every byte but unreserved ones and ``/`` %-encoded."""
    if path == "/" or not path:
        return "/"
    if normalize:
        path = normalize_path(path)
    return quote(_to_bytes(path), safe="/~")


def _encode_component(raw: str) -> str:
    """Decode one raw (percent-encoded) query name or value and re-encode it strictly."""
    if "%" not in raw:
        return quote(_to_bytes(raw), safe="~")
    return quote(unquote_to_bytes(_to_bytes(raw)), safe="~")


def canonical_query(query_string: str, exclude: frozenset[str] = frozenset()) -> str:
    """The canonical query string; parameters whose decoded name is in ``exclude`` are left out."""
    if not query_string:
        return ""
    pairs: list[tuple[str, str]] = []
    for segment in query_string.split("&"):
        if not segment:
            continue
        raw_name, _, raw_value = segment.partition("=")
        if exclude and _decode(raw_name) in exclude:
            continue
        pairs.append((_encode_component(raw_name), _encode_component(raw_value)))
    if len(pairs) > 1:
        pairs.sort()
    return "&".join([f"{name}={value}" for name, value in pairs])


def _decode(raw: str) -> str:
    return unquote(raw, errors="replace") if "%" in raw else raw


def _query_params(query_string: str) -> list[tuple[str, str]]:
    """Decoded (name, value) pairs in order; a parameter without ``=`` has an empty value."""
    params: list[tuple[str, str]] = []
    for segment in query_string.split("&"):
        if segment:
            raw_name, _, raw_value = segment.partition("=")
            params.append((_decode(raw_name), _decode(raw_value)))
    return params


def _has_v2_signature(query_string: str, form_params: Mapping[str, str] | None) -> bool:
    """Whether the query string or the form parameters carry a SigV2 ``Signature``."""
    if form_params is not None and _V2_SIGNATURE in form_params:
        return True
    if not query_string or ("Signature" not in query_string and "%" not in query_string):
        return False
    return any(name == _V2_SIGNATURE for name, _ in _query_params(query_string))


def _trimall(value: str) -> str:
    return " ".join(value.split())


def derive_signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")."""
    key = hmac.digest(("AWS4" + secret_access_key).encode("utf-8"), date.encode("utf-8"), "sha256")
    key = hmac.digest(key, region.encode("utf-8"), "sha256")
    key = hmac.digest(key, service.encode("utf-8"), "sha256")
    return hmac.digest(key, TERMINATOR.encode("ascii"), "sha256")


class SigV4Verifier:
    """Parses and checks SigV4 signatures against a clock.

    ``normalize_path=False`` turns path normalisation off (S3's rule); IAM and STS normalise.
    """

    def __init__(
        self,
        clock: Clock,
        max_skew_seconds: int = 900,
        key_cache_size: int = 4096,
        *,
        normalize_path: bool = True,
    ) -> None:
        self._clock = clock
        self._skew = int(max_skew_seconds)
        self._key_cache_size = max(1, int(key_cache_size))
        self._normalize = normalize_path
        self._keys: dict[tuple[bytes, str, str, str], bytes] = {}
        self._lock = threading.Lock()
        # Small parse memos (reset when full): the same few values recur request after request.
        self._dates: dict[str, tuple[datetime, float]] = {}
        self._credentials: dict[str, tuple[str, str, str, str]] = {}
        self._signed_lists: dict[str, tuple[str, ...]] = {}
        self.key_derivations = 0
        """How many signing keys were derived (cache misses); tests and metrics read it."""

    # -- the key cache ---------------------------------------------------------------------------

    @property
    def key_cache_size(self) -> int:
        return len(self._keys)

    def clear_key_cache(self) -> None:
        with self._lock:
            self._keys = {}

    def signing_key(self, secret_access_key: str, date: str, region: str, service: str) -> bytes:
        cache_key = (hashlib.sha256(secret_access_key.encode("utf-8")).digest(), date, region, service)
        key = self._keys.get(cache_key)
        if key is not None:
            return key
        key = derive_signing_key(secret_access_key, date, region, service)
        with self._lock:
            keys = self._keys
            while len(keys) >= self._key_cache_size:  # evict the oldest entries
                del keys[next(iter(keys))]
            keys[cache_key] = key
            self.key_derivations += 1
        return key

    # -- parse -------------------------------------------------------------------------------------

    def parse(self, request: HttpRequest, form_params: Mapping[str, str] | None = None) -> SignatureInfo | None:
        """The request's SigV4 claims, or None when it carries no SigV4 authentication at all.

        ``form_params`` are the request's decoded parameters (query string and form body
        together); given, signing parameters found only there (in the body) are refused too.

        Raises IncompleteSignature for malformed, missing or ambiguous pieces and
        SignatureDoesNotMatch when the request time is outside the allowed window or disagrees
        with the credential scope.
        """
        self._check_single_headers(request.headers)
        authorization = request.header("authorization")
        query_string = request.query_string
        query_auth: dict[str, str] | None = None
        if query_string and ("X-Amz-" in query_string or "%" in query_string):
            query_auth = self._query_auth_params(query_string)
        in_body = self._body_auth_names(form_params, query_auth)
        sigv2 = _has_v2_signature(query_string, form_params)
        if authorization is not None:
            if query_auth is not None or in_body or sigv2:
                raise IncompleteSignature(_ONE_MECHANISM)
            return self._parse_header(request, authorization)
        if query_auth is None or (_Q_SIGNATURE not in query_auth and _Q_ALGORITHM not in query_auth):
            return None
        if sigv2:
            raise IncompleteSignature(_ONE_MECHANISM)
        if in_body:
            raise IncompleteSignature(
                f"The signing parameter {in_body[0]} is in the request body: a presigned request carries "
                "every X-Amz-* signing parameter in the query string."
            )
        if request.header("x-amz-date") is not None:
            raise IncompleteSignature(
                "A presigned request carries its date in the X-Amz-Date query parameter only, "
                "not also in an X-Amz-Date header."
            )
        return self._parse_presigned(request, query_auth)

    @staticmethod
    def _check_single_headers(headers: tuple[tuple[str, str], ...]) -> None:
        seen: set[str] = set()
        for name, _ in headers:
            if name in _SINGLE_HEADERS:
                if name in seen:
                    raise IncompleteSignature(
                        f"The request carries the {_SINGLE_HEADERS[name]} header more than once: "
                        "send each header the signature depends on exactly once."
                    )
                seen.add(name)

    @staticmethod
    def _body_auth_names(form_params: Mapping[str, str] | None, query_auth: dict[str, str] | None) -> list[str]:
        """SigV4 signing parameters among ``form_params`` that did not come from the query string."""
        if not form_params:
            return []
        return [
            name for name in sorted(_Q_AUTH_NAMES) if name in form_params and not (query_auth and name in query_auth)
        ]

    def _query_auth_params(self, query_string: str) -> dict[str, str] | None:
        found: dict[str, str] = {}
        for name, value in _query_params(query_string):
            if name in _Q_AUTH_NAMES:
                if name in found:
                    raise IncompleteSignature(f"The query parameter '{name}' may appear only once.")
                found[name] = value
        return found or None

    def _parse_header(self, request: HttpRequest, authorization: str) -> SignatureInfo:
        algorithm, _, rest = authorization.strip().partition(" ")
        if algorithm != ALGORITHM:
            raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{algorithm}'.")
        components: dict[str, str] = {}
        for part in rest.split(","):
            part = part.strip()
            if not part:
                continue
            key, eq, value = part.partition("=")
            if not eq or _HAS_SPACE_RE.search(key):
                # e.g. two Authorization headers folded into one: "..., Signature=s, AWS4-HMAC-SHA256 Credential=..."
                raise IncompleteSignature(
                    f"'{part.split()[0]}' not a valid key=value pair (missing equal-sign) in Authorization header: "
                    f"'{authorization}'."
                )
            if key in components:
                raise IncompleteSignature(
                    f"Authorization header has the '{key}' parameter more than once. Authorization={authorization}"
                )
            components[key] = value.strip()
        credential = components.get("Credential")
        signed = components.get("SignedHeaders")
        signature = components.get("Signature")
        amz_date = request.header("x-amz-date")
        date_header = request.header("date") if amz_date is None else None
        problems: list[str] = []
        if not credential:
            problems.append("Authorization header requires 'Credential' parameter.")
        if not signature:
            problems.append("Authorization header requires 'Signature' parameter.")
        if not signed:
            problems.append("Authorization header requires 'SignedHeaders' parameter.")
        if amz_date is None and date_header is None:
            problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        if problems:
            raise IncompleteSignature(" ".join(problems) + f" Authorization={authorization}")
        assert credential is not None and signed is not None and signature is not None
        access_key_id, scope_date, region, service = self._credential(credential)
        signed_headers = self._signed_headers(signed, "Authorization")
        if amz_date is not None:
            request_time, ts = self._parse_amz_date(amz_date.strip())
        else:
            assert date_header is not None
            request_time, ts = self._parse_http_date(date_header)
        self._check_scope_date(scope_date, request_time)
        self._check_skew(ts)
        return SignatureInfo(
            access_key_id=access_key_id,
            scope_date=scope_date,
            region=region,
            service=service,
            signed_headers=signed_headers,
            signature=signature,
            request_time=request_time,
            security_token=request.header("x-amz-security-token"),
            presigned=False,
            expires=None,
        )

    def _parse_presigned(self, request: HttpRequest, params: dict[str, str]) -> SignatureInfo:
        missing = [name for name in _Q_REQUIRED if not params.get(name)]
        if missing:
            raise IncompleteSignature(
                "AWS query-string parameters must include "
                + ", ".join(f"'{name}'" for name in missing)
                + ". Re-examine the query-string parameters."
            )
        if params[_Q_ALGORITHM] != ALGORITHM:
            raise IncompleteSignature(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
        access_key_id, scope_date, region, service = self._credential(params[_Q_CREDENTIAL])
        signed_headers = self._signed_headers(params[_Q_SIGNED_HEADERS], "X-Amz-SignedHeaders")
        request_time, ts = self._parse_amz_date(params[_Q_DATE])
        expires: int | None = None
        raw_expires = params.get(_Q_EXPIRES)
        if raw_expires is not None:
            if not _EXPIRES_RE.fullmatch(raw_expires):
                raise IncompleteSignature(f"X-Amz-Expires should be a number, not '{raw_expires}'.")
            expires = int(raw_expires)
            if expires < 1:
                raise IncompleteSignature("X-Amz-Expires must be at least 1 second.")
            if expires > MAX_PRESIGN_EXPIRES:
                raise IncompleteSignature(
                    f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_EXPIRES}"
                )
        self._check_scope_date(scope_date, request_time)
        now = self._clock.time()
        if expires is None:
            self._check_skew(ts, now)
        else:
            if ts > now + self._skew:
                self._check_skew(ts, now)
            if now > ts + expires:
                raise SignatureDoesNotMatch(
                    f"Signature expired: {_amz_date(request_time)} is now earlier than "
                    f"{_amz_date_ts(now - expires)} ({_amz_date_ts(now)} - {expires} sec.)"
                )
        token = params.get(_Q_TOKEN)
        header_token = request.header("x-amz-security-token")
        if token is None:
            token = header_token
        elif header_token is not None:
            raise IncompleteSignature(
                "The security token is given both as the X-Amz-Security-Token query parameter and as a header: "
                "send it once."
            )
        return SignatureInfo(
            access_key_id=access_key_id,
            scope_date=scope_date,
            region=region,
            service=service,
            signed_headers=signed_headers,
            signature=params[_Q_SIGNATURE],
            request_time=request_time,
            security_token=token,
            presigned=True,
            expires=expires,
        )

    def _credential(self, credential: str) -> tuple[str, str, str, str]:
        parsed = self._credentials.get(credential)
        if parsed is None:
            parsed = self._parse_credential(credential)
            self._credentials = _remember(self._credentials, credential, parsed)
        return parsed

    def _signed_headers(self, signed: str, where: str) -> tuple[str, ...]:
        parsed = self._signed_lists.get(signed)
        if parsed is None:
            parsed = self._parse_signed_headers(signed, where)
            self._signed_lists = _remember(self._signed_lists, signed, parsed)
        return parsed

    @staticmethod
    def _parse_credential(credential: str) -> tuple[str, str, str, str]:
        parts = credential.split("/")
        if len(parts) != 5:
            if len(parts) < 5:
                raise IncompleteSignature(
                    f"Credential should be scoped to a valid region. Credential={credential} is not of the form "
                    f"'<access key id>/<YYYYMMDD>/<region>/<service>/{TERMINATOR}'."
                )
            raise IncompleteSignature(
                f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{'/'.join(parts[4:])}'. "
            )
        access_key_id, scope_date, region, service, terminator = parts
        if terminator != TERMINATOR:
            raise IncompleteSignature(
                f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'. "
            )
        if not _REGION_RE.fullmatch(region):
            raise IncompleteSignature("Credential should be scoped to a valid region. ")
        if not access_key_id:
            raise IncompleteSignature("Credential must name an access key id. ")
        return access_key_id, scope_date, region, service

    @staticmethod
    def _parse_signed_headers(signed: str, where: str) -> tuple[str, ...]:
        names = tuple(signed.strip().lower().split(";"))
        for name in names:
            if not _HEADER_NAME_RE.fullmatch(name):
                raise IncompleteSignature(f"{where} has an invalid signed header name: '{name}'.")
        if "host" not in names:
            raise IncompleteSignature(f"'Host' or ':authority' must be a 'SignedHeader' in the AWS {where}.")
        return names

    def _parse_amz_date(self, text: str) -> tuple[datetime, float]:
        cached = self._dates.get(text)
        if cached is not None:
            return cached
        match = _AMZ_DATE_RE.fullmatch(text)
        if match is None:
            raise IncompleteSignature(
                f"Date must be in ISO-8601 'basic format'. Got '{text}'. See http://en.wikipedia.org/wiki/ISO_8601"
            )
        try:
            year, month, day, hour, minute, second = (int(group) for group in match.groups())
            when = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:
            raise IncompleteSignature(
                f"Date must be in ISO-8601 'basic format'. Got '{text}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ) from None
        parsed = (when, when.timestamp())
        self._dates = _remember(self._dates, text, parsed)
        return parsed

    @staticmethod
    def _parse_http_date(text: str) -> tuple[datetime, float]:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            raise IncompleteSignature(f"Date header is not a valid HTTP date: '{text}'.") from None
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        when = when.replace(microsecond=0)
        return when, when.timestamp()

    @staticmethod
    def _check_scope_date(scope_date: str, request_time: datetime) -> None:
        amz = _amz_date(request_time)
        if scope_date != amz[:8]:
            raise SignatureDoesNotMatch(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{scope_date}' != '{amz[:8]}', from '{amz}'."
            )

    def _check_skew(self, ts: float, now: float | None = None) -> None:
        if now is None:
            now = self._clock.time()
        skew = self._skew
        if ts < now - skew:
            raise SignatureDoesNotMatch(
                f"Signature expired: {_amz_date_ts(ts)} is now earlier than {_amz_date_ts(now - skew)} "
                f"({_amz_date_ts(now)} - {_window(skew)})"
            )
        if ts > now + skew:
            raise SignatureDoesNotMatch(
                f"Signature not yet current: {_amz_date_ts(ts)} is still later than {_amz_date_ts(now + skew)} "
                f"({_amz_date_ts(now)} + {_window(skew)})"
            )

    # -- canonical forms -----------------------------------------------------------------------------

    def canonical_request(
        self,
        request: HttpRequest,
        info: SignatureInfo,
        *,
        omit_security_token: bool = False,
        payload_hash: str | None = None,
    ) -> str:
        """The canonical request AWS builds for ``request``.

        ``omit_security_token`` leaves ``X-Amz-Security-Token`` out of a presigned request's canonical
        query, for signers that add the token after signing (as AWS IoT clients do).
        ``payload_hash`` (hex SHA-256) stands for the body when iamd checks a request it did not
        receive itself (the authorization API: the resource server sends the body's hash).
        """
        if info.presigned:
            exclude = frozenset({_Q_SIGNATURE, _Q_TOKEN}) if omit_security_token else frozenset({_Q_SIGNATURE})
        else:
            exclude = frozenset()
        signed = info.signed_headers
        wanted = set(signed)
        values: dict[str, list[str]] = {}
        for name, value in request.headers:
            if name in wanted:
                bucket = values.get(name)
                if bucket is None:
                    values[name] = [_trimall(value)]
                else:
                    bucket.append(_trimall(value))
        if len(values) != len(wanted):
            missing = next(name for name in signed if name not in values)
            raise IncompleteSignature(
                f"'{missing}' is named as a SignedHeader, but it does not exist in the HTTP request"
            )
        header_lines = "".join([f"{name}:{','.join(values[name])}\n" for name in signed])
        claimed = request.header("x-amz-content-sha256")
        if claimed is not None:
            payload_hash = claimed
        elif payload_hash is None:
            payload_hash = hashlib.sha256(request.body).hexdigest() if request.body else EMPTY_SHA256
        return (
            f"{request.method}\n"
            f"{canonical_uri(request.path, self._normalize)}\n"
            f"{canonical_query(request.query_string, exclude)}\n"
            f"{header_lines}\n"
            f"{';'.join(signed)}\n"
            f"{payload_hash}"
        )

    def string_to_sign(
        self,
        request: HttpRequest,
        info: SignatureInfo,
        *,
        omit_security_token: bool = False,
        payload_hash: str | None = None,
    ) -> str:
        creq = self.canonical_request(request, info, omit_security_token=omit_security_token, payload_hash=payload_hash)
        return self._string_to_sign(info, creq)

    @staticmethod
    def _string_to_sign(info: SignatureInfo, creq: str) -> str:
        return (
            f"{ALGORITHM}\n{_amz_date(info.request_time)}\n"
            f"{info.scope_date}/{info.region}/{info.service}/{TERMINATOR}\n"
            f"{hashlib.sha256(_to_bytes(creq)).hexdigest()}"
        )

    # -- verify --------------------------------------------------------------------------------------

    def expected_signature(
        self,
        request: HttpRequest,
        info: SignatureInfo,
        secret_access_key: str,
        *,
        omit_security_token: bool = False,
        payload_hash: str | None = None,
    ) -> str:
        sts = self.string_to_sign(request, info, omit_security_token=omit_security_token, payload_hash=payload_hash)
        key = self.signing_key(secret_access_key, info.scope_date, info.region, info.service)
        return hmac.digest(key, sts.encode("utf-8", "surrogatepass"), "sha256").hex()

    def verify(
        self, request: HttpRequest, info: SignatureInfo, secret_access_key: str, *, payload_hash: str | None = None
    ) -> None:
        """Recompute the signature of ``request``; raise SignatureDoesNotMatch unless it is ``info.signature``.

        ``payload_hash``: the hex SHA-256 of a body iamd was not sent (it stands for ``request.body``);
        ``UNSIGNED-PAYLOAD`` when nobody hashed the body (a proxy's check): an ``X-Amz-Content-SHA256``
        claim is then taken as it is, and whoever receives the body must check it.
        """
        self._check_payload_hash(request, payload_hash)
        provided = info.signature.encode("utf-8", "surrogatepass")
        expected = self.expected_signature(request, info, secret_access_key, payload_hash=payload_hash)
        if hmac.compare_digest(expected.encode("ascii"), provided):
            return
        if info.presigned and info.security_token is not None and _Q_TOKEN in request.query_string:
            # Some signers (AWS IoT style) append the session token after signing.
            expected = self.expected_signature(
                request, info, secret_access_key, omit_security_token=True, payload_hash=payload_hash
            )
            if hmac.compare_digest(expected.encode("ascii"), provided):
                return
        raise SignatureDoesNotMatch()

    @staticmethod
    def _check_payload_hash(request: HttpRequest, payload_hash: str | None = None) -> None:
        claimed = request.header("x-amz-content-sha256")
        if claimed is None or payload_hash == UNSIGNED_PAYLOAD:
            return
        body = request.body
        if payload_hash is not None:
            actual = payload_hash
        else:
            actual = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        if claimed == UNSIGNED_PAYLOAD and actual == EMPTY_SHA256:
            return
        if claimed != actual:
            raise SignatureDoesNotMatch("The provided 'x-amz-content-sha256' header does not match what was computed.")
