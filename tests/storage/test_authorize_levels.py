"""The authorization API's decisions under Organizations: SCP and RCP levels, explained by name and place."""

from __future__ import annotations

import json

from iamd.core.principal import Principal, PrincipalKind
from iamd.orgs import members, policies, units
from iamd.services.authorize_api import AuthorizeService, Question
from iamd.services.runtime import Runtime
from tests.storage.test_orgs_support import MEMBER, MGMT, OUTSIDER, add_account, join, new_organization, run

DOC = f"arn:aws:myapp:eu-west-1:{MEMBER}:document/42"


def _root(account: str) -> Principal:
    """An account's root user: allowed everything in its own account but for SCPs, RCPs and explicit denies."""
    return Principal(PrincipalKind.ROOT, account, f"arn:aws:iam::{account}:root", account, account, "")


def _policy(rt: Runtime, name: str, statement: dict[str, object], policy_type: str = "SERVICE_CONTROL_POLICY") -> str:
    content = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    return run(
        rt, MGMT, policies.create_policy, content=content, description=name, name=name, policy_type=policy_type
    ).id


def test_an_scp_denial_names_the_statement_the_policy_and_the_ou(runtime: Runtime) -> None:
    org = new_organization(runtime)
    prod = run(runtime, MGMT, units.create_unit, org.root_id, "prod")
    join(runtime, MEMBER)
    run(runtime, MGMT, members.move_account, MEMBER, org.root_id, prod.id)
    guardrails = _policy(
        runtime, "guardrails", {"Sid": "DenyProd", "Effect": "Deny", "Action": "myapp:Delete*", "Resource": "*"}
    )
    run(runtime, MGMT, policies.attach_policy, guardrails, prod.id)
    service = AuthorizeService(runtime)

    outcome = service.decide(_root(MEMBER), Question("myapp:DeleteDocument", DOC))
    assert outcome.decision == "ExplicitDeny" and outcome.denied_by == "scp"
    assert outcome.explanation == "denied by statement `DenyProd` in SCP `guardrails` attached to OU `prod`"
    assert outcome.message is not None and outcome.message.endswith("with an explicit deny in a service control policy")
    assert list(outcome.statements) == [
        {
            "policyType": "scp",
            "policyId": guardrails,
            "policyName": "guardrails",
            "sid": "DenyProd",
            "statementIndex": 0,
            "effect": "Deny",
            "level": 1,
            "attachedTo": prod.id,
        }
    ]
    assert service.decide(_root(MEMBER), Question("myapp:GetDocument", DOC)).allowed
    # the management account is not limited by SCPs
    assert service.decide(_root(MGMT), Question("myapp:DeleteDocument", f"arn:aws:myapp:::{MGMT}:x")).allowed


def test_an_scp_allow_list_missing_at_a_level_is_an_implicit_deny(runtime: Runtime) -> None:
    org = new_organization(runtime)
    join(runtime, MEMBER)
    only_reads = _policy(runtime, "reads", {"Effect": "Allow", "Action": "myapp:Get*", "Resource": "*"})
    run(runtime, MGMT, policies.attach_policy, only_reads, MEMBER)
    run(runtime, MGMT, policies.detach_policy, "p-FullAWSAccess", MEMBER)
    service = AuthorizeService(runtime)
    assert service.decide(_root(MEMBER), Question("myapp:GetDocument", DOC)).allowed
    outcome = service.decide(_root(MEMBER), Question("myapp:PutDocument", DOC))
    assert outcome.decision == "ImplicitDeny" and outcome.denied_by == "scp"
    assert (
        outcome.explanation == f"denied because no SCP attached to account `{MEMBER}` allows myapp:PutDocument on {DOC}"
    )
    assert org.root_id  # the root's FullAWSAccess let the first level through


def test_an_rcp_keeps_outsiders_away_from_member_resources(runtime: Runtime) -> None:
    org = new_organization(runtime)
    join(runtime, MEMBER)
    add_account(runtime, OUTSIDER)
    run(runtime, MGMT, policies.enable_policy_type, org.root_id, "RESOURCE_CONTROL_POLICY")
    perimeter = _policy(
        runtime,
        "perimeter",
        {
            "Sid": "OrgOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sts:*",
            "Resource": "*",
            "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": org.id}},
        },
        "RESOURCE_CONTROL_POLICY",
    )
    run(runtime, MGMT, policies.attach_policy, perimeter, org.root_id)
    service = AuthorizeService(runtime)
    role = f"arn:aws:iam::{MEMBER}:role/Shared"
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
        }
    )
    outsider = service.decide(
        _root(OUTSIDER), Question("sts:AssumeRole", role, resource_policy=trust, resource_policy_required=True)
    )
    assert outsider.decision == "ExplicitDeny" and outsider.denied_by == "rcp"
    assert outsider.explanation == "denied by statement `OrgOnly` in RCP `perimeter` attached to root `Root`"
    insider = service.decide(
        _root(MGMT), Question("sts:AssumeRole", role, resource_policy=trust, resource_policy_required=True)
    )
    assert insider.allowed
