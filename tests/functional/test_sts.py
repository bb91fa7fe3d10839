"""STS temporary credentials against a real server: AssumeRole, session and federation tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.server import AwsCliError, Server
from tests.support.signing import presigned_get, send

ALLOW_ALL_TRUST_FOR = "arn:aws:iam::{account}:root"


def trust(principal: Any, actions: list[str] | None = None, condition: dict[str, Any] | None = None) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": actions or ["sts:AssumeRole"],
    }
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def role_arn(iamd: Server, name: str, account: str | None = None) -> str:
    return f"arn:aws:iam::{account or iamd.account_id}:role/{name}"


def session_clients(iamd: Server, creds: dict[str, Any]) -> tuple[Any, Any]:
    args = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    return iamd.client("iam", *args), iamd.client("sts", *args)


def admin_clients(iamd: Server, name: str = "admin") -> tuple[Any, Any]:
    """IAM and STS clients of an IAM user with AdministratorAccess (AWS refuses AssumeRole to root)."""
    iam = iamd.client("iam")
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return (
        iamd.client("iam", key["AccessKeyId"], key["SecretAccessKey"]),
        iamd.client("sts", key["AccessKeyId"], key["SecretAccessKey"]),
    )


@pytest.fixture
def admin_sts(iamd: Server) -> Any:
    return admin_clients(iamd)[1]


def make_user(iamd: Server, name: str, *policies: str) -> tuple[Any, Any]:
    iam = iamd.client("iam")
    iam.create_user(UserName=name)
    for i, doc in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName=f"p{i}", PolicyDocument=doc)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return (
        iamd.client("iam", key["AccessKeyId"], key["SecretAccessKey"]),
        iamd.client("sts", key["AccessKeyId"], key["SecretAccessKey"]),
    )


def test_assume_role_same_account_and_use_it(iamd: Server, iam: Any, admin_sts: Any) -> None:
    iam.create_role(RoleName="reader", AssumeRolePolicyDocument=trust(iamd.account_id))
    iam.attach_role_policy(RoleName="reader", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    out = admin_sts.assume_role(RoleArn=role_arn(iamd, "reader"), RoleSessionName="alice", DurationSeconds=900)
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{iamd.account_id}:assumed-role/reader/alice"
    role_id = iam.get_role(RoleName="reader")["Role"]["RoleId"]
    assert out["AssumedRoleUser"]["AssumedRoleId"] == f"{role_id}:alice"
    s_iam, s_sts = session_clients(iamd, creds)
    ident = s_sts.get_caller_identity()
    assert ident["Arn"] == out["AssumedRoleUser"]["Arn"] and ident["UserId"] == f"{role_id}:alice"
    assert [r["RoleName"] for r in s_iam.list_roles()["Roles"]] == ["reader"]
    with pytest.raises(ClientError) as exc:
        s_iam.create_user(UserName="x")
    code, message = err(exc)
    assert code == "AccessDenied"
    assert message.startswith(f"User: arn:aws:sts::{iamd.account_id}:assumed-role/reader/alice is not authorized")
    assert iamd.client("sts").get_access_key_info(AccessKeyId=creds["AccessKeyId"])["Account"] == iamd.account_id


def test_root_may_not_assume_roles(iamd: Server, iam: Any, sts: Any) -> None:
    """AssumeRole API reference: the root user's credentials cannot call AssumeRole."""
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(iamd.account_id))
    refused = ("AccessDenied", "Roles may not be assumed by root accounts.")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role_arn(iamd, "r"), RoleSessionName="s1")
    assert err(exc) == refused
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # refused before the role is looked at, and for the root's temporary credentials too
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role_arn(iamd, "missing"), RoleSessionName="s1")
    assert err(exc) == refused
    _, root_session_sts = session_clients(iamd, sts.get_session_token()["Credentials"])
    with pytest.raises(ClientError) as exc:
        root_session_sts.assume_role(RoleArn=role_arn(iamd, "r"), RoleSessionName="s1")
    assert err(exc) == refused
    with pytest.raises(AwsCliError) as cli_exc:
        iamd.aws("sts", "assume-role", "--role-arn", role_arn(iamd, "r"), "--role-session-name", "cli")
    assert "(AccessDenied)" in cli_exc.value.stderr
    assert "Roles may not be assumed by root accounts." in cli_exc.value.stderr


