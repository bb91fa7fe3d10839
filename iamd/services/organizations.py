"""The AWS Organizations API (botocore's ``organizations`` model, AWS JSON 1.1) over ``iamd.orgs``.

Each handler builds an ``OrgCall`` from the request (its one transaction, the calling account, the
time, the partition, the quotas from the settings), calls the domain function and returns the
model's output shape through ``iamd.orgs.views``.  Lists turn the domain's keyset ``after`` into an
opaque ``NextToken`` (a token that does not decode: ``InvalidInputException`` ``INVALID_NEXT_TOKEN``).

Authorization is declared in one table, ``RESOURCES``: for each operation, the input members that
name its resources (as the Service Authorization Reference page "Actions, resources, and condition
keys for AWS Organizations" lists them: account, handshake, organization, ou, policy, root and
awspolicy ARNs; an operation without one is authorized on ``*``).  ``organization_target`` turns
them into ARNs of the caller's organization and adds the condition keys
``organizations:PolicyType``, ``organizations:ServicePrincipal`` and the resource's
``aws:ResourceTag/*``; AttachPolicy and DetachPolicy are authorized on the policy and on the target,
MoveAccount on the account and both parents, and a request with ``Tags`` also needs
``organizations:TagResource``.

CreateAccount answers ``IN_PROGRESS``; once the request's transaction has committed, a worker thread
finishes the account in a new transaction (``finish_account_creations``, also run at start-up for
requests a stopped node left in progress).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.core.errors import InvalidInput, InvalidInputException
from iamd.core.quotas import QuotaSettings
from iamd.orgs import (
    create_account,
    delegation,
    handshakes,
    ids,
    members,
    organization,
    policies,
    tags,
    units,
    views,
)
from iamd.orgs.core import DEFAULT_PAGE, OrgCall, organization_by_id, organization_of, require_organization
from iamd.orgs.model import Organization, Page, Unit
from iamd.orgs.quotas import OrgQuotas
from iamd.services.context import NodeServices, OperationContext
from iamd.services.iam.common import decode_marker, encode_marker
from iamd.services.registry import Handler, operation
from iamd.services.targets import Target, TargetBuilder, TargetQuery, request_tags, tag_keys
from iamd.store import tables as t

log = logging.getLogger("iamd.organizations")

SERVICE = "organizations"
T = TypeVar("T")

# --- authorization: which input members name each operation's resources --------------------------------

RESOURCES: dict[str, tuple[str, ...]] = {
    # organization and roots
    "CreateOrganization": (),
    "DescribeOrganization": (),
    "DeleteOrganization": (),
    "ListRoots": (),
    # accounts
    "CreateAccount": (),
    "DescribeCreateAccountStatus": (),
    "ListCreateAccountStatus": (),
    "DescribeAccount": ("AccountId",),
    "ListAccounts": (),
    "MoveAccount": ("AccountId", "SourceParentId", "DestinationParentId"),
    "RemoveAccountFromOrganization": ("AccountId",),
    "LeaveOrganization": (),
    # organizational units
    "CreateOrganizationalUnit": ("ParentId",),
    "DescribeOrganizationalUnit": ("OrganizationalUnitId",),
    "UpdateOrganizationalUnit": ("OrganizationalUnitId",),
    "DeleteOrganizationalUnit": ("OrganizationalUnitId",),
    "ListParents": ("ChildId",),
    "ListChildren": ("ParentId",),
    "ListOrganizationalUnitsForParent": ("ParentId",),
    "ListAccountsForParent": ("ParentId",),
    # handshakes
    "InviteAccountToOrganization": (),
    "AcceptHandshake": ("HandshakeId",),
    "DeclineHandshake": ("HandshakeId",),
    "CancelHandshake": ("HandshakeId",),
    "DescribeHandshake": ("HandshakeId",),
    "ListHandshakesForAccount": (),
    "ListHandshakesForOrganization": (),
    # policies
    "CreatePolicy": (),
    "DescribePolicy": ("PolicyId",),
    "UpdatePolicy": ("PolicyId",),
    "DeletePolicy": ("PolicyId",),
    "ListPolicies": (),
    "AttachPolicy": ("PolicyId", "TargetId"),
    "DetachPolicy": ("PolicyId", "TargetId"),
    "ListPoliciesForTarget": ("TargetId",),
    "ListTargetsForPolicy": ("PolicyId",),
    "EnablePolicyType": ("RootId",),
    "DisablePolicyType": ("RootId",),
    # service access and delegated administrators
    "EnableAWSServiceAccess": (),
    "DisableAWSServiceAccess": (),
    "ListAWSServiceAccessForOrganization": (),
    "RegisterDelegatedAdministrator": ("AccountId",),
    "DeregisterDelegatedAdministrator": ("AccountId",),
    "ListDelegatedAdministrators": (),
    "ListDelegatedServicesForAccount": ("AccountId",),
    # tags
    "TagResource": ("ResourceId",),
    "UntagResource": ("ResourceId",),
    "ListTagsForResource": ("ResourceId",),
}
"""Operation -> the input members holding the ids of the resources it acts on (empty: ``*``)."""

_CREATES_WITH_TAGS = frozenset(
    {"CreateAccount", "CreateOrganizationalUnit", "CreatePolicy", "InviteAccountToOrganization"}
)
"""Operations whose ``Tags`` also need ``organizations:TagResource``."""


def organization_target(
    conn: Connection, partition: str, account_id: str, action: str, params: Mapping[str, Any]
) -> Target:
    """The resources and condition keys of ``action`` called by ``account_id`` (see ``RESOURCES``)."""
    org = organization_of(conn, account_id)
    handshake_id = params.get("HandshakeId")
    if org is None and isinstance(handshake_id, str):  # the invited account answers another's handshake
        org = _handshake_organization(conn, handshake_id)
    context: dict[str, str] = {}
    policy_type = params.get("Type") or params.get("PolicyType") or params.get("Filter")
    if isinstance(policy_type, str):
        context["organizations:PolicyType"] = policy_type
    if isinstance(params.get("ServicePrincipal"), str):
        context["organizations:ServicePrincipal"] = params["ServicePrincipal"]
    resources: list[str] = []
    tag_values: dict[str, str] = {}
    for member in RESOURCES.get(action, ()):
        value = params.get(member)
        if not isinstance(value, str) or org is None:
            continue
        arn = _resource_arn(conn, partition, org, value, context)
        if arn is None:
            continue
        if not resources:
            tag_values = _resource_tags(conn, org, value)
        resources.append(arn)
    if not resources:
        resources.append("*")
    return Target(resources[0], tag_values, context, tuple(resources[1:]))


def _declared_target(action: str) -> TargetBuilder:
    """The declaration of ``action``: its resources from ``RESOURCES`` (see ``organization_target``)."""

    def build(q: TargetQuery) -> Target:
        return organization_target(q.conn, q.partition, q.account, action, q.params)

    return build


def _tag_resource(q: TargetQuery) -> str | None:
    """``organizations:TagResource`` when a create passes ``Tags`` (as AWS requires)."""
    return f"{SERVICE}:TagResource" if q.params.get("Tags") else None


def _operation(name: str, *, writes: bool | None = None) -> Callable[[Handler], Handler]:
    """Register an Organizations operation with its declared authorization."""
    return operation(
        "organizations",
        name,
        target=_declared_target(name),
        request_keys=(request_tags, tag_keys),
        extra_actions=(_tag_resource,) if name in _CREATES_WITH_TAGS else (),
        writes=writes,
    )


def _resource_arn(
    conn: Connection, partition: str, org: Organization, value: str, context: dict[str, str]
) -> str | None:
    mgmt = org.management_account_id
    if ids.node_kind(value) is not None:
        return ids.node_arn(partition, mgmt, org.id, value)
    if value.startswith("p-"):
        found = policies.find_policy(OrgCall(conn, mgmt, 0.0, partition), org, value)
        if found is None:
            return None
        context.setdefault("organizations:PolicyType", found.type)
        return views.policy_arn(org, found, partition)
    if value.startswith("h-"):
        h = t.org_handshakes
        action = conn.execute(sa.select(h.c.action).where(h.c.id == value)).scalar()
        return ids.handshake_arn(partition, mgmt, org.id, str(action or "INVITE"), value)
    return None


def _resource_tags(conn: Connection, org: Organization, resource_id: str) -> dict[str, str]:
    tg = t.org_tags
    rows = conn.execute(
        sa.select(tg.c.key, tg.c.value).where(tg.c.resource_id == resource_id, tg.c.organization_id == org.id)
    )
    return {r.key: r.value for r in rows}


def _handshake_organization(conn: Connection, handshake_id: str) -> Organization | None:
    h = t.org_handshakes
    org_id = conn.execute(sa.select(h.c.organization_id).where(h.c.id == handshake_id)).scalar()
    return organization_by_id(conn, org_id) if org_id is not None else None


# --- the call, pages -------------------------------------------------------------------------------------


def quotas_of(quotas: QuotaSettings) -> OrgQuotas:
    """Organizations' quotas, with the account quota from the settings."""
    return OrgQuotas(accounts=quotas.organization_accounts)


