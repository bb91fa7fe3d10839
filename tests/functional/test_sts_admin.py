"""Operator actions on sessions: token key rotation and revoking a role's active sessions."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tests.functional.test_sts import admin_clients
from tests.support.server import Server


def trust(account: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": account}, "Action": "sts:AssumeRole"}],
        }
    )


def assume(iamd: Server, sts: Any, role: str, session: str) -> Any:
    """IAM client of a session of ``role`` assumed with ``sts`` (an admin user's: AWS refuses root)."""
    role_arn = f"arn:aws:iam::{iamd.account_id}:role/{role}"
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
    return iamd.client("iam", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def eventually(check: Any, bound: float = 1.5) -> None:
    deadline = time.monotonic() + bound
    while True:
        try:
            check()
            return
        except (AssertionError, ClientError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_key_rotation_keeps_old_tokens_valid(iamd: Server, iam: Any) -> None:
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(iamd.account_id))
    iam.attach_role_policy(RoleName="r", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    _, sts = admin_clients(iamd)
    before = assume(iamd, sts, "r", "before")
    proc = iamd.cli("keys", "rotate")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["PrimaryKeyId"]) == 8
    time.sleep(1.1)  # the rotation reaches the server's key cache within the bound
    after = assume(iamd, sts, "r", "after")
    before.list_roles()
    after.list_roles()


def test_revoke_sessions(iamd: Server, iam: Any) -> None:
    iam.create_role(RoleName="rev", AssumeRolePolicyDocument=trust(iamd.account_id))
    iam.attach_role_policy(RoleName="rev", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    _, sts = admin_clients(iamd)
    old = assume(iamd, sts, "rev", "old")
    old.list_roles()
    time.sleep(1.1)
    proc = iamd.cli("roles", "revoke-sessions", "rev")
    assert proc.returncode == 0, proc.stderr

    def old_is_denied() -> None:
        try:
            old.list_roles()
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "AccessDenied"
            assert "explicit deny" in exc.response["Error"]["Message"]
        else:
            raise AssertionError("the revoked session still works")

    eventually(old_is_denied)
    time.sleep(1.1)
    assume(iamd, sts, "rev", "new").list_roles()
    names = iam.list_role_policies(RoleName="rev")["PolicyNames"]
    assert names == ["AWSRevokeOlderSessions"]
    assert iamd.cli("roles", "revoke-sessions", "missing").returncode == 1


def test_credentials_survive_a_restart(tmp_path: Path) -> None:
    from tests.support.server import start_server

    first = start_server(tmp_path / "node")
    try:
        first.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=trust(first.account_id))
        creds = admin_clients(first)[1].assume_role(
            RoleArn=f"arn:aws:iam::{first.account_id}:role/r", RoleSessionName="before-restart"
        )["Credentials"]
    finally:
        first.stop()
    second = start_server(tmp_path / "node")
    try:
        sts = second.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        assert sts.get_caller_identity()["Arn"].endswith("assumed-role/r/before-restart")
    finally:
        second.stop()
