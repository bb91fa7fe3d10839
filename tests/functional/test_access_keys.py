"""Access keys through boto3 and the AWS CLI against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from botocore.config import Config
from botocore.exceptions import ClientError

from iamd.core.quotas import QuotaSettings
from tests.support.server import ACCOUNT_ID, ROOT_KEY, ROOT_SECRET, Server

DEFAULT_QUOTAS = QuotaSettings()

CACHE_BOUND_SECONDS = 1.5


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def second_account(iamd: Server) -> tuple[str, Any]:
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    creds = json.loads(proc.stdout)
    client = iamd.client("iam", access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"])
    return creds["AccountId"], client


def eventually(check: Callable[[], Any], bound: float = CACHE_BOUND_SECONDS) -> Any:
    deadline = time.monotonic() + bound
    while True:
        started = time.monotonic()
        try:
            return check()
        except (AssertionError, ClientError):
            if started > deadline:
                raise
            time.sleep(0.05)


def caller_arn(iamd: Server, key: dict[str, str]) -> str:
    sts = iamd.client("sts", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
    return str(sts.get_caller_identity()["Arn"])


def test_create_list_delete_for_user(iam: Any) -> None:
    iam.create_user(UserName="dev")
    key = iam.create_access_key(UserName="dev")["AccessKey"]
    assert key["UserName"] == "dev"
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key["AccessKeyId"])
    assert len(key["SecretAccessKey"]) == 40
    assert key["Status"] == "Active"
    assert "CreateDate" in key
    listed = iam.list_access_keys(UserName="DEV")["AccessKeyMetadata"]  # user names are case-insensitive
    assert listed == [
        {"UserName": "dev", "AccessKeyId": key["AccessKeyId"], "Status": "Active", "CreateDate": key["CreateDate"]}
    ]
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="dev")
    assert error_of(exc) == ("DeleteConflict", 409)
    iam.delete_access_key(UserName="dev", AccessKeyId=key["AccessKeyId"])
    assert iam.list_access_keys(UserName="dev")["AccessKeyMetadata"] == []
    with pytest.raises(ClientError) as exc:
        iam.delete_access_key(UserName="dev", AccessKeyId=key["AccessKeyId"])
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert exc.value.response["Error"]["Message"] == f"The Access Key with id {key['AccessKeyId']} cannot be found."
    iam.delete_user(UserName="dev")


def test_unknown_user(iam: Any) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: iam.create_access_key(UserName="ghost"),
        lambda: iam.list_access_keys(UserName="ghost"),
        lambda: iam.update_access_key(UserName="ghost", AccessKeyId="AKIAAAAAAAAAAAAAAAAA", Status="Inactive"),
        lambda: iam.delete_access_key(UserName="ghost", AccessKeyId="AKIAAAAAAAAAAAAAAAAA"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("NoSuchEntity", 404)
        assert exc.value.response["Error"]["Message"] == "The user with name ghost cannot be found."


def test_quota_per_user(iam: Any) -> None:
    limit = DEFAULT_QUOTAS.access_keys_per_user
    iam.create_user(UserName="busy")
    for _ in range(limit):
        iam.create_access_key(UserName="busy")
    with pytest.raises(ClientError) as exc:
        iam.create_access_key(UserName="busy")
    assert error_of(exc) == ("LimitExceeded", 409)
    assert exc.value.response["Error"]["Message"] == f"Cannot exceed quota for AccessKeysPerUser: {limit}"
    assert len(iam.list_access_keys(UserName="busy")["AccessKeyMetadata"]) == limit
    # Inactive keys still count; deleting one frees a slot.
    first = iam.list_access_keys(UserName="busy")["AccessKeyMetadata"][0]["AccessKeyId"]
    iam.update_access_key(UserName="busy", AccessKeyId=first, Status="Inactive")
    with pytest.raises(ClientError) as exc:
        iam.create_access_key(UserName="busy")
    assert error_of(exc) == ("LimitExceeded", 409)
    iam.delete_access_key(UserName="busy", AccessKeyId=first)
    iam.create_access_key(UserName="busy")


def test_root_keys_when_user_name_omitted(iamd: Server, iam: Any) -> None:
    listed = iam.list_access_keys()["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [ROOT_KEY]
    assert "UserName" not in listed[0]
    assert DEFAULT_QUOTAS.access_keys_root == 2
    key = iam.create_access_key()["AccessKey"]
    assert key["Status"] == "Active"
    assert caller_arn(iamd, key) == f"arn:aws:iam::{ACCOUNT_ID}:root"
    with pytest.raises(ClientError) as exc:
        iam.create_access_key()
    assert error_of(exc) == ("LimitExceeded", 409)
    assert exc.value.response["Error"]["Message"] == "Cannot exceed quota for AccessKeysPerUser: 2"
    assert sorted(k["AccessKeyId"] for k in iam.list_access_keys()["AccessKeyMetadata"]) == sorted(
        [ROOT_KEY, key["AccessKeyId"]]
    )
    # A user's keys are not the root's, and the root's are not a user's.
    iam.create_user(UserName="u")
    assert iam.list_access_keys(UserName="u")["AccessKeyMetadata"] == []
    with pytest.raises(ClientError) as exc:
        iam.update_access_key(UserName="u", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert error_of(exc) == ("NoSuchEntity", 404)
    # The new root key manages the root's keys too.
    other_root = iamd.client("iam", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
    other_root.delete_access_key(AccessKeyId=key["AccessKeyId"])
    assert [k["AccessKeyId"] for k in iam.list_access_keys()["AccessKeyMetadata"]] == [ROOT_KEY]


def test_secret_is_encrypted_at_rest(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="enc")
    key = iam.create_access_key(UserName="enc")["AccessKey"]
    url = iamd.database_url or f"sqlite:///{iamd.data_dir / 'iamd.db'}"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("select secret_enc, user_id from access_keys where id = :id"), {"id": key["AccessKeyId"]}
            ).one()
    finally:
        engine.dispose()
    assert row.user_id is not None
    assert key["SecretAccessKey"].encode() not in bytes(row.secret_enc)


def test_deactivate_and_reactivate_refuses_then_accepts(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="worker", Path="/svc/")
    key = iam.create_access_key(UserName="worker")["AccessKey"]
    arn = f"arn:aws:iam::{ACCOUNT_ID}:user/svc/worker"
    assert eventually(lambda: caller_arn(iamd, key)) == arn

    iam.update_access_key(UserName="worker", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert iam.list_access_keys(UserName="worker")["AccessKeyMetadata"][0]["Status"] == "Inactive"

    def refused() -> None:
        with pytest.raises(ClientError) as exc:
            caller_arn(iamd, key)
        assert error_of(exc) == ("InvalidClientTokenId", 403)

    eventually(refused)
    iam.update_access_key(UserName="worker", AccessKeyId=key["AccessKeyId"], Status="Active")
    assert eventually(lambda: caller_arn(iamd, key)) == arn
    iam.delete_access_key(UserName="worker", AccessKeyId=key["AccessKeyId"])
    eventually(refused)


def test_wrong_secret_is_refused(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="w")
    key = iam.create_access_key(UserName="w")["AccessKey"]
    sts = iamd.client("sts", access_key_id=key["AccessKeyId"], secret_access_key="x" * 40)
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert error_of(exc) == ("SignatureDoesNotMatch", 403)


def test_status_validation(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="s")
    key_id = iam.create_access_key(UserName="s")["AccessKey"]["AccessKeyId"]
    with pytest.raises(ClientError) as exc:
        iam.update_access_key(UserName="s", AccessKeyId=key_id, Status="Expired")
    assert error_of(exc) == ("InvalidInput", 400)
    raw = boto3.client(
        "iam",
        endpoint_url=iamd.url,
        region_name="us-east-1",
        aws_access_key_id=ROOT_KEY,
        aws_secret_access_key=ROOT_SECRET,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as exc:
        raw.update_access_key(UserName="s", AccessKeyId=key_id, Status="Sleeping")
    assert error_of(exc) == ("ValidationError", 400)
    with pytest.raises(ClientError) as exc:
        raw.update_access_key(UserName="s", AccessKeyId=key_id)
    assert error_of(exc) == ("ValidationError", 400)
    assert iam.list_access_keys(UserName="s")["AccessKeyMetadata"][0]["Status"] == "Active"


def test_pagination(iam: Any) -> None:
    iam.create_user(UserName="pager")
    created = sorted(iam.create_access_key(UserName="pager")["AccessKey"]["AccessKeyId"] for _ in range(2))
    first = iam.list_access_keys(UserName="pager", MaxItems=1)
    assert first["IsTruncated"] is True
    assert first["Marker"] and created[0] not in first["Marker"]  # opaque
    second = iam.list_access_keys(UserName="pager", MaxItems=1, Marker=first["Marker"])
    assert second["IsTruncated"] is False
    assert [k["AccessKeyId"] for k in first["AccessKeyMetadata"] + second["AccessKeyMetadata"]] == created
    paginated = [
        k["AccessKeyId"]
        for page in iam.get_paginator("list_access_keys").paginate(UserName="pager", PaginationConfig={"PageSize": 1})
        for k in page["AccessKeyMetadata"]
    ]
    assert paginated == created


@pytest.mark.slow
def test_last_used(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="tracked")
    key = iam.create_access_key(UserName="tracked")["AccessKey"]
    fresh = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert fresh["UserName"] == "tracked"
    assert fresh["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}
    before = time.time()
    sts = iamd.client(
        "sts", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"], region="eu-west-1"
    )
    sts.get_caller_identity()
    deadline = time.monotonic() + 15  # usage is written in batches every few seconds
    while True:
        used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
        if "LastUsedDate" in used or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert used["ServiceName"] == "sts"
    assert used["Region"] == "eu-west-1"
    assert used["LastUsedDate"].timestamp() >= before - 1
    # Root keys report no user name.
    root_used = iam.get_access_key_last_used(AccessKeyId=ROOT_KEY)
    assert "UserName" not in root_used


def test_last_used_unknown_key(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.get_access_key_last_used(AccessKeyId="AKIAAAAAAAAAAAAAAAAA")
    assert error_of(exc) == ("NoSuchEntity", 404)


def test_cross_account_isolation(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="mine")
    key = iam.create_access_key(UserName="mine")["AccessKey"]
    other_id, other = second_account(iamd)
    other_root_keys = [k["AccessKeyId"] for k in other.list_access_keys()["AccessKeyMetadata"]]
    assert len(other_root_keys) == 1 and ROOT_KEY not in other_root_keys
    with pytest.raises(ClientError) as exc:
        other.list_access_keys(UserName="mine")
    assert error_of(exc) == ("NoSuchEntity", 404)
    calls: list[Callable[[], Any]] = [
        lambda: other.update_access_key(AccessKeyId=key["AccessKeyId"], Status="Inactive"),
        lambda: other.delete_access_key(AccessKeyId=key["AccessKeyId"]),
        lambda: other.get_access_key_last_used(AccessKeyId=key["AccessKeyId"]),
        lambda: other.delete_access_key(AccessKeyId=ROOT_KEY),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("NoSuchEntity", 404)
    other.create_user(UserName="mine")  # same name, other account
    other_key = other.create_access_key(UserName="mine")["AccessKey"]
    assert caller_arn(iamd, other_key) == f"arn:aws:iam::{other_id}:user/mine"
    assert caller_arn(iamd, key) == f"arn:aws:iam::{ACCOUNT_ID}:user/mine"
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName="mine")["AccessKeyMetadata"]] == [
        key["AccessKeyId"]
    ]


def test_aws_cli(iamd: Server) -> None:
    iamd.aws("iam", "create-user", "--user-name", "cli")
    key = iamd.aws("iam", "create-access-key", "--user-name", "cli")["AccessKey"]
    listed = iamd.aws("iam", "list-access-keys", "--user-name", "cli")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    ident = iamd.aws(
        "sts", "get-caller-identity", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"]
    )
    assert ident["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/cli"
    iamd.aws(
        "iam", "update-access-key", "--user-name", "cli", "--access-key-id", key["AccessKeyId"], "--status", "Inactive"
    )
    last = iamd.aws("iam", "get-access-key-last-used", "--access-key-id", key["AccessKeyId"])
    assert last["UserName"] == "cli"
    iamd.aws("iam", "delete-access-key", "--user-name", "cli", "--access-key-id", key["AccessKeyId"])
    assert iamd.aws("iam", "list-access-keys", "--user-name", "cli")["AccessKeyMetadata"] == []
