"""How an account's standing enters a request (pure: no store)."""

from __future__ import annotations

from iamd.orgs.levels import NO_ORGANIZATION, Levels, OrgStanding, organization_inputs, with_organization
from iamd.policy import EvaluationRequest, PolicyKind, authorize, compile_policy, describe_principal
from iamd.policy.model import Effect, PolicyType

ORG = "o-abcdefghij"
MGMT, MEMBER, OTHER = "111122223333", "222233334444", "555566667777"

FULL = compile_policy(
    '{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}', policy_id="p-FullAWSAccess", kind=PolicyKind.SCP
)
NO_S3 = compile_policy(
    '{"Statement":[{"Sid":"NoS3","Effect":"Deny","Action":"s3:*","Resource":"*"}]}',
    policy_id="p-nos3aaaaaa",
    kind=PolicyKind.SCP,
)
RCP_FULL = compile_policy(
    '{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}',
    policy_id="p-RCPFullAWSAccess",
    kind=PolicyKind.RCP,
)
RCP_DENY = compile_policy(
    '{"Statement":[{"Sid":"Closed","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}',
    policy_id="p-closedaaaa",
    kind=PolicyKind.RCP,
)
ADMIN = compile_policy(
    '{"Statement":[{"Sid":"Admin","Effect":"Allow","Action":"*","Resource":"*"}]}', policy_id="admin"
)


def _standing(account: str, scp: Levels = (), rcp: Levels = ()) -> OrgStanding:
    return OrgStanding(account, ORG, MGMT, f"{ORG}/r-ab12/ou-ab12-abcdefgh/", scp, rcp)


def _request(account: str, context: dict[str, str] | None = None) -> EvaluationRequest:
    return EvaluationRequest(
        principal=describe_principal(f"arn:aws:iam::{account}:user/u"),
        action="s3:GetObject",
        resource="arn:aws:s3:::b/k",
        identity_policies=[ADMIN],
        context=context or {},
    )


def test_without_an_organization_the_request_is_unchanged() -> None:
    request = _request(MEMBER)
    assert organization_inputs(None, None) is NO_ORGANIZATION
    assert with_organization(request, NO_ORGANIZATION) is request


def test_scps_come_from_the_principal_and_rcps_from_the_resource_owner() -> None:
    principal = _standing(MEMBER, scp=((FULL,), (FULL, NO_S3)), rcp=((RCP_FULL, RCP_DENY),))
    owner = _standing(OTHER, scp=((FULL,),), rcp=((RCP_FULL,),))
    inputs = organization_inputs(principal, owner)
    assert inputs.service_control_policies == principal.scp_levels
    assert inputs.resource_control_policies == owner.rcp_levels
    assert inputs.context == {
        "aws:PrincipalOrgID": ORG,
        "aws:PrincipalOrgPaths": (principal.path,),
        "aws:PrincipalAccount": MEMBER,
        "aws:ResourceOrgID": ORG,
        "aws:ResourceOrgPaths": (owner.path,),
        "aws:ResourceAccount": OTHER,
    }
    decision = authorize(with_organization(_request(MEMBER), inputs))
    assert decision.effect is Effect.EXPLICIT_DENY and decision.policy_type is PolicyType.SERVICE_CONTROL
    assert [s.ref for s in decision.statements] == ["NoS3"] and decision.statements[0].level == 1


def test_management_exemptions_reach_the_engine() -> None:
    management = OrgStanding(MGMT, ORG, MGMT, f"{ORG}/r-ab12/", ((FULL, NO_S3),), ((RCP_FULL, RCP_DENY),))
    inputs = organization_inputs(management, management)
    assert inputs.in_management_account and inputs.resource_in_management_account
    request = with_organization(_request(MGMT), inputs)
    assert request.principal.in_management_account and request.resource_in_management_account
    assert authorize(request).effect is Effect.ALLOW  # neither the SCP nor the RCP applies


def test_organization_keys_win_over_the_request_context() -> None:
    member = _standing(MEMBER)
    request = with_organization(
        _request(MEMBER, {"aws:PrincipalOrgID": "o-forgedvalue", "k": "v"}), organization_inputs(member, None)
    )
    assert request.context["aws:PrincipalOrgID"] == ORG and request.context["k"] == "v"
    assert "aws:ResourceOrgID" not in request.context


def test_an_outside_resource_brings_no_rcps() -> None:
    principal = _standing(MEMBER, scp=((FULL,),), rcp=((RCP_DENY,),))
    inputs = organization_inputs(principal, None)
    assert inputs.resource_control_policies == () and not inputs.resource_in_management_account
    assert authorize(with_organization(_request(MEMBER), inputs)).effect is Effect.ALLOW


def test_same_account_inputs_are_built_once_per_standing() -> None:
    member = _standing(MEMBER, scp=((FULL,),))
    assert organization_inputs(member, member) is organization_inputs(member, member)
    other = _standing(OTHER)
    assert organization_inputs(member, other) is not organization_inputs(member, other)
    assert organization_inputs(member, other) == organization_inputs(member, other)
