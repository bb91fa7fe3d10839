"""The SigV4 verifier against botocore's signer, an independent implementation, over generated requests.

Every request is signed by botocore's ``SigV4Auth`` (Authorization header) or ``SigV4QueryAuth``
(presigned query string) and handed to the verifier as the web layer would build it.  The verifier
must rebuild botocore's canonical request byte for byte, accept the signature, and refuse every
one-byte change of a signed element (method, path, query, signed header names and values, body,
signature), while accepting changes that leave the canonical request as it was (a path that still
normalises to the same one).

The query string is written in AWS's canonical encoding (UTF-8, ``%XX`` in upper case, only
``A-Za-z0-9-_.~`` left bare), because botocore signs a URL's query exactly as written: the service
side re-encodes it, so only a canonically written query is signed the same by both.  The path may be
written any way at all: botocore and AWS both normalise it and then encode the written form once more.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iamd.auth.sigv4 import SigV4Verifier
from iamd.core.clock import FixedClock
from iamd.core.errors import IncompleteSignature
from iamd.core.http import HttpRequest
from tests.support.sigv4 import SECRET, WHEN, botocore_sign_full, check_mutations, replace

FORM = "application/x-www-form-urlencoded; charset=utf-8"
HOST = "https://iam.amazonaws.com"

# Characters a path segment may hold bare (RFC 3986 pchar less the percent sign).
PATH_BARE = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@")
# Text the generators draw from: reserved and unreserved ASCII, space, percent sign, Latin-1,
# other BMP characters and one beyond it.
TEXT_ALPHABET = string.ascii_letters + string.digits + "-._~ !\"#$%&'()*+,/:;<=>?@[\\]^`{|}" + "éü€日\U0001f600"
# Header names are HTTP tokens; values are visible ASCII with spaces and tabs anywhere.
TOKEN_ALPHABET = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
HEADER_VALUE_ALPHABET = "".join(chr(c) for c in range(0x20, 0x7F)) + "\t"
# Headers botocore or the verifier give a meaning of their own, or that botocore never signs.
SPECIAL_HEADERS = frozenset(
    {
        "host",
        "authorization",
        "date",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
        "content-type",
        "content-length",
        "expect",
        "transfer-encoding",
        "user-agent",
        "x-amzn-trace-id",
    }
)


def canonical_component(text: str) -> str:
    """``text`` in AWS's canonical query encoding."""
    return quote(text.encode("utf-8"), safe="-_.~")


def path_segment(text: str, lower_hex: bool) -> str:
    """``text`` as a path segment: pchars bare, everything else percent-encoded UTF-8."""
    out = []
    for char in text:
        if char in PATH_BARE:
            out.append(char)
        else:
            encoded = quote(char.encode("utf-8"), safe="")
            out.append(encoded.lower() if lower_hex else encoded)
    return "".join(out)


def query_string(params: list[tuple[str, str, bool]]) -> str:
    """``name=value`` pairs (just ``name`` where the flag is False and the value is empty)."""
    segments = []
    for name, value, with_equals in params:
        if value or with_equals or not name:
            segments.append(f"{canonical_component(name)}={canonical_component(value)}")
        else:
            segments.append(canonical_component(name))
    return "&".join(segments)


@dataclass
class Shape:
    """One request to sign, in the terms the generators speak."""

    method: str = "GET"
    path: str = "/"
    query: str = ""
    body: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    token: str | None = None
    service: str = "iam"
    region: str = "us-east-1"
    payload_header: str | None = None
    """"hash": send X-Amz-Content-SHA256 with the body's hash; "unsigned": UNSIGNED-PAYLOAD."""

    def url(self) -> str:
        return HOST + self.path + (f"?{self.query}" if self.query else "")


def sign(shape: Shape, presign: bool) -> tuple[HttpRequest, str]:
    headers = list(shape.headers)
    if shape.method == "POST":
        headers.append(("Content-Type", FORM))
    if shape.payload_header == "hash":
        headers.append(("X-Amz-Content-SHA256", hashlib.sha256(shape.body.encode()).hexdigest()))
    elif shape.payload_header == "unsigned":
        headers.append(("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"))
    signed = botocore_sign_full(
        shape.method,
        shape.url(),
        body=shape.body,
        headers=headers,
        service=shape.service,
        region=shape.region,
        token=shape.token,
        presign=presign,
    )
    return signed.request, signed.canonical_request


