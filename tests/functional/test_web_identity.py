"""AssumeRoleWithWebIdentity against a real OpenID Connect issuer (npm's oidc-provider over HTTPS on loopback),
through boto3 (unsigned, as botocore sends it) and botocore's web identity credential provider, on SQLite and
PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support import fixtures_federation
from tests.support.fixtures_federation import OidcIssuer
from tests.support.jwt_signer import SigningKey, make_token, unsigned_token
from tests.support.server import ACCOUNT_ID, Server, postgres_database, start_server

REFRESH_SECONDS = 1
oidc_issuer = fixtures_federation.oidc_issuer  # the real issuer, one per module


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fed_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, oidc_issuer: OidcIssuer
) -> Iterator[Server]:
    """An iamd node trusting the issuer's throwaway CA, refetching keys for unknown kids after one second,
    with no clock leeway (so that a token can expire within the test)."""
    env = {
        "IAMD_FEDERATION_CA_FILE": str(oidc_issuer.tls.ca_file),
        "IAMD_JWKS_REFRESH_SECONDS": str(REFRESH_SECONDS),
        "IAMD_FEDERATION_LEEWAY_SECONDS": "0",
    }
    data_dir = tmp_path_factory.mktemp(f"fed-{request.param}")
    if request.param == "postgresql":
        request.getfixturevalue("pg_url")
        with postgres_database() as url:
            server = start_server(data_dir, url, extra_env=env)
            yield server
            server.stop()
    else:
        server = start_server(data_dir, extra_env=env)
        yield server
        server.stop()


@pytest.fixture
def node(fed_server: Server) -> Server:
    fed_server.reset()
    return fed_server


def unsigned_sts(server: Server) -> Any:
    return boto3.client(
        "sts",
        endpoint_url=server.url,
        region_name="us-east-1",
        config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}),
    )


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def provider_arn(issuer: OidcIssuer) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{issuer.provider_url}"


def setup_role(
    node: Server,
    issuer: OidcIssuer,
    *,
    client_ids: tuple[str, ...] = ("iamd-client", "iamd-ec"),
    conditions: dict[str, Any] | None = None,
    tag_session: bool = False,
    role: str = "web",
) -> str:
    iam = node.client("iam")
    try:
        iam.create_open_id_connect_provider(Url=issuer.issuer, ClientIDList=list(client_ids))
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "EntityAlreadyExists"
    actions = ["sts:AssumeRoleWithWebIdentity"] + (["sts:TagSession"] if tag_session else [])
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn(issuer)},
        "Action": actions,
    }
    if conditions:
        statement["Condition"] = conditions
    trust = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    return str(iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)["Role"]["Arn"])


def test_an_id_token_from_the_issuer_gets_role_credentials(node: Server, oidc_issuer: OidcIssuer) -> None:
    url = oidc_issuer.provider_url
    role_arn = setup_role(node, oidc_issuer, conditions={"StringEquals": {f"{url}:aud": "iamd-client"}})
    token = oidc_issuer.mint("user-123")
    out = unsigned_sts(node).assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="app", WebIdentityToken=token, DurationSeconds=900
    )
    assert out["SubjectFromWebIdentityToken"] == "user-123"
    assert out["Audience"] == "iamd-client"
    assert out["Provider"] == provider_arn(oidc_issuer)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/web/app"
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert 890 <= (creds["Expiration"].timestamp() - time.time()) <= 905
    sts = node.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert sts.get_caller_identity()["Arn"] == out["AssumedRoleUser"]["Arn"]


def test_the_trust_policy_decides_on_the_provider_keys(node: Server, oidc_issuer: OidcIssuer) -> None:
    url = oidc_issuer.provider_url
    role_arn = setup_role(node, oidc_issuer, conditions={"StringEquals": {f"{url}:sub": "alice"}})
    sts = unsigned_sts(node)
    assert sts.assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="sess", WebIdentityToken=oidc_issuer.mint("alice")
    )["Credentials"]
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="sess", WebIdentityToken=oidc_issuer.mint("bob")
        )
    assert error_of(exc) == ("AccessDenied", 403, "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    # an ES256 token of the second client
    ec_client = oidc_issuer.clients[1]
    out = sts.assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="sess", WebIdentityToken=oidc_issuer.mint("alice", client=ec_client)
    )
    assert out["Audience"] == "iamd-ec"
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(
            RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/missing",
            RoleSessionName="sess",
            WebIdentityToken=oidc_issuer.mint(),
        )
    assert error_of(exc)[:2] == ("AccessDenied", 403)


def test_session_tags_and_provider_keys_reach_the_session(node: Server, oidc_issuer: OidcIssuer) -> None:
    url = oidc_issuer.provider_url
    tags_claim = {"https://aws.amazon.com/tags": {"principal_tags": {"team": ["red"]}, "transitive_tag_keys": ["team"]}}
    role_arn = setup_role(node, oidc_issuer)
    with pytest.raises(ClientError) as exc:  # tags need sts:TagSession in the trust policy
        unsigned_sts(node).assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="sess", WebIdentityToken=oidc_issuer.mint("u1", claims=tags_claim)
        )
    assert error_of(exc)[:2] == ("AccessDenied", 403)
    role_arn = setup_role(node, oidc_issuer, tag_session=True, role="tagged")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:ListUsers",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "red", f"{url}:sub": "u1"}},
            }
        ],
    }
    node.client("iam").put_role_policy(RoleName="tagged", PolicyName="p", PolicyDocument=json.dumps(policy))
    sts = unsigned_sts(node)
    for sub, allowed in (("u1", True), ("u2", False)):
        out = sts.assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="sess", WebIdentityToken=oidc_issuer.mint(sub, claims=tags_claim)
        )
        assert out["PackedPolicySize"] >= 1
        creds = out["Credentials"]
        iam = node.client("iam", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        if allowed:
            iam.list_users()
        else:
            with pytest.raises(ClientError) as exc:
                iam.list_users()
            assert error_of(exc)[0] == "AccessDenied"


def test_bad_tokens_are_refused_on_the_wire(node: Server, oidc_issuer: OidcIssuer) -> None:
    role_arn = setup_role(node, oidc_issuer, client_ids=("iamd-client",))
    sts = unsigned_sts(node)

    def refused(token: str) -> tuple[str, int, str]:
        with pytest.raises(ClientError) as exc:
            sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="sess", WebIdentityToken=token)
        return error_of(exc)

    good = oidc_issuer.mint("user-1")
    assert refused(oidc_issuer.mint("user-1", client=oidc_issuer.clients[1])) == (
        "InvalidIdentityToken",
        400,
        "Incorrect token audience",
    )
    head, payload, _ = good.split(".")
    forger = SigningKey.generate("RS256", kid="rsa-1")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert refused(make_token(forger, claims))[:2] == ("InvalidIdentityToken", 400)
    assert refused(unsigned_token(claims))[:2] == ("InvalidIdentityToken", 400)
    assert refused(f"{head}.{payload}.AAAA")[:2] == ("InvalidIdentityToken", 400)
    assert refused("not-a-jwt")[:2] == ("InvalidIdentityToken", 400)
    expired = dict(claims, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)
    assert refused(make_token(forger, expired))[:2] == ("InvalidIdentityToken", 400)  # signature is checked first
    short_lived = oidc_issuer.mint("user-1", ttl=1)
    time.sleep(2.1)
    code, status, message = refused(short_lived)
    assert (code, status) == ("ExpiredTokenException", 400) and message.startswith("Token expired")
    node.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn(oidc_issuer))
    assert refused(good) == (
        "InvalidIdentityToken",
        400,
        f"No OpenIDConnect provider found in your account for {oidc_issuer.issuer}",
    )


def test_key_rotation_is_followed(node: Server, oidc_issuer: OidcIssuer) -> None:
    role_arn = setup_role(node, oidc_issuer)
    sts = unsigned_sts(node)
    assert sts.assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="sess", WebIdentityToken=oidc_issuer.mint()
    )
    old_keys = list(oidc_issuer.keys)
    rotated = [SigningKey.generate("RS256", kid="rsa-rotated"), old_keys[1]]
    oidc_issuer.rotate(rotated)
    try:
        time.sleep(REFRESH_SECONDS + 0.2)  # an unknown kid refetches at most once per refresh interval
        out = sts.assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="sess", WebIdentityToken=oidc_issuer.mint("after-rotation")
        )
        assert out["SubjectFromWebIdentityToken"] == "after-rotation"
    finally:
        oidc_issuer.rotate(old_keys)


def test_botocore_web_identity_credential_provider(node: Server, oidc_issuer: OidcIssuer, tmp_path: Path) -> None:
    """AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN: botocore's own provider (as in EKS or GitHub Actions)."""
    role_arn = setup_role(node, oidc_issuer)
    token_file = tmp_path / "token"
    token_file.write_text(oidc_issuer.mint("workload"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file),
        AWS_ROLE_ARN=role_arn,
        AWS_ROLE_SESSION_NAME="from-file",
        AWS_ENDPOINT_URL=node.url,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
    )
    script = "import boto3, json; print(json.dumps(boto3.client('sts').get_caller_identity()['Arn']))"
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/web/from-file"
    cli = subprocess.run(
        [sys.executable, "-m", "awscli", "sts", "get-caller-identity", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/web/from-file"
