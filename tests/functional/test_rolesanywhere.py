"""Roles Anywhere end to end: ``iamd rolesanywhere ...`` in the store, CreateSession served by iamd over HTTPS,
called by the real ``iam-rolesanywhere-session`` package and by iamd's credential helper (also as a boto3
``credential_process``), on SQLite and PostgreSQL. The certificates come from test CAs (RSA and ECDSA,
with an intermediate); the credentials are used against iamd.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import botocore.session
import pytest
from botocore.config import Config
from iam_rolesanywhere_session import CredentialsRetrievalError, IAMRolesAnywhereSession

from iamd.auth.x509_identity import role_session_name
from iamd.services.rolesanywhere import RSA_RESIGN_SECONDS
from tests.support import pki
from tests.support.console_client import self_signed_certificate, start_tls_server
from tests.support.server import Server, postgres_database

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "rolesanywhere.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
            "Condition": {"StringEquals": {"aws:PrincipalTag/x509Subject/OU": "platform"}},
        }
    ],
}


class RolesAnywhere:
    """A TLS iamd with a root CA, an intermediate, a trust anchor, a role and a profile."""

    def __init__(self, server: Server, tls_cert: Path, work: Path, suffix: str) -> None:
        self.server, self.tls_cert, self.work = server, tls_cert, work
        self.root = pki.root_ca(f"Root {suffix}", key_type="rsa")
        self.issuing = self.root.issue_ca(f"Issuing {suffix}", key_type="ec")
        bundle = work / f"bundle-{suffix}.pem"
        bundle.write_bytes(self.root.cert_pem())
        anchor = self.cli("create-trust-anchor", "--name", f"anchor-{suffix}", "--bundle", str(bundle))
        self.anchor_arn = anchor["trustAnchor"]["trustAnchorArn"]
        self.role_name = f"ra-role-{suffix}"
        self.iam().create_role(RoleName=self.role_name, AssumeRolePolicyDocument=json.dumps(TRUST))
        self.role_arn = f"arn:aws:iam::{server.account_id}:role/{self.role_name}"
        profile = self.cli(
            "create-profile", "--name", f"profile-{suffix}", "--role-arn", self.role_arn, "--duration-seconds", "1800"
        )
        self.profile_arn = profile["profile"]["profileArn"]

    def cli(self, *args: str) -> Any:
        proc = self.server.cli("rolesanywhere", *args)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def client(self, service: str, **keys: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.server.url,
            region_name="us-east-1",
            verify=str(self.tls_cert),
            config=Config(retries={"max_attempts": 1}),
            **keys,
        )

    def iam(self) -> Any:
        return self.client(
            "iam", aws_access_key_id=self.server.access_key_id, aws_secret_access_key=self.server.secret_access_key
        )

    def session(self, leaf: pki.Issued, **overrides: Any) -> IAMRolesAnywhereSession:
        options: dict[str, Any] = {
            "profile_arn": self.profile_arn,
            "role_arn": self.role_arn,
            "trust_anchor_arn": self.anchor_arn,
            "certificate": leaf.cert_pem(),
            "private_key": leaf.key_pem(),
            "certificate_chain": leaf.chain_pem() or None,
            "region": "us-east-1",
            "endpoint": self.server.url.removeprefix("https://"),
            "verify": str(self.tls_cert),
            **overrides,
        }
        return IAMRolesAnywhereSession(**options)

    def caller(self, frozen: Any) -> dict[str, Any]:
        sts = self.client(
            "sts",
            aws_access_key_id=frozen.access_key,
            aws_secret_access_key=frozen.secret_key,
            aws_session_token=frozen.token,
        )
        return dict(sts.get_caller_identity())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def tls_iamd(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    work = tmp_path_factory.mktemp(f"ra-{request.param}")
    cert, key = self_signed_certificate(work / "tls")

    def run(url: str | None) -> Iterator[tuple[Server, Path]]:
        server = start_tls_server(work / "data", cert, key, url)
        try:
            yield server, cert
        finally:
            server.stop()

    if request.param == "sqlite":
        yield from run(None)
    else:
        request.getfixturevalue("pg_url")
        with postgres_database() as url:
            yield from run(url)


@pytest.fixture
def ra(tls_iamd: tuple[Server, Path], tmp_path: Path, request: pytest.FixtureRequest) -> RolesAnywhere:
    server, cert = tls_iamd
    suffix = str(abs(hash(request.node.nodeid)) % 10**8)
    return RolesAnywhere(server, cert, tmp_path, suffix)


def _leaf(ra: RolesAnywhere, cn: str, key_type: pki.KeyType = "ec", ou: str = "platform", **options: Any) -> pki.Issued:
    return ra.issuing.issue_leaf(cn, key_type=key_type, subject=pki.name(cn, O="Example", OU=ou), **options)


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_package_session_gets_credentials_that_work(ra: RolesAnywhere, key_type: pki.KeyType) -> None:
    leaf = _leaf(ra, f"host-{key_type}.example.com", key_type)
    frozen = ra.session(leaf, session_duration=900).get_refreshable_credentials().get_frozen_credentials()
    serial = role_session_name(leaf.certificate)
    caller = ra.caller(frozen)
    assert caller["Arn"] == f"arn:aws:sts::{ra.server.account_id}:assumed-role/{ra.role_name}/{serial}"
    subjects = ra.cli("list-subjects")["subjects"]
    assert any(s["x509Subject"] == leaf.certificate.subject.rfc4514_string() for s in subjects)


def _create_session(ra: RolesAnywhere, leaf: pki.Issued) -> Any:
    return ra.session(leaf).get_refreshable_credentials().get_frozen_credentials()


def _refused(ra: RolesAnywhere, leaf: pki.Issued, **overrides: Any) -> str:
    with pytest.raises(CredentialsRetrievalError) as raised:
        ra.session(leaf, **overrides).get_refreshable_credentials().get_frozen_credentials()
    assert raised.value.status_code == 403, raised.value
    return str(raised.value)


def test_trust_policy_conditions_see_the_certificate(ra: RolesAnywhere) -> None:
    assert _create_session(ra, _leaf(ra, "good.example.com")).access_key.startswith("ASIA")
    assert "does not allow rolesanywhere.amazonaws.com" in _refused(ra, _leaf(ra, "other.example.com", ou="sales"))


def test_disabled_anchor_and_profile_give_nothing(ra: RolesAnywhere) -> None:
    leaf = _leaf(ra, "switch.example.com")
    ra.cli("disable-trust-anchor", ra.anchor_arn)
    assert "disabled" in _refused(ra, leaf)
    ra.cli("enable-trust-anchor", ra.anchor_arn)
    ra.cli("disable-profile", ra.profile_arn)
    assert "disabled" in _refused(ra, leaf)
    ra.cli("enable-profile", ra.profile_arn)
    assert _create_session(ra, leaf).access_key.startswith("ASIA")


def test_revoked_expired_and_untrusted_certificates(ra: RolesAnywhere, tmp_path: Path) -> None:
    revoked = _leaf(ra, "revoked.example.com")
    crl_file = tmp_path / "issuing.crl"
    from cryptography.hazmat.primitives import serialization

    crl_file.write_bytes(ra.issuing.crl([revoked.certificate.serial_number]).public_bytes(serialization.Encoding.PEM))
    ra.cli("import-crl", "--name", "issuing", "--crl", str(crl_file), "--trust-anchor", ra.anchor_arn)
    assert "revoked" in _refused(ra, revoked)

    now = dt.datetime.now(dt.UTC)
    expired = _leaf(
        ra, "expired.example.com", not_before=now - dt.timedelta(days=3), not_after=now - dt.timedelta(days=1)
    )
    assert "expired" in _refused(ra, expired).lower()

    stranger = pki.root_ca("stranger").issue_leaf("intruder", subject=pki.name("intruder", OU="platform"))
    assert "Untrusted signing certificate" in _refused(ra, stranger)

    ca_as_leaf = ra.issuing.issue_ca("not-a-leaf", subject=pki.name("not-a-leaf", OU="platform"))
    assert _refused(ra, ca_as_leaf)


def test_a_role_the_profile_does_not_list(ra: RolesAnywhere) -> None:
    other = f"arn:aws:iam::{ra.server.account_id}:role/not-in-profile"
    assert "does not list the role" in _refused(ra, _leaf(ra, "x.example.com"), role_arn=other)


def _raw_create_session(
    ra: RolesAnywhere, leaf: pki.Issued, document: dict[str, Any] | None = None, profile_arn: str | None = None
) -> tuple[urllib.request.Request, bytes]:
    from iamd.auth.x509 import sign_request

    host = ra.server.url.removeprefix("https://")
    arns = {"profileArn": profile_arn or ra.profile_arn, "roleArn": ra.role_arn, "trustAnchorArn": ra.anchor_arn}
    query = "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in sorted(arns.items()))
    body = json.dumps(document or {"durationSeconds": 900}).encode()
    headers = sign_request(
        method="POST",
        path="/sessions",
        query_string=query,
        headers=[("Host", host), ("Content-Type", "application/json")],
        body=body,
        certificate=leaf.certificate,
        private_key=leaf.key,  # type: ignore[arg-type]
        region="us-east-1",
        when=dt.datetime.now(dt.UTC),
        intermediates=leaf.intermediates,
    )
    request = urllib.request.Request(f"{ra.server.url}/sessions?{query}", data=body, method="POST")
    for name, value in headers:
        request.add_header(name, value)
    return request, body


def _send(ra: RolesAnywhere, request: urllib.request.Request) -> tuple[int, dict[str, Any], str]:
    import ssl

    context = ssl.create_default_context(cafile=str(ra.tls_cert))
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status, json.loads(response.read()), ""
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("x-amzn-ErrorType", "")


def test_replayed_and_forged_requests(ra: RolesAnywhere) -> None:
    leaf = _leaf(ra, "replay.example.com", "ec")
    request, _ = _raw_create_session(ra, leaf)
    status, answer, _ = _send(ra, request)
    assert status == 201 and answer["credentialSet"][0]["roleArn"] == ra.role_arn
    assert answer["subjectArn"].startswith(f"arn:aws:rolesanywhere:us-east-1:{ra.server.account_id}:subject/")
    status, answer, code = _send(ra, request)  # the very same (randomized ECDSA) signature again
    assert (status, code) == (403, "AccessDeniedException") and "already" in answer["message"]

    rsa_leaf = _leaf(ra, "replay-rsa.example.com", "rsa")
    request, _ = _raw_create_session(ra, rsa_leaf)
    assert _send(ra, request)[0] == 201
    time.sleep(RSA_RESIGN_SECONDS + 1)  # later than a client re-signing in the same second could send it
    status, answer, code = _send(ra, request)
    assert (status, code) == (403, "AccessDeniedException") and "already" in answer["message"]

    forged, _ = _raw_create_session(ra, leaf)
    forged.data = b'{"durationSeconds": 1800}'  # changed after signing
    status, answer, code = _send(ra, forged)
    assert (status, code) == (403, "AccessDeniedException")


def _helper_command(ra: RolesAnywhere, command: str, leaf: pki.Issued, directory: Path, *extra: str) -> list[str]:
    """``iamd credential-helper COMMAND`` for ``leaf`` (written to ``directory``) against ``ra``."""
    cert, key, chain = pki.write_pem(directory, "helper", leaf)
    assert chain is not None
    return [
        *(sys.executable, "-m", "iamd", "credential-helper", command, *extra),
        *("--certificate", str(cert), "--private-key", str(key), "--intermediates", str(chain)),
        *("--trust-anchor-arn", ra.anchor_arn, "--profile-arn", ra.profile_arn, "--role-arn", ra.role_arn),
        *("--endpoint", ra.server.url, "--ca-bundle", str(ra.tls_cert)),
    ]


def test_credential_helper_and_a_credential_process_profile(ra: RolesAnywhere, tmp_path: Path) -> None:
    leaf = _leaf(ra, "helper.example.com", "rsa")
    command = _helper_command(ra, "credential-process", leaf, tmp_path)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["Version"] == 1 and printed["AccessKeyId"].startswith("ASIA")

    config = tmp_path / "config"
    config.write_text("[profile onprem]\ncredential_process = " + " ".join(command) + "\nregion = us-east-1\n")
    env = {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        session = boto3.Session(profile_name="onprem")
        sts = session.client("sts", endpoint_url=ra.server.url, verify=str(ra.tls_cert))
        arn = sts.get_caller_identity()["Arn"]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert arn.endswith(f"/{ra.role_name}/{role_session_name(leaf.certificate)}")


def test_profile_options_shape_the_session(ra: RolesAnywhere, tmp_path: Path) -> None:
    iam = ra.iam()
    iam.put_role_policy(
        RoleName=ra.role_name,
        PolicyName="lists",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}]}
        ),
    )
    policy_file = tmp_path / "session-policy.json"
    policy_file.write_text(
        json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]}
        )
    )
    profile = ra.cli(
        "create-profile",
        "--name",
        "shaped",
        "--role-arn",
        ra.role_arn,
        "--session-policy-file",
        str(policy_file),
        "--accept-role-session-name",
        "--require-instance-properties",
        "--duration-seconds",
        "900",
        "--attribute-mapping",
        "x509Subject=CN",
    )["profile"]
    assert profile["acceptRoleSessionName"] and profile["durationSeconds"] == 900
    leaf = _leaf(ra, "shaped.example.com")

    request, _ = _raw_create_session(ra, leaf, {"durationSeconds": 3600}, profile["profileArn"])
    status, answer, code = _send(ra, request)
    assert (status, code) == (403, "AccessDeniedException") and "instanceProperties" in answer["message"]

    # the OU is not mapped by this profile, so the trust policy's aws:PrincipalTag/x509Subject/OU is absent
    document = {"durationSeconds": 3600, "roleSessionName": "build-42", "instanceProperties": {"host": "ci-7"}}
    request, _ = _raw_create_session(ra, leaf, document, profile["profileArn"])
    status, answer, code = _send(ra, request)
    assert (status, code) == (403, "AccessDeniedException") and "does not allow" in answer["message"]

    ra.cli("delete-profile", profile["profileArn"])
    profile = ra.cli(
        "create-profile",
        "--name",
        "shaped2",
        "--role-arn",
        ra.role_arn,
        "--session-policy-file",
        str(policy_file),
        "--accept-role-session-name",
        "--duration-seconds",
        "900",
        "--attribute-mapping",
        "x509Subject=CN,OU",
    )["profile"]
    request, _ = _raw_create_session(ra, leaf, document, profile["profileArn"])
    status, answer, _ = _send(ra, request)
    assert status == 201, answer
    entry = answer["credentialSet"][0]
    assert entry["assumedRoleUser"]["arn"].endswith(f"/{ra.role_name}/build-42")
    assert entry["sourceIdentity"] == "CN=shaped.example.com"
    expires = dt.datetime.fromisoformat(entry["credentials"]["expiration"].replace("Z", "+00:00"))
    assert expires - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=905)  # capped by the profile
    keys = entry["credentials"]
    as_session = ra.client(
        "iam",
        aws_access_key_id=keys["accessKeyId"],
        aws_secret_access_key=keys["secretAccessKey"],
        aws_session_token=keys["sessionToken"],
    )
    as_session.list_users()  # the role and the session policy both allow it
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        as_session.list_groups()  # the role allows it, the profile's session policy does not


def test_requests_that_are_not_x509_signed_are_refused(ra: RolesAnywhere) -> None:
    request = urllib.request.Request(f"{ra.server.url}/sessions", data=b"{}", method="POST")
    status, answer, code = _send(ra, request)
    assert (status, code) == (400, "ValidationException")
    leaf = _leaf(ra, "wrong-profile.example.com")
    other = ra.anchor_arn.replace("trust-anchor/", "profile/")
    request, _ = _raw_create_session(ra, leaf, profile_arn=other)
    status, answer, code = _send(ra, request)
    assert (status, code) == (403, "AccessDeniedException") and "profile" in answer["message"]


def test_credential_helper_serve_feeds_botocore(
    ra: RolesAnywhere, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaf = _leaf(ra, "served.example.com")
    process = subprocess.Popen(
        _helper_command(ra, "serve", leaf, tmp_path, "--port", "0"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        port = None
        for line in process.stderr:
            match = re.match(r"Serving credentials on http://127\.0\.0\.1:(\d+)/", line)
            if match:
                port = int(match.group(1))
                break
        assert port is not None, "the helper stopped before serving"
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{port}/")
        credentials = botocore.session.Session().get_credentials()
        assert credentials is not None and credentials.method == "iam-role"
        assert ra.caller(credentials.get_frozen_credentials())["Arn"].endswith(
            f"/{role_session_name(leaf.certificate)}"
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
