"""Login profiles, ChangePassword and the account password policy against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from botocore.config import Config
from botocore.exceptions import ClientError

from iamd.core.config import Settings, StoreSettings
from iamd.core.errors import AwsError
from iamd.services.context import OperationContext
from iamd.services.iam.login_profiles import verify_password
from iamd.services.runtime import Runtime
from iamd.store import tables as t
from tests.support.server import ACCOUNT_ID, Server

GOOD = "Correct-Horse-1"
OTHER_GOOD = "Battery-Staple-2"


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def unvalidated(iamd: Server) -> Any:
    return boto3.client(
        "iam",
        endpoint_url=iamd.url,
        region_name="us-east-1",
        aws_access_key_id=iamd.access_key_id,
        aws_secret_access_key=iamd.secret_access_key,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


@pytest.fixture
def store(iamd: Server) -> Iterator[Runtime]:
    """A runtime on the server's own store, to drive handlers as an IAM user (see test_change_password)."""
    rt = Runtime(Settings(store=StoreSettings(data_dir=iamd.data_dir, database_url=iamd.database_url)))
    yield rt
    rt.close()


def password_hash(rt: Runtime, user_name: str) -> str:
    with rt.db.read() as conn:
        return str(
            conn.execute(
                sa.select(t.login_profiles.c.password_hash)
                .select_from(t.login_profiles.join(t.users, t.users.c.id == t.login_profiles.c.user_id))
                .where(t.users.c.name == user_name, t.users.c.account_id == ACCOUNT_ID)
            ).scalar_one()
        )