def check_against_botocore(shape: Shape, presign: bool) -> None:
    request, botocore_canonical = sign(shape, presign)
    verifier = SigV4Verifier(FixedClock(WHEN))
    info = verifier.parse(request)
    assert info is not None
    assert info.presigned is presign
    assert (info.service, info.region) == (shape.service, shape.region)
    assert info.security_token == shape.token
    assert verifier.canonical_request(request, info) == botocore_canonical
    verifier.verify(request, info, SECRET)
    assert check_mutations(verifier, request, SECRET, normalize=True) > 0


# -- generated requests ------------------------------------------------------------------------------

texts = st.text(alphabet=TEXT_ALPHABET, max_size=8)
segments = st.one_of(
    st.sampled_from(["", ".", ".."]),
    st.builds(path_segment, st.text(alphabet=TEXT_ALPHABET, min_size=1, max_size=8), st.booleans()),
)
paths = st.builds(
    lambda parts, trailing: "/" + "/".join(parts) + ("/" if trailing and parts else ""),
    st.lists(segments, max_size=5),
    st.booleans(),
)
# A few fixed names make repeated keys likely; generated names cover the rest.
param_names = st.one_of(st.sampled_from(["Action", "a", "a b", "~k", "k/2", "é"]), texts).filter(
    lambda name: not name.startswith("X-Amz-")
)
params = st.lists(st.tuples(param_names, texts, st.booleans()), max_size=6)
header_names = st.text(alphabet=TOKEN_ALPHABET, min_size=1, max_size=10).filter(
    lambda name: name.lower() not in SPECIAL_HEADERS
)
header_values = st.text(alphabet=HEADER_VALUE_ALPHABET, max_size=24)
tokens = st.one_of(st.none(), st.text(alphabet=string.ascii_letters + string.digits + "/+=", min_size=1, max_size=40))
scopes = st.sampled_from([("iam", "us-east-1"), ("sts", "us-east-1"), ("sts", "eu-west-3"), ("iam", "cn-north-1")])


@st.composite
def request_shapes(draw: st.DrawFn) -> Shape:
    method = draw(st.sampled_from(["GET", "POST"]))
    headers = draw(st.lists(st.tuples(header_names, header_values), max_size=4))
    if headers and draw(st.booleans()):
        # The same header again under another case: sent twice, signed as one comma-joined value.
        name, _ = headers[0]
        headers.append((name.swapcase(), draw(header_values)))
    service, region = draw(scopes)
    shape = Shape(
        method=method,
        path=draw(paths),
        query=query_string(draw(params)),
        headers=headers,
        token=draw(tokens),
        service=service,
        region=region,
    )
    if method == "POST":
        shape.body = query_string(draw(params))
    payload = draw(st.sampled_from([None, "hash", "unsigned"]))
    if payload == "hash" or (payload == "unsigned" and not shape.body):
        shape.payload_header = payload
    return shape


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=request_shapes())
def test_generated_authorization_header_requests(shape: Shape) -> None:
    check_against_botocore(shape, presign=False)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=request_shapes())
def test_generated_presigned_requests(shape: Shape) -> None:
    # botocore's presigner drops the payload header (a presigned URL never signs its payload).
    shape.payload_header = None
    check_against_botocore(shape, presign=True)


# -- explicit cases --------------------------------------------------------------------------------------

ACTION = "Action=ListUsers&Version=2010-05-08"