def test_trust_naming_the_account_needs_identity_permission(iamd: Server) -> None:
    iamd.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=trust(iamd.account_id))
    _, no_perm_sts = make_user(iamd, "noperm")
    with pytest.raises(ClientError) as exc:
        no_perm_sts.assume_role(RoleArn=role_arn(iamd, "r"), RoleSessionName="s1")
    assert err(exc)[0] == "AccessDenied"
    _, allowed_sts = make_user(
        iamd, "allowed", policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn(iamd, "r")})
    )
    allowed_sts.assume_role(RoleArn=role_arn(iamd, "r"), RoleSessionName="s1")


def test_trust_naming_the_user_grants_on_its_own(iamd: Server) -> None:
    iam = iamd.client("iam")
    _, user_sts = make_user(iamd, "named")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{iamd.account_id}:user/named"))
    user_sts.assume_role(RoleArn=role_arn(iamd, "r"), RoleSessionName="s1")


def test_unknown_role_and_bad_arn(iamd: Server, admin_sts: Any) -> None:
    with pytest.raises(ClientError) as exc:
        admin_sts.assume_role(RoleArn=role_arn(iamd, "nope"), RoleSessionName="s1")
    assert err(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        admin_sts.assume_role(RoleArn="not-an-arn-at-all-really", RoleSessionName="s1")
    assert err(exc)[0] == "ValidationError"


def test_cross_account_with_external_id(iamd: Server) -> None:
    proc = iamd.cli("accounts", "create", "--name", "partner")
    assert proc.returncode == 0, proc.stderr
    other = json.loads(proc.stdout)
    other_iam = iamd.client("iam", other["AccessKeyId"], other["SecretAccessKey"])
    other_iam.create_role(
        RoleName="vendor",
        AssumeRolePolicyDocument=trust(iamd.account_id, condition={"StringEquals": {"sts:ExternalId": "xyz-123"}}),
    )
    arn = role_arn(iamd, "vendor", other["AccountId"])
    # the caller's own identity policy must allow it too
    _, user_sts = make_user(iamd, "crosser", policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": arn}))
    _, stranger_sts = make_user(iamd, "stranger")

    def assume(client: Any, **kwargs: Any) -> Any:
        import time

        deadline = time.monotonic() + 2  # the new account's key reaches this node's cache within the bound
        while True:
            try:
                return client.assume_role(RoleArn=arn, RoleSessionName="x1", **kwargs)
            except ClientError as e:
                if e.response["Error"]["Code"] != "InvalidClientTokenId" or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    with pytest.raises(ClientError) as exc:
        assume(user_sts)
    assert err(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        assume(user_sts, ExternalId="wrong")
    assert err(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        assume(stranger_sts, ExternalId="xyz-123")
    assert err(exc)[0] == "AccessDenied"
    out = assume(user_sts, ExternalId="xyz-123")
    assert out["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{other['AccountId']}:assumed-role/vendor/")
    _, s_sts = session_clients(iamd, out["Credentials"])
    assert s_sts.get_caller_identity()["Account"] == other["AccountId"]


def test_duration_rules_and_chaining(iamd: Server, iam: Any, admin_sts: Any) -> None:
    iam.create_role(RoleName="first", AssumeRolePolicyDocument=trust(iamd.account_id), MaxSessionDuration=7200)
    iam.put_role_policy(
        RoleName="first",
        PolicyName="chain",
        PolicyDocument=policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
    )
    iam.create_role(RoleName="second", AssumeRolePolicyDocument=trust(iamd.account_id), MaxSessionDuration=7200)
    with pytest.raises(ClientError) as exc:
        admin_sts.assume_role(RoleArn=role_arn(iamd, "first"), RoleSessionName="s1", DurationSeconds=7201)
    assert err(exc)[0] == "ValidationError"
    out = admin_sts.assume_role(RoleArn=role_arn(iamd, "first"), RoleSessionName="s1", DurationSeconds=7200)
    _, s_sts = session_clients(iamd, out["Credentials"])
    with pytest.raises(ClientError) as exc:
        s_sts.assume_role(RoleArn=role_arn(iamd, "second"), RoleSessionName="chained", DurationSeconds=3601)
    assert err(exc)[0] == "ValidationError"
    assert "role chaining" in err(exc)[1]
    chained = s_sts.assume_role(RoleArn=role_arn(iamd, "second"), RoleSessionName="chained", DurationSeconds=3600)
    assert chained["AssumedRoleUser"]["Arn"].endswith("assumed-role/second/chained")


def test_session_policy_narrows(iamd: Server, iam: Any, admin_sts: Any) -> None:
    iam.create_role(RoleName="full", AssumeRolePolicyDocument=trust(iamd.account_id))
    iam.attach_role_policy(RoleName="full", PolicyArn="arn:aws:iam::aws:policy/IAMFullAccess")
    out = admin_sts.assume_role(
        RoleArn=role_arn(iamd, "full"),
        RoleSessionName="narrow",
        Policy=policy({"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}),
    )
    assert 0 < out["PackedPolicySize"] <= 100
    s_iam, _ = session_clients(iamd, out["Credentials"])
    s_iam.list_users()
    with pytest.raises(ClientError) as exc:
        s_iam.list_roles()
    assert "because no session policy allows" in err(exc)[1]
    managed = admin_sts.assume_role(
        RoleArn=role_arn(iamd, "full"),
        RoleSessionName="managed",
        PolicyArns=[{"arn": "arn:aws:iam::aws:policy/IAMReadOnlyAccess"}],
    )
    m_iam, _ = session_clients(iamd, managed["Credentials"])
    m_iam.list_roles()
    with pytest.raises(ClientError):
        m_iam.create_user(UserName="x")


def test_session_tags_become_principal_tags_and_need_tag_session(iamd: Server, iam: Any, admin_sts: Any) -> None:
    iam.create_role(RoleName="no-tags", AssumeRolePolicyDocument=trust(iamd.account_id))
    with pytest.raises(ClientError) as exc:
        admin_sts.assume_role(
            RoleArn=role_arn(iamd, "no-tags"), RoleSessionName="s1", Tags=[{"Key": "team", "Value": "blue"}]
        )
    assert "sts:TagSession" in err(exc)[1]
    iam.create_role(
        RoleName="tagged", AssumeRolePolicyDocument=trust(iamd.account_id, ["sts:AssumeRole", "sts:TagSession"])
    )
    iam.put_role_policy(
        RoleName="tagged",
        PolicyName="by-tag",
        PolicyDocument=policy(
            {
                "Effect": "Allow",
                "Action": "iam:ListUsers",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
            },
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
        ),
    )
    blue = admin_sts.assume_role(
        RoleArn=role_arn(iamd, "tagged"),
        RoleSessionName="b1",
        Tags=[{"Key": "team", "Value": "blue"}],
        TransitiveTagKeys=["team"],
    )
    red = admin_sts.assume_role(
        RoleArn=role_arn(iamd, "tagged"), RoleSessionName="r1", Tags=[{"Key": "team", "Value": "red"}]
    )
    session_clients(iamd, blue["Credentials"])[0].list_users()
    with pytest.raises(ClientError):
        session_clients(iamd, red["Credentials"])[0].list_users()
    # transitive tags ride along a chain and cannot be overridden
    _, blue_sts = session_clients(iamd, blue["Credentials"])
    chained = blue_sts.assume_role(RoleArn=role_arn(iamd, "tagged"), RoleSessionName="c1")
    session_clients(iamd, chained["Credentials"])[0].list_users()
    with pytest.raises(ClientError):
        blue_sts.assume_role(
            RoleArn=role_arn(iamd, "tagged"), RoleSessionName="c2", Tags=[{"Key": "team", "Value": "red"}]
        )


def test_source_identity(iamd: Server, iam: Any, admin_sts: Any) -> None:
    iam.create_role(RoleName="plain", AssumeRolePolicyDocument=trust(iamd.account_id))
    with pytest.raises(ClientError):
        admin_sts.assume_role(RoleArn=role_arn(iamd, "plain"), RoleSessionName="s1", SourceIdentity="alice")
    iam.create_role(
        RoleName="si",
        AssumeRolePolicyDocument=trust(iamd.account_id, ["sts:AssumeRole", "sts:SetSourceIdentity"]),
    )
    iam.put_role_policy(
        RoleName="si",
        PolicyName="p",
        PolicyDocument=policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
    )
    out = admin_sts.assume_role(RoleArn=role_arn(iamd, "si"), RoleSessionName="s1", SourceIdentity="alice")
    assert out["SourceIdentity"] == "alice"
    _, s_sts = session_clients(iamd, out["Credentials"])
    again = s_sts.assume_role(RoleArn=role_arn(iamd, "si"), RoleSessionName="s2")
    assert again["SourceIdentity"] == "alice"  # kept along the chain
    with pytest.raises(ClientError):
        s_sts.assume_role(RoleArn=role_arn(iamd, "si"), RoleSessionName="s3", SourceIdentity="mallory")


def test_tampered_missing_and_foreign_tokens(iamd: Server, iam: Any, admin_sts: Any, tmp_path: Path) -> None:
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(iamd.account_id))
    creds = admin_sts.assume_role(RoleArn=role_arn(iamd, "r"), RoleSessionName="s1")["Credentials"]
    token = creds["SessionToken"]
    flipped = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    for bad in (flipped, "", "garbage"):
        client = iamd.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], bad or None)
        with pytest.raises(ClientError) as exc:
            client.get_caller_identity()
        assert err(exc)[0] == "InvalidClientTokenId"
    # a token of another deployment (other token keys) is refused too
    from tests.support.server import start_server

    other = start_server(tmp_path / "other")
    try:
        other_iam = other.client("iam")
        other_iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(other.account_id))
        other_sts = admin_clients(other)[1]
        foreign = other_sts.assume_role(RoleArn=role_arn(other, "r"), RoleSessionName="s1")["Credentials"]
    finally:
        other.stop()
    client = iamd.client("sts", foreign["AccessKeyId"], foreign["SecretAccessKey"], foreign["SessionToken"])
    with pytest.raises(ClientError) as exc:
        client.get_caller_identity()
    assert err(exc)[0] == "InvalidClientTokenId"
    # a wrong secret with a valid token: the signature check still applies
    client = iamd.client("sts", creds["AccessKeyId"], "x" * 40, token)
    with pytest.raises(ClientError) as exc:
        client.get_caller_identity()
    assert err(exc)[0] == "SignatureDoesNotMatch"


def test_expired_session_is_refused(iamd: Server) -> None:
    """Mint a session whose expiry has passed with the server's own token keys (shared through the store)."""
    from iamd.auth.session_tokens import SessionClaims
    from iamd.core.config import Settings, StoreSettings
    from iamd.core.ids import secret_access_key, temporary_access_key_id
    from iamd.services.runtime import Runtime

    rt = Runtime(Settings(store=StoreSettings(data_dir=iamd.data_dir, database_url=iamd.database_url)))
    try:
        key, secret = temporary_access_key_id(iamd.account_id), secret_access_key()
        claims = SessionClaims(
            account_id=iamd.account_id,
            access_key_id=key,
            secret_access_key=secret,
            principal_kind="root",
            arn=f"arn:aws:iam::{iamd.account_id}:root",
            user_id=iamd.account_id,
            name=iamd.account_id,
            issued_at=0.0,
            expires_at=1000.0,
        )
        token = rt.token_keys.ring().seal(claims)
        live = rt.token_keys.ring().seal(SessionClaims(**{**claims.__dict__, "expires_at": 4e9}))
    finally:
        rt.close()
    with pytest.raises(ClientError) as exc:
        iamd.client("sts", key, secret, token).get_caller_identity()
    assert err(exc) == ("ExpiredToken", "The security token included in the request is expired")
    assert iamd.client("sts", key, secret, live).get_caller_identity()["Account"] == iamd.account_id


def test_presigned_get_caller_identity_with_session(iamd: Server, iam: Any, admin_sts: Any) -> None:
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(iamd.account_id))
    creds = admin_sts.assume_role(RoleArn=role_arn(iamd, "r"), RoleSessionName="k8s")["Credentials"]
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=f"{iamd.url}/?Action=GetCallerIdentity&Version=2011-06-15")
    SigV4QueryAuth(
        Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]), "sts", "us-east-1", 60
    ).add_auth(request)
    resp = send(request.url, "GET", None, {})
    assert resp.status == 200, resp.body
    assert "assumed-role/r/k8s" in resp.body
    assert (
        presigned_get(
            iamd.url, "Action=GetCallerIdentity&Version=2011-06-15", "AKIAUNKNOWNUNKNOWN22", "x" * 40, service="sts"
        ).status
        == 403
    )


