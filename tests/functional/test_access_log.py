"""The access log: one line per request on ``iamd.access`` (allowed, denied, unsigned, console),
never a secret in it."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.server import Server, start_server

LINE = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) INFO iamd\.access: (?P<fields>.*)$",
)


def log_file(server: Server) -> Path:
    return server.data_dir / f"server-{server.url.rsplit(':', 1)[1]}.log"


def access_line(server: Server, needle: str) -> dict[str, str]:
    """The fields of the access log line holding ``needle`` (written just after the response)."""
    deadline = time.monotonic() + 10
    while True:
        for text in log_file(server).read_text().splitlines():
            match = LINE.match(text)
            if match and needle in text:
                fields = dict(part.split("=", 1) for part in match["fields"].split(" "))
                fields["time"] = match["time"]
                return fields
        assert time.monotonic() < deadline, f"no access log line with {needle}"
        time.sleep(0.05)


def request_id(response: dict[str, Any]) -> str:
    return str(response["ResponseMetadata"]["RequestId"])


def test_an_allowed_call(iamd: Server, iam: Any) -> None:
    rid = request_id(iam.list_users())
    line = access_line(iamd, f"request_id={rid}")
    assert line["source_ip"] == "127.0.0.1"
    assert line["action"] == "iam:ListUsers"
    assert line["principal"] == f"arn:aws:iam::{iamd.account_id}:root"
    assert (line["status"], line["decision"]) == ("200", "allow")
    assert re.fullmatch(r"\d+\.\d", line["duration_ms"])


def test_a_call_authorized_then_failing_is_allowed_with_its_status(iamd: Server, iam: Any) -> None:
    with pytest.raises(ClientError) as caught:
        iam.get_user(UserName="nobody-here")
    line = access_line(iamd, f"request_id={request_id(caught.value.response)}")
    assert (line["action"], line["status"], line["decision"]) == ("iam:GetUser", "404", "allow")


def test_a_denied_call(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="no-rights")
    key = iam.create_access_key(UserName="no-rights")["AccessKey"]
    user_iam = iamd.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as caught:
        user_iam.list_roles()
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    line = access_line(iamd, f"request_id={request_id(caught.value.response)}")
    assert line["action"] == "iam:ListRoles"
    assert line["principal"] == f"arn:aws:iam::{iamd.account_id}:user/no-rights"
    assert (line["status"], line["decision"]) == ("403", "deny")
    assert key["SecretAccessKey"] not in log_file(iamd).read_text()


def test_an_unsigned_call(iamd: Server) -> None:
    request = urllib.request.Request(
        iamd.url + "/",
        data=b"Action=ListUsers&Version=2010-05-08",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 403
    rid = caught.value.headers["x-amzn-requestid"]
    line = access_line(iamd, f"request_id={rid}")
    assert line["action"] == "-:ListUsers"  # no signature: no service scope
    assert (line["principal"], line["status"], line["decision"]) == ("-", "403", "-")


def test_a_console_request(iamd: Server) -> None:
    with urllib.request.urlopen(iamd.url + "/console?from=access-log-test", timeout=10) as resp:
        assert resp.status == 200
    line = access_line(iamd, "path=/console ")
    assert (line["method"], line["request_id"], line["decision"]) == ("GET", "-", "-")
    assert "access-log-test" not in log_file(iamd).read_text()  # no query string


def test_no_secret_reaches_the_log(iamd: Server, sts: Any) -> None:
    creds = sts.get_session_token()["Credentials"]
    session = iamd.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    rid = request_id(session.get_caller_identity())
    line = access_line(iamd, f"request_id={rid}")
    assert line["principal"] == f"arn:aws:iam::{iamd.account_id}:root"
    presigned = AWSRequest(method="GET", url=f"{iamd.url}/?Action=ListUsers&Version=2010-05-08")
    SigV4QueryAuth(Credentials(iamd.access_key_id, iamd.secret_access_key), "iam", "us-east-1", 60).add_auth(presigned)
    signature = re.search(r"X-Amz-Signature=([0-9a-f]+)", presigned.url)
    assert signature is not None
    with urllib.request.urlopen(presigned.url, timeout=10) as resp:
        rid = resp.headers["x-amzn-requestid"]
    assert access_line(iamd, f"request_id={rid}")["action"] == "iam:ListUsers"
    text = log_file(iamd).read_text()
    for secret in (creds["SecretAccessKey"], creds["SessionToken"], iamd.secret_access_key, signature[1]):
        assert secret not in text


def test_no_access_log_flag_silences_it(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "quiet", extra_args=["--no-access-log"])
    try:
        srv.client("iam").list_users()
        with urllib.request.urlopen(srv.url + "/console", timeout=10):
            pass
    finally:
        srv.stop()  # every line the server would write is written once it has exited
    text = log_file(srv).read_text()
    assert "iamd.access" not in text
    assert "uvicorn.access" not in text and '"GET /console' not in text  # nor uvicorn's own
