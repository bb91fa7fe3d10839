"""SigV4 test helpers: sign with botocore (an independent signer) and mutate signed requests byte by byte.

``botocore_sign`` turns a request signed by botocore's ``SigV4Auth``/``SigV4QueryAuth`` into the
:class:`~iamd.core.http.HttpRequest` the web layer would build from it.  ``check_mutations`` changes
every byte of every signed element of a signed request, one at a time, and checks that the verifier
refuses each change (and accepts the few that AWS does not sign).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from unittest import mock
from urllib.parse import parse_qsl, unquote, urlsplit

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import normalize_url_path

from iamd.auth.sigv4 import SignatureInfo, SigV4Verifier
from iamd.core.errors import IncompleteSignature, SignatureDoesNotMatch
from iamd.core.http import HttpRequest

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
WHEN = dt.datetime(2024, 1, 1, 0, 30, 0, tzinfo=dt.UTC)

AUTH_QUERY_PARAMS = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    }
)


# -- signing with botocore ---------------------------------------------------------------------------


def to_http_request(request: AWSRequest) -> HttpRequest:
    """The HttpRequest the web layer would build for what botocore sends (bytes decoded as latin-1)."""
    parts = urlsplit(request.url)
    body = request.body if request.body is not None else request.data
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = tuple(
        (name.lower(), value.decode("latin-1") if isinstance(value, bytes) else value)
        for name, value in request.headers.items()
    )
    if "host" not in request.headers:
        # The HTTP client adds Host from the URL (without a default port), as botocore signed it.
        default_port = {"http": 80, "https": 443}[parts.scheme]
        host = parts.hostname or ""
        if parts.port is not None and parts.port != default_port:
            host = f"{host}:{parts.port}"
        headers = (("host", host), *headers)
    return HttpRequest(
        method=request.method,
        path=parts.path or "/",
        query_string=parts.query,
        headers=headers,
        body=body or b"",
    )


@dataclass(frozen=True)
class BotocoreSigned:
    request: HttpRequest
    canonical_request: str
    """The canonical request botocore built (and signed)."""


def botocore_sign_full(
    method: str,
    url: str,
    *,
    body: bytes | str = b"",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    service: str = "iam",
    region: str = "us-east-1",
    when: dt.datetime = WHEN,
    key: str = AKID,
    secret: str = SECRET,
    token: str | None = None,
    presign: bool = False,
    expires: int = 3600,
) -> BotocoreSigned:
    """Sign with botocore (SigV4Auth, or SigV4QueryAuth when ``presign``) as of ``when``.

    ``headers`` may be a list of pairs to send one header name more than once (in any case).
    """
    data: bytes | str | dict[str, str] = body
    if presign and body:
        # Query services hand botocore's presigner the form as a dict; it moves it into the query.
        text = body.decode() if isinstance(body, bytes) else body
        data = dict(parse_qsl(text, keep_blank_values=True))
    request = AWSRequest(method=method, url=url, data=data)
    for name, value in headers.items() if isinstance(headers, dict) else headers or ():
        request.headers[name] = value  # HTTPHeaders appends: a repeated name is sent twice
    credentials = Credentials(key, secret, token)
    signer: SigV4Auth
    if presign:
        signer = SigV4QueryAuth(credentials, service, region, expires=expires)
    else:
        signer = SigV4Auth(credentials, service, region)
    built: list[str] = []
    canonical: Callable[[AWSRequest], str] = signer.canonical_request

    def recording(req: AWSRequest) -> str:
        built.append(canonical(req))
        return built[-1]

    naive = when.astimezone(dt.UTC).replace(tzinfo=None)
    with (
        mock.patch.object(signer, "canonical_request", recording),
        mock.patch("botocore.auth.get_current_datetime", return_value=naive),
    ):
        signer.add_auth(request)
    assert len(built) == 1
    return BotocoreSigned(to_http_request(request), built[0])


def botocore_sign(method: str, url: str, **kwargs: object) -> HttpRequest:
    """:func:`botocore_sign_full`, just the request."""
    return botocore_sign_full(method, url, **kwargs).request  # type: ignore[arg-type]


def replace(request: HttpRequest, **changes: object) -> HttpRequest:
    fields: dict[str, object] = {
        "method": request.method,
        "path": request.path,
        "query_string": request.query_string,
        "headers": request.headers,
        "body": request.body,
    }
    fields.update(changes)
    return HttpRequest(**fields)  # type: ignore[arg-type]


# -- one-byte mutations ----------------------------------------------------------------------------------


def flip(char: str, lower: bool = False) -> str:
    """A different printable, non-space character; never just a case change of ``char``."""
    if lower:
        return "b" if char == "a" else "a"
    return "B" if char in "Aa" else "A"


@dataclass
class Mutation:
    where: str
    request: HttpRequest
    accept: bool
    """The canonical request cannot change (bytes AWS does not sign): must still verify."""
    strict: bool
    """Only the signature check can catch it: verify() must raise SignatureDoesNotMatch."""


def _query_segments(query: str) -> list[tuple[int, int, str]]:
    """(start, end, decoded name) of each ``&``-separated segment."""
    out: list[tuple[int, int, str]] = []
    start = 0
    for segment in query.split("&"):
        out.append((start, start + len(segment), unquote(segment.partition("=")[0])))
        start += len(segment) + 1
    return out


def mutations(
    request: HttpRequest, info: SignatureInfo, *, normalize: bool, token_unsigned: bool
) -> Iterator[Mutation]:
    """Every one-character change of the method, path, query, signed headers, body and signature."""
    for i, ch in enumerate(request.method):
        yield Mutation(
            f"method[{i}]",
            replace(request, method=request.method[:i] + flip(ch) + request.method[i + 1 :]),
            False,
            True,
        )

    original_path = normalize_url_path(request.path) if normalize else request.path
    for i, ch in enumerate(request.path):
        path = request.path[:i] + flip(ch) + request.path[i + 1 :]
        same = normalize and normalize_url_path(path) == original_path
        yield Mutation(f"path[{i}]", replace(request, path=path), same, True)

    query = request.query_string
    segments = _query_segments(query)
    for i, ch in enumerate(query):
        owner = next((s for s in segments if s[0] <= i < s[1]), None)
        auth_param = info.presigned and (owner is None or owner[2] in AUTH_QUERY_PARAMS)
        # In a presigned request whose token was added after signing, the token's value is not signed.
        accept = (
            token_unsigned
            and owner is not None
            and owner[2] == "X-Amz-Security-Token"
            and i > owner[0] + len("X-Amz-Security-Token")
        )
        mutated = query[:i] + flip(ch) + query[i + 1 :]
        yield Mutation(f"query[{i}]={ch!r}", replace(request, query_string=mutated), accept, not auth_param)

    signed = set(info.signed_headers)
    for n, (name, value) in enumerate(request.headers):
        if name not in signed:
            continue
        strict = name not in ("x-amz-date", "date")
        for i, ch in enumerate(name):
            headers = list(request.headers)
            headers[n] = (name[:i] + flip(ch, lower=True) + name[i + 1 :], value)
            yield Mutation(f"header {name} name[{i}]", replace(request, headers=tuple(headers)), False, False)
        for i, ch in enumerate(value):
            headers = list(request.headers)
            headers[n] = (name, value[:i] + flip(ch) + value[i + 1 :])
            yield Mutation(f"header {name} value[{i}]={ch!r}", replace(request, headers=tuple(headers)), False, strict)

    for i, byte in enumerate(request.body):
        body = bytearray(request.body)
        body[i] = ord("B") if byte in b"Aa" else ord("A")
        yield Mutation(f"body[{i}]", replace(request, body=bytes(body)), False, True)

    authorization = request.header("authorization")
    if authorization is not None:
        start = authorization.index("Signature=") + len("Signature=")
        n = next(k for k, (name, _) in enumerate(request.headers) if name == "authorization")
        for i in range(start, len(authorization)):
            headers = list(request.headers)
            headers[n] = ("authorization", authorization[:i] + flip(authorization[i]) + authorization[i + 1 :])
            yield Mutation(f"signature[{i - start}]", replace(request, headers=tuple(headers)), False, True)


def outcome(verifier: SigV4Verifier, request: HttpRequest, secret: str) -> str:
    try:
        info = verifier.parse(request)
        if info is None:
            return "unsigned"
        try:
            verifier.verify(request, info, secret)
        except SignatureDoesNotMatch:
            return "verify:SignatureDoesNotMatch"
    except (SignatureDoesNotMatch, IncompleteSignature) as err:
        return f"parse:{err.code}"
    return "accepted"


def check_mutations(
    verifier: SigV4Verifier, request: HttpRequest, secret: str, *, normalize: bool, token_unsigned: bool = False
) -> int:
    """Verify ``request``, then every one-byte mutation of it; returns how many mutations were tried."""
    info = verifier.parse(request)
    assert info is not None
    verifier.verify(request, info, secret)
    wrong: list[str] = []
    count = 0
    for mutation in mutations(request, info, normalize=normalize, token_unsigned=token_unsigned):
        count += 1
        got = outcome(verifier, mutation.request, secret)
        if mutation.accept:
            ok = got == "accepted"
        elif mutation.strict:
            ok = got == "verify:SignatureDoesNotMatch"
        else:
            ok = got != "accepted"
        if not ok:
            wrong.append(f"{mutation.where}: {got}")
    assert not wrong, f"{len(wrong)} of {count} mutations misjudged: {wrong[:20]}"
    return count