def test_get_session_token(iamd: Server, sts: Any) -> None:
    root = sts.get_session_token()["Credentials"]
    assert root["AccessKeyId"].startswith("ASIA")
    with pytest.raises(ClientError) as exc:
        sts.get_session_token(DurationSeconds=3601)  # root: one hour at most
    assert err(exc)[0] == "ValidationError"
    user_iam, user_sts = make_user(iamd, "u", policy({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}))
    creds = user_sts.get_session_token(DurationSeconds=129600)["Credentials"]
    s_iam, s_sts = session_clients(iamd, creds)
    assert s_sts.get_caller_identity()["Arn"].endswith(":user/u")
    with pytest.raises(ClientError) as exc:
        s_sts.get_session_token()
    assert err(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        s_iam.list_users()  # IAM needs MFA with session-token credentials
    assert err(exc)[0] == "AccessDenied"
    user_iam.list_users()
    with pytest.raises(ClientError) as exc:
        user_sts.get_session_token(SerialNumber="arn:aws:iam::123456789012:mfa/u", TokenCode="123456")
    assert err(exc)[0] == "AccessDenied" and "MFA" in err(exc)[1]


def test_get_federation_token(iamd: Server) -> None:
    _, user_sts = make_user(
        iamd,
        "broker",
        policy({"Effect": "Allow", "Action": ["sts:GetFederationToken", "iam:List*"], "Resource": "*"}),
    )
    bare = user_sts.get_federation_token(Name="bob")
    assert bare["FederatedUser"]["Arn"] == f"arn:aws:sts::{iamd.account_id}:federated-user/bob"
    assert bare["FederatedUser"]["FederatedUserId"] == f"{iamd.account_id}:bob"
    b_iam, b_sts = session_clients(iamd, bare["Credentials"])
    assert b_sts.get_caller_identity()["Arn"].endswith("federated-user/bob")
    with pytest.raises(ClientError):
        b_iam.list_users()  # no session policy: no permissions
    scoped = user_sts.get_federation_token(
        Name="carol", Policy=policy({"Effect": "Allow", "Action": ["iam:ListUsers", "iam:CreateUser"], "Resource": "*"})
    )
    s_iam, _ = session_clients(iamd, scoped["Credentials"])
    s_iam.list_users()
    with pytest.raises(ClientError):
        s_iam.create_user(UserName="x")  # the broker itself may not create users
    _, denied_sts = make_user(iamd, "nobroker")
    with pytest.raises(ClientError) as exc:
        denied_sts.get_federation_token(Name="dave")
    assert err(exc)[0] == "AccessDenied"


def test_federation_actions_not_implemented_yet(iamd: Server) -> None:
    body = (
        b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/r"
        b"&RoleSessionName=s&WebIdentityToken=x"
    )
    resp = send(iamd.url + "/", "POST", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 501 and "<Code>NotImplemented</Code>" in resp.body


def test_botocore_assume_role_provider_refreshes_through_iamd(iamd: Server, iam: Any, tmp_path: Path) -> None:
    iam.create_role(RoleName="profile-role", AssumeRolePolicyDocument=trust(iamd.account_id))
    iam.create_user(UserName="deployer")
    iam.put_user_policy(
        UserName="deployer",
        PolicyName="assume",
        PolicyDocument=policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
    )
    key = iam.create_access_key(UserName="deployer")["AccessKey"]
    config = tmp_path / "config"
    config.write_text(
        "[profile base]\n"
        f"aws_access_key_id = {key['AccessKeyId']}\n"
        f"aws_secret_access_key = {key['SecretAccessKey']}\n"
        "region = us-east-1\n"
        "[profile assumed]\n"
        f"role_arn = {role_arn(iamd, 'profile-role')}\n"
        "source_profile = base\n"
        "role_session_name = via-profile\n"
        "region = us-east-1\n"
    )
    env = {
        **os.environ,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_ENDPOINT_URL_STS": iamd.url,
        "AWS_ENDPOINT_URL_IAM": iamd.url,
    }
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(var, None)
    script = (
        "import boto3; s = boto3.Session(profile_name='assumed'); print(s.client('sts').get_caller_identity()['Arn'])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"arn:aws:sts::{iamd.account_id}:assumed-role/profile-role/via-profile"
    _ = boto3  # the same provider chain the AWS CLI uses


def test_trust_policy_sees_the_request_s_global_keys(iamd: Server, iam: Any, admin_sts: Any) -> None:
    """The trust policy is evaluated with aws:SourceIp and the other keys of the HTTP request."""
    loopback = {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}
    elsewhere = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    iam.create_role(RoleName="from-here", AssumeRolePolicyDocument=trust(iamd.account_id, condition=loopback))
    iam.create_role(RoleName="from-there", AssumeRolePolicyDocument=trust(iamd.account_id, condition=elsewhere))
    admin_sts.assume_role(RoleArn=role_arn(iamd, "from-here"), RoleSessionName="ss")
    with pytest.raises(ClientError) as exc:
        admin_sts.assume_role(RoleArn=role_arn(iamd, "from-there"), RoleSessionName="ss")
    assert err(exc)[0] == "AccessDenied"