def _call(ctx: OperationContext) -> OrgCall:
    return OrgCall(ctx.conn, ctx.account_id, ctx.now(), ctx.partition, quotas_of(ctx.quotas))


def _after(p: Mapping[str, Any]) -> str | None:
    token = p.get("NextToken")
    if token is None:
        return None
    try:
        (after,) = decode_marker(str(token))
    except InvalidInput:
        after = None
    if not isinstance(after, str):
        raise InvalidInputException("The specified NextToken is not valid.", Reason="INVALID_NEXT_TOKEN")
    return after


def _limit(p: Mapping[str, Any]) -> int | None:
    value = p.get("MaxResults")
    return int(value) if value is not None else None


def _listed(name: str, page: Page[T], view: Callable[[T], Any]) -> dict[str, Any]:
    out: dict[str, Any] = {name: [view(item) for item in page.items]}
    if page.after is not None:
        out["NextToken"] = encode_marker(page.after)
    return out


def _page_of(items: Sequence[T], key: Callable[[T], str], p: Mapping[str, Any]) -> Page[T]:
    """A page of a list the domain returns whole (keys sorted first)."""
    after, size = _after(p), _limit(p) or DEFAULT_PAGE
    ordered = sorted(items, key=key)
    rest = [item for item in ordered if after is None or key(item) > after]
    chunk = rest[:size]
    return Page(tuple(chunk), key(chunk[-1]) if len(rest) > size else None)


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _org(ctx: OperationContext) -> Organization:
    return require_organization(_call(ctx))


