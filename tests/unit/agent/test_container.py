"""The container credentials endpoint's answers (iamd.agent.container), without a server.

Credentials come from tests/unit/agent/fakes.FakeSource, a stand-in for iamd's workload endpoint
(issue 12, stage 2).
"""

from __future__ import annotations

import json

from iamd.agent.container import ContainerCredentialsService
from iamd.agent.credentials import CredentialCache
from iamd.core.clock import FixedClock
from iamd.core.http import HttpRequest
from tests.unit.agent.fakes import ACCOUNT, ROLE_ARN, FakeSource

START = 1_714_979_289.0


def setup(token: str = "s3cret-token") -> tuple[ContainerCredentialsService, FakeSource, list[str]]:
    clock = FixedClock(START)
    source = FakeSource(clock)
    current = [token]
    return ContainerCredentialsService(CredentialCache(source, clock), lambda: current[0]), source, current


def get(
    service: ContainerCredentialsService, path: str = "/v1/credentials", token: str | None = None
) -> tuple[int, dict[str, str]]:
    headers = () if token is None else (("authorization", token),)
    response = service.handle(HttpRequest("GET", path, "", headers))
    return response.status, json.loads(response.body)


def test_credentials_for_the_right_token() -> None:
    service, _, _ = setup()
    status, document = get(service, token="s3cret-token")
    assert status == 200
    assert document == {
        "AccessKeyId": "ASIAFAKE000000000001",
        "SecretAccessKey": "secret-1",
        "Token": "token-1",
        "Expiration": "2024-05-06T08:08:09Z",
        "AccountId": ACCOUNT,
        "RoleArn": ROLE_ARN,
    }


def test_missing_token_is_401() -> None:
    service, source, _ = setup()
    status, document = get(service)
    assert status == 401 and document["code"] == "Unauthorized"
    assert "AWS_CONTAINER_AUTHORIZATION_TOKEN" in document["message"]
    assert source.calls == 0


def test_wrong_token_is_403() -> None:
    service, source, _ = setup()
    assert get(service, token="s3cret-tokeN")[0] == 403
    assert get(service, token="")[0] == 403
    assert source.calls == 0


def test_token_can_rotate() -> None:
    service, _, current = setup()
    current[0] = "rotated"
    assert get(service, token="s3cret-token")[0] == 403
    assert get(service, token="rotated")[0] == 200


def test_an_empty_expected_token_admits_no_one() -> None:
    service, _, _ = setup(token="")
    assert get(service, token="")[0] == 403


def test_other_paths_are_404() -> None:
    service, _, _ = setup()
    assert get(service, "/v2/credentials/abc", token="s3cret-token")[0] == 404


def test_refusal_and_outage() -> None:
    service, source, _ = setup()
    source.refuse()
    status, document = get(service, token="s3cret-token")
    assert status == 403 and document["code"] == "AccessDenied"
    service, source, _ = setup()
    source.go_down()
    assert get(service, token="s3cret-token")[0] == 503


def test_only_get() -> None:
    service, _, _ = setup()
    response = service.handle(HttpRequest("PUT", "/v1/credentials", "", (("authorization", "s3cret-token"),)))
    assert response.status == 405
