"""AssumeRoleWithWebIdentity on an air-gapped node: the providers' keys come from IAMD_OFFLINE_JWKS_DIR and are
never fetched.  The tokens have the claim shapes of GitHub Actions and of Kubernetes (EKS) service accounts, after
the providers' documented examples (tests/unit/auth/data/oidc_token_shapes.json)."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.jwt_signer import SigningKey, jwks, make_token
from tests.support.server import ACCOUNT_ID, Server, start_server

SHAPES = json.loads((Path(__file__).parents[1] / "unit" / "auth" / "data" / "oidc_token_shapes.json").read_text())
KEYS = {
    name: SigningKey.generate("RS256", kid=f"{name}-key") for name in ("github_actions", "kubernetes_service_account")
}


@pytest.fixture(scope="module")
def offline_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("offline")
    keys_dir = base / "jwks"
    keys_dir.mkdir()
    for name, key in KEYS.items():
        url = SHAPES[name]["provider_url"]
        (keys_dir / (urllib.parse.quote(url, safe="") + ".json")).write_text(json.dumps(jwks(key)))
    server = start_server(base / "data", extra_env={"IAMD_OFFLINE_JWKS_DIR": str(keys_dir)})
    yield server
    server.stop()


def token_for(name: str, **overrides: Any) -> str:
    shape = SHAPES[name]
    now = int(time.time())
    claims = dict(shape["claims"])
    for claim in ("exp", "iat", "nbf"):
        if claim in claims:
            claims[claim] = now + int(claims[claim])
    claims.update(overrides)
    header = {k: v for k, v in shape["header"].items() if k not in ("alg", "kid")}
    return make_token(KEYS[name], claims, header)


def trusting(iam: Any, role: str, url: str, condition: dict[str, Any]) -> str:
    iam.create_open_id_connect_provider(Url=f"https://{url}", ClientIDList=["sts.amazonaws.com"])
    statement = {
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{url}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition,
    }
    doc = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    return str(iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc)["Role"]["Arn"])


def unsigned_sts(server: Server) -> Any:
    return boto3.client(
        "sts",
        endpoint_url=server.url,
        region_name="us-east-1",
        config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}),
    )


def test_github_actions_token_as_documented(offline_node: Server) -> None:
    offline_node.reset()
    url = SHAPES["github_actions"]["provider_url"]
    role_arn = trusting(
        offline_node.client("iam"),
        "deploy",
        url,
        {
            "StringEquals": {f"{url}:aud": "sts.amazonaws.com"},
            "StringLike": {f"{url}:sub": "repo:octo-org/octo-repo:*"},
        },
    )
    sts = unsigned_sts(offline_node)
    out = sts.assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="gha-run", WebIdentityToken=token_for("github_actions")
    )
    assert out["SubjectFromWebIdentityToken"] == "repo:octo-org/octo-repo:environment:prod"
    assert out["Audience"] == "sts.amazonaws.com"
    other_repo = token_for("github_actions", sub="repo:evil-org/octo-repo:ref:refs/heads/main")
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="gha-run", WebIdentityToken=other_repo)
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    forged = make_token(SigningKey.generate("RS256", kid="github_actions-key"), {"iss": f"https://{url}"})
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="gha-run", WebIdentityToken=forged)
    assert exc.value.response["Error"]["Code"] == "InvalidIdentityToken"


def test_kubernetes_service_account_token_as_documented(offline_node: Server) -> None:
    offline_node.reset()
    url = SHAPES["kubernetes_service_account"]["provider_url"]
    role_arn = trusting(
        offline_node.client("iam"),
        "irsa",
        url,
        {"StringEquals": {f"{url}:sub": "system:serviceaccount:default:my-service-account"}},
    )
    out = unsigned_sts(offline_node).assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="pod", WebIdentityToken=token_for("kubernetes_service_account")
    )
    assert out["Provider"] == f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{url}"
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/irsa/pod"


def test_an_unreachable_provider_and_access_tokens(offline_node: Server) -> None:
    """A provider whose discovery document cannot be fetched is IDPCommunicationError (botocore retries it);
    OAuth 2.0 access tokens (ProviderId) are not accepted."""
    offline_node.reset()
    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"127.0.0.1:{port}"
    role_arn = trusting(
        offline_node.client("iam"), "unreachable", url, {"StringEquals": {f"{url}:aud": "sts.amazonaws.com"}}
    )
    now = int(time.time())
    claims = {"iss": f"https://{url}", "sub": "x", "aud": "sts.amazonaws.com", "iat": now, "exp": now + 600}
    token = make_token(SigningKey.generate("RS256", kid="k"), claims)
    sts = unsigned_sts(offline_node)
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="sess", WebIdentityToken=token)
    assert exc.value.response["Error"]["Code"] == "IDPCommunicationError"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(
            RoleArn=role_arn,
            RoleSessionName="sess",
            WebIdentityToken="an-opaque-access-token",
            ProviderId="www.amazon.com",
        )
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"