EXPLICIT = {
    "unicode query": Shape(query=f"{ACTION}&Name=caf%C3%A9&Emoji=%F0%9F%98%80&%E6%97%A5=%E2%82%AC"),
    "reserved characters": Shape(query=f"{ACTION}&a%2Fb%3Fc=%3D%26%2B%3B%2C%23%5B%5D&%21%2A%27%28%29=x"),
    "spaces": Shape(query=f"{ACTION}&Path%20Prefix=a%20b%20%20c&%20=%20"),
    "tilde bare": Shape(query=f"{ACTION}&~name=~user~&t=a~b"),
    "slash encoded in query": Shape(query=f"{ACTION}&PathPrefix=%2Fdivision%2Fteam%2F"),
    "repeated keys": Shape(query=f"{ACTION}&a=2&a=1&a=&a=10&b=x"),
    "empty values": Shape(query=f"{ACTION}&a=&b&c=&Marker"),
    "dot segments": Shape(path="/a/./b/../c/"),
    "dot-dot above the root": Shape(path="/../../a/.."),
    "double slashes": Shape(path="//a///b//"),
    "encoded slash and dots in path": Shape(path="/a%2Fb/%2E%2E/c%2e/", query=ACTION),
    "unicode and spaces in path": Shape(path="/caf%C3%A9/a%20b/~x/%F0%9F%98%80", query=ACTION),
    "lower-case escapes in path": Shape(path="/a%2fb/%c3%a9", query=ACTION),
    "session token": Shape(query=ACTION, token="FwoGZXIvYXdzEJr//////////wEaDM+token=="),
    "extra signed headers, any case": Shape(
        query=ACTION, headers=[("X-Custom-Header", "v"), ("x-lower", "w"), ("X-UPPER", "Z")]
    ),
    "multiple spaces in header values": Shape(
        query=ACTION, headers=[("X-Spaced", "  a   b \t c  "), ("X-Tabs", "\tx\t\ty\t")]
    ),
    "repeated header": Shape(query=ACTION, headers=[("X-Dup", "first"), ("x-dup", " second  value "), ("X-DUP", "")]),
    "empty header value": Shape(query=ACTION, headers=[("X-Empty", "")]),
    "post form": Shape(method="POST", body="Action=CreateUser&UserName=alice%2Bbob&Path=%2Fdivision%2F"),
    "post with query and body": Shape(method="POST", query="a=1&b=%20", body="Action=GetUser&Version=2010-05-08"),
    "post with token and headers": Shape(
        method="POST",
        body="Action=GetCallerIdentity&Version=2011-06-15",
        service="sts",
        region="eu-central-1",
        token="session/token+value=",
        headers=[("X-Amz-Meta", "a  b")],
    ),
    "signed payload hash header": Shape(method="POST", body="Action=GetUser&Version=2010-05-08", payload_header="hash"),
    "unsigned payload": Shape(query=ACTION, payload_header="unsigned"),
    "date header instead of x-amz-date": Shape(query=ACTION, headers=[("Date", "Mon, 01 Jan 2024 00:30:00 GMT")]),
}


EXPLICIT_RUNS = [
    pytest.param(name, presign, id=f"{name}-{'presigned' if presign else 'header'}")
    for name, shape in EXPLICIT.items()
    for presign in (False, True)
    if not (presign and shape.payload_header is not None)  # a presigned URL never signs its payload
]


@pytest.mark.parametrize(("name", "presign"), EXPLICIT_RUNS)
def test_explicit_case(name: str, presign: bool) -> None:
    check_against_botocore(EXPLICIT[name], presign)


def test_cases_reach_what_they_name() -> None:
    """The explicit cases really carry the encodings they are named after, as botocore sends them."""
    request, canonical = sign(EXPLICIT["repeated keys"], presign=False)
    assert canonical.split("\n")[2] == "Action=ListUsers&Version=2010-05-08&a=&a=1&a=10&a=2&b=x"
    request, canonical = sign(EXPLICIT["repeated header"], presign=False)
    assert [v for k, v in request.headers if k == "x-dup"] == ["first", " second  value ", ""]
    assert "\nx-dup:first,second value,\n" in canonical
    request, canonical = sign(EXPLICIT["dot segments"], presign=True)
    assert request.path == "/a/./b/../c/" and canonical.split("\n")[1] == "/a/c/"
    request, canonical = sign(EXPLICIT["encoded slash and dots in path"], presign=False)
    assert canonical.split("\n")[1] == "/a%252Fb/%252E%252E/c%252e/"
    request, canonical = sign(EXPLICIT["date header instead of x-amz-date"], presign=False)
    assert request.header("x-amz-date") is None and "\ndate:" in canonical


@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_signed_header_missing_from_request_is_refused(presign: bool) -> None:
    """AWS: IncompleteSignature, "'x-empty' is named as a SignedHeader, but it does not exist in the HTTP request"."""
    request, _ = sign(EXPLICIT["empty header value"], presign)
    without = replace(request, headers=tuple((k, v) for k, v in request.headers if k != "x-empty"))
    verifier = SigV4Verifier(FixedClock(WHEN))
    refused = False
    try:
        info = verifier.parse(without)
        assert info is not None and "x-empty" in info.signed_headers
        verifier.verify(without, info, SECRET)
    except IncompleteSignature as err:
        refused = "x-empty" in err.message
    assert refused
