"""The AWS SigV4 test suite (aws-c-auth's copy), both signing forms, when it is available.

The suite lives outside the repository, in ``../shared/testdata/sigv4`` beside the repository root
(or ``$IAMD_SHARED_DIR/testdata/sigv4``); without it this module is skipped, with the reason shown.
Without it the verifier is still checked against botocore's own signer (test_sigv4_botocore.py).

For every case and for both the Authorization-header and the presigned (query) form:
the canonical request and string to sign are rebuilt byte for byte from the signed request, the
signature is accepted, and changing any one byte of a signed part (method, path, each query
parameter, each signed header name and value, the body, the signature) gets it refused.  The same
requests signed by botocore are checked the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

import pytest

from iamd.auth.sigv4 import SignatureInfo, SigV4Verifier
from iamd.core.clock import FixedClock
from iamd.core.errors import SignatureDoesNotMatch
from iamd.core.http import HttpRequest
from tests.support.sigv4 import botocore_sign, check_mutations, replace

REPO_ROOT = Path(__file__).resolve().parents[3]
EXPECTED_CASES = 38
FORMS = ("header", "query")


def suite_dir() -> Path:
    shared = os.environ.get("IAMD_SHARED_DIR")
    base = Path(shared) if shared else REPO_ROOT.parent / "shared"
    return base / "testdata" / "sigv4"


if not suite_dir().is_dir():
    pytest.skip(
        f"the AWS SigV4 test suite is not at {suite_dir()} (it lives outside the repository; "
        "set IAMD_SHARED_DIR to the directory holding testdata/sigv4 to run it)",
        allow_module_level=True,
    )


def discover_cases() -> list[str]:
    root = suite_dir()
    return sorted(p.parent.relative_to(root).as_posix() for p in root.rglob("context.json"))


CASES = discover_cases()


# -- a small raw HTTP/1.1 request parser -------------------------------------------------------------


def parse_raw_request(raw: bytes) -> HttpRequest:
    """Request line, headers (obs-fold continuation lines kept, joined by a newline), body.

    Bytes are decoded as latin-1, as the web layer does; header names are lower-cased.
    """
    head, sep, rest = raw.partition(b"\n\n")
    if not sep:
        head, sep, rest = raw.partition(b"\r\n\r\n")
    lines = [line.removesuffix(b"\r").decode("latin-1") for line in head.split(b"\n")]
    request_line = lines[0]
    method, _, remainder = request_line.partition(" ")
    target, _, version = remainder.rpartition(" ")
    assert version.startswith("HTTP/"), request_line
    path, _, query = target.partition("?")
    headers: list[list[str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":
            assert headers, "continuation line before any header"
            headers[-1][1] += "\n" + line
            continue
        name, colon, value = line.partition(":")
        assert colon, f"not a header line: {line!r}"
        headers.append([name.strip().lower(), value.strip(" \t")])
    length = next((int(v) for k, v in headers if k == "content-length"), None)
    if length is None:
        assert not rest.strip(), "a body without Content-Length"
        body = b""
    else:
        body = rest[:length]
        assert len(body) == length
    return HttpRequest(
        method=method,
        path=path,
        query_string=query,
        headers=tuple((k, v.rstrip(" \t")) for k, v in headers),
        body=body,
    )


def test_raw_parser_handles_folding_and_body() -> None:
    raw = b"POST /a%20b?x=1&y HTTP/1.1\r\nHost:h\r\nX-A: one\r\n  two\r\nContent-Length: 3\r\n\r\nabcdef"
    request = parse_raw_request(raw)
    assert (request.method, request.path, request.query_string) == ("POST", "/a%20b", "x=1&y")
    assert request.headers == (("host", "h"), ("x-a", "one\n  two"), ("content-length", "3"))
    assert request.body == b"abc"


# -- cases ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    context: dict[str, object]

    @property
    def dir(self) -> Path:
        return suite_dir() / self.name

    def read(self, filename: str) -> bytes:
        return (self.dir / filename).read_bytes()

    @property
    def credentials(self) -> dict[str, str]:
        creds = self.context["credentials"]
        assert isinstance(creds, dict)
        return creds

    @property
    def secret(self) -> str:
        return self.credentials["secret_access_key"]

    @property
    def when(self) -> dt.datetime:
        stamp = self.context["timestamp"]
        assert isinstance(stamp, str)
        return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)

    @property
    def normalize(self) -> bool:
        return bool(self.context["normalize"])

    @property
    def omit_token(self) -> bool:
        return bool(self.context.get("omit_session_token", False))

    def verifier(self) -> SigV4Verifier:
        return SigV4Verifier(FixedClock(self.when), normalize_path=self.normalize)

    def signed(self, form: str) -> HttpRequest:
        return parse_raw_request(self.read(f"{form}-signed-request.txt"))


def load(name: str) -> Case:
    return Case(name, json.loads((suite_dir() / name / "context.json").read_text()))


def test_suite_is_complete() -> None:
    assert suite_dir().is_dir(), f"SigV4 test suite not found at {suite_dir()} (set IAMD_SHARED_DIR)"
    assert len(CASES) == EXPECTED_CASES
    for name in CASES:
        for form in FORMS:
            for part in ("canonical-request", "string-to-sign", "signature", "signed-request"):
                assert (suite_dir() / name / f"{form}-{part}.txt").is_file(), (name, form, part)


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest) -> Case:
    return load(request.param)


@pytest.fixture(params=FORMS)
def form(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def parse_signed(case: Case, form: str) -> tuple[SigV4Verifier, HttpRequest, SignatureInfo]:
    verifier = case.verifier()
    request = case.signed(form)
    info = verifier.parse(request)
    assert info is not None
    return verifier, request, info


def test_parse(case: Case, form: str) -> None:
    _, _, info = parse_signed(case, form)
    assert info.presigned is (form == "query")
    assert info.access_key_id == case.credentials["access_key_id"]
    assert (info.scope_date, info.region, info.service) == ("20150830", case.context["region"], case.context["service"])
    assert info.request_time == case.when
    assert info.expires == (case.context["expiration_in_seconds"] if form == "query" else None)
    assert info.signature == case.read(f"{form}-signature.txt").decode().strip()
    assert info.security_token == case.credentials.get("token")
    assert "host" in info.signed_headers


def test_canonical_request(case: Case, form: str) -> None:
    verifier, request, info = parse_signed(case, form)
    omit = form == "query" and case.omit_token
    creq = verifier.canonical_request(request, info, omit_security_token=omit)
    assert creq.encode("latin-1") == case.read(f"{form}-canonical-request.txt")


def test_string_to_sign(case: Case, form: str) -> None:
    verifier, request, info = parse_signed(case, form)
    omit = form == "query" and case.omit_token
    sts = verifier.string_to_sign(request, info, omit_security_token=omit)
    assert sts.encode("latin-1") == case.read(f"{form}-string-to-sign.txt")


def test_signature_accepted(case: Case, form: str) -> None:
    verifier, request, info = parse_signed(case, form)
    verifier.verify(request, info, case.secret)


def test_unsigned_request_plus_authorization_header(case: Case) -> None:
    """request.txt plus the X-Amz-Date/token headers and an Authorization header built from the signature."""
    request = parse_raw_request(case.read("request.txt"))
    signature = case.read("header-signature.txt").decode().strip()
    creq_lines = case.read("header-canonical-request.txt").decode().split("\n")
    signed_headers = creq_lines[-2]
    extra: list[tuple[str, str]] = [("x-amz-date", "20150830T123600Z")]
    token = case.credentials.get("token")
    if token is not None:
        extra.append(("x-amz-security-token", token))
    if case.context["sign_body"]:
        extra.append(("x-amz-content-sha256", creq_lines[-1]))
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={case.credentials['access_key_id']}/20150830/"
        f"{case.context['region']}/{case.context['service']}/aws4_request, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    full = HttpRequest(
        request.method,
        request.path,
        request.query_string,
        (*request.headers, *extra, ("authorization", authorization)),
        request.body,
    )
    assert full.header("authorization") == case.signed("header").header("authorization")
    verifier = case.verifier()
    info = verifier.parse(full)
    assert info is not None
    verifier.verify(full, info, case.secret)


def test_wrong_secret_refused(case: Case, form: str) -> None:
    verifier, request, info = parse_signed(case, form)
    with pytest.raises(SignatureDoesNotMatch):
        verifier.verify(request, info, case.secret + "x")


# -- one-byte mutations ----------------------------------------------------------------------------------


def test_every_signed_byte_matters(case: Case, form: str) -> None:
    verifier, request, _ = parse_signed(case, form)
    count = check_mutations(
        verifier, request, case.secret, normalize=case.normalize, token_unsigned=form == "query" and case.omit_token
    )
    assert count > 60


@pytest.mark.parametrize("name", [name for name in CASES if load(name).omit_token])
def test_unsigned_security_token_header_may_change(name: str) -> None:
    """post-sts-header-after: the token header was added after signing, so it is not covered."""
    case = load(name)
    verifier, request, _ = parse_signed(case, "header")
    headers = tuple((k, "other" if k == "x-amz-security-token" else v) for k, v in request.headers)
    mutated = replace(request, headers=headers)
    info = verifier.parse(mutated)
    assert info is not None and info.security_token == "other"
    verifier.verify(mutated, info, case.secret)


def test_omitted_token_cases_exist() -> None:
    assert [name for name in CASES if load(name).omit_token] == ["post-sts-header-after"]


# -- the same requests signed by botocore ------------------------------------------------------------------


def _encode_path(path: str) -> str:
    return quote(path.encode("latin-1"), safe="/~")


def _encode_query(query: str) -> str:
    out = []
    for segment in query.split("&"):
        if segment:
            name, _, value = segment.partition("=")
            out.append(
                quote(unquote_to_bytes(name.encode("latin-1")), safe="~")
                + "="
                + quote(unquote_to_bytes(value.encode("latin-1")), safe="~")
            )
    return "&".join(out)


def botocore_signed(case: Case, presign: bool) -> HttpRequest:
    request = parse_raw_request(case.read("request.txt"))
    host = request.header("host")
    assert host is not None
    url = f"https://{host}{_encode_path(request.path)}"
    if request.query_string:
        url += "?" + _encode_query(request.query_string)
    headers: dict[str, str] = {}
    for name, value in request.headers:
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    if case.context["sign_body"] and not presign:
        headers["x-amz-content-sha256"] = hashlib.sha256(request.body).hexdigest()
    region = case.context["region"]
    service = case.context["service"]
    assert isinstance(region, str) and isinstance(service, str)
    return botocore_sign(
        request.method,
        url,
        body=request.body,
        headers=headers,
        service=service,
        region=region,
        when=case.when,
        key=case.credentials["access_key_id"],
        secret=case.secret,
        token=case.credentials.get("token"),
        presign=presign,
        expires=3600,
    )


@pytest.mark.parametrize("presign", [False, True], ids=["header", "query"])
def test_botocore_signed_case(case: Case, presign: bool) -> None:
    request = botocore_signed(case, presign)
    verifier = SigV4Verifier(FixedClock(case.when))
    info = verifier.parse(request)
    assert info is not None
    assert info.presigned is presign
    verifier.verify(request, info, case.secret)
    check_mutations(verifier, request, case.secret, normalize=True)
