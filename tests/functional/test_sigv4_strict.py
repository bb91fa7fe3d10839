"""Ambiguous authentication is refused over the wire, as AWS refuses it (raw HTTP, both backends).

Requests are signed by botocore and then tampered with: headers doubled, signing parameters
moved or added, a session token next to a long-term key, sparse list indexes.  http.client
sends headers exactly as given, duplicates included.
"""

from __future__ import annotations

import http.client
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from iamd.store import tables as t
from tests.support.server import Server
from tests.support.totp_steps import code, fresh_step

FORM = "application/x-www-form-urlencoded; charset=utf-8"
LIST_USERS = "Action=ListUsers&Version=2010-05-08"
CALLER = "Action=GetCallerIdentity&Version=2011-06-15"
ONE_MECHANISM = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
    "Signature query string parameter or the Authorization header should be specified"
)
BAD_TOKEN = "The security token included in the request is invalid."


class Reply:
    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body

    @property
    def code(self) -> str:
        match = re.search(r"<Code>(.*?)</Code>", self.body)
        return match.group(1) if match else ""

    @property
    def message(self) -> str:
        match = re.search(r"<Message>(.*?)</Message>", self.body, re.S)
        return match.group(1) if match else ""

    @property
    def error(self) -> tuple[int, str, str]:
        return self.status, self.code, self.message


def raw(server: Server, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"") -> Reply:
    """Send exactly these headers (no Host is added: give it), in this order."""
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.netloc, timeout=30)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if body or method == "POST":
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return Reply(response.status, response.read().decode())
    finally:
        conn.close()


def host(server: Server) -> str:
    return urlsplit(server.url).netloc


def signed(
    server: Server,
    body: str = LIST_USERS,
    *,
    key: str | None = None,
    secret: str | None = None,
    token: str | None = None,
    service: str = "iam",
    query: str = "",
) -> list[tuple[str, str]]:
    """Headers botocore signs for a POST of ``body`` (Host first)."""
    url = f"{server.url}/" + (f"?{query}" if query else "")
    request = AWSRequest(method="POST", url=url, data=body.encode(), headers={"Content-Type": FORM})
    creds = Credentials(key or server.access_key_id, secret or server.secret_access_key, token)
    SigV4Auth(creds, service, "us-east-1").add_auth(request)
    return [("Host", host(server)), *request.headers.items()]


def post(server: Server, headers: list[tuple[str, str]], body: str = LIST_USERS, query: str = "") -> Reply:
    return raw(server, "POST", "/" + (f"?{query}" if query else ""), headers, body.encode())


def presigned_target(server: Server, query: str = LIST_USERS, token: str | None = None, key: str | None = None) -> str:
    request = AWSRequest(method="GET", url=f"{server.url}/?{query}")
    creds = Credentials(key or server.access_key_id, server.secret_access_key, token)
    SigV4QueryAuth(creds, "iam", "us-east-1", expires=300).add_auth(request)
    return "/?" + request.url.split("?", 1)[1]


def session(iamd: Server) -> dict[str, str]:
    """Temporary credentials (ASIA...) of a user allowed to do anything."""
    iam = iamd.client("iam")
    iam.create_user(UserName="temp")
    iam.put_user_policy(
        UserName="temp",
        PolicyName="all",
        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
    )
    key = iam.create_access_key(UserName="temp")["AccessKey"]
    creds: dict[str, str] = iamd.client("sts", key["AccessKeyId"], key["SecretAccessKey"]).get_session_token()[
        "Credentials"
    ]
    assert creds["AccessKeyId"].startswith("ASIA")
    return creds


def test_the_untampered_requests_work(iamd: Server) -> None:
    assert post(iamd, signed(iamd)).status == 200
    assert raw(iamd, "GET", presigned_target(iamd), [("Host", host(iamd))]).status == 200


# --- the same header twice ------------------------------------------------------------------------------


