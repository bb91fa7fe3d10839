"""SigV4 verifier: botocore-signed IAM/STS requests, time windows, presigned limits, malformed input, key cache."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from iamd.auth.sigv4 import SignatureInfo, SigV4Verifier
from iamd.core.clock import FixedClock
from iamd.core.errors import IncompleteSignature, SignatureDoesNotMatch
from iamd.core.http import HttpRequest
from tests.support.sigv4 import AKID, SECRET, WHEN, botocore_sign, replace

FORM = "application/x-www-form-urlencoded; charset=utf-8"


def with_header(request: HttpRequest, name: str, value: str | None) -> HttpRequest:
    """``request`` with every ``name`` header replaced by one ``value`` (or removed when None)."""
    headers = tuple((k, v) for k, v in request.headers if k != name)
    if value is not None:
        headers += ((name, value),)
    return HttpRequest(request.method, request.path, request.query_string, headers, request.body)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(WHEN)


@pytest.fixture
def verifier(clock: FixedClock) -> SigV4Verifier:
    return SigV4Verifier(clock)


def check(verifier: SigV4Verifier, request: HttpRequest, secret: str = SECRET) -> SignatureInfo:
    info = verifier.parse(request)
    assert info is not None
    verifier.verify(request, info, secret)
    return info


def iam_post(action: str = "GetUser", **kwargs: object) -> HttpRequest:
    return botocore_sign(
        "POST",
        "https://iam.amazonaws.com/",
        body=f"Action={action}&Version=2010-05-08",
        headers={"Content-Type": FORM},
        **kwargs,
    )


# -- botocore-signed IAM and STS requests -----------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "url", "body"),
    [
        ("iam", "https://iam.amazonaws.com/", "Action=GetUser&Version=2010-05-08"),
        (
            "iam",
            "http://127.0.0.1:8080/",
            "Action=CreateUser&UserName=alice%2Bbob&Path=%2Fdivision%2F&Version=2010-05-08",
        ),
        ("sts", "https://sts.amazonaws.com/", "Action=GetCallerIdentity&Version=2011-06-15"),
        (
            "sts",
            "https://sts.us-west-2.amazonaws.com/",
            "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s&Version=2011-06-15",
        ),
    ],
)
def test_botocore_signed_post_verifies(verifier: SigV4Verifier, service: str, url: str, body: str) -> None:
    request = botocore_sign("POST", url, body=body, headers={"Content-Type": FORM}, service=service)
    info = check(verifier, request)
    assert info.service == service
    assert info.region == "us-east-1"
    assert info.access_key_id == AKID
    assert info.scope_date == "20240101"
    assert info.request_time == WHEN
    assert info.presigned is False
    assert info.expires is None
    assert info.security_token is None
    assert "host" in info.signed_headers and "content-type" in info.signed_headers
    assert info.signed_headers == tuple(sorted(info.signed_headers))


@pytest.mark.parametrize("service", ["iam", "sts"])
def test_botocore_signed_post_with_session_token(verifier: SigV4Verifier, service: str) -> None:
    request = iam_post(service=service, token="FwoGZXIvYXdzEJr//////////wEaDM+token==")
    info = check(verifier, request)
    assert info.security_token == "FwoGZXIvYXdzEJr//////////wEaDM+token=="
    assert "x-amz-security-token" in info.signed_headers


@pytest.mark.parametrize("service", ["iam", "sts"])
def test_botocore_signed_post_rejects_any_body_change(verifier: SigV4Verifier, service: str) -> None:
    request = iam_post(service=service)
    for i in range(len(request.body)):
        changed = bytearray(request.body)
        changed[i] = ord("A") if changed[i] != ord("A") else ord("B")
        mutated = replace(request, body=bytes(changed))
        info = verifier.parse(mutated)
        assert info is not None
        with pytest.raises(SignatureDoesNotMatch):
            verifier.verify(mutated, info, SECRET)


@pytest.mark.parametrize("service", ["iam", "sts"])
def test_botocore_presigned_get_verifies(verifier: SigV4Verifier, service: str) -> None:
    action = "GetUser&Version=2010-05-08" if service == "iam" else "GetCallerIdentity&Version=2011-06-15"
    request = botocore_sign("GET", f"https://{service}.amazonaws.com/?Action={action}", service=service, presign=True)
    info = check(verifier, request)
    assert info.presigned is True
    assert info.expires == 3600
    assert info.signed_headers == ("host",)
    assert request.header("authorization") is None


def test_botocore_presigned_post_body_moves_to_query(verifier: SigV4Verifier) -> None:
    request = botocore_sign(
        "POST",
        "https://sts.amazonaws.com/",
        body="Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": FORM},
        service="sts",
        presign=True,
        token="session/token+value=",
    )
    assert request.body == b""
    info = check(verifier, request)
    assert info.security_token == "session/token+value="


def test_date_header_instead_of_x_amz_date(verifier: SigV4Verifier) -> None:
    # botocore signs with the Date header (and no X-Amz-Date) when the request already has one.
    request = botocore_sign(
        "POST",
        "https://iam.amazonaws.com/",
        body="Action=ListUsers&Version=2010-05-08",
        headers={"Content-Type": FORM, "Date": "Mon, 01 Jan 2024 00:30:00 GMT"},
    )
    assert request.header("x-amz-date") is None
    assert request.header("date") is not None
    info = check(verifier, request)
    assert info.request_time == WHEN
    assert "date" in info.signed_headers


def test_request_with_path_and_query_double_encoded(verifier: SigV4Verifier) -> None:
    request = botocore_sign(
        "GET",
        "https://iam.amazonaws.com/a%20b/./c//d/../e%2Ff?Action=ListUsers&Version=2010-05-08&Marker=a%2Bb%20c",
    )
    info = check(verifier, request)
    creq = verifier.canonical_request(request, info).split("\n")
    assert creq[1] == "/a%2520b/c/e%252Ff"
    assert creq[2] == "Action=ListUsers&Marker=a%2Bb%20c&Version=2010-05-08"


def test_latin1_decoded_utf8_header_value_verifies(verifier: SigV4Verifier) -> None:
    # The web layer decodes header bytes as latin-1; the client signed the UTF-8 bytes.
    request = botocore_sign(
        "POST",
        "https://iam.amazonaws.com/",
        body="Action=GetUser&Version=2010-05-08",
        headers={"Content-Type": FORM, "X-Custom": "caf\u00e9"},
    )
    raw = tuple((k, v.encode("utf-8").decode("latin-1") if k == "x-custom" else v) for k, v in request.headers)
    check(verifier, replace(request, headers=raw))


# -- wrong secret, signature tampering ---------------------------------------------------------------


def test_wrong_secret_is_refused(verifier: SigV4Verifier) -> None:
    request = iam_post()
    info = verifier.parse(request)
    assert info is not None
    with pytest.raises(SignatureDoesNotMatch) as err:
        verifier.verify(request, info, SECRET[:-1] + "Z")
    assert err.value.message == SignatureDoesNotMatch.default_message
    assert err.value.status == 403


def test_signed_with_other_region_or_service_fails_when_scope_changed(verifier: SigV4Verifier) -> None:
    request = iam_post()
    info = verifier.parse(request)
    assert info is not None
    for field_name, value in (("region", "us-west-2"), ("service", "sts"), ("scope_date", "20231231")):
        fields = {f: getattr(info, f) for f in SignatureInfo.__slots__}
        fields[field_name] = value
        with pytest.raises(SignatureDoesNotMatch):
            verifier.verify(request, SignatureInfo(**fields), SECRET)


@pytest.mark.parametrize("bad", ["", "00", "zz" * 32, "\u00e9" * 64, "A" * 64])
def test_garbage_signature_is_refused(verifier: SigV4Verifier, bad: str) -> None:
    request = iam_post()
    auth = request.header("authorization")
    assert auth is not None
    prefix = auth[: auth.index("Signature=") + len("Signature=")]
    mutated = with_header(request, "authorization", prefix + bad)
    with pytest.raises((SignatureDoesNotMatch, IncompleteSignature)):
        info = verifier.parse(mutated)
        assert info is not None
        verifier.verify(mutated, info, SECRET)


def test_unsigned_header_may_change_signed_may_not(verifier: SigV4Verifier) -> None:
    request = iam_post()
    check(verifier, with_header(request, "user-agent", "something else"))
    mutated = with_header(request, "content-type", "text/plain")
    info = verifier.parse(mutated)
    assert info is not None
    with pytest.raises(SignatureDoesNotMatch):
        verifier.verify(mutated, info, SECRET)


def test_duplicate_signed_header_appended_is_refused(verifier: SigV4Verifier) -> None:
    request = iam_post()
    mutated = replace(request, headers=(*request.headers, ("content-type", FORM)))
    info = verifier.parse(mutated)
    assert info is not None
    with pytest.raises(SignatureDoesNotMatch):
        verifier.verify(mutated, info, SECRET)


# -- payload hash -------------------------------------------------------------------------------------


def test_content_sha256_header_must_match_body(verifier: SigV4Verifier) -> None:
    body = "Action=GetUser&Version=2010-05-08"
    good = hashlib.sha256(body.encode()).hexdigest()
    request = botocore_sign(
        "POST",
        "https://iam.amazonaws.com/",
        body=body,
        headers={"Content-Type": FORM, "X-Amz-Content-SHA256": good},
    )
    info = check(verifier, request)
    assert "x-amz-content-sha256" in info.signed_headers
    # A signed but false hash is refused even though the signature over it is right.
    lying = botocore_sign(
        "POST",
        "https://iam.amazonaws.com/",
        body=body,
        headers={"Content-Type": FORM, "X-Amz-Content-SHA256": "0" * 64},
    )
    lying_info = verifier.parse(lying)
    assert lying_info is not None
    with pytest.raises(SignatureDoesNotMatch, match="x-amz-content-sha256"):
        verifier.verify(lying, lying_info, SECRET)


def test_unsigned_payload_only_without_body(verifier: SigV4Verifier) -> None:
    request = botocore_sign(
        "GET",
        "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
        headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
        presign=True,
    )
    info = check(verifier, request)
    assert verifier.canonical_request(request, info).endswith("\nUNSIGNED-PAYLOAD")
    with_body = replace(request, body=b"Action=DeleteUser&UserName=bob")
    body_info = verifier.parse(with_body)
    assert body_info is not None
    with pytest.raises(SignatureDoesNotMatch):
        verifier.verify(with_body, body_info, SECRET)


# -- time windows ---------------------------------------------------------------------------------------


def test_skew_within_window_is_accepted(clock: FixedClock, verifier: SigV4Verifier) -> None:
    request = iam_post()
    for offset in (-900, -1, 0, 1, 900):
        clock.set(WHEN + dt.timedelta(seconds=offset))
        check(verifier, request)


def test_request_too_old(clock: FixedClock, verifier: SigV4Verifier) -> None:
    request = iam_post(when=dt.datetime(2024, 1, 1, 0, 0, 0, tzinfo=dt.UTC))
    with pytest.raises(SignatureDoesNotMatch) as err:
        verifier.parse(request)
    assert err.value.message == (
        "Signature expired: 20240101T000000Z is now earlier than 20240101T001500Z (20240101T003000Z - 15 min.)"
    )
    clock.set(dt.datetime(2024, 1, 1, 0, 15, 0, tzinfo=dt.UTC))
    check(verifier, request)
    clock.advance(901)
    with pytest.raises(SignatureDoesNotMatch, match=r"^Signature expired: "):
        verifier.parse(request)


def test_request_from_the_future(verifier: SigV4Verifier) -> None:
    request = iam_post(when=dt.datetime(2024, 1, 1, 1, 0, 0, tzinfo=dt.UTC))
    with pytest.raises(SignatureDoesNotMatch) as err:
        verifier.parse(request)
    assert err.value.message == (
        "Signature not yet current: 20240101T010000Z is still later than 20240101T004500Z (20240101T003000Z + 15 min.)"
    )


def test_custom_skew(clock: FixedClock) -> None:
    verifier = SigV4Verifier(clock, max_skew_seconds=30)
    request = iam_post(when=WHEN - dt.timedelta(seconds=31))
    with pytest.raises(SignatureDoesNotMatch, match=r"\(20240101T003000Z - 30 sec\.\)"):
        verifier.parse(request)
    check(verifier, iam_post(when=WHEN - dt.timedelta(seconds=30)))


def test_scope_date_must_match_request_date(verifier: SigV4Verifier) -> None:
    request = iam_post()
    auth = request.header("authorization")
    assert auth is not None
    mutated = with_header(request, "authorization", auth.replace("/20240101/", "/20231231/"))
    with pytest.raises(SignatureDoesNotMatch) as err:
        verifier.parse(mutated)
    assert err.value.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        "'20231231' != '20240101', from '20240101T003000Z'."
    )


def test_bad_x_amz_date(verifier: SigV4Verifier) -> None:
    request = iam_post()
    for bad in (
        "2024-01-01T00:30:00Z",
        "20240101T003000",
        "20241301T003000Z",
        "\uff12\uff10\uff12\uff140101T003000Z",
        "",
    ):
        with pytest.raises(IncompleteSignature, match="ISO-8601"):
            verifier.parse(with_header(request, "x-amz-date", bad))


def test_bad_date_header(verifier: SigV4Verifier) -> None:
    request = with_header(iam_post(), "x-amz-date", None)
    with pytest.raises(IncompleteSignature):
        verifier.parse(with_header(request, "date", "yesterday"))


# -- presigned limits ----------------------------------------------------------------------------------


def presigned(expires: int = 300, when: dt.datetime = WHEN) -> HttpRequest:
    return botocore_sign(
        "GET",
        "https://iam.amazonaws.com/?Action=GetUser&Version=2010-05-08",
        presign=True,
        expires=expires,
        when=when,
    )


def test_presigned_expiry_is_honoured(clock: FixedClock, verifier: SigV4Verifier) -> None:
    request = presigned(expires=300)
    check(verifier, request)
    clock.advance(300)
    check(verifier, request)
    clock.advance(1)
    with pytest.raises(SignatureDoesNotMatch) as err:
        verifier.parse(request)
    assert err.value.message == (
        "Signature expired: 20240101T003000Z is now earlier than 20240101T003001Z (20240101T003501Z - 300 sec.)"
    )


def test_presigned_long_expiry_outlives_skew(clock: FixedClock, verifier: SigV4Verifier) -> None:
    request = presigned(expires=604800)
    clock.advance(604800)
    check(verifier, request)
    clock.advance(1)
    with pytest.raises(SignatureDoesNotMatch, match=r"^Signature expired"):
        verifier.parse(request)


def test_presigned_from_the_future_is_refused(verifier: SigV4Verifier) -> None:
    check(verifier, presigned(when=WHEN + dt.timedelta(seconds=900)))
    with pytest.raises(SignatureDoesNotMatch, match=r"^Signature not yet current"):
        verifier.parse(presigned(when=WHEN + dt.timedelta(seconds=901)))


def test_presigned_expires_over_a_week_is_refused(verifier: SigV4Verifier) -> None:
    with pytest.raises(IncompleteSignature) as err:
        verifier.parse(presigned(expires=604801))
    assert err.value.message == "X-Amz-Expires must be less than a week (in seconds) that is 604800"


@pytest.mark.parametrize("bad", ["0", "-5", "abc", "1.5", "", " 60", "\uff16\uff10"])
def test_presigned_expires_must_be_a_positive_integer(verifier: SigV4Verifier, bad: str) -> None:
    request = presigned()
    query = request.query_string.replace("X-Amz-Expires=300", f"X-Amz-Expires={bad}")
    assert query != request.query_string
    with pytest.raises(IncompleteSignature, match="X-Amz-Expires"):
        verifier.parse(replace(request, query_string=query))


def test_presigned_without_expires_uses_skew_window(clock: FixedClock, verifier: SigV4Verifier) -> None:
    request = presigned()
    query = request.query_string.replace("&X-Amz-Expires=300", "")
    info = verifier.parse(replace(request, query_string=query))
    assert info is not None and info.expires is None
    clock.advance(901)
    with pytest.raises(SignatureDoesNotMatch, match=r"- 15 min\.\)$"):
        verifier.parse(replace(request, query_string=query))


@pytest.mark.parametrize(
    "param", ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"]
)
def test_presigned_missing_param(verifier: SigV4Verifier, param: str) -> None:
    request = presigned()
    query = "&".join(p for p in request.query_string.split("&") if not p.startswith(param + "="))
    if param in ("X-Amz-Algorithm", "X-Amz-Signature"):
        # Without the other one too it is simply unsigned; with it, incomplete.
        other = "X-Amz-Signature" if param == "X-Amz-Algorithm" else "X-Amz-Algorithm"
        assert other in query
    with pytest.raises(IncompleteSignature, match=f"'{param}'"):
        verifier.parse(replace(request, query_string=query))


def test_presigned_other_algorithm(verifier: SigV4Verifier) -> None:
    request = presigned()
    query = request.query_string.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA512")
    with pytest.raises(IncompleteSignature, match="AWS4-HMAC-SHA256"):
        verifier.parse(replace(request, query_string=query))


def test_presigned_and_authorization_header_together(verifier: SigV4Verifier) -> None:
    request = presigned()
    auth = iam_post().header("authorization")
    assert auth is not None
    with pytest.raises(IncompleteSignature, match="Only one auth mechanism"):
        verifier.parse(with_header(request, "authorization", auth))


def test_presigned_duplicate_auth_param(verifier: SigV4Verifier) -> None:
    request = presigned()
    with pytest.raises(IncompleteSignature, match="X-Amz-Date"):
        verifier.parse(replace(request, query_string=request.query_string + "&X-Amz-Date=20240101T003000Z"))


def test_presigned_host_must_be_signed(verifier: SigV4Verifier) -> None:
    request = presigned()
    query = request.query_string.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-amz-date")
    with pytest.raises(IncompleteSignature, match="'Host'"):
        verifier.parse(replace(request, query_string=query))


# -- no auth and malformed Authorization headers -------------------------------------------------------


def test_no_auth_returns_none(verifier: SigV4Verifier) -> None:
    plain = HttpRequest("POST", "/", "", (("host", "iam.amazonaws.com"), ("content-type", FORM)), b"Action=GetUser")
    assert verifier.parse(plain) is None
    assert verifier.parse(replace(plain, method="GET", query_string="Action=GetUser&Version=2010-05-08")) is None
    # A token or a date alone in the query is not an authentication attempt.
    assert verifier.parse(replace(plain, query_string="X-Amz-Security-Token=abc&X-Amz-Date=20240101T003000Z")) is None
    assert verifier.parse(replace(plain, query_string="a=%20&b")) is None


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (
            "AWS4-HMAC-SHA256",
            "Authorization header requires 'Credential' parameter. "
            "Authorization header requires 'Signature' parameter. "
            "Authorization header requires 'SignedHeaders' parameter. "
            "Authorization=AWS4-HMAC-SHA256",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/iam/aws4_request, Signature=abc",
            "Authorization header requires 'SignedHeaders' parameter. "
            "Authorization=AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/iam/aws4_request, "
            "Signature=abc",
        ),
        (
            "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc",
            "Authorization header requires 'Credential' parameter. "
            "Authorization=AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc",
        ),
    ],
)
def test_authorization_missing_components(verifier: SigV4Verifier, authorization: str, message: str) -> None:
    request = with_header(iam_post(), "authorization", authorization)
    with pytest.raises(IncompleteSignature) as err:
        verifier.parse(request)
    assert err.value.message == message
    assert err.value.status == 400


def test_authorization_without_any_date(verifier: SigV4Verifier) -> None:
    request = with_header(iam_post(), "x-amz-date", None)
    with pytest.raises(IncompleteSignature) as err:
        verifier.parse(request)
    assert err.value.message.startswith(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-"
    )


@pytest.mark.parametrize(
    ("credential", "match"),
    [
        ("AKIAIOSFODNN7EXAMPLE/20240101//iam/aws4_request", "valid region"),
        ("AKIAIOSFODNN7EXAMPLE/20240101/US EAST/iam/aws4_request", "valid region"),
        (
            "AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/iam/aws4_reques",
            "valid terminator: 'aws4_request', not 'aws4_reques'",
        ),
        ("AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/iam/aws4_request/x", "valid terminator"),
        ("AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/iam", "valid region"),
        ("AKIAIOSFODNN7EXAMPLE", "valid region"),
        ("/20240101/us-east-1/iam/aws4_request", "access key"),
    ],
)
def test_malformed_credential(verifier: SigV4Verifier, credential: str, match: str) -> None:
    request = iam_post()
    auth = request.header("authorization")
    assert auth is not None
    start = auth.index("Credential=") + len("Credential=")
    end = auth.index(",", start)
    with pytest.raises(IncompleteSignature, match=match):
        verifier.parse(with_header(request, "authorization", auth[:start] + credential + auth[end:]))


def test_unknown_service_is_parsed_for_the_server_to_refuse(verifier: SigV4Verifier) -> None:
    info = verifier.parse(iam_post(service="ec2", region="eu-west-3"))
    assert info is not None
    assert (info.service, info.region) == ("ec2", "eu-west-3")


def test_other_algorithm_is_refused(verifier: SigV4Verifier) -> None:
    request = with_header(iam_post(), "authorization", "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=")
    with pytest.raises(IncompleteSignature, match="algorithm"):
        verifier.parse(request)


def test_host_must_be_signed(verifier: SigV4Verifier) -> None:
    request = iam_post()
    auth = request.header("authorization")
    assert auth is not None
    mutated = with_header(
        request, "authorization", auth.replace("SignedHeaders=content-type;host;", "SignedHeaders=content-type;")
    )
    assert mutated.header("authorization") != auth
    with pytest.raises(IncompleteSignature, match="'Host'"):
        verifier.parse(mutated)


def test_session_token_from_header(verifier: SigV4Verifier) -> None:
    info = verifier.parse(iam_post(token="tok"))
    assert info is not None and info.security_token == "tok"


# -- key cache -----------------------------------------------------------------------------------------


def test_signing_key_is_derived_once_for_repeated_requests(verifier: SigV4Verifier) -> None:
    request = iam_post()
    for _ in range(50):
        check(verifier, request)
    assert verifier.key_derivations == 1
    assert verifier.key_cache_size == 1
    check(verifier, iam_post(action="ListUsers"))
    assert verifier.key_derivations == 1
    check(verifier, iam_post(service="sts"))
    check(verifier, iam_post(region="eu-west-1"))
    check(verifier, iam_post(secret="another" + SECRET[7:]), secret="another" + SECRET[7:])
    assert verifier.key_derivations == 4
    assert verifier.key_cache_size == 4


def test_key_cache_is_bounded_and_keyed_without_raw_secret(clock: FixedClock) -> None:
    verifier = SigV4Verifier(clock, key_cache_size=3)
    secrets = [f"secret-number-{i}-{'x' * 20}" for i in range(10)]
    for secret in secrets:
        check(verifier, iam_post(secret=secret), secret=secret)
    assert verifier.key_cache_size == 3
    assert verifier.key_derivations == 10
    for cache_key in verifier._keys:
        assert not any(secret in repr(cache_key) for secret in secrets)
        assert cache_key[0] in {hashlib.sha256(s.encode()).digest() for s in secrets}
    verifier.clear_key_cache()
    assert verifier.key_cache_size == 0


def test_signing_key_matches_aws_documented_derivation(verifier: SigV4Verifier) -> None:
    # From the AWS SigV4 documentation example (secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY).
    key = verifier.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_verifier_is_reusable_across_requests(verifier: SigV4Verifier) -> None:
    for i in range(5):
        check(verifier, iam_post(action=f"Action{i}"))
