"""Every operation declares its own authorization, and the declarations mean what they say."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import sqlalchemy as sa

import iamd.services as services_pkg
from iamd.auth.session_tokens import SessionClaims
from iamd.core.principal import Principal, PrincipalKind
from iamd.services import registry, targets
from iamd.services.authz import Authorizer
from iamd.services.iam import service_linked_roles
from iamd.services.principal_policies import ManagedPolicyCache, PrincipalPolicyCache
from iamd.services.registry import MODULES, Operation, load_all
from iamd.services.targets import Target, TargetQuery
from iamd.store import tables as t
from iamd.store.db import Database

ACCOUNT = "123456789012"
OPERATIONS = load_all()
NEVER_DENIED = {("sts", "GetCallerIdentity"), ("sts", "GetSessionToken")}


@pytest.mark.parametrize("key", sorted(OPERATIONS), ids=[f"{s}:{n}" for s, n in sorted(OPERATIONS)])
def test_every_operation_declares_its_target(key: tuple[str, str]) -> None:
    op = OPERATIONS[key]
    if op.authorization == "skip":
        assert key in NEVER_DENIED, f"{op.action} skips authorization, which AWS does only for {NEVER_DENIED}"
    else:
        assert op.target is not None, f"{op.action} declares no target: say what AWS authorizes it against"


def test_modules_lists_every_module_that_defines_operations() -> None:
    defining = set()
    for info in pkgutil.walk_packages(services_pkg.__path__, services_pkg.__name__ + "."):
        spec = importlib.util.find_spec(info.name)
        assert spec is not None and spec.origin is not None
        if not spec.origin.endswith(".py") or info.name == registry.__name__:
            continue
        if re.search(r"(?<!def )\boperation\(\s*\"", Path(spec.origin).read_text()):
            defining.add(info.name)
    assert defining == set(MODULES)
    assert {op.handler.__module__ for op in OPERATIONS.values()} == set(MODULES)


def test_unsigned_matches_the_service_model() -> None:
    session = botocore.session.get_session()
    for (service, name), op in OPERATIONS.items():
        model = session.get_service_model(service).operation_model(name)
        assert op.unsigned == (model.auth_type == "none"), op.action


def test_input_tags_and_boundaries_are_request_keys() -> None:
    """Operations whose input carries tags or a boundary expose them as condition keys."""
    session = botocore.session.get_session()
    for (service, name), op in OPERATIONS.items():
        shape = session.get_service_model(service).operation_model(name).input_shape
        members = set(shape.members) if shape else set()
        keys = set(op.request_keys)
        if "Tags" in members:
            assert keys & {targets.request_tags, targets.assume_role_keys}, op.action
        if "TagKeys" in members:
            assert targets.tag_keys in keys, op.action
        if "PermissionsBoundary" in members:
            assert targets.permissions_boundary in keys, op.action


def test_an_unsigned_operation_cannot_authorize_before_its_handler() -> None:
    with pytest.raises(RuntimeError, match="unsigned"):
        registry.operation("sts", "NoSuchUnsignedAction", target=targets.any_resource, unsigned=True)(
            lambda ctx, p: None
        )
    assert ("sts", "NoSuchUnsignedAction") not in registry.OPERATIONS


# --- the builders against a real store ----------------------------------------------------------------


def _user(name: str = "alice") -> Principal:
    return Principal(
        PrincipalKind.USER,
        ACCOUNT,
        f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "AIDAEXAMPLE",
        name,
        "AKIAEXAMPLE",
        entity_id="u-1",
    )


def _target(db: Database, action: tuple[str, str], params: dict[str, Any], caller: Principal | None = None) -> Target:
    op = OPERATIONS[action]
    assert op.target is not None
    with db.read() as conn:
        found = op.target(TargetQuery(conn, caller or _user(), "aws", params))
    assert found is not None
    return found


def test_existing_entity_has_its_stored_path_and_tags(db: Database) -> None:
    with db.write() as conn:
        conn.execute(sa.insert(t.accounts).values(id=ACCOUNT, name="a", created_at=0.0))
        conn.execute(
            sa.insert(t.users).values(
                id="u-2", account_id=ACCOUNT, name="Bob", name_key="bob", path="/ops/", created_at=0.0
            )
        )
        conn.execute(
            sa.insert(t.tags).values(resource_type="user", resource_id="u-2", key_lower="team", key="team", value="red")
        )
        conn.execute(
            sa.insert(t.access_keys).values(
                id="AKIABOB", account_id=ACCOUNT, user_id="u-2", secret_enc=b"x", status="Active", created_at=0.0
            )
        )
    found = _target(db, ("iam", "GetUser"), {"UserName": "bob"})
    assert found == Target(f"arn:aws:iam::{ACCOUNT}:user/ops/Bob", {"team": "red"})
    missing = _target(db, ("iam", "DeleteUser"), {"UserName": "nobody"})
    assert missing == Target(f"arn:aws:iam::{ACCOUNT}:user/nobody")
    # GetAccessKeyLastUsed acts on the key's owner; a key iamd does not know has no owner to name
    owner = _target(db, ("iam", "GetAccessKeyLastUsed"), {"AccessKeyId": "AKIABOB"})
    assert owner.resource == f"arn:aws:iam::{ACCOUNT}:user/ops/Bob"
    assert _target(db, ("iam", "GetAccessKeyLastUsed"), {"AccessKeyId": "AKIANOBODY"}).resource == "*"


def test_builders_per_kind(db: Database) -> None:
    assert _target(db, ("iam", "CreateRole"), {"RoleName": "r", "Path": "/a/"}).resource == (
        f"arn:aws:iam::{ACCOUNT}:role/a/r"
    )
    assert _target(db, ("iam", "ListRoles"), {"PathPrefix": "/a/"}).resource == f"arn:aws:iam::{ACCOUNT}:role/a/"
    assert _target(db, ("iam", "AttachUserPolicy"), {"UserName": "x", "PolicyArn": "p"}).resource.endswith(":user/x")
    assert _target(db, ("iam", "AddUserToGroup"), {"GroupName": "g", "UserName": "x"}).resource.endswith(":group/g")
    assert _target(db, ("iam", "GetPolicy"), {"PolicyArn": "arn:aws:iam::aws:policy/P"}).resource == (
        "arn:aws:iam::aws:policy/P"
    )
    assert _target(db, ("iam", "ListAccessKeys"), {}).resource == _user().arn  # the calling user
    role_session = Principal(PrincipalKind.ASSUMED_ROLE, ACCOUNT, "arn:aws:sts::1:assumed-role/r/s", "x", "r", "ASIA")
    assert _target(db, ("iam", "ListAccessKeys"), {}, role_session).resource == "*"
    assert _target(db, ("iam", "GetMFADevice"), {"SerialNumber": "arn:aws:iam::1:mfa/d"}).resource == (
        "arn:aws:iam::1:mfa/d"
    )
    assert _target(db, ("sts", "GetFederationToken"), {"Name": "dave"}).resource == (
        f"arn:aws:sts::{ACCOUNT}:federated-user/dave"
    )
    assert _target(db, ("iam", "GetAccountSummary"), {}).resource == "*"


def test_service_linked_role_targets(db: Database) -> None:
    service = "elasticbeanstalk.amazonaws.com"
    role = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/{service}/{service_linked_roles.role_name(service)}"
    assert _target(db, ("iam", "CreateServiceLinkedRole"), {"AWSServiceName": service}).resource == role
    suffixed = _target(db, ("iam", "CreateServiceLinkedRole"), {"AWSServiceName": service, "CustomSuffix": "x"})
    assert suffixed.resource == role + "_x"
    task = f"task/aws-service-role/{service}/{service_linked_roles.role_name(service)}/0d4e-11"
    assert _target(db, ("iam", "GetServiceLinkedRoleDeletionStatus"), {"DeletionTaskId": task}).resource == role
    assert _target(db, ("iam", "GetServiceLinkedRoleDeletionStatus"), {"DeletionTaskId": "junk"}).resource == "*"


def test_request_keys() -> None:
    params = {"Tags": [{"Key": "a", "Value": "1"}], "PermissionsBoundary": "arn:b", "PolicyArn": "arn:p"}
    assert targets.request_tags(params) == {"aws:RequestTag/a": "1", "aws:TagKeys": ["a"]}
    assert targets.permissions_boundary(params) == {"iam:PermissionsBoundary": "arn:b"}
    assert targets.policy_arn(params) == {"iam:PolicyARN": "arn:p"}
    assert targets.tag_keys({"TagKeys": ["a", "b"]}) == {"aws:TagKeys": ["a", "b"]}
    keys = targets.assume_role_keys({"RoleSessionName": "s", "ExternalId": "e", "SourceIdentity": "me"})
    assert keys == {"sts:RoleSessionName": "s", "sts:ExternalId": "e", "sts:SourceIdentity": "me"}


def test_extra_actions_of_assume_role(db: Database) -> None:
    with db.read() as conn:
        plain = TargetQuery(conn, _user(), "aws", {"RoleArn": "r", "RoleSessionName": "s"})
        tagged = TargetQuery(conn, _user(), "aws", {"Tags": [{"Key": "a", "Value": "b"}]})
        sourced = TargetQuery(conn, _user(), "aws", {"SourceIdentity": "me"})
        assert targets.tag_session(plain) is None and targets.tag_session(tagged) == "sts:TagSession"
        assert targets.set_source_identity(plain) is None
        assert targets.set_source_identity(sourced) == "sts:SetSourceIdentity"
        claims = SessionClaims(
            access_key_id="ASIA",
            secret_access_key="s",
            account_id=ACCOUNT,
            principal_kind="assumed-role",
            arn="arn:aws:sts::1:assumed-role/r/s",
            user_id="x",
            name="r",
            issued_at=0.0,
            expires_at=1.0,
            source_identity="me",
        )
        inheriting = Principal(
            PrincipalKind.ASSUMED_ROLE, ACCOUNT, claims.arn, "x", "r", "ASIA", extra={"session": claims}
        )
        assert targets.set_source_identity(TargetQuery(conn, inheriting, "aws", {"SourceIdentity": "me"})) is None


def test_an_operation_without_a_target_is_refused_not_widened(db: Database) -> None:
    authorizer = Authorizer(PrincipalPolicyCache(db), ManagedPolicyCache(db), "aws")
    bare = Operation("iam", "Undeclared", lambda ctx, p: None, writes=False)
    with db.read() as conn, pytest.raises(RuntimeError, match="declares no authorization target"):
        authorizer.authorize_operation(conn, bare, _user(), {}, {})
