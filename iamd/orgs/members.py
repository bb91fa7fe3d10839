"""Member accounts: describe, list, move between parents, remove, leave; joining (used by invitations
and CreateAccount).

Leaving (LeaveOrganization, by the member) and removing (RemoveAccountFromOrganization, by the
management account), as the Organizations API reference describes them:

* the management account can do neither: ``MasterCannotLeaveOrganizationException`` when it tries to
  leave, ``ConstraintViolationException`` ``ACCOUNT_CANNOT_LEAVE_ORGANIZATION`` when it is the account
  to remove ("You can't remove the management account. Instead, after you remove all member
  accounts, delete the organization itself");
* a delegated administrator must be deregistered first (``CANNOT_REMOVE_DELEGATED_ADMINISTRATOR_FROM_ORG``);
* an account the organization created can go only after a waiting period (``WAIT_PERIOD_ACTIVE``);
* the departing account loses its policy attachments and its tags.

AWS's other reasons (phone verification, payment instrument, EULA) concern billing, which iamd has
not.  That an SCP may forbid ``organizations:LeaveOrganization`` is authorization, decided before
these functions run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from iamd.core.errors import (
    AccountNotFoundException,
    ConstraintViolationException,
    DestinationParentNotFoundException,
    DuplicateAccountException,
    MasterCannotLeaveOrganizationException,
    SourceParentNotFoundException,
)
from iamd.orgs.core import (
    OrgCall,
    attach_defaults,
    find_member,
    forget_node,
    member_of_row,
    member_query,
    page,
    parent_path,
    require_management,
    require_organization,
    require_reader,
)
from iamd.orgs.model import Member, Organization, Page
from iamd.orgs.tags import put_tags
from iamd.store import tables as t


def require_member(call: OrgCall, org: Organization, account_id: str) -> Member:
    member = find_member(call, org, account_id)
    if member is None:
        raise AccountNotFoundException()
    return member


def describe_account(call: OrgCall, account_id: str) -> Member:
    org = require_reader(call)
    return require_member(call, org, account_id)


def list_accounts(call: OrgCall, after: str | None = None, limit: int | None = None) -> Page[Member]:
    org = require_reader(call)
    m = t.org_accounts
    query = member_query().where(m.c.organization_id == org.id)
    return page(call, query, m.c.account_id, lambda row: member_of_row(org, row), after, limit)


def move_account(call: OrgCall, account_id: str, source_parent_id: str, destination_parent_id: str) -> None:
    """MoveAccount.  Parents are looked up in the caller's organization only, so an OU of another
    organization is ``DestinationParentNotFoundException``."""
    org = require_management(call)
    member = require_member(call, org, account_id)
    if parent_path(call, org, source_parent_id) is None:
        raise SourceParentNotFoundException()
    if parent_path(call, org, destination_parent_id) is None:
        raise DestinationParentNotFoundException()
    if member.parent_id != source_parent_id:
        raise AccountNotFoundException(
            f"We can't find the account {account_id} in the source parent {source_parent_id}."
        )
    if destination_parent_id == member.parent_id:
        raise DuplicateAccountException()
    m = t.org_accounts
    call.conn.execute(m.update().where(m.c.account_id == account_id).values(parent_id=destination_parent_id))


def join(
    call: OrgCall,
    org: Organization,
    account_id: str,
    *,
    joined_method: str,
    email: str | None,
    tags: Sequence[Mapping[str, str]] = (),
) -> Member:
    """Make ``account_id`` a member of ``org`` under its root, with the enabled types' default policies."""
    call.conn.execute(
        t.org_accounts.insert().values(
            account_id=account_id,
            organization_id=org.id,
            parent_id=org.root_id,
            email=email,
            joined_method=joined_method,
            joined_at=call.now,
            state="ACTIVE",
        )
    )
    attach_defaults(call, org, account_id)
    put_tags(call, org, account_id, tags)
    return require_member(call, org, account_id)


def _depart(call: OrgCall, org: Organization, member: Member) -> None:
    d = t.org_delegated_admins
    delegated = call.conn.execute(sa.select(d.c.account_id).where(d.c.account_id == member.account_id).limit(1)).first()
    if delegated is not None:
        raise ConstraintViolationException(
            "You attempted to remove an account that is registered as a delegated administrator for a service "
            "integrated with your organization. To complete this operation, you must first deregister this "
            "account as a delegated administrator.",
            reason="CANNOT_REMOVE_DELEGATED_ADMINISTRATOR_FROM_ORG",
        )
    if member.joined_method == "CREATED" and call.now < member.joined_at + call.quotas.created_account_wait:
        days = round(call.quotas.created_account_wait / 86_400)
        raise ConstraintViolationException(
            f"After you create an AWS account, you must wait until at least {days} days after the account was "
            "created. Invited accounts aren't subject to this waiting period.",
            reason="WAIT_PERIOD_ACTIVE",
        )
    forget_node(call, org, member.account_id)
    m = t.org_accounts
    call.conn.execute(m.delete().where(m.c.account_id == member.account_id))


def remove_account(call: OrgCall, account_id: str) -> None:
    """RemoveAccountFromOrganization (management account only)."""
    org = require_management(call)
    member = require_member(call, org, account_id)
    if account_id == org.management_account_id:
        raise ConstraintViolationException(
            "You attempted to remove the management account from the organization. You can't remove the "
            "management account. Instead, after you remove all member accounts, delete the organization itself.",
            reason="ACCOUNT_CANNOT_LEAVE_ORGANIZATION",
        )
    _depart(call, org, member)


def leave_organization(call: OrgCall) -> None:
    """LeaveOrganization (a member account, for itself)."""
    org = require_organization(call)
    if call.account_id == org.management_account_id:
        raise MasterCannotLeaveOrganizationException()
    _depart(call, org, require_member(call, org, call.account_id))


def tags_from_json(text: str | None) -> list[dict[str, str]]:
    """Tags kept as JSON in a handshake or a create-account request."""
    if not text:
        return []
    loaded = json.loads(text)
    return [{"Key": str(tag["Key"]), "Value": str(tag.get("Value", ""))} for tag in loaded]


def tags_to_json(tags: Sequence[Mapping[str, str]]) -> str | None:
    return json.dumps([{"Key": tag["Key"], "Value": tag.get("Value", "")} for tag in tags]) if tags else None