def _tags_in(p: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"Key": tag["Key"], "Value": tag.get("Value", "")} for tag in p.get("Tags") or []]


def _enabled(ctx: OperationContext, org: Organization) -> list[str]:
    return [policy_type for policy_type in organization.root_of(_call(ctx), org).policy_types]


# --- organization and roots -------------------------------------------------------------------------------


@_operation("CreateOrganization")
def create_organization_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    org = organization.create_organization(_call(ctx), p.get("FeatureSet") or "ALL")
    return {"Organization": views.organization_view(org, ctx.partition, _enabled(ctx, org))}


@_operation("DescribeOrganization", writes=False)
def describe_organization_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    org = organization.describe_organization(_call(ctx))
    return {"Organization": views.organization_view(org, ctx.partition, _enabled(ctx, org))}


@_operation("ListRoots")
def list_roots_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    call = _call(ctx)
    roots = organization.list_roots(call)
    org = require_organization(call)
    return _listed("Roots", _page_of(roots, lambda r: r.id, p), lambda r: views.root_view(org, r, ctx.partition))


# --- accounts ----------------------------------------------------------------------------------------------


@_operation("CreateAccount")
def create_account_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    request = create_account.request_account(
        _call(ctx),
        p["Email"],
        p["AccountName"],
        p.get("RoleName"),
        p.get("IamUserAccessToBilling") or "ALLOW",
        _tags_in(p),
    )
    services = ctx.services
    ctx.after_commit.append(lambda: start_account_creation(services))
    return {"CreateAccountStatus": views.create_account_status_view(request)}


