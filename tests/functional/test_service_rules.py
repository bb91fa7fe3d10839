"""The server and ``iamd policy evaluate`` decide the service rules alike (``iamd.policy.service_rules``).

Each test makes a request against a real server with boto3, then gives ``iamd policy evaluate``
the same principal, action, resource and policies, and checks that both decide the same way, with
the same AccessDenied message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iamd.cli.policy_cmd import main
from tests.support.server import Server


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _user(iamd: Server, name: str, document: dict[str, Any]) -> tuple[str, Any]:
    iam = iamd.client("iam")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return arn, iamd.client("sts", key["AccessKeyId"], key["SecretAccessKey"])


def _offline(tmp_path: Path, capsys: pytest.CaptureFixture[str], request: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request), encoding="utf-8")
    assert main(["policy", "evaluate", str(path)]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_get_caller_identity_despite_an_explicit_deny(
    iamd: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deny_all = _doc({"Effect": "Deny", "Action": "*", "Resource": "*"})
    arn, sts = _user(iamd, "denied", deny_all)
    assert sts.get_caller_identity()["Arn"] == arn
    with pytest.raises(ClientError) as exc:
        sts.get_federation_token(Name="fed")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    offline = _offline(
        tmp_path,
        capsys,
        {"principal": arn, "action": "sts:GetCallerIdentity", "resource": "*", "identity_policies": [deny_all]},
    )
    assert offline["decision"] == "Allow"


def test_assume_role_needs_the_trust_policy_in_the_same_account(
    iamd: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = f"arn:aws:iam::{iamd.account_id}:user/other"
    trust = _doc({"Effect": "Allow", "Principal": {"AWS": other}, "Action": "sts:AssumeRole"})
    iam = iamd.client("iam")
    iam.create_user(UserName="other")
    role = iam.create_role(RoleName="target", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    identity = _doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    arn, sts = _user(iamd, "caller", identity)
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role, RoleSessionName="s1")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    offline = _offline(
        tmp_path,
        capsys,
        {
            "principal": arn,
            "action": "sts:AssumeRole",
            "resource": role,
            "identity_policies": [identity],
            "resource_policy": trust,
        },
    )
    assert (offline["decision"], offline["denied_by"]) == ("ImplicitDeny", "resource")
    assert offline["message"] == exc.value.response["Error"]["Message"]
