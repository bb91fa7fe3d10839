"""Workloads end to end: ``iamd workloads register``, a real agent enrolled with iamd, botocore's own providers.

The agent runs in the test process (its clock is the test's, so a refresh can be made due without
waiting); iamd is the real server on SQLite and PostgreSQL. botocore's InstanceMetadataProvider (method
``iam-role``) and ContainerProvider (``container-role``) fetch from the agent, and the credentials they
get are used against iamd.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from cryptography import x509

from iamd.agent.container import ContainerCredentialsService
from iamd.agent.credentials import CredentialCache, CredentialSourceError
from iamd.agent.imds import ImdsService
from iamd.agent.server import AgentServer, Listener
from iamd.agent.workload import IamdWorkloadSource, WorkloadState, enroll
from iamd.auth.x509 import WORKLOAD_SERVICE, sign_request
from iamd.core.clock import FixedClock
from tests.support import pki
from tests.support.server import Server, free_port, postgres_database, start_server
from tests.unit.agent.test_providers import clean_aws_env, run_ahead

__all__ = ["clean_aws_env"]

EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
ECS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _cli_json(server: Server, *args: str) -> Any:
    proc = server.cli(*args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _instance_profile(server: Server, trust: dict[str, Any] = EC2_TRUST) -> None:
    iam = server.client("iam")
    iam.create_role(RoleName="app-role", AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_instance_profile(InstanceProfileName="app")
    iam.add_role_to_instance_profile(InstanceProfileName="app", RoleName="app-role")


def _enrolled(server: Server, state_dir: Path, *register: str) -> WorkloadState:
    registration = _cli_json(server, "workloads", "register", *register)
    assert registration["WorkloadId"].startswith("i-") and len(registration["WorkloadId"]) == 19
    return enroll(server.url, registration["BootstrapToken"], state_dir)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(int(time.time()))


class Agent:
    def __init__(self, state_dir: Path, clock: FixedClock, duration: int | None = None) -> None:
        self.source = IamdWorkloadSource(state_dir, duration_seconds=duration)
        self.cache = CredentialCache(self.source, clock)
        imds = ImdsService(self.source.state.identity(clock.now()), self.cache, clock)
        container = ContainerCredentialsService(self.cache, lambda: "container-token")
        self.server = AgentServer([Listener("127.0.0.1", 0, imds), Listener("127.0.0.1", 0, container)])
        self.server.start()
        self.imds_url = f"http://127.0.0.1:{self.server.addresses[0][1]}/"
        self.container_url = f"http://127.0.0.1:{self.server.addresses[1][1]}/v1/credentials"

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def agents() -> Iterator[list[Agent]]:
    started: list[Agent] = []
    yield started
    for agent in started:
        agent.stop()


def _imds_credentials(monkeypatch: pytest.MonkeyPatch, agent: Agent) -> Any:
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", agent.imds_url)
    credentials = botocore.session.Session().get_credentials()
    assert credentials is not None and credentials.method == "iam-role"
    return credentials


def _caller(server: Server, frozen: Any) -> dict[str, Any]:
    sts = server.client("sts", frozen.access_key, frozen.secret_key, frozen.token)
    return dict(sts.get_caller_identity())


def test_instance_profile_credentials_through_imds(
    iamd: Server, tmp_path: Path, clock: FixedClock, agents: list[Agent], monkeypatch: pytest.MonkeyPatch
) -> None:
    _instance_profile(iamd)
    state = _enrolled(iamd, tmp_path / "agent", "--instance-profile", "app", "--name", "web-1")
    workload = state.workload_id
    # the role may list users only from this very workload: the source identity is carried by the session
    iamd.client("iam").put_role_policy(
        RoleName="app-role",
        PolicyName="only-this-workload",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "iam:ListUsers",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:SourceIdentity": workload}},
                    },
                    {
                        "Effect": "Allow",
                        "Action": "iam:ListGroups",
                        "Resource": "*",
                        "Condition": {
                            "ArnLike": {"ec2:SourceInstanceARN": f"arn:aws:ec2:*:*:instance/{workload}"},
                            "StringEquals": {"ec2:RoleDelivery": "2.0"},
                        },
                    },
                ],
            }
        ),
    )
    agent = Agent(tmp_path / "agent", clock)
    agents.append(agent)
    frozen = _imds_credentials(monkeypatch, agent).get_frozen_credentials()
    assert frozen.access_key.startswith("ASIA")
    caller = _caller(iamd, frozen)
    assert caller["Arn"] == f"arn:aws:sts::{iamd.account_id}:assumed-role/app-role/{workload}"
    assert caller["Account"] == iamd.account_id
    as_workload = iamd.client("iam", frozen.access_key, frozen.secret_key, frozen.token)
    as_workload.list_users()
    as_workload.list_groups()  # the instance's ARN is on every request made with its credentials
    with pytest.raises(ClientError, match="AccessDenied"):
        as_workload.list_roles()

    listed = _cli_json(iamd, "workloads", "list")
    assert [(w["WorkloadId"], w["State"], w["Name"]) for w in listed] == [(workload, "active", "web-1")]
    assert listed[0]["TargetArn"] == f"arn:aws:iam::{iamd.account_id}:instance-profile/app"


def test_refresh_past_expiry_and_deregistration(
    iamd: Server, tmp_path: Path, clock: FixedClock, agents: list[Agent], monkeypatch: pytest.MonkeyPatch
) -> None:
    _instance_profile(iamd)
    state = _enrolled(iamd, tmp_path / "agent", "--instance-profile", "app")
    agent = Agent(tmp_path / "agent", clock, duration=900)
    agents.append(agent)
    credentials = _imds_credentials(monkeypatch, agent)
    first = credentials.get_frozen_credentials()
    # the next credentials last an hour: past the first ones' expiry (agent and botocore), new ones come
    agent.source.duration_seconds = 3600
    clock.advance(900 + 60)
    run_ahead(credentials, 900 + 60)
    second = credentials.get_frozen_credentials()
    assert second.access_key != first.access_key
    assert agent.cache.fetches == 2
    assert _caller(iamd, second)["Arn"].endswith(f"/app-role/{state.workload_id}")

    _cli_json(iamd, "workloads", "deregister", state.workload_id)
    clock.advance(2500)  # the refresh is due: iamd refuses, and the agent drops what it had
    with pytest.raises(CredentialSourceError, match="AccessDenied"):
        agent.source.fetch()
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", agent.imds_url)
    assert botocore.session.Session().get_credentials() is None


def test_container_credentials_for_a_role(
    iamd: Server, tmp_path: Path, clock: FixedClock, agents: list[Agent], monkeypatch: pytest.MonkeyPatch
) -> None:
    iamd.client("iam").create_role(RoleName="task-role", AssumeRolePolicyDocument=json.dumps(ECS_TRUST))
    state = _enrolled(iamd, tmp_path / "agent", "--role", "task-role")
    agent = Agent(tmp_path / "agent", clock, duration=900)
    agents.append(agent)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.container_url)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-token")
    credentials = botocore.session.Session().get_credentials()
    assert credentials is not None and credentials.method == "container-role"
    first = credentials.get_frozen_credentials()
    assert first.account_id == iamd.account_id
    assert _caller(iamd, first)["Arn"] == f"arn:aws:sts::{iamd.account_id}:assumed-role/task-role/{state.workload_id}"
    agent.source.duration_seconds = 3600
    clock.advance(901)
    run_ahead(credentials, 901)
    second = credentials.get_frozen_credentials()
    assert second.access_key != first.access_key
    _caller(iamd, second)


def test_a_role_that_does_not_trust_the_service_gives_nothing(
    iamd: Server, tmp_path: Path, clock: FixedClock, agents: list[Agent]
) -> None:
    _instance_profile(iamd, trust=ECS_TRUST)  # trusts ecs-tasks, not ec2
    _enrolled(iamd, tmp_path / "agent", "--instance-profile", "app")
    source = IamdWorkloadSource(tmp_path / "agent")
    with pytest.raises(CredentialSourceError, match=r"403, AccessDenied.*does not trust ec2.amazonaws.com") as error:
        source.fetch()
    assert error.value.denied


def test_bootstrap_tokens_are_single_use_and_unknown_ones_refused(iamd: Server, tmp_path: Path) -> None:
    _instance_profile(iamd)
    registration = _cli_json(iamd, "workloads", "register", "--instance-profile", "app")
    enroll(iamd.url, registration["BootstrapToken"], tmp_path / "a")
    with pytest.raises(CredentialSourceError, match=r"403, AccessDenied.*bootstrap token is not valid"):
        enroll(iamd.url, registration["BootstrapToken"], tmp_path / "b")
    with pytest.raises(CredentialSourceError, match="403, AccessDenied"):
        enroll(iamd.url, "iamdwb-guessed", tmp_path / "c")
    again = _cli_json(iamd, "workloads", "reissue-token", registration["WorkloadId"])
    assert enroll(iamd.url, again["BootstrapToken"], tmp_path / "d").workload_id == registration["WorkloadId"]


def test_unknown_profile_and_role_are_refused_at_registration(iamd: Server) -> None:
    proc = iamd.cli("workloads", "register", "--instance-profile", "nope")
    assert proc.returncode == 1 and "cannot be found" in proc.stderr
    proc = iamd.cli("workloads", "register", "--role", "arn:aws:iam::999999999999:role/x")
    assert proc.returncode == 1 and "another account" in proc.stderr


def _post(url: str, body: bytes, headers: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST")
    for name, value in headers:
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _signed_by(server: Server, certificate: x509.Certificate, key: Any, body: bytes = b"{}") -> list[tuple[str, str]]:
    host = server.url.split("://", 1)[1]
    return sign_request(
        method="POST",
        path="/_iamd/workloads/credentials",
        query_string="",
        headers=[("Host", host), ("Content-Type", "application/json")],
        body=body,
        certificate=certificate,
        private_key=key,
        region="us-east-1",
        when=datetime.now(UTC),
        service=WORKLOAD_SERVICE,
    )


def test_forged_replayed_and_foreign_requests_get_no_credentials(iamd: Server, tmp_path: Path) -> None:
    _instance_profile(iamd)
    state = _enrolled(iamd, tmp_path / "agent", "--instance-profile", "app")
    url = iamd.url + "/_iamd/workloads/credentials"

    headers = _signed_by(iamd, state.certificate, state.private_key)
    status, answer = _post(url, b"{}", headers)
    assert status == 200 and answer["AccessKeyId"].startswith("ASIA")
    status, answer = _post(url, b"{}", headers)  # the same signed request again
    assert (status, answer["code"]) == (403, "AccessDeniedException")

    tampered = _signed_by(iamd, state.certificate, state.private_key)
    status, answer = _post(url, b'{"durationSeconds": 3600}', tampered)  # body changed after signing
    assert (status, answer["code"]) == (403, "AccessDeniedException")

    # a look-alike certificate (same subject, own CA) is not from the account's workload CA
    impostor = pki.root_ca("Impostor CA").issue_leaf(
        "x", subject=state.certificate.subject, serial_number=state.certificate.serial_number
    )
    forged, other_key = impostor.certificate, impostor.key
    status, answer = _post(url, b"{}", _signed_by(iamd, forged, other_key))
    assert status == 403 and "Untrusted signing certificate" in answer["message"]

    status, answer = _post(url, b"{}", [("Content-Type", "application/json")])
    assert (status, answer["code"]) == (400, "ValidationException")


def test_agent_serves_cached_credentials_through_an_iamd_outage(
    tmp_path: Path, clock: FixedClock, agents: list[Agent], monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    def run(database_url: str | None) -> None:
        server = start_server(tmp_path / "data", database_url)
        try:
            _instance_profile(server)
            _enrolled(server, tmp_path / "agent", "--instance-profile", "app")
            agent = Agent(tmp_path / "agent", clock)
            agents.append(agent)
            first = _imds_credentials(monkeypatch, agent).get_frozen_credentials()
        finally:
            server.stop()
        clock.advance(2500)  # a refresh is due, but iamd is down: the cached credentials stay in service
        again = botocore.session.Session().get_credentials()
        assert again is not None and again.get_frozen_credentials().access_key == first.access_key
        assert agent.cache.fetches == 2
        restarted = start_server(tmp_path / "data", database_url, port=int(server.url.rsplit(":", 1)[1]))
        try:
            clock.advance(20)  # past the agent's retry pause
            fresh = botocore.session.Session().get_credentials().get_frozen_credentials()
            assert fresh.access_key != first.access_key
            _caller(restarted, fresh)
        finally:
            restarted.stop()

    if backend == "sqlite":
        run(None)
    else:
        with postgres_database() as url:
            run(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        request.getfixturevalue("pg_url")
    return str(request.param)


def test_renewal_and_ca_rotation_keep_the_workload_going(iamd: Server, tmp_path: Path) -> None:
    iamd.client("iam").create_role(RoleName="task-role", AssumeRolePolicyDocument=json.dumps(ECS_TRUST))
    first = _enrolled(iamd, tmp_path / "agent", "--role", "task-role")
    rotated = _cli_json(iamd, "workloads", "rotate-ca")
    source = IamdWorkloadSource(tmp_path / "agent")
    assert source.fetch().access_key_id.startswith("ASIA")  # the retired CA still vouches for its certificate
    source.renew()
    renewed = WorkloadState.load(tmp_path / "agent")
    assert renewed.certificate.serial_number != first.certificate.serial_number
    assert renewed.certificate.issuer != first.certificate.issuer  # issued by the new CA
    assert rotated["CaId"] in renewed.certificate.issuer.rfc4514_string()
    assert source.fetch().access_key_id.startswith("ASIA")
    # the old certificate stays valid until it expires
    status, answer = _post(
        iamd.url + "/_iamd/workloads/credentials", b"{}", _signed_by(iamd, first.certificate, first.private_key)
    )
    assert status == 200 and answer["AccessKeyId"].startswith("ASIA")


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iamd", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_agent_command_enrols_and_serves_both_endpoints(
    iamd: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _instance_profile(iamd)
    registration = _cli_json(iamd, "workloads", "register", "--instance-profile", "app")
    token_file = tmp_path / "bootstrap"
    token_file.write_text(registration["BootstrapToken"] + "\n")
    state = tmp_path / "state"
    enrolled = _run_cli(
        "agent", "enroll", "--endpoint", iamd.url, "--bootstrap-token-file", str(token_file), "--state-dir", str(state)
    )
    assert enrolled.returncode == 0, enrolled.stderr
    assert registration["WorkloadId"] in enrolled.stdout
    assert (state / "workload.key").stat().st_mode & 0o077 == 0
    imds_port, container_port = free_port(), free_port()
    container_token = tmp_path / "container-token"
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "iamd",
            "agent",
            "run",
            "--state-dir",
            str(state),
            "--imds",
            f"127.0.0.1:{imds_port}",
            "--container",
            f"127.0.0.1:{container_port}",
            "--container-token-file",
            str(container_token),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # both listeners accept connections
            try:
                for port in (imds_port, container_port):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        token = container_token.read_bytes()
        assert token and not token.endswith(b"\n")  # botocore sends the file's bytes as the header
        assert container_token.stat().st_mode & 0o077 == 0
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{imds_port}/")
        from_imds = botocore.session.Session().get_credentials()
        assert from_imds is not None and from_imds.method == "iam-role"
        assert _caller(iamd, from_imds.get_frozen_credentials())["Arn"].endswith(f"/{registration['WorkloadId']}")
        monkeypatch.delenv("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"http://127.0.0.1:{container_port}/v1/credentials")
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(container_token))
        from_container = botocore.session.Session().get_credentials()
        assert from_container is not None and from_container.method == "container-role"
    finally:
        agent.terminate()
        agent.wait(timeout=10)