@_operation("DescribeCreateAccountStatus", writes=False)
def describe_create_account_status_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    request = create_account.describe_create_account_status(_call(ctx), p["CreateAccountRequestId"])
    return {"CreateAccountStatus": views.create_account_status_view(request)}


@_operation("ListCreateAccountStatus")
def list_create_account_status_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    found = create_account.list_create_account_status(_call(ctx), p.get("States") or (), _after(p), _limit(p))
    return _listed("CreateAccountStatuses", found, views.create_account_status_view)


@_operation("DescribeAccount", writes=False)
def describe_account_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    member = members.describe_account(_call(ctx), p["AccountId"])
    return {"Account": views.account_view(_org(ctx), member, ctx.partition)}


# --- organizational units ----------------------------------------------------------------------------------


def _unit_answer(ctx: OperationContext, unit: Unit) -> Mapping[str, Any]:
    return {"OrganizationalUnit": views.unit_view(_org(ctx), unit, ctx.partition)}


@_operation("CreateOrganizationalUnit")
def create_unit_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return _unit_answer(ctx, units.create_unit(_call(ctx), p["ParentId"], p["Name"], _tags_in(p)))


@_operation("DescribeOrganizationalUnit", writes=False)
def describe_unit_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return _unit_answer(ctx, units.describe_unit(_call(ctx), p["OrganizationalUnitId"]))


@_operation("UpdateOrganizationalUnit")
def update_unit_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return _unit_answer(ctx, units.rename_unit(_call(ctx), p["OrganizationalUnitId"], p.get("Name")))


@_operation("ListParents")
def list_parents_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    parents = units.list_parents(_call(ctx), p["ChildId"])
    return _listed("Parents", _page_of(parents, lambda x: x[0], p), lambda x: {"Id": x[0], "Type": x[1]})


@_operation("ListChildren")
def list_children_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    child_type = p["ChildType"]
    found = units.list_children(_call(ctx), p["ParentId"], child_type, _after(p), _limit(p))
    return _listed("Children", found, lambda child: {"Id": child, "Type": child_type})


# --- handshakes ----------------------------------------------------------------------------------------------


def _handshake_answer(ctx: OperationContext, handshake: Any) -> Mapping[str, Any]:
    org = organization_by_id(ctx.conn, handshake.organization_id)
    if org is None:  # the organization was deleted in this very transaction (cannot be: answers keep it)
        raise InvalidInputException("The handshake's organization no longer exists.", Reason="INVALID_INPUT")
    return {"Handshake": views.handshake_view(org, handshake, ctx.partition)}


@_operation("InviteAccountToOrganization")
def invite_account_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    target = p["Target"]
    handshake = handshakes.invite_account(_call(ctx), target["Type"], target["Id"], p.get("Notes"), _tags_in(p))
    return _handshake_answer(ctx, handshake)


@_operation("AcceptHandshake")
def accept_handshake_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return _handshake_answer(ctx, handshakes.accept_handshake(_call(ctx), p["HandshakeId"]))


@_operation("DeclineHandshake")
def decline_handshake_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return _handshake_answer(ctx, handshakes.decline_handshake(_call(ctx), p["HandshakeId"]))


@_operation("CancelHandshake")
def cancel_handshake_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return _handshake_answer(ctx, handshakes.cancel_handshake(_call(ctx), p["HandshakeId"]))


@_operation("DescribeHandshake", writes=False)
def describe_handshake_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return _handshake_answer(ctx, handshakes.describe_handshake(_call(ctx), p["HandshakeId"]))


def _handshake_list(ctx: OperationContext, p: Mapping[str, Any], lister: Callable[..., Page[Any]]) -> Mapping[str, Any]:
    action = (p.get("Filter") or {}).get("ActionType")
    found = lister(_call(ctx), _after(p), _limit(p), action)
    orgs: dict[str, Organization | None] = {}

    def view(handshake: Any) -> Any:
        if handshake.organization_id not in orgs:
            orgs[handshake.organization_id] = organization_by_id(ctx.conn, handshake.organization_id)
        org = orgs[handshake.organization_id]
        assert org is not None  # handshakes are deleted with their organization
        return views.handshake_view(org, handshake, ctx.partition)

    return _listed("Handshakes", found, view)


