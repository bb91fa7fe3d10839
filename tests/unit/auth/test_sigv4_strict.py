"""SigV4 refuses ambiguous authentication: repeated headers, split or doubled signing parameters.

Self-contained: requests are signed by botocore at a fixed time and turned into HttpRequests.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from unittest import mock

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from iamd.auth.sigv4 import SignatureInfo, SigV4Verifier
from iamd.core.clock import FixedClock
from iamd.core.errors import IncompleteSignature
from iamd.core.http import HttpRequest

WHEN = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
HOST = "iam.amazonaws.com"
KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BODY = "Action=ListUsers&Version=2010-05-08"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
ONE_MECHANISM = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
    "Signature query string parameter or the Authorization header should be specified"
)
SIGNING_PARAMS = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
]


@pytest.fixture
def verifier() -> SigV4Verifier:
    return SigV4Verifier(FixedClock(WHEN))


def _sign(signer: SigV4Auth, request: AWSRequest) -> None:
    with mock.patch("botocore.auth.get_current_datetime", return_value=WHEN.replace(tzinfo=None)):
        signer.add_auth(request)


def header_signed(body: str = BODY, token: str | None = None, key: str = KEY) -> HttpRequest:
    request = AWSRequest(method="POST", url=f"https://{HOST}/", data=body.encode(), headers={"Content-Type": FORM})
    _sign(SigV4Auth(Credentials(key, SECRET, token), "iam", "us-east-1"), request)
    headers = (("host", HOST), *((k.lower(), v) for k, v in request.headers.items()))
    return HttpRequest("POST", "/", "", headers, body.encode())


def presigned(query: str = BODY, token: str | None = None) -> HttpRequest:
    request = AWSRequest(method="GET", url=f"https://{HOST}/?{query}")
    _sign(SigV4QueryAuth(Credentials(KEY, SECRET, token), "iam", "us-east-1", expires=300), request)
    return HttpRequest("GET", "/", request.url.split("?", 1)[1], (("host", HOST),))


def add_header(request: HttpRequest, name: str, value: str) -> HttpRequest:
    return replace(request, headers=(*request.headers, (name, value)), _index={})


def set_header(request: HttpRequest, name: str, value: str) -> HttpRequest:
    return replace(request, headers=tuple((k, value if k == name else v) for k, v in request.headers), _index={})


def refusal(verifier: SigV4Verifier, request: HttpRequest, form: dict[str, str] | None = None) -> str:
    with pytest.raises(IncompleteSignature) as exc:
        verifier.parse(request, form)
    assert (exc.value.status, exc.value.code) == (400, "IncompleteSignature")
    return exc.value.message


def accepted(verifier: SigV4Verifier, request: HttpRequest, form: dict[str, str] | None = None) -> SignatureInfo:
    info = verifier.parse(request, form)
    assert info is not None
    verifier.verify(request, info, SECRET)
    return info


def test_the_signed_requests_are_good(verifier: SigV4Verifier) -> None:
    assert not accepted(verifier, header_signed(), {"Action": "ListUsers", "Version": "2010-05-08"}).presigned
    assert accepted(verifier, presigned()).presigned


# --- one header each ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("authorization", "Authorization"),
        ("host", "Host"),
        ("x-amz-date", "X-Amz-Date"),
        ("date", "Date"),
        ("x-amz-security-token", "X-Amz-Security-Token"),
        ("x-amz-content-sha256", "X-Amz-Content-SHA256"),
    ],
)
def test_a_repeated_signing_header_is_refused(verifier: SigV4Verifier, name: str, shown: str) -> None:
    request = header_signed(token="tok")
    value = request.header(name) or "Mon, 01 Jan 2024 12:00:00 GMT"
    if request.header(name) is None:
        request = add_header(request, name, value)
    # Even the very same value twice: a reader that joins them would see another value.
    assert refusal(verifier, add_header(request, name, value)) == (
        f"The request carries the {shown} header more than once: "
        "send each header the signature depends on exactly once."
    )


def test_valid_authorization_first_and_a_bogus_one_after(verifier: SigV4Verifier) -> None:
    request = header_signed()
    bogus = (
        "AWS4-HMAC-SHA256 Credential=AKIAEVILEVILEVILEVIL/20240101/us-east-1/iam/aws4_request, "
        "SignedHeaders=host, Signature=00"
    )
    assert "Authorization header more than once" in refusal(verifier, add_header(request, "authorization", bogus))


def test_repeated_unsigned_headers_are_not_the_verifiers_business(verifier: SigV4Verifier) -> None:
    request = add_header(add_header(header_signed(), "user-agent", "a"), "user-agent", "b")
    accepted(verifier, request)


def test_a_presigned_request_may_not_repeat_its_host(verifier: SigV4Verifier) -> None:
    assert "Host header more than once" in refusal(verifier, add_header(presigned(), "host", HOST))


# --- the Authorization header's own parameters --------------------------------------------------------


def test_two_authorization_headers_folded_into_one(verifier: SigV4Verifier) -> None:
    auth = header_signed().header("authorization")
    assert auth is not None
    folded = f"{auth}, {auth.replace(KEY, 'AKIAEVILEVILEVILEVIL')}"
    assert refusal(verifier, set_header(header_signed(), "authorization", folded)) == (
        f"'AWS4-HMAC-SHA256' not a valid key=value pair (missing equal-sign) in Authorization header: '{folded}'."
    )


def test_a_parameter_without_equal_sign(verifier: SigV4Verifier) -> None:
    auth = header_signed().header("authorization")
    assert auth is not None
    mangled = auth.replace("SignedHeaders=", "SignedHeaders ")
    assert refusal(verifier, set_header(header_signed(), "authorization", mangled)).startswith(
        "'SignedHeaders' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 "
    )


@pytest.mark.parametrize("name", ["Credential", "SignedHeaders", "Signature"])
def test_a_parameter_given_twice(verifier: SigV4Verifier, name: str) -> None:
    auth = header_signed().header("authorization")
    assert auth is not None
    doubled = f"{auth}, {name}=x"
    assert refusal(verifier, set_header(header_signed(), "authorization", doubled)) == (
        f"Authorization header has the '{name}' parameter more than once. Authorization={doubled}"
    )


def test_spaces_around_parameters_are_still_fine(verifier: SigV4Verifier) -> None:
    auth = header_signed().header("authorization")
    assert auth is not None
    spaced = "  " + auth.replace(", ", " ,  ") + " "
    accepted(verifier, set_header(header_signed(), "authorization", spaced))


# --- signing parameters in two places ---------------------------------------------------------------


@pytest.mark.parametrize("param", [*SIGNING_PARAMS, "Signature"])
def test_authorization_header_and_a_signing_parameter_in_the_query(verifier: SigV4Verifier, param: str) -> None:
    request = replace(header_signed(), query_string=f"{param}=x")
    assert refusal(verifier, request) == ONE_MECHANISM
    assert refusal(verifier, request, {param: "x", "Action": "ListUsers"}) == ONE_MECHANISM


@pytest.mark.parametrize("param", [*SIGNING_PARAMS, "Signature"])
def test_authorization_header_and_a_signing_parameter_in_the_body(verifier: SigV4Verifier, param: str) -> None:
    request = header_signed(f"{BODY}&{param}=x")
    assert refusal(verifier, request, {"Action": "ListUsers", "Version": "2010-05-08", param: "x"}) == ONE_MECHANISM


def test_percent_encoded_signing_parameter_names_count(verifier: SigV4Verifier) -> None:
    request = replace(header_signed(), query_string="X%2DAmz%2DCredential=x")
    assert refusal(verifier, request) == ONE_MECHANISM


def test_presigned_with_a_sigv2_signature_too(verifier: SigV4Verifier) -> None:
    request = presigned()
    assert refusal(verifier, replace(request, query_string=request.query_string + "&Signature=abc")) == ONE_MECHANISM


@pytest.mark.parametrize("param", ["X-Amz-Security-Token", "X-Amz-Expires"])
def test_presigned_with_a_signing_parameter_in_the_body(verifier: SigV4Verifier, param: str) -> None:
    query = "&".join(p for p in presigned().query_string.split("&") if not p.startswith(param + "="))
    request = HttpRequest("POST", "/", query, (("host", HOST), ("content-type", FORM)), f"{param}=x".encode())
    form = {**dict(p.split("=", 1) for p in query.split("&")), param: "x"}
    assert refusal(verifier, request, form) == (
        f"The signing parameter {param} is in the request body: a presigned request carries "
        "every X-Amz-* signing parameter in the query string."
    )


def test_presigned_with_an_x_amz_date_header(verifier: SigV4Verifier) -> None:
    assert refusal(verifier, add_header(presigned(), "x-amz-date", "20240101T120000Z")) == (
        "A presigned request carries its date in the X-Amz-Date query parameter only, not also in an X-Amz-Date header."
    )


def test_presigned_token_in_query_and_header(verifier: SigV4Verifier) -> None:
    request = add_header(presigned(token="tok"), "x-amz-security-token", "other")
    assert refusal(verifier, request) == (
        "The security token is given both as the X-Amz-Security-Token query parameter and as a header: send it once."
    )


def test_presigned_token_in_a_header_alone_is_still_read(verifier: SigV4Verifier) -> None:
    info = verifier.parse(add_header(presigned(), "x-amz-security-token", "tok"))
    assert info is not None and info.security_token == "tok"


def test_get_parameters_are_the_query_not_a_body(verifier: SigV4Verifier) -> None:
    request = presigned(token="tok")
    form = dict(p.split("=", 1) for p in request.query_string.split("&"))
    info = accepted(verifier, request, form)
    assert info.security_token == "tok"


def test_a_stray_signing_parameter_without_any_signature_is_still_unsigned(verifier: SigV4Verifier) -> None:
    request = HttpRequest("POST", "/", "X-Amz-Credential=x", (("host", HOST),), BODY.encode())
    assert verifier.parse(request, {"X-Amz-Credential": "x", "Action": "ListUsers"}) is None


def test_the_token_of_a_header_signed_request(verifier: SigV4Verifier) -> None:
    assert accepted(verifier, header_signed(token="tok")).security_token == "tok"
    assert accepted(verifier, header_signed()).security_token is None