def test_create_get_update_delete(iam: Any, store: Runtime) -> None:
    iam.create_user(UserName="console")
    created = iam.create_login_profile(UserName="console", Password=GOOD, PasswordResetRequired=True)["LoginProfile"]
    assert created["UserName"] == "console"
    assert created["PasswordResetRequired"] is True
    assert "Password" not in created
    got = iam.get_login_profile(UserName="CONSOLE")["LoginProfile"]
    assert got == created
    stored = password_hash(store, "console")
    assert stored.startswith("$argon2id$")
    assert GOOD not in stored
    assert verify_password(stored, GOOD)
    assert not verify_password(stored, OTHER_GOOD)

    with pytest.raises(ClientError) as exc:
        iam.create_login_profile(UserName="console", Password=GOOD)
    assert error_of(exc) == ("EntityAlreadyExists", 409)
    assert exc.value.response["Error"]["Message"] == "Login Profile for user console already exists."

    iam.update_login_profile(UserName="console", PasswordResetRequired=False)
    assert iam.get_login_profile(UserName="console")["LoginProfile"]["PasswordResetRequired"] is False
    assert password_hash(store, "console") == stored  # password untouched
    iam.update_login_profile(UserName="console", Password=OTHER_GOOD)
    assert verify_password(password_hash(store, "console"), OTHER_GOOD)
    with pytest.raises(ClientError) as exc:
        iam.update_login_profile(UserName="console", Password="weak")
    assert error_of(exc) == ("PasswordPolicyViolation", 400)
    assert verify_password(password_hash(store, "console"), OTHER_GOOD)

    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="console")
    assert error_of(exc) == ("DeleteConflict", 409)
    iam.delete_login_profile(UserName="console")
    with pytest.raises(ClientError) as exc:
        iam.get_login_profile(UserName="console")
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert exc.value.response["Error"]["Message"] == "Login Profile for User console cannot be found."
    calls: list[Callable[[], Any]] = [
        lambda: iam.delete_login_profile(UserName="console"),
        lambda: iam.update_login_profile(UserName="console", Password=GOOD),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("NoSuchEntity", 404)
    iam.delete_user(UserName="console")


def test_unknown_user(iam: Any) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: iam.create_login_profile(UserName="ghost", Password=GOOD),
        lambda: iam.get_login_profile(UserName="ghost"),
        lambda: iam.update_login_profile(UserName="ghost", Password=GOOD),
        lambda: iam.delete_login_profile(UserName="ghost"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("NoSuchEntity", 404)
        assert exc.value.response["Error"]["Message"] == "The user with name ghost cannot be found."


def test_aws_default_policy_applies_without_a_custom_one(iam: Any) -> None:
    iam.create_user(UserName="d")
    for weak in ("Sh0rt!", "alllowercase", "lowercase-only-symbols", "UPPER12345"):
        with pytest.raises(ClientError) as exc:
            iam.create_login_profile(UserName="d", Password=weak)
        assert error_of(exc) == ("PasswordPolicyViolation", 400)
        assert exc.value.response["Error"]["Message"] == "Password does not conform to the account password policy."
    iam.create_login_profile(UserName="d", Password="Three-classes")  # upper, lower, symbol


def test_password_policy_lifecycle(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.get_account_password_policy()
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert (
        exc.value.response["Error"]["Message"] == f"The Password Policy with domain name {ACCOUNT_ID} cannot be found."
    )
    with pytest.raises(ClientError) as exc:
        iam.delete_account_password_policy()
    assert error_of(exc) == ("NoSuchEntity", 404)

    iam.update_account_password_policy()  # every parameter at AWS's default
    assert iam.get_account_password_policy()["PasswordPolicy"] == {
        "MinimumPasswordLength": 6,
        "RequireSymbols": False,
        "RequireNumbers": False,
        "RequireUppercaseCharacters": False,
        "RequireLowercaseCharacters": False,
        "AllowUsersToChangePassword": False,
        "ExpirePasswords": False,
    }
    iam.update_account_password_policy(
        MinimumPasswordLength=12,
        RequireSymbols=True,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
        AllowUsersToChangePassword=True,
        MaxPasswordAge=90,
        PasswordReusePrevention=5,
        HardExpiry=False,
    )
    assert iam.get_account_password_policy()["PasswordPolicy"] == {
        "MinimumPasswordLength": 12,
        "RequireSymbols": True,
        "RequireNumbers": True,
        "RequireUppercaseCharacters": True,
        "RequireLowercaseCharacters": True,
        "AllowUsersToChangePassword": True,
        "ExpirePasswords": True,
        "MaxPasswordAge": 90,
        "PasswordReusePrevention": 5,
        "HardExpiry": False,
    }
    # An update replaces the whole policy: omitted parameters return to their defaults.
    iam.update_account_password_policy(MinimumPasswordLength=8)
    policy = iam.get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 8
    assert policy["RequireSymbols"] is False
    assert policy["ExpirePasswords"] is False
    assert "MaxPasswordAge" not in policy
    iam.delete_account_password_policy()
    with pytest.raises(ClientError) as exc:
        iam.get_account_password_policy()
    assert error_of(exc) == ("NoSuchEntity", 404)


def test_custom_policy_is_enforced(iam: Any) -> None:
    iam.create_user(UserName="p")
    iam.update_account_password_policy(
        MinimumPasswordLength=10,
        RequireSymbols=True,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
    )
    for weak in (
        "Sh0rt!a1",  # too short
        "NoDigits!!Here",  # no number
        "NoSymbols123abc",  # no symbol
        "no-upper-123",  # no upper case
        "NO-LOWER-123",  # no lower case
    ):
        with pytest.raises(ClientError) as exc:
            iam.create_login_profile(UserName="p", Password=weak)
        assert error_of(exc) == ("PasswordPolicyViolation", 400), weak
    iam.create_login_profile(UserName="p", Password="Sh0rt!pass")  # exactly the minimum length
    # A lenient custom policy replaces AWS's default one.
    iam.update_account_password_policy(MinimumPasswordLength=6)
    iam.create_user(UserName="q")
    iam.create_login_profile(UserName="q", Password="simple")


def test_password_policy_ranges_are_validated(iamd: Server) -> None:
    raw = unvalidated(iamd)
    for kwargs in (
        {"MinimumPasswordLength": 5},
        {"MinimumPasswordLength": 129},
        {"MaxPasswordAge": 0},
        {"MaxPasswordAge": 1096},
        {"PasswordReusePrevention": 0},
        {"PasswordReusePrevention": 25},
    ):
        with pytest.raises(ClientError) as exc:
            raw.update_account_password_policy(**kwargs)
        assert error_of(exc) == ("ValidationError", 400), kwargs
    with pytest.raises(ClientError) as exc:
        raw.get_account_password_policy()
    assert error_of(exc) == ("NoSuchEntity", 404)  # nothing was stored
    raw.update_account_password_policy(MinimumPasswordLength=128, MaxPasswordAge=1095, PasswordReusePrevention=24)


def test_password_is_required_and_validated(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="v")
    raw = unvalidated(iamd)
    with pytest.raises(ClientError) as exc:
        raw.create_login_profile(UserName="v")
    assert error_of(exc) == ("ValidationError", 400)
    with pytest.raises(ClientError) as exc:
        raw.create_login_profile(UserName="v", Password="x" * 129)
    assert error_of(exc) == ("ValidationError", 400)
    with pytest.raises(ClientError) as exc:
        iam.get_login_profile(UserName="v")
    assert error_of(exc) == ("NoSuchEntity", 404)


def test_root_cannot_change_password_or_own_a_login_profile(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.change_password(OldPassword=GOOD, NewPassword=OTHER_GOOD)
    assert error_of(exc) == ("InvalidUserType", 400)
    with pytest.raises(ClientError) as exc:
        iam.get_login_profile()
    assert error_of(exc) == ("ValidationError", 400)


def _call_as(rt: Runtime, key_id: str, action: str, params: dict[str, Any]) -> None:
    """Run one IAM handler as the principal behind ``key_id``, in one write transaction."""
    principal = rt.resolver.resolve(key_id).principal
    op = rt.operations[("iam", action)]
    with rt.db.write() as conn:
        op.handler(OperationContext(principal, conn, rt.services, "test-request", "us-east-1"), params)


def test_change_password(iam: Any, store: Runtime) -> None:
    """ChangePassword's rules, driven as the IAM user on the server's store.

    (Over the API an IAM user also needs iam:ChangePassword: see test_change_password_over_the_api.)
    """
    iam.create_user(UserName="self")
    iam.create_login_profile(UserName="self", Password=GOOD, PasswordResetRequired=True)
    key_id = iam.create_access_key(UserName="self")["AccessKey"]["AccessKeyId"]

    with pytest.raises(AwsError) as exc:
        _call_as(store, key_id, "ChangePassword", {"OldPassword": "wrong-Password-1", "NewPassword": OTHER_GOOD})
    assert (exc.value.code, exc.value.status) == ("InvalidUserType", 400)
    assert exc.value.message == "The old password was incorrect."
    with pytest.raises(AwsError) as exc:
        _call_as(store, key_id, "ChangePassword", {"OldPassword": GOOD, "NewPassword": "weak"})
    assert exc.value.code == "PasswordPolicyViolation"
    assert verify_password(password_hash(store, "self"), GOOD)
    assert iam.get_login_profile(UserName="self")["LoginProfile"]["PasswordResetRequired"] is True

    _call_as(store, key_id, "ChangePassword", {"OldPassword": GOOD, "NewPassword": OTHER_GOOD})
    assert verify_password(password_hash(store, "self"), OTHER_GOOD)
    assert iam.get_login_profile(UserName="self")["LoginProfile"]["PasswordResetRequired"] is False

    iam.update_account_password_policy(MinimumPasswordLength=8, PasswordReusePrevention=1)
    with pytest.raises(AwsError) as exc:
        _call_as(store, key_id, "ChangePassword", {"OldPassword": OTHER_GOOD, "NewPassword": OTHER_GOOD})
    assert exc.value.code == "PasswordPolicyViolation"

    iam.delete_login_profile(UserName="self")
    with pytest.raises(AwsError) as exc:
        _call_as(store, key_id, "ChangePassword", {"OldPassword": OTHER_GOOD, "NewPassword": GOOD})
    assert exc.value.code == "NoSuchEntity"


def test_change_password_over_the_api(iamd: Server, iam: Any) -> None:
    iam.update_account_password_policy(MinimumPasswordLength=8, AllowUsersToChangePassword=True)
    iam.create_user(UserName="api-self")
    iam.create_login_profile(UserName="api-self", Password=GOOD)
    key = iam.create_access_key(UserName="api-self")["AccessKey"]
    user_iam = iamd.client("iam", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
    user_iam.change_password(OldPassword=GOOD, NewPassword=OTHER_GOOD)
    with pytest.raises(ClientError) as err:
        user_iam.change_password(OldPassword=GOOD, NewPassword=OTHER_GOOD)
    assert error_of(err) == ("InvalidUserType", 400)


def test_cross_account_isolation(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="mine")
    iam.create_login_profile(UserName="mine", Password=GOOD)
    iam.update_account_password_policy(MinimumPasswordLength=20)
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    creds = json.loads(proc.stdout)
    other = iamd.client("iam", access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        other.get_login_profile(UserName="mine")
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        other.get_account_password_policy()  # the first account's policy is not the second's
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert creds["AccountId"] in exc.value.response["Error"]["Message"]
    other.create_user(UserName="mine")
    other.create_login_profile(UserName="mine", Password=GOOD)  # 15 characters: fine under AWS's default
    assert iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 20


def test_aws_cli(iamd: Server) -> None:
    iamd.aws("iam", "create-user", "--user-name", "cli")
    out = iamd.aws("iam", "create-login-profile", "--user-name", "cli", "--password", GOOD, "--password-reset-required")
    assert out["LoginProfile"]["PasswordResetRequired"] is True
    iamd.aws("iam", "update-account-password-policy", "--minimum-password-length", "14", "--require-numbers")
    policy = iamd.aws("iam", "get-account-password-policy")["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 14 and policy["RequireNumbers"] is True
    iamd.aws("iam", "delete-login-profile", "--user-name", "cli")
    iamd.aws("iam", "delete-account-password-policy")
