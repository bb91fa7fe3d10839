"""CreateAccount, asynchronous as AWS runs it, and the role it leaves in the new account.

``request_account`` records the request ``IN_PROGRESS`` and returns its status at once (the API's
answer); ``complete_account_creation`` does the work in a later transaction and moves the request to
``SUCCEEDED`` (with the new ``AccountId``) or ``FAILED`` (with a ``FailureReason`` from the model's
``CreateAccountFailureReason``: ``EMAIL_ALREADY_EXISTS``, ``INVALID_EMAIL``, ``ACCOUNT_LIMIT_EXCEEDED``,
``INTERNAL_FAILURE``).  The service layer runs the completion right after the request's transaction
commits, so a DescribeCreateAccountStatus shortly after sees the outcome, as with AWS.

The new account is an iamd account (a row of ``accounts``, its root email the request's, and no
root password nor access key: as in AWS, its way in is the role) and a member of the organization
(``JoinedMethod`` ``CREATED``) under the root, with the enabled types' default policies.  "Organizations
preconfigures the new member account with a role (named OrganizationAccountAccessRole by default)
that grants users in the management account administrator permissions in the new member account":
iamd creates it with a trust policy naming the management account and the AWS managed policy
``AdministratorAccess`` attached.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from iamd.core import ids as iam_ids
from iamd.core.errors import ConstraintViolationException, CreateAccountStatusNotFoundException, InvalidInputException
from iamd.orgs import ids
from iamd.orgs.core import OrgCall, member_count, organization_by_id, page, require_management, require_reader
from iamd.orgs.members import join, tags_from_json, tags_to_json
from iamd.orgs.model import CreateAccountRequest, Page
from iamd.orgs.tags import check_tags
from iamd.store import tables as t

DEFAULT_ROLE_NAME = "OrganizationAccountAccessRole"
ADMINISTRATOR_ACCESS = "AdministratorAccess"
IN_PROGRESS = "IN_PROGRESS"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
_RESERVED_ROLE_PREFIX = "AWSServiceRoleFor"
_LOCAL_FORBIDDEN = set(" \t\r\n\"'()<>[]:;,\\|%&")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def valid_email(email: str) -> bool:
    """CreateAccount's rules for ``Email``: 6 to 64 7-bit ASCII characters, one ``@``; the local name
    without whitespace or ``"'()<>[]:;,\\|%&`` and not starting with a dot; the domain of letters,
    digits, hyphens and dots, not starting or ending with either, with at least one dot."""
    if not 6 <= len(email) <= 64 or not email.isascii() or email.count("@") != 1:
        return False
    local, domain = email.split("@")
    if not local or local.startswith(".") or any(ch in _LOCAL_FORBIDDEN for ch in local):
        return False
    return "." in domain and _DOMAIN.match(domain) is not None


def _from_row(row: Row[Any]) -> CreateAccountRequest:
    return CreateAccountRequest(
        row.id,
        row.organization_id,
        row.account_name,
        row.email,
        row.state,
        row.requested_at,
        row.completed_at,
        row.account_id,
        row.failure_reason,
    )


def request_account(
    call: OrgCall,
    email: str,
    account_name: str,
    role_name: str | None = None,
    iam_user_access_to_billing: str = "ALLOW",
    tags: Sequence[Mapping[str, str]] = (),
) -> CreateAccountRequest:
    """CreateAccount: check and record the request; ``complete_account_creation`` finishes it."""
    org = require_management(call)
    role = role_name or DEFAULT_ROLE_NAME
    if role.startswith(_RESERVED_ROLE_PREFIX):
        raise InvalidInputException(
            f"You provided a role name that isn't valid. A role name can't begin with the reserved prefix "
            f"{_RESERVED_ROLE_PREFIX}.",
            Reason="INVALID_ROLE_NAME",
        )
    check_tags(tags)
    c = t.org_create_account_requests
    running = call.conn.execute(
        sa.select(sa.func.count()).select_from(c).where(c.c.organization_id == org.id, c.c.state == IN_PROGRESS)
    ).scalar_one()
    if running >= call.quotas.concurrent_account_creations:
        raise ConstraintViolationException(
            "You attempted to exceed the number of accounts that can be in progress at a time.",
            reason="ACCOUNT_CREATION_RATE_LIMIT_EXCEEDED",
        )
    if member_count(call, org) >= call.quotas.accounts:
        raise ConstraintViolationException(
            "You attempted to exceed the limit on the number of accounts in an organization.",
            reason="ACCOUNT_NUMBER_LIMIT_EXCEEDED",
        )
    request_id = ids.new_create_account_request_id()
    call.conn.execute(
        c.insert().values(
            id=request_id,
            organization_id=org.id,
            account_name=account_name,
            email=email,
            role_name=role,
            iam_user_access_to_billing=iam_user_access_to_billing,
            tags=tags_to_json(tags),
            state=IN_PROGRESS,
            requested_at=call.now,
        )
    )
    return _from_row(call.conn.execute(sa.select(c).where(c.c.id == request_id)).one())


def _email_taken(call: OrgCall, email: str) -> bool:
    a, m = t.accounts, t.org_accounts
    key = email.lower()
    if call.conn.execute(sa.select(a.c.id).where(sa.func.lower(a.c.root_email) == key).limit(1)).first():
        return True
    return (
        call.conn.execute(sa.select(m.c.account_id).where(sa.func.lower(m.c.email) == key).limit(1)).first() is not None
    )


def _finish(call: OrgCall, request_id: str, **values: Any) -> CreateAccountRequest:
    c = t.org_create_account_requests
    call.conn.execute(c.update().where(c.c.id == request_id).values(completed_at=call.now, **values))
    return _from_row(call.conn.execute(sa.select(c).where(c.c.id == request_id)).one())


def access_role_trust_policy(partition: str, management_account: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition}:iam::{management_account}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def _new_account_id(call: OrgCall) -> str:
    a = t.accounts
    account_id = iam_ids.account_id()
    while call.conn.execute(sa.select(a.c.id).where(a.c.id == account_id)).first():
        account_id = iam_ids.account_id()
    return account_id


def _create_access_role(call: OrgCall, account_id: str, role_name: str, management_account: str) -> bool:
    """The role trusting the management account, with AdministratorAccess; False if that policy is missing."""
    mp = t.managed_policies
    admin = call.conn.execute(
        sa.select(mp.c.id).where(mp.c.arn == f"arn:{call.partition}:iam::aws:policy/{ADMINISTRATOR_ACCESS}")
    ).scalar()
    if admin is None:
        return False
    role_id = iam_ids.unique_id(iam_ids.ROLE_PREFIX)
    call.conn.execute(
        t.roles.insert().values(
            id=role_id,
            account_id=account_id,
            name=role_name,
            name_key=role_name.lower(),
            path="/",
            created_at=call.now,
            trust_policy=access_role_trust_policy(call.partition, management_account),
            max_session_duration=3600,
        )
    )
    call.conn.execute(
        t.policy_attachments.insert().values(policy_id=admin, principal_type="role", principal_id=role_id)
    )
    return True


def complete_account_creation(call: OrgCall, request_id: str) -> CreateAccountRequest:
    """Carry out a request still ``IN_PROGRESS`` (any other is returned as it is).  The request's row
    is locked first, so two nodes finishing the same request make one account (SQLite serializes
    writers anyway)."""
    c = t.org_create_account_requests
    row = call.conn.execute(sa.select(c).where(c.c.id == request_id).with_for_update()).first()
    if row is None:
        raise CreateAccountStatusNotFoundException()
    if row.state != IN_PROGRESS:
        return _from_row(row)
    org = organization_by_id(call.conn, row.organization_id)
    assert org is not None  # requests are deleted with their organization
    if not valid_email(row.email):
        return _finish(call, request_id, state=FAILED, failure_reason="INVALID_EMAIL")
    if _email_taken(call, row.email):
        return _finish(call, request_id, state=FAILED, failure_reason="EMAIL_ALREADY_EXISTS")
    if member_count(call, org) > call.quotas.accounts:  # this request is one of those counted
        return _finish(call, request_id, state=FAILED, failure_reason="ACCOUNT_LIMIT_EXCEEDED")
    account_id = _new_account_id(call)
    call.conn.execute(
        t.accounts.insert().values(
            id=account_id, name=row.account_name, created_at=call.now, root_email=row.email, is_default=False
        )
    )
    if not _create_access_role(call, account_id, row.role_name, org.management_account_id):
        call.conn.execute(t.accounts.delete().where(t.accounts.c.id == account_id))
        return _finish(call, request_id, state=FAILED, failure_reason="INTERNAL_FAILURE")
    join(call, org, account_id, joined_method="CREATED", email=row.email, tags=tags_from_json(row.tags))
    return _finish(call, request_id, state=SUCCEEDED, account_id=account_id)


def pending_requests(call: OrgCall) -> list[str]:
    """Ids of every request still in progress, oldest first (for a node to finish after a restart)."""
    c = t.org_create_account_requests
    rows = call.conn.execute(sa.select(c.c.id).where(c.c.state == IN_PROGRESS).order_by(c.c.requested_at, c.c.id))
    return list(rows.scalars())


def describe_create_account_status(call: OrgCall, request_id: str) -> CreateAccountRequest:
    org = require_reader(call)
    c = t.org_create_account_requests
    row = call.conn.execute(sa.select(c).where(c.c.id == request_id, c.c.organization_id == org.id)).first()
    if row is None:
        raise CreateAccountStatusNotFoundException()
    return _from_row(row)


def list_create_account_status(
    call: OrgCall, states: Sequence[str] = (), after: str | None = None, limit: int | None = None
) -> Page[CreateAccountRequest]:
    org = require_reader(call)
    c = t.org_create_account_requests
    query = sa.select(c).where(c.c.organization_id == org.id)
    if states:
        query = query.where(c.c.state.in_(list(states)))
    return page(call, query, c.c.id, _from_row, after, limit)