def test_two_authorization_headers_valid_first(iamd: Server) -> None:
    headers = signed(iamd)
    valid = dict(headers)["Authorization"]
    bogus = valid.replace(iamd.access_key_id, "AKIAEVILEVILEVILEVIL").replace("Signature=", "Signature=00")
    expected = (
        400,
        "IncompleteSignature",
        "The request carries the Authorization header more than once: "
        "send each header the signature depends on exactly once.",
    )
    assert post(iamd, [*headers, ("Authorization", bogus)]).error == expected
    # and the other way round
    others = [(k, v) for k, v in headers if k != "Authorization"]
    assert post(iamd, [*others, ("Authorization", bogus), ("Authorization", valid)]).error == expected


@pytest.mark.parametrize("name", ["X-Amz-Date", "Host"])
def test_a_repeated_date_or_host(iamd: Server, name: str) -> None:
    headers = signed(iamd)
    reply = post(iamd, [*headers, (name, dict(headers)[name])])
    assert reply.error[:2] == (400, "IncompleteSignature")
    assert reply.message.startswith(f"The request carries the {name} header more than once")


def test_a_repeated_security_token(iamd: Server) -> None:
    creds = session(iamd)
    headers = signed(
        iamd,
        CALLER,
        key=creds["AccessKeyId"],
        secret=creds["SecretAccessKey"],
        token=creds["SessionToken"],
        service="sts",
    )
    assert post(iamd, headers, CALLER).status == 200
    reply = post(iamd, [*headers, ("X-Amz-Security-Token", "forged")], CALLER)
    assert reply.error[:2] == (400, "IncompleteSignature")
    assert "X-Amz-Security-Token header more than once" in reply.message


def test_two_authorization_headers_folded_into_one(iamd: Server) -> None:
    headers = signed(iamd)
    valid = dict(headers)["Authorization"]
    folded = f"{valid}, {valid.replace(iamd.access_key_id, 'AKIAEVILEVILEVILEVIL')}"
    reply = post(iamd, [(k, folded if k == "Authorization" else v) for k, v in headers])
    assert reply.error == (
        400,
        "IncompleteSignature",
        f"'AWS4-HMAC-SHA256' not a valid key=value pair (missing equal-sign) in Authorization header: '{folded}'.",
    )


# --- signing parameters in two places ----------------------------------------------------------------


@pytest.mark.parametrize("param", ["X-Amz-Credential", "X-Amz-Security-Token", "X-Amz-Date", "Signature"])
def test_authorization_header_with_signing_parameters_in_the_query(iamd: Server, param: str) -> None:
    query = f"{param}=x"
    # Signed over the query too: the signature is good, the request is still ambiguous.
    assert post(iamd, signed(iamd, query=query), query=query).error == (400, "IncompleteSignature", ONE_MECHANISM)


def test_authorization_header_with_signing_parameters_in_the_body(iamd: Server) -> None:
    body = f"{LIST_USERS}&X-Amz-Credential=AKIAEVILEVILEVILEVIL%2F20240101%2Fus-east-1%2Fiam%2Faws4_request"
    assert post(iamd, signed(iamd, body), body).error == (400, "IncompleteSignature", ONE_MECHANISM)


def test_presigned_url_with_an_authorization_header(iamd: Server) -> None:
    headers = [(k, v) for k, v in signed(iamd) if k in ("Host", "Authorization", "X-Amz-Date")]
    assert raw(iamd, "GET", presigned_target(iamd), headers).error == (400, "IncompleteSignature", ONE_MECHANISM)


def test_presigned_url_with_an_x_amz_date_header(iamd: Server) -> None:
    reply = raw(iamd, "GET", presigned_target(iamd), [("Host", host(iamd)), ("X-Amz-Date", "20240101T000000Z")])
    assert reply.error[:2] == (400, "IncompleteSignature")
    assert "X-Amz-Date query parameter only" in reply.message


