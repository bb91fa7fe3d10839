"""What decisions read from Organizations, from the store: standings, their cache, and decisions
with SCP and RCP levels (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from iamd.core.clock import FixedClock
from iamd.core.config import Settings
from iamd.orgs import levels, members, policies, units
from iamd.orgs.levels import OrgStandingCache, load_standing, organization_inputs, with_organization
from iamd.policy import EvaluationRequest, PolicyKind, authorize, compile_policy, describe_principal
from iamd.policy.model import Effect, PolicyType
from iamd.services.runtime import Runtime
from iamd.store import tables as t
from tests.storage.test_orgs_support import MEMBER, MGMT, OTHER, OUTSIDER, add_account, join, new_organization, run

ADMIN = compile_policy(
    {"Version": "2012-10-17", "Statement": [{"Sid": "Admin", "Effect": "Allow", "Action": "*", "Resource": "*"}]},
    policy_id="arn:aws:iam::aws:policy/AdministratorAccess",
)


def _standing(rt: Runtime, account: str) -> levels.OrgStanding | None:
    with rt.db.read() as conn:
        return load_standing(conn, account)


def _scp(rt: Runtime, name: str, statement: dict[str, object], policy_type: str = "SERVICE_CONTROL_POLICY") -> str:
    content = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    return run(
        rt, MGMT, policies.create_policy, content=content, description=name, name=name, policy_type=policy_type
    ).id


def test_no_standing_outside_an_organization(runtime: Runtime) -> None:
    add_account(runtime, OUTSIDER)
    assert _standing(runtime, OUTSIDER) is None
    assert organization_inputs(None, None) is levels.NO_ORGANIZATION


def test_levels_run_from_the_root_through_each_ou_to_the_account(runtime: Runtime) -> None:
    org = new_organization(runtime)
    prod = run(runtime, MGMT, units.create_unit, org.root_id, "Prod")
    web = run(runtime, MGMT, units.create_unit, prod.id, "Web")
    join(runtime, MEMBER)
    run(runtime, MGMT, members.move_account, MEMBER, org.root_id, web.id)
    deny = _scp(runtime, "NoS3", {"Effect": "Deny", "Action": "s3:*", "Resource": "*"})
    run(runtime, MGMT, policies.attach_policy, deny, prod.id)
    standing = _standing(runtime, MEMBER)
    assert standing is not None and not standing.is_management
    assert (standing.organization_id, standing.management_account_id) == (org.id, MGMT)
    assert standing.path == web.path == f"{org.id}/{org.root_id}/{prod.id}/{web.id}/"
    assert [[p.policy_id for p in level] for level in standing.scp_levels] == [
        ["p-FullAWSAccess"],
        sorted(["p-FullAWSAccess", deny]),
        ["p-FullAWSAccess"],
        ["p-FullAWSAccess"],
    ]
    assert all(p.kind is PolicyKind.SCP for level in standing.scp_levels for p in level)
    assert standing.rcp_levels == ()  # RCPs are not enabled
    assert dict(standing.principal_keys) == {
        "aws:PrincipalOrgID": org.id,
        "aws:PrincipalOrgPaths": (web.path,),
        "aws:PrincipalAccount": MEMBER,
    }
    assert standing.resource_keys["aws:ResourceOrgPaths"] == (web.path,)
    management = _standing(runtime, MGMT)
    assert management is not None and management.is_management and management.path == f"{org.id}/{org.root_id}/"


def test_no_levels_while_the_types_are_disabled(runtime: Runtime) -> None:
    org = new_organization(runtime)
    join(runtime, MEMBER)
    run(runtime, MGMT, policies.disable_policy_type, org.root_id, "SERVICE_CONTROL_POLICY")
    standing = _standing(runtime, MEMBER)
    assert standing is not None and standing.scp_levels == () and standing.rcp_levels == ()
    assert standing.principal_keys["aws:PrincipalOrgID"] == org.id  # still in the organization


def _decide(
    principal_arn: str,
    action: str,
    resource: str,
    principal: levels.OrgStanding | None,
    owner: levels.OrgStanding | None,
    resource_account: str | None = None,
    resource_policy: Mapping[str, Any] | None = None,
) -> tuple[Effect, PolicyType | None, list[str]]:
    request = EvaluationRequest(
        principal=describe_principal(principal_arn),
        action=action,
        resource=resource,
        identity_policies=[ADMIN],
        resource_policy=compile_policy(resource_policy, policy_id="bucket", kind=PolicyKind.RESOURCE)
        if resource_policy
        else None,
        resource_account=resource_account,
    )
    decision = authorize(with_organization(request, organization_inputs(principal, owner)))
    return decision.effect, decision.policy_type, [s.policy_id for s in decision.statements]


def test_an_scp_on_an_ou_stops_an_administrator_of_a_member_account(runtime: Runtime) -> None:
    org = new_organization(runtime)
    prod = run(runtime, MGMT, units.create_unit, org.root_id, "Prod")
    join(runtime, MEMBER)
    run(runtime, MGMT, members.move_account, MEMBER, org.root_id, prod.id)
    deny = _scp(runtime, "NoUserCreation", {"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"})
    run(runtime, MGMT, policies.attach_policy, deny, prod.id)
    member, management = _standing(runtime, MEMBER), _standing(runtime, MGMT)
    admin = f"arn:aws:iam::{MEMBER}:user/admin"
    target = f"arn:aws:iam::{MEMBER}:user/new"
    assert _decide(admin, "iam:CreateUser", target, member, member) == (
        Effect.EXPLICIT_DENY,
        PolicyType.SERVICE_CONTROL,
        [deny],
    )
    assert _decide(admin, "iam:DeleteUser", target, member, member)[0] is Effect.ALLOW
    root_user = f"arn:aws:iam::{MEMBER}:root"  # the member's root user too
    assert _decide(root_user, "iam:CreateUser", target, member, member)[0] is Effect.EXPLICIT_DENY
    # the management account is not limited by SCPs, even one attached to it
    run(runtime, MGMT, policies.attach_policy, deny, MGMT)
    management = _standing(runtime, MGMT)
    mgmt_admin = f"arn:aws:iam::{MGMT}:user/admin"
    assert (
        _decide(mgmt_admin, "iam:CreateUser", f"arn:aws:iam::{MGMT}:user/x", management, management)[0] is Effect.ALLOW
    )


def test_an_rcp_stops_access_from_outside_the_organization(runtime: Runtime) -> None:
    org = new_organization(runtime)
    join(runtime, MEMBER)
    join(runtime, OTHER)
    add_account(runtime, OUTSIDER)
    run(runtime, MGMT, policies.enable_policy_type, org.root_id, "RESOURCE_CONTROL_POLICY")
    perimeter = _scp(
        runtime,
        "Perimeter",
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {
                "StringNotEqualsIfExists": {"aws:PrincipalOrgID": org.id},
                "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
            },
        },
        "RESOURCE_CONTROL_POLICY",
    )
    run(runtime, MGMT, policies.attach_policy, perimeter, org.root_id)
    owner = _standing(runtime, MEMBER)
    bucket = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Share",
                "Effect": "Allow",
                "Principal": {"AWS": [OTHER, OUTSIDER]},
                "Action": "s3:*",
                "Resource": "*",
            }
        ],
    }
    obj = "arn:aws:s3:::member-bucket/report.csv"
    outsider = f"arn:aws:iam::{OUTSIDER}:user/eve"
    assert _decide(outsider, "s3:GetObject", obj, None, owner, MEMBER, bucket) == (
        Effect.EXPLICIT_DENY,
        PolicyType.RESOURCE_CONTROL,
        [perimeter],
    )
    insider = f"arn:aws:iam::{OTHER}:user/bob"
    assert _decide(insider, "s3:GetObject", obj, _standing(runtime, OTHER), owner, MEMBER, bucket)[0] is Effect.ALLOW
    # the same bucket in the management account: RCPs do not apply there
    management = _standing(runtime, MGMT)
    assert _decide(outsider, "s3:GetObject", obj, None, management, MGMT, bucket)[0] is Effect.ALLOW


@contextmanager
def _failing_reads(rt: Runtime) -> Iterator[None]:
    def refuse() -> None:
        raise AssertionError("the database was read")

    original = rt.db.read
    rt.db.read = refuse  # type: ignore[assignment,method-assign]
    try:
        yield
    finally:
        rt.db.read = original  # type: ignore[method-assign]


def test_the_cache_reads_once_per_generation(runtime: Runtime, store_settings: Settings, clock: FixedClock) -> None:
    org = new_organization(runtime)
    join(runtime, MEMBER)
    add_account(runtime, OUTSIDER)
    cache = OrgStandingCache(runtime.db)
    runtime.watcher.subscribe(cache.clear)
    runtime.watcher.refresh_if_due()
    first = cache.standing(MEMBER)
    assert first is not None and cache.standing(OUTSIDER) is None
    with _failing_reads(runtime):  # the hot path: no database
        assert cache.standing(MEMBER) is first
        assert cache.standing(OUTSIDER) is None
    deny = _scp(runtime, "NoS3", {"Effect": "Deny", "Action": "s3:*", "Resource": "*"})
    run(runtime, MGMT, policies.attach_policy, deny, MEMBER)  # a write, as by another node
    assert cache.standing(MEMBER) is first  # within the bound the cached standing may still answer
    clock.advance(store_settings.store.cache_refresh_seconds)
    runtime.watcher.refresh_if_due()
    fresh = cache.standing(MEMBER)
    assert fresh is not None and deny in [p.policy_id for p in fresh.scp_levels[-1]]
    assert org.id == fresh.organization_id


def test_a_broken_stored_policy_denies(runtime: Runtime) -> None:
    org = new_organization(runtime)
    join(runtime, MEMBER)
    deny = _scp(runtime, "NoS3", {"Effect": "Deny", "Action": "s3:*", "Resource": "*"})
    run(runtime, MGMT, policies.attach_policy, deny, MEMBER)
    with runtime.db.write() as conn:  # as if the grammar had changed under a stored document
        conn.execute(t.org_policies.update().where(t.org_policies.c.id == deny).values(content='{"Statement": 1}'))
    standing = _standing(runtime, MEMBER)
    assert standing is not None and org.id == standing.organization_id
    account_level = [p.policy_id for p in standing.scp_levels[-1]]
    assert any(pid.startswith(f"{deny} (unreadable") for pid in account_level)
    effect, ptype, _ = _decide(f"arn:aws:iam::{MEMBER}:user/a", "ec2:RunInstances", "*", standing, standing)
    assert (effect, ptype) == (Effect.EXPLICIT_DENY, PolicyType.SERVICE_CONTROL)


@pytest.mark.parametrize("who", ["user", "root"])
def test_principal_keys_reach_conditions(runtime: Runtime, who: str) -> None:
    org = new_organization(runtime)
    prod = run(runtime, MGMT, units.create_unit, org.root_id, "Prod")
    join(runtime, MEMBER)
    run(runtime, MGMT, members.move_account, MEMBER, org.root_id, prod.id)
    member = _standing(runtime, MEMBER)
    arn = f"arn:aws:iam::{MEMBER}:user/a" if who == "user" else f"arn:aws:iam::{MEMBER}:root"
    bucket = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OrgPath",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": f"{org.id}/*/{prod.id}/*"}},
            }
        ],
    }
    owner = _standing(runtime, MGMT)
    assert _decide(arn, "s3:GetObject", "arn:aws:s3:::b/k", member, owner, MGMT, bucket)[0] is Effect.ALLOW
    run(runtime, MGMT, members.move_account, MEMBER, prod.id, org.root_id)
    moved = _standing(runtime, MEMBER)
    assert _decide(arn, "s3:GetObject", "arn:aws:s3:::b/k", moved, owner, MGMT, bucket)[0] is Effect.IMPLICIT_DENY