@_operation("ListHandshakesForAccount")
def list_handshakes_for_account_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return _handshake_list(ctx, p, handshakes.list_handshakes_for_account)


@_operation("ListHandshakesForOrganization")
def list_handshakes_for_organization_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return _handshake_list(ctx, p, handshakes.list_handshakes_for_organization)


# --- policies ------------------------------------------------------------------------------------------------


def _policy_answer(ctx: OperationContext, policy: Any) -> Mapping[str, Any]:
    return {"Policy": views.policy_view(_org(ctx), policy, ctx.partition)}


@_operation("CreatePolicy")
def create_policy_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    policy = policies.create_policy(
        _call(ctx),
        content=p["Content"],
        description=p["Description"],
        name=p["Name"],
        policy_type=p["Type"],
        tags=_tags_in(p),
    )
    return _policy_answer(ctx, policy)


@_operation("DescribePolicy", writes=False)
def describe_policy_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    return _policy_answer(ctx, policies.describe_policy(_call(ctx), p["PolicyId"]))


@_operation("UpdatePolicy")
def update_policy_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    policy = policies.update_policy(
        _call(ctx), p["PolicyId"], name=p.get("Name"), description=p.get("Description"), content=p.get("Content")
    )
    return _policy_answer(ctx, policy)


@_operation("EnablePolicyType")
def enable_policy_type_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    root = policies.enable_policy_type(_call(ctx), p["RootId"], p["PolicyType"])
    return {"Root": views.root_view(_org(ctx), root, ctx.partition)}


@_operation("DisablePolicyType")
def disable_policy_type_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    root = policies.disable_policy_type(_call(ctx), p["RootId"], p["PolicyType"])
    return {"Root": views.root_view(_org(ctx), root, ctx.partition)}


# --- service access and delegated administrators ---------------------------------------------------------------


def _services_view(item: tuple[str, float]) -> dict[str, Any]:
    return {"ServicePrincipal": item[0], "DateEnabled": _time(item[1])}


@_operation("ListAWSServiceAccessForOrganization")
def list_service_access_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    found = delegation.list_service_access(_call(ctx))
    return _listed("EnabledServicePrincipals", _page_of(found, lambda x: x[0], p), _services_view)


@_operation("ListDelegatedAdministrators")
def list_delegated_administrators_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    found = delegation.list_delegated_administrators(_call(ctx), p.get("ServicePrincipal"))
    org = _org(ctx)
    page = _page_of(found, lambda admin: admin.member.account_id, p)
    return _listed(
        "DelegatedAdministrators", page, lambda admin: views.delegated_administrator_view(org, admin, ctx.partition)
    )


@_operation("ListDelegatedServicesForAccount")
def list_delegated_services_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    found = delegation.list_delegated_services(_call(ctx), p["AccountId"])
    page = _page_of(found, lambda x: x[0], p)
    return _listed(
        "DelegatedServices",
        page,
        lambda x: {"ServicePrincipal": x[0], "DelegationEnabledDate": _time(x[1])},
    )


# --- tags --------------------------------------------------------------------------------------------------------


