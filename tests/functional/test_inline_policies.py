"""Inline policies of users, groups and roles against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import Server

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def message_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Message"])


def doc(*actions: str) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}
    )


def sized_doc(size: int) -> str:
    """A valid document of exactly ``size`` non-whitespace characters (``size`` >= 100)."""
    base = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:%s"],"Resource":"*"}]}'
    filler = "x" * (size - len(base % ""))
    text = base % filler
    assert len(text) == size
    return text


def second_account(iamd: Server) -> Any:
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    creds = json.loads(proc.stdout)
    return iamd.client("iam", access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"])


def make_role(iam: Any, name: str) -> None:
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)


class Entity:
    """The same inline-policy API for a user, a group or a role."""

    def __init__(self, iam: Any, kind: str, name: str) -> None:
        self.iam, self.kind, self.name = iam, kind, name
        self.param = {"user": "UserName", "group": "GroupName", "role": "RoleName"}[kind]
        self._put: Callable[..., Any] = getattr(iam, f"put_{kind}_policy")
        self._get: Callable[..., Any] = getattr(iam, f"get_{kind}_policy")
        self._delete: Callable[..., Any] = getattr(iam, f"delete_{kind}_policy")
        self._list: Callable[..., Any] = getattr(iam, f"list_{kind}_policies")
        self.paginator = f"list_{kind}_policies"

    def put(self, name: str, document: str) -> Any:
        return self._put(**{self.param: self.name}, PolicyName=name, PolicyDocument=document)

    def get(self, name: str) -> Any:
        return self._get(**{self.param: self.name}, PolicyName=name)

    def delete(self, name: str) -> Any:
        return self._delete(**{self.param: self.name}, PolicyName=name)

    def list(self, **kwargs: Any) -> Any:
        return self._list(**{self.param: self.name}, **kwargs)


def make_entity(iam: Any, kind: str, name: str) -> Entity:
    if kind == "user":
        iam.create_user(UserName=name)
    elif kind == "group":
        iam.create_group(GroupName=name)
    else:
        make_role(iam, name)
    return Entity(iam, kind, name)


KINDS = ["user", "group", "role"]
LIMITS = {"user": 2048, "group": 5120, "role": 10240}


@pytest.mark.parametrize("kind", KINDS)
def test_put_get_list_delete(iam: Any, kind: str) -> None:
    entity = make_entity(iam, kind, "Entity1")
    text = '{"Version": "2012-10-17",\n "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}'
    entity.put("ReadObjects", text)
    got = entity.get("ReadObjects")
    assert got[entity.param] == "Entity1"
    assert got["PolicyName"] == "ReadObjects"
    assert got["PolicyDocument"] == json.loads(text)  # boto3 decodes the URL-encoded JSON
    assert entity.get("readobjects")["PolicyName"] == "ReadObjects"  # names are case-insensitive

    entity.put("Another", doc("s3:PutObject"))
    assert entity.list()["PolicyNames"] == ["Another", "ReadObjects"]
    assert entity.list()["IsTruncated"] is False

    # same name (any case) overwrites
    entity.put("READOBJECTS", doc("s3:ListBucket"))
    assert entity.list()["PolicyNames"] == ["Another", "READOBJECTS"]
    assert entity.get("ReadObjects")["PolicyDocument"]["Statement"][0]["Action"] == ["s3:ListBucket"]

    entity.delete("another")
    assert entity.list()["PolicyNames"] == ["READOBJECTS"]
    for call in (entity.get, entity.delete):
        with pytest.raises(ClientError) as exc:
            call("Another")
        assert error_of(exc) == ("NoSuchEntity", 404)
        assert message_of(exc) == f"The {kind} policy with name Another cannot be found."


@pytest.mark.parametrize("kind", KINDS)
def test_missing_entity(iam: Any, kind: str) -> None:
    entity = Entity(iam, kind, "ghost")
    calls: list[Callable[[], Any]] = [lambda: entity.put("p", doc("s3:*")), lambda: entity.get("p"), entity.list]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("NoSuchEntity", 404)
        assert message_of(exc) == f"The {kind} with name ghost cannot be found."


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_documents(iam: Any, kind: str) -> None:
    entity = make_entity(iam, kind, "strict")
    bad_documents = [
        "not json",
        json.dumps({"Version": "2012-10-17"}),
        json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}),  # no Resource
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    ]
    for bad in bad_documents:
        with pytest.raises(ClientError) as exc:
            entity.put("bad", bad)
        assert error_of(exc) == ("MalformedPolicyDocument", 400)
    assert entity.list()["PolicyNames"] == []


@pytest.mark.parametrize("kind", KINDS)
def test_aggregate_size_quota(iam: Any, kind: str) -> None:
    entity = make_entity(iam, kind, "sized")
    limit = LIMITS[kind]
    # one document over the limit
    with pytest.raises(ClientError) as exc:
        entity.put("huge", sized_doc(limit + 1))
    assert error_of(exc) == ("LimitExceeded", 409)
    assert message_of(exc) == f"Maximum policy size of {limit} bytes exceeded for {kind} sized"
    # exactly at the limit in aggregate
    half = limit // 2
    entity.put("first", sized_doc(half))
    entity.put("second", sized_doc(limit - half))
    with pytest.raises(ClientError) as exc:
        entity.put("third", sized_doc(100))
    assert error_of(exc) == ("LimitExceeded", 409)
    assert message_of(exc) == f"Maximum policy size of {limit} bytes exceeded for {kind} sized"
    # replacing a document only counts the new one
    entity.put("second", sized_doc(limit - half))
    entity.put("SECOND", sized_doc(limit - half - 100))
    entity.put("third", sized_doc(100))
    assert entity.list()["PolicyNames"] == ["first", "SECOND", "third"]
    # whitespace does not count
    entity.delete("third")
    spaced = sized_doc(100).replace(",", ",    ")
    entity.put("third", spaced)


def test_user_limit_is_smaller_than_group_limit(iam: Any) -> None:
    user = make_entity(iam, "user", "u")
    group = make_entity(iam, "group", "g")
    document = sized_doc(3000)
    with pytest.raises(ClientError) as exc:
        user.put("p", document)
    assert error_of(exc) == ("LimitExceeded", 409)
    group.put("p", document)


def test_pagination(iam: Any) -> None:
    entity = make_entity(iam, "user", "many")
    names = [f"pol{i:02d}" for i in range(7)]
    for name in names:
        entity.put(name, doc("s3:GetObject"))
    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"MaxItems": 3}
        if marker:
            kwargs["Marker"] = marker
        page = entity.list(**kwargs)
        pages += 1
        seen += page["PolicyNames"]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
        assert "pol" not in marker
    assert seen == names and pages == 3
    paginated = [
        n
        for page in iam.get_paginator("list_user_policies").paginate(UserName="many", PaginationConfig={"PageSize": 2})
        for n in page["PolicyNames"]
    ]
    assert paginated == names


def test_delete_conflicts_for_entities_with_inline_policies(iam: Any) -> None:
    user = make_entity(iam, "user", "holder")
    user.put("p", doc("s3:*"))
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="holder")
    assert error_of(exc) == ("DeleteConflict", 409)
    user.delete("p")
    iam.delete_user(UserName="holder")

    group = make_entity(iam, "group", "holders")
    group.put("p", doc("s3:*"))
    with pytest.raises(ClientError) as exc:
        iam.delete_group(GroupName="holders")
    assert error_of(exc) == ("DeleteConflict", 409)
    group.delete("p")
    iam.delete_group(GroupName="holders")


def test_accounts_are_isolated(iamd: Server, iam: Any) -> None:
    user = make_entity(iam, "user", "shared-name")
    user.put("secret", doc("s3:*"))
    other = second_account(iamd)
    with pytest.raises(ClientError) as exc:
        other.get_user_policy(UserName="shared-name", PolicyName="secret")
    assert error_of(exc) == ("NoSuchEntity", 404)
    other.create_user(UserName="shared-name")
    assert other.list_user_policies(UserName="shared-name")["PolicyNames"] == []
    with pytest.raises(ClientError) as exc:
        other.get_user_policy(UserName="shared-name", PolicyName="secret")
    assert error_of(exc) == ("NoSuchEntity", 404)
    assert message_of(exc) == "The user policy with name secret cannot be found."


def test_aws_cli_tour(iamd: Server) -> None:
    iamd.aws("iam", "create-user", "--user-name", "cli-user")
    iamd.aws(
        "iam",
        "put-user-policy",
        "--user-name",
        "cli-user",
        "--policy-name",
        "inline",
        "--policy-document",
        doc("s3:GetObject"),
    )
    got = iamd.aws("iam", "get-user-policy", "--user-name", "cli-user", "--policy-name", "inline")
    assert got["PolicyDocument"]["Statement"][0]["Action"] == ["s3:GetObject"]
    assert iamd.aws("iam", "list-user-policies", "--user-name", "cli-user")["PolicyNames"] == ["inline"]
    iamd.aws("iam", "delete-user-policy", "--user-name", "cli-user", "--policy-name", "inline")
    assert iamd.aws("iam", "list-user-policies", "--user-name", "cli-user")["PolicyNames"] == []
