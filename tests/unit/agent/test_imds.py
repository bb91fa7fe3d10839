"""The IMDSv2-compatible endpoint's answers (iamd.agent.imds), without a server.

Credentials come from tests/unit/agent/fakes.FakeSource, a stand-in for iamd's workload endpoint
(issue 12, stage 2).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from iamd.agent.credentials import CredentialCache
from iamd.agent.imds import ImdsService, InstanceIdentity, MetadataTokens
from iamd.core.clock import FixedClock
from iamd.core.http import HttpRequest
from tests.unit.agent.fakes import ACCOUNT, FakeSource

START = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
IDENTITY = InstanceIdentity(
    role_name="app-role",
    instance_id="i-0123456789abcdef0",
    region="eu-west-3",
    account_id=ACCOUNT,
    started_at=START,
    instance_profile_arn=f"arn:aws:iam::{ACCOUNT}:instance-profile/app",
    instance_profile_id="AIPAEXAMPLEPROFILEID1",
)


def req(method: str, path: str, *headers: tuple[str, str]) -> HttpRequest:
    return HttpRequest(method=method, path=path, query_string="", headers=tuple((n.lower(), v) for n, v in headers))


class Imds:
    def __init__(self, *, allow_v1: bool = False, identity: InstanceIdentity = IDENTITY) -> None:
        self.clock = FixedClock(START)
        self.source = FakeSource(self.clock)
        self.service = ImdsService(identity, CredentialCache(self.source, self.clock), self.clock, allow_v1=allow_v1)

    def token(self, ttl: str = "21600") -> str:
        response = self.service.handle(req("PUT", "/latest/api/token", ("X-aws-ec2-metadata-token-ttl-seconds", ttl)))
        assert response.status == 200
        return response.body.decode()

    def get(self, path: str, token: str | None = None) -> tuple[int, str]:
        headers = () if token is None else (("X-aws-ec2-metadata-token", token),)
        response = self.service.handle(req("GET", path, *headers))
        return response.status, response.body.decode()


@pytest.fixture
def imds() -> Imds:
    return Imds()


def test_token_is_issued_with_its_ttl(imds: Imds) -> None:
    response = imds.service.handle(req("PUT", "/latest/api/token", ("X-aws-ec2-metadata-token-ttl-seconds", "300")))
    assert response.status == 200
    assert ("X-aws-ec2-metadata-token-ttl-seconds", "300") in response.headers
    assert response.token_response
    assert len(response.body) > 40


@pytest.mark.parametrize("ttl", [None, "", "0", "21601", "-1", "abc", "1.5", "9999999"])
def test_token_ttl_must_be_1_to_21600(imds: Imds, ttl: str | None) -> None:
    headers = () if ttl is None else (("X-aws-ec2-metadata-token-ttl-seconds", ttl),)
    response = imds.service.handle(req("PUT", "/latest/api/token", *headers))
    assert response.status == 400
    assert b"400 - Bad Request" in response.body


@pytest.mark.parametrize("ttl", ["1", "21600"])
def test_token_ttl_bounds_are_accepted(imds: Imds, ttl: str) -> None:
    assert imds.token(ttl)


def test_token_request_through_a_proxy_is_refused(imds: Imds) -> None:
    response = imds.service.handle(
        req("PUT", "/latest/api/token", ("X-aws-ec2-metadata-token-ttl-seconds", "60"), ("X-Forwarded-For", "10.0.0.9"))
    )
    assert response.status == 403
    assert not response.token_response


def test_token_path_takes_only_put(imds: Imds) -> None:
    response = imds.service.handle(req("GET", "/latest/api/token"))
    assert response.status == 405
    assert ("Allow", "PUT") in response.headers


def test_get_without_token_is_401(imds: Imds) -> None:
    assert imds.get("/latest/meta-data/instance-id")[0] == 401


def test_get_with_a_bad_token_is_401(imds: Imds) -> None:
    token = imds.token()
    assert imds.get("/latest/meta-data/instance-id", "not-a-token")[0] == 401
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert imds.get("/latest/meta-data/instance-id", forged)[0] == 401
    other_agent = MetadataTokens(imds.clock).issue(60)
    assert imds.get("/latest/meta-data/instance-id", other_agent)[0] == 401


def test_token_expires_after_its_ttl(imds: Imds) -> None:
    token = imds.token("60")
    imds.clock.advance(59)
    assert imds.get("/latest/meta-data/instance-id", token)[0] == 200
    imds.clock.advance(1)
    assert imds.get("/latest/meta-data/instance-id", token)[0] == 401


def test_imdsv1_when_allowed() -> None:
    imds = Imds(allow_v1=True)
    assert imds.get("/latest/meta-data/instance-id") == (200, IDENTITY.instance_id)
    assert imds.get("/latest/meta-data/instance-id", "bogus")[0] == 401


def test_role_name_listing(imds: Imds) -> None:
    token = imds.token()
    assert imds.get("/latest/meta-data/iam/security-credentials/", token) == (200, "app-role")
    assert imds.get("/latest/meta-data/iam/security-credentials", token) == (200, "app-role")


def test_role_credentials_in_imds_layout(imds: Imds) -> None:
    token = imds.token()
    status, body = imds.get("/latest/meta-data/iam/security-credentials/app-role", token)
    assert status == 200
    assert body == (
        "{\n"
        '  "Code" : "Success",\n'
        '  "LastUpdated" : "2024-05-06T07:08:09Z",\n'
        '  "Type" : "AWS-HMAC",\n'
        '  "AccessKeyId" : "ASIAFAKE000000000001",\n'
        '  "SecretAccessKey" : "secret-1",\n'
        '  "Token" : "token-1",\n'
        '  "Expiration" : "2024-05-06T08:08:09Z"\n'
        "}\n"
    )


def test_other_role_is_404(imds: Imds) -> None:
    assert imds.get("/latest/meta-data/iam/security-credentials/admin", imds.token())[0] == 404


def test_refused_credentials_answer_code_and_message(imds: Imds) -> None:
    imds.source.refuse()
    status, body = imds.get("/latest/meta-data/iam/security-credentials/app-role", imds.token())
    assert status == 200
    document = json.loads(body)
    assert document["Code"] == "AccessDenied"
    assert document["Message"] == "The workload was deregistered."
    assert "AccessKeyId" not in document


def test_unreachable_source_with_nothing_cached_is_503(imds: Imds) -> None:
    imds.source.go_down()
    assert imds.get("/latest/meta-data/iam/security-credentials/app-role", imds.token())[0] == 503


def test_iam_info(imds: Imds) -> None:
    status, body = imds.get("/latest/meta-data/iam/info", imds.token())
    assert status == 200
    assert json.loads(body) == {
        "Code": "Success",
        "LastUpdated": "2024-05-06T07:08:09Z",
        "InstanceProfileArn": IDENTITY.instance_profile_arn,
        "InstanceProfileId": IDENTITY.instance_profile_id,
    }


def test_no_iam_info_for_a_role_without_instance_profile() -> None:
    imds = Imds(
        identity=InstanceIdentity(
            role_name="task-role", instance_id="i-1", region="us-east-1", account_id=ACCOUNT, started_at=START
        )
    )
    token = imds.token()
    assert imds.get("/latest/meta-data/iam/info", token)[0] == 404
    assert imds.get("/latest/meta-data/iam/", token) == (200, "security-credentials/")


def test_instance_values_and_identity_document(imds: Imds) -> None:
    token = imds.token()
    assert imds.get("/latest/meta-data/instance-id", token) == (200, "i-0123456789abcdef0")
    assert imds.get("/latest/meta-data/placement/region", token) == (200, "eu-west-3")
    status, body = imds.get("/latest/dynamic/instance-identity/document", token)
    assert status == 200
    assert json.loads(body) == {
        "accountId": ACCOUNT,
        "instanceId": "i-0123456789abcdef0",
        "pendingTime": "2024-05-06T07:08:09Z",
        "region": "eu-west-3",
        "version": "2017-09-30",
    }


def test_directory_listings_and_unknown_paths(imds: Imds) -> None:
    token = imds.token()
    assert imds.get("/latest/meta-data/", token) == (200, "iam/\ninstance-id\nplacement/")
    assert imds.get("/latest/meta-data/iam/", token) == (200, "info\nsecurity-credentials/")
    status, body = imds.get("/latest/meta-data/ami-id", token)
    assert status == 404 and "404 - Not Found" in body


def test_writes_are_not_allowed(imds: Imds) -> None:
    response = imds.service.handle(
        req("POST", "/latest/meta-data/instance-id", ("X-aws-ec2-metadata-token", imds.token()))
    )
    assert response.status == 405


def test_responses_say_ec2ws(imds: Imds) -> None:
    response = imds.service.handle(req("GET", "/latest/meta-data/instance-id"))
    assert ("Server", "EC2ws") in response.headers


def test_identity_without_an_instance_serves_credentials_only() -> None:
    imds = Imds(identity=InstanceIdentity(role_name="onprem", region="eu-west-3", account_id=ACCOUNT))
    token = imds.token()
    assert imds.get("/latest/meta-data/", token) == (200, "iam/\nplacement/")
    assert imds.get("/latest/meta-data/instance-id", token)[0] == 404
    assert imds.get("/latest/dynamic/instance-identity/document", token)[0] == 404
    assert imds.get("/latest/meta-data/iam/security-credentials/onprem", token)[0] == 200