@_operation("ListTagsForResource")
def list_tags_for_resource_op(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    found = tags.list_tags(_call(ctx), p["ResourceId"])
    return _listed("Tags", _page_of(found, lambda x: x[0], p), lambda x: {"Key": x[0], "Value": x[1]})


# --- keyset lists of the caller's organization: domain function, input members, output member, view ------------

_LISTS: dict[str, tuple[Callable[..., Page[Any]], tuple[str, ...], str, Callable[[Organization, Any, str], Any]]] = {
    "ListAccounts": (members.list_accounts, (), "Accounts", views.account_view),
    "ListOrganizationalUnitsForParent": (units.list_units, ("ParentId",), "OrganizationalUnits", views.unit_view),
    "ListAccountsForParent": (units.list_accounts_for_parent, ("ParentId",), "Accounts", views.account_view),
    "ListPolicies": (policies.list_policies, ("Filter",), "Policies", views.policy_summary_view),
    "ListPoliciesForTarget": (
        policies.list_policies_for_target,
        ("TargetId", "Filter"),
        "Policies",
        views.policy_summary_view,
    ),
    "ListTargetsForPolicy": (policies.list_targets_for_policy, ("PolicyId",), "Targets", views.target_view),
}


def _list(
    fn: Callable[..., Page[Any]], members: tuple[str, ...], out: str, view: Callable[[Organization, Any, str], Any]
) -> Callable[[OperationContext, dict[str, Any]], Mapping[str, Any]]:
    def handler(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
        found = fn(_call(ctx), *(p[member] for member in members), _after(p), _limit(p))
        org = _org(ctx)
        return _listed(out, found, lambda item: view(org, item, ctx.partition))

    return handler


for _name, (_lister, _inputs, _out, _view) in _LISTS.items():
    _operation(_name)(_list(_lister, _inputs, _out, _view))


# --- operations without output: the domain function and the input members it takes, in order ---------------

_NO_OUTPUT: dict[str, tuple[Callable[..., None], tuple[str, ...]]] = {
    "DeleteOrganization": (organization.delete_organization, ()),
    "MoveAccount": (members.move_account, ("AccountId", "SourceParentId", "DestinationParentId")),
    "RemoveAccountFromOrganization": (members.remove_account, ("AccountId",)),
    "LeaveOrganization": (members.leave_organization, ()),
    "DeleteOrganizationalUnit": (units.delete_unit, ("OrganizationalUnitId",)),
    "DeletePolicy": (policies.delete_policy, ("PolicyId",)),
    "AttachPolicy": (policies.attach_policy, ("PolicyId", "TargetId")),
    "DetachPolicy": (policies.detach_policy, ("PolicyId", "TargetId")),
    "EnableAWSServiceAccess": (delegation.enable_service_access, ("ServicePrincipal",)),
    "DisableAWSServiceAccess": (delegation.disable_service_access, ("ServicePrincipal",)),
    "RegisterDelegatedAdministrator": (delegation.register_delegated_administrator, ("AccountId", "ServicePrincipal")),
    "DeregisterDelegatedAdministrator": (
        delegation.deregister_delegated_administrator,
        ("AccountId", "ServicePrincipal"),
    ),
    "TagResource": (tags.tag_resource, ("ResourceId", "Tags")),
    "UntagResource": (tags.untag_resource, ("ResourceId", "TagKeys")),
}


def _no_output(fn: Callable[..., None], members: tuple[str, ...]) -> Callable[[OperationContext, dict[str, Any]], None]:
    def handler(ctx: OperationContext, p: dict[str, Any]) -> None:
        fn(_call(ctx), *(_tags_in(p) if member == "Tags" else p[member] for member in members))

    return handler


for _name, (_fn, _members) in _NO_OUTPUT.items():
    _operation(_name)(_no_output(_fn, _members))


# --- CreateAccount's second half ---------------------------------------------------------------------------------

_finishing = threading.Lock()


def finish_account_creations(services: NodeServices) -> int:
    """Carry out every CreateAccount request still in progress, each in its own transaction;
    returns how many were finished.  Requests another node finished already are left as they are."""
    partition, quotas, clock = services.identity.partition, quotas_of(services.quotas), services.clock
    with _finishing:
        with services.side_transaction() as conn:
            pending = create_account.pending_requests(OrgCall(conn, "", clock.time(), partition, quotas))
        for request_id in pending:
            try:
                with services.write_transaction() as conn:  # commits bump the generation: caches follow
                    create_account.complete_account_creation(
                        OrgCall(conn, "", clock.time(), partition, quotas), request_id
                    )
            except Exception:
                log.exception("could not finish CreateAccount request %s; it stays in progress", request_id)
        return len(pending)


def start_account_creation(services: NodeServices) -> None:
    """Finish pending CreateAccount requests on a worker thread (after the request's commit)."""
    threading.Thread(target=finish_account_creations, args=(services,), name="iamd-create-account", daemon=True).start()
