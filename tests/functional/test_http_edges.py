"""The wire protocol's edges: authentication failures, bad input, unknown and unimplemented actions."""

from __future__ import annotations

import datetime as dt
import urllib.request
from pathlib import Path

import pytest

from tests.support.server import Server, start_server
from tests.support.signing import presigned_get, send, signed_post

BODY = "Action=ListUsers&Version=2010-05-08"


def code_of(body: str) -> str:
    return body.split("<Code>", 1)[1].split("</Code>", 1)[0]


def message_of(body: str) -> str:
    return body.split("<Message>", 1)[1].split("</Message>", 1)[0]


def test_healthz(iamd: Server) -> None:
    with urllib.request.urlopen(iamd.url + "/healthz", timeout=5) as resp:
        assert resp.status == 200


def test_signed_request_works_and_has_request_id(iamd: Server) -> None:
    resp = signed_post(iamd.url, BODY, iamd.access_key_id, iamd.secret_access_key)
    assert resp.status == 200, resp.body
    assert "<ListUsersResponse" in resp.body
    assert "<RequestId>" in resp.body
    lowered = {k.lower(): v for k, v in resp.headers.items()}
    assert lowered["x-amzn-requestid"] in resp.body


def test_missing_authentication(iamd: Server) -> None:
    resp = send(iamd.url + "/", "POST", BODY.encode(), {"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 403
    assert code_of(resp.body) == "MissingAuthenticationToken"
    assert "<Type>Sender</Type>" in resp.body


def test_unknown_access_key(iamd: Server) -> None:
    resp = signed_post(iamd.url, BODY, "AKIAUNKNOWNUNKNOWN22", iamd.secret_access_key)
    assert resp.status == 403
    assert code_of(resp.body) == "InvalidClientTokenId"


def test_wrong_secret(iamd: Server) -> None:
    resp = signed_post(iamd.url, BODY, iamd.access_key_id, "x" * 40)
    assert resp.status == 403
    assert code_of(resp.body) == "SignatureDoesNotMatch"


def test_expired_signature(iamd: Server) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)
    resp = signed_post(iamd.url, BODY, iamd.access_key_id, iamd.secret_access_key, when=old)
    assert resp.status == 403
    assert code_of(resp.body) == "SignatureDoesNotMatch"
    assert message_of(resp.body).startswith("Signature expired")


def test_presigned_get(iamd: Server) -> None:
    ok = presigned_get(iamd.url, BODY, iamd.access_key_id, iamd.secret_access_key)
    assert ok.status == 200, ok.body
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120)
    expired = presigned_get(iamd.url, BODY, iamd.access_key_id, iamd.secret_access_key, expires=60, when=old)
    assert expired.status == 403
    assert code_of(expired.body) in ("SignatureDoesNotMatch", "AccessDenied")


def test_unknown_action(iamd: Server) -> None:
    resp = signed_post(iamd.url, "Action=MakeCoffee&Version=2010-05-08", iamd.access_key_id, iamd.secret_access_key)
    assert resp.status == 400
    assert code_of(resp.body) == "InvalidAction"


def test_unimplemented_operation_is_501(iamd: Server) -> None:
    body = "Action=GetOrganizationsAccessReport&Version=2010-05-08&JobId=abc"
    resp = signed_post(iamd.url, body, iamd.access_key_id, iamd.secret_access_key)
    assert resp.status == 501
    assert code_of(resp.body) == "NotImplemented"
    assert "GetOrganizationsAccessReport" in message_of(resp.body)


def test_body_over_one_mib_refused(iamd: Server) -> None:
    body = BODY + "&Padding=" + "a" * (1024 * 1024 + 10)
    resp = signed_post(iamd.url, body, iamd.access_key_id, iamd.secret_access_key)
    assert resp.status == 413
    after = signed_post(iamd.url, BODY, iamd.access_key_id, iamd.secret_access_key)
    assert after.status == 200  # the server keeps serving


def test_invalid_utf8_refused(iamd: Server) -> None:
    body = b"Action=CreateUser&Version=2010-05-08&UserName=%FF%FE"
    resp = signed_post(iamd.url, body, iamd.access_key_id, iamd.secret_access_key)
    assert resp.status == 400
    assert "<ErrorResponse" in resp.body


def test_duplicate_parameters_refused(iamd: Server) -> None:
    body = "Action=CreateUser&Version=2010-05-08&UserName=a&UserName=b"
    resp = signed_post(iamd.url, body, iamd.access_key_id, iamd.secret_access_key)
    assert resp.status == 400
    listed = signed_post(iamd.url, BODY, iamd.access_key_id, iamd.secret_access_key)
    assert "<UserName>" not in listed.body  # nothing half-written


def test_xml_unsafe_strings_round_trip(iamd: Server) -> None:
    iam = iamd.client("iam")
    path = "/a<&>\"']]>/"
    iam.create_user(UserName="x", Path=path)
    assert iam.get_user(UserName="x")["User"]["Path"] == path
    iam.tag_user(UserName="x", Tags=[{"Key": "k", "Value": "é ü 中文 +=@"}])
    assert iam.list_user_tags(UserName="x")["Tags"][0]["Value"] == "é ü 中文 +=@"


def test_non_root_user_is_denied_until_policies(iamd: Server) -> None:
    iam = iamd.client("iam")
    iam.create_user(UserName="worker")
    key = iam.create_access_key(UserName="worker")["AccessKey"]
    user_iam = iamd.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as exc:
        user_iam.list_users()
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert "is not authorized to perform: iam:ListUsers" in exc.value.response["Error"]["Message"]
    # GetCallerIdentity needs no permission
    ident = iamd.client("sts", key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()
    assert ident["Arn"].endswith(":user/worker")
    assert ident["UserId"].startswith("AIDA")


def test_reset_endpoint_absent_without_dev(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "nodev", dev=False)
    try:
        resp = send(srv.url + "/_iamd/reset", "POST", b"", {})
        assert resp.status == 404
    finally:
        srv.stop()