def test_a_parameter_in_both_query_and_body(iamd: Server) -> None:
    iamd.client("iam").create_user(UserName="bob")
    body = "Action=GetUser&Version=2010-05-08&UserName=bob"
    query = "UserName=eve"
    reply = post(iamd, signed(iamd, body, query=query), body, query=query)
    assert reply.error == (400, "MalformedQueryString", "The request contains the parameter UserName more than once.")


# --- session tokens and key kinds -------------------------------------------------------------------------


def test_long_term_key_with_a_session_token_header(iamd: Server) -> None:
    reply = post(iamd, signed(iamd, token="anything-at-all"))
    assert reply.error == (403, "InvalidClientTokenId", BAD_TOKEN)


def test_long_term_key_with_a_real_session_token(iamd: Server) -> None:
    # A genuine token of another session does not make a long-term key temporary either.
    creds = session(iamd)
    reply = post(iamd, signed(iamd, token=creds["SessionToken"]))
    assert reply.error == (403, "InvalidClientTokenId", BAD_TOKEN)


def test_long_term_key_with_a_session_token_presigned(iamd: Server) -> None:
    reply = raw(iamd, "GET", presigned_target(iamd, token="anything-at-all"), [("Host", host(iamd))])
    assert reply.error == (403, "InvalidClientTokenId", BAD_TOKEN)


def test_long_term_key_with_a_session_token_through_boto3(iamd: Server) -> None:
    sts = iamd.client("sts", session_token="stale-token-from-an-old-session")
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    error = exc.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("InvalidClientTokenId", BAD_TOKEN)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_temporary_key_without_its_token(iamd: Server) -> None:
    creds = session(iamd)
    headers = signed(iamd, key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], service="sts", body=CALLER)
    assert post(iamd, headers, CALLER).error == (403, "InvalidClientTokenId", BAD_TOKEN)
    with_token = signed(
        iamd,
        key=creds["AccessKeyId"],
        secret=creds["SecretAccessKey"],
        token=creds["SessionToken"],
        service="sts",
        body=CALLER,
    )
    assert post(iamd, with_token, CALLER).status == 200


# --- sparse list indexes --------------------------------------------------------------------------------


def _user_exists(iamd: Server, name: str) -> bool:
    try:
        iamd.client("iam").get_user(UserName=name)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchEntity"
        return False
    return True


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (
            "Tags.member.99999999999.Key=k&Tags.member.99999999999.Value=v",
            "The parameter Tags.member.99999999999.Key has the index '99999999999' where a position is expected: "
            "number the members of Tags.member 1, 2, 3, ... in plain decimal, without gaps.",
        ),
        (
            "Tags.member.1.Key=a&Tags.member.1.Value=1&Tags.member.3.Key=c&Tags.member.3.Value=3",
            "The request has Tags.member.3 but no Tags.member.2: "
            "number the members of Tags.member 1, 2, 3, ... without gaps.",
        ),
        (
            "Tags.member.0.Key=k&Tags.member.0.Value=v",
            "The parameter Tags.member.0.Key has the index '0' where a position is expected: "
            "number the members of Tags.member 1, 2, 3, ... in plain decimal, without gaps.",
        ),
        (
            "Tags.member.1.Key=a&Tags.member.1.Value=1&Tags.member.01.Key=b",
            "The parameter Tags.member.01.Key has the index '01' where a position is expected: "
            "number the members of Tags.member 1, 2, 3, ... in plain decimal, without gaps.",
        ),
        (
            "Tags.member.first.Key=k",
            "The parameter Tags.member.first.Key has the index 'first' where a position is expected: "
            "number the members of Tags.member 1, 2, 3, ... in plain decimal, without gaps.",
        ),
    ],
)
def test_sparse_or_odd_list_indexes_are_refused_and_nothing_is_stored(iamd: Server, tags: str, message: str) -> None:
    body = f"Action=CreateUser&Version=2010-05-08&UserName=sparse&{tags}"
    assert post(iamd, signed(iamd, body), body).error == (400, "MalformedQueryString", message)
    assert not _user_exists(iamd, "sparse")


