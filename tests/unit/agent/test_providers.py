"""botocore's own credential providers against the agent's real HTTP endpoints.

``AWS_EC2_METADATA_SERVICE_ENDPOINT`` makes botocore's InstanceMetadataProvider (method ``iam-role``)
use the agent's IMDSv2 endpoint, and ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` with
``AWS_CONTAINER_AUTHORIZATION_TOKEN`` (or ``_TOKEN_FILE``) makes its ContainerProvider
(``container-role``) use the container endpoint.

The agent's credentials come from tests/unit/agent/fakes.FakeSource: in stage 1 of issue 12 the real
source (iamd's workload endpoint) does not exist yet, and the fake lets the test move the agent's clock.
To see botocore refresh past expiry without waiting, the test moves botocore's clock too: it hands the
refreshable credentials botocore built a time fetcher that runs ahead by the same amount.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import CredentialRetrievalError
from botocore.utils import ContainerMetadataFetcher

import iamd.agent.server as agent_server
from iamd.agent.container import ContainerCredentialsService
from iamd.agent.credentials import CredentialCache
from iamd.agent.imds import ImdsService, InstanceIdentity
from iamd.agent.server import AgentServer, Listener
from iamd.core.clock import FixedClock
from tests.unit.agent.fakes import ACCOUNT, FakeSource

_AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
)


@pytest.fixture(autouse=True)
def clean_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(int(time.time()))


@pytest.fixture
def source(clock: FixedClock) -> FakeSource:
    return FakeSource(clock)


def identity(clock: FixedClock) -> InstanceIdentity:
    return InstanceIdentity(
        role_name="app-role",
        instance_id="i-0aaaabbbbccccdddd",
        region="us-east-1",
        account_id=ACCOUNT,
        started_at=clock.now(),
        instance_profile_arn=f"arn:aws:iam::{ACCOUNT}:instance-profile/app",
        instance_profile_id="AIPAEXAMPLEPROFILEID1",
    )


@pytest.fixture
def imds_port(clock: FixedClock, source: FakeSource) -> Iterator[int]:
    service = ImdsService(identity(clock), CredentialCache(source, clock), clock)
    with AgentServer([Listener("127.0.0.1", 0, service)]) as server:
        yield server.addresses[0][1]


@pytest.fixture
def container_url(clock: FixedClock, source: FakeSource) -> Iterator[str]:
    service = ContainerCredentialsService(CredentialCache(source, clock), lambda: "container-token")
    with AgentServer([Listener("127.0.0.1", 0, service)]) as server:
        yield f"http://127.0.0.1:{server.addresses[0][1]}/v1/credentials"


def run_ahead(credentials: Any, seconds: int) -> None:
    """Make botocore's refreshable ``credentials`` believe ``seconds`` have passed."""
    credentials._time_fetcher = lambda: datetime.now(UTC) + timedelta(seconds=seconds)


def test_instance_metadata_provider(monkeypatch: pytest.MonkeyPatch, imds_port: int, source: FakeSource) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{imds_port}/")
    credentials = botocore.session.Session().get_credentials()
    assert credentials is not None and credentials.method == "iam-role"
    frozen = credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == ("ASIAFAKE000000000001", "secret-1", "token-1")
    assert source.calls == 1


def test_instance_metadata_refresh_past_expiry(
    monkeypatch: pytest.MonkeyPatch, imds_port: int, clock: FixedClock, source: FakeSource
) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{imds_port}/")
    credentials = botocore.session.Session().get_credentials()
    assert credentials.get_frozen_credentials().access_key == "ASIAFAKE000000000001"
    clock.advance(3600 + 600)  # past the first credentials' expiry
    run_ahead(credentials, 3600 + 600)
    assert credentials.get_frozen_credentials().access_key == "ASIAFAKE000000000002"
    assert source.calls == 2


def test_instance_metadata_through_an_outage(
    monkeypatch: pytest.MonkeyPatch, imds_port: int, clock: FixedClock, source: FakeSource
) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{imds_port}/")
    session = botocore.session.Session()
    assert session.get_credentials().get_frozen_credentials().access_key == "ASIAFAKE000000000001"
    clock.advance(2400)  # refresh is due, but iamd is down: the agent keeps serving what it has
    source.go_down()
    again = botocore.session.Session().get_credentials()
    assert again.method == "iam-role"
    assert again.get_frozen_credentials().access_key == "ASIAFAKE000000000001"


def test_container_provider(monkeypatch: pytest.MonkeyPatch, container_url: str) -> None:
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_url)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-token")
    credentials = botocore.session.Session().get_credentials()
    assert credentials is not None and credentials.method == "container-role"
    frozen = credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == ("ASIAFAKE000000000001", "secret-1", "token-1")
    assert frozen.account_id == ACCOUNT


def test_container_provider_with_a_token_file(
    monkeypatch: pytest.MonkeyPatch, container_url: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("container-token")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_url)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token_file))
    credentials = botocore.session.Session().get_credentials()
    assert credentials.method == "container-role"
    assert credentials.get_frozen_credentials().access_key == "ASIAFAKE000000000001"


def test_container_refresh_past_expiry(
    monkeypatch: pytest.MonkeyPatch, container_url: str, clock: FixedClock, source: FakeSource
) -> None:
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_url)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-token")
    credentials = botocore.session.Session().get_credentials()
    assert credentials.get_frozen_credentials().access_key == "ASIAFAKE000000000001"
    clock.advance(3600 + 1)
    run_ahead(credentials, 3600 + 1)
    assert credentials.get_frozen_credentials().access_key == "ASIAFAKE000000000002"


def test_container_provider_with_a_wrong_token_gets_nothing(
    monkeypatch: pytest.MonkeyPatch, container_url: str, source: FakeSource
) -> None:
    monkeypatch.setattr(ContainerMetadataFetcher, "SLEEP_TIME", 0)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_url)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "guessed")
    with pytest.raises(CredentialRetrievalError, match="403"):
        botocore.session.Session().get_credentials()
    assert source.calls == 0


def test_token_request_with_x_forwarded_for_over_http(imds_port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", imds_port, timeout=10)
    connection.request(
        "PUT",
        "/latest/api/token",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "203.0.113.7"},
    )
    response = connection.getresponse()
    assert response.status == 403
    assert response.getheader("Server") == "EC2ws"
    response.read()
    connection.close()


def test_token_responses_leave_with_the_hop_limit(monkeypatch: pytest.MonkeyPatch, imds_port: int) -> None:
    applied: list[int] = []
    monkeypatch.setattr(agent_server, "apply_hop_limit", lambda connection, limit: applied.append(limit))
    connection = http.client.HTTPConnection("127.0.0.1", imds_port, timeout=10)
    connection.request("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    token = connection.getresponse().read().decode()
    connection.request("GET", "/latest/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token})
    assert connection.getresponse().read() == b"i-0aaaabbbbccccdddd"
    connection.close()
    assert applied == [agent_server.DEFAULT_HOP_LIMIT]


def test_apply_hop_limit_sets_the_ip_ttl() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        agent_server.apply_hop_limit(sock, 3)
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 3


def test_background_refresher_fetches_without_a_request(clock: FixedClock, source: FakeSource) -> None:
    cache = CredentialCache(source, clock)
    service = ImdsService(identity(clock), cache, clock)
    with AgentServer([Listener("127.0.0.1", 0, service)], cache=cache, clock=clock):
        assert source.fetched.wait(timeout=30)
    assert cache.refresh_at() is not None