def test_nested_list_with_a_gap(iamd: Server) -> None:
    iamd.client("iam").create_user(UserName="subject")
    arn = f"arn:aws:iam::{iamd.account_id}:user/subject"
    base = f"Action=SimulatePrincipalPolicy&Version=2010-05-08&PolicySourceArn={arn}&ActionNames.member.1=iam:GetUser"
    entry = "ContextEntries.member.1.ContextKeyName=aws:TagKeys&ContextEntries.member.1.ContextKeyType=stringList"
    good = f"{base}&{entry}&ContextEntries.member.1.ContextKeyValues.member.1=a"
    assert post(iamd, signed(iamd, good), good).status == 200
    bad = f"{base}&{entry}&ContextEntries.member.1.ContextKeyValues.member.2=a"
    reply = post(iamd, signed(iamd, bad), bad)
    assert reply.error[:2] == (400, "MalformedQueryString")
    assert reply.message.startswith(
        "The request has ContextEntries.member.1.ContextKeyValues.member.2 but no "
        "ContextEntries.member.1.ContextKeyValues.member.1: "
    )


def test_in_order_tags_are_stored(iamd: Server) -> None:
    body = (
        "Action=CreateUser&Version=2010-05-08&UserName=ordered"
        "&Tags.member.2.Key=b&Tags.member.2.Value=2&Tags.member.1.Key=a&Tags.member.1.Value=1"
    )
    assert post(iamd, signed(iamd, body), body).status == 200
    tags = iamd.client("iam").list_user_tags(UserName="ordered")["Tags"]
    assert tags == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]


# --- the MFA lockout: same answer as a wrong code, but logged and recorded ----------------------------


def test_mfa_lockout_is_logged_and_recorded(iamd: Server) -> None:
    from iamd.core import totp

    log_file = iamd.data_dir / f"server-{urlsplit(iamd.url).port}.log"
    log_start = log_file.stat().st_size  # the server (and its log) serves the whole session
    iam = iamd.client("iam")
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    user_sts = iamd.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice-phone")["VirtualMFADevice"]
    serial = device["SerialNumber"]
    seed = totp.from_base32(device["Base32StringSeed"].decode())
    step = fresh_step()
    iam.enable_mfa_device(
        UserName="alice",
        SerialNumber=serial,
        AuthenticationCode1=code(seed, step - 1),
        AuthenticationCode2=code(seed, step),
    )
    good = code(seed, step + 1)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    answers: list[tuple[str, str]] = []
    for attempt in [wrong] * 5 + [good]:
        with pytest.raises(ClientError) as exc:
            user_sts.get_session_token(SerialNumber=serial, TokenCode=attempt)
        answers.append((exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]))
    # The locked refusal is word for word a wrong code's.
    assert set(answers) == {("AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code. ")}

    alice = f"arn:aws:iam::{iamd.account_id}:user/alice"
    with log_file.open("rb") as f:
        f.seek(log_start)
        log = f.read().decode()
    lock_lines = [line for line in log.splitlines() if f"MFA device {serial} locked" in line]
    assert len(lock_lines) == 1
    assert " WARNING iamd.mfa: " in lock_lines[0]
    assert lock_lines[0].endswith(
        f"locked for 30 s after 5 wrong codes in a row (lock 1 in a row; sts by {alice} from 127.0.0.1)"
    )
    assert wrong not in lock_lines[0] and good not in lock_lines[0]

    url = iamd.database_url or f"sqlite:///{iamd.data_dir / 'iamd.db'}"
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows: list[Any] = conn.execute(
                sa.select(t.mfa_events.c.event, t.mfa_events.c.principal_arn, t.mfa_events.c.source_ip)
                .where(t.mfa_events.c.serial == serial)
                .order_by(t.mfa_events.c.id)
            ).all()
    finally:
        engine.dispose()
    events = [r.event for r in rows]
    assert events[-7:] == ["wrong-code"] * 5 + ["locked", "refused-locked"]
    assert {(r.principal_arn, r.source_ip) for r in rows[-7:]} == {(alice, "127.0.0.1")}
