"""Invitations to join an organization (handshakes with the action ``INVITE``).

The management account invites an existing account by id or by its owner's email address
(InviteAccountToOrganization); the invited account accepts or declines; the management account may
cancel while it is open.  As the Organizations API reference and quotas describe it:

* an invitation is ``OPEN`` until answered, and expires after 15 days (``EXPIRED``); answered,
  canceled and expired handshakes stay visible for 30 days;
* an open invitation counts against the account quota (``HandshakeConstraintViolationException``
  ``ACCOUNT_NUMBER_LIMIT_EXCEEDED``), and at most 20 (or the account quota, if greater) may be sent
  in 24 hours, accepted ones not counted (``HANDSHAKE_RATE_LIMIT_EXCEEDED``);
* an account already in an organization cannot be invited or accept (``ALREADY_IN_AN_ORGANIZATION``);
  a second open invitation to the same target is ``DuplicateHandshakeException``;
* accepting an accepted handshake is ``HandshakeAlreadyInStateException``, answering a canceled,
  declined or expired one ``InvalidHandshakeTransitionException``;
* only the parties see a handshake: anyone else gets ``HandshakeNotFoundException``.

An email invitation is for the account whose root email is that address (iamd's accounts keep one);
it can be accepted by that account only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from iamd.core.errors import (
    AccessDeniedException,
    AccountNotFoundException,
    DuplicateHandshakeException,
    HandshakeAlreadyInStateException,
    HandshakeConstraintViolationException,
    HandshakeNotFoundException,
    InvalidHandshakeTransitionException,
    InvalidInputException,
)
from iamd.orgs import ids
from iamd.orgs.core import (
    OrgCall,
    member_count,
    organization_by_id,
    organization_of,
    page,
    require_management,
    require_reader,
)
from iamd.orgs.members import join, tags_from_json, tags_to_json
from iamd.orgs.model import Handshake, Organization, Page
from iamd.orgs.tags import check_tags
from iamd.store import tables as t

INVITE = "INVITE"
OPEN = "OPEN"
ACCEPTED = "ACCEPTED"
DECLINED = "DECLINED"
CANCELED = "CANCELED"
EXPIRED = "EXPIRED"
_PENDING = (OPEN, "REQUESTED")
_DAY = 86_400.0


def _state(row: Row[Any], now: float) -> str:
    """The state as of ``now``: an open handshake past its expiry is expired, whether or not that was
    written yet (reads never write)."""
    if row.state in _PENDING and row.expires_at <= now:
        return EXPIRED
    return str(row.state)


def _from_row(row: Row[Any], now: float) -> Handshake:
    state = _state(row, now)
    updated = row.expires_at if state == EXPIRED and row.state != EXPIRED else row.updated_at
    return Handshake(
        row.id,
        row.organization_id,
        row.action,
        state,
        row.target_type,
        row.target_id,
        row.target_account_id,
        row.notes,
        row.requested_at,
        row.expires_at,
        updated,
    )


def _visible(call: OrgCall) -> sa.ColumnElement[bool]:
    """Handshakes still listed: pending ones, and finished ones for 30 days after they finished."""
    h = t.org_handshakes
    horizon = call.now - call.quotas.handshake_retention
    finished_at = sa.case((h.c.state.in_(_PENDING), h.c.expires_at), else_=h.c.updated_at)
    return finished_at > horizon


def _settle(call: OrgCall) -> None:
    """Write down expiries, and forget handshakes finished more than 30 days ago (write paths only)."""
    h = t.org_handshakes
    call.conn.execute(
        h.update()
        .where(h.c.state.in_(_PENDING), h.c.expires_at <= call.now)
        .values(state=EXPIRED, updated_at=h.c.expires_at)
    )
    call.conn.execute(
        h.delete().where(h.c.state.notin_(_PENDING), h.c.updated_at <= call.now - call.quotas.handshake_retention)
    )


def _caller_email(call: OrgCall) -> str | None:
    email = call.conn.execute(sa.select(t.accounts.c.root_email).where(t.accounts.c.id == call.account_id)).scalar()
    return str(email).lower() if email else None


def _targets_caller(call: OrgCall) -> sa.ColumnElement[bool]:
    h = t.org_handshakes
    email = _caller_email(call)
    by_account = h.c.target_account_id == call.account_id
    if email is None:
        return by_account
    return sa.or_(by_account, sa.and_(h.c.target_type == "EMAIL", h.c.target_key == email))


def _resolve_target(call: OrgCall, target_type: str, target_id: str) -> tuple[str, str | None]:
    """(the target lower-cased, the account it names if iamd knows it)."""
    a = t.accounts
    if target_type == "ACCOUNT":
        if (
            not ids.ACCOUNT_ID.match(target_id)
            or not call.conn.execute(sa.select(a.c.id).where(a.c.id == target_id)).first()
        ):
            raise AccountNotFoundException(f"We can't find an AWS account with the AccountId {target_id}.")
        return target_id, target_id
    if target_type == "EMAIL":
        local, at, domain = target_id.partition("@")
        if not at or not local or "." not in domain or any(ch.isspace() for ch in target_id):
            raise InvalidInputException(
                "You specified an invalid email address for the invited account owner.",
                Reason="INVALID_EMAIL_ADDRESS_TARGET",
            )
        key = target_id.lower()
        owners = list(call.conn.execute(sa.select(a.c.id).where(sa.func.lower(a.c.root_email) == key)).scalars())
        return key, owners[0] if len(owners) == 1 else None
    raise InvalidInputException(
        "You specified the wrong type of entity (account, organization, or email) as a party.",
        Reason="INVALID_PARTY_TYPE_TARGET",
    )


def invite_account(
    call: OrgCall,
    target_type: str,
    target_id: str,
    notes: str | None = None,
    tags: Sequence[Mapping[str, str]] = (),
) -> Handshake:
    """InviteAccountToOrganization; ``tags`` go on the account when it joins."""
    org = require_management(call)
    key, target_account = _resolve_target(call, target_type, target_id)
    check_tags(tags)
    if target_account is not None and organization_of(call.conn, target_account) is not None:
        raise HandshakeConstraintViolationException(
            "The handshake request is invalid because the invited account is already a member of an organization.",
            reason="ALREADY_IN_AN_ORGANIZATION",
        )
    _settle(call)
    h = t.org_handshakes
    same_target = h.c.target_key == key
    if target_account is not None:
        same_target = sa.or_(same_target, h.c.target_account_id == target_account)
    duplicate = call.conn.execute(
        sa.select(h.c.id).where(h.c.organization_id == org.id, h.c.state.in_(_PENDING), same_target)
    ).first()
    if duplicate is not None:
        raise DuplicateHandshakeException(
            f"A handshake with the same action and target already exists: {duplicate.id}. Cancel it before "
            "inviting the account again."
        )
    if member_count(call, org) >= call.quotas.accounts:
        raise HandshakeConstraintViolationException(
            "You attempted to exceed the limit on the number of accounts in an organization.",
            reason="ACCOUNT_NUMBER_LIMIT_EXCEEDED",
        )
    sent = call.conn.execute(
        sa.select(sa.func.count())
        .select_from(h)
        .where(h.c.organization_id == org.id, h.c.requested_at > call.now - _DAY, h.c.state != ACCEPTED)
    ).scalar_one()
    if sent >= max(call.quotas.invitations_per_day, call.quotas.accounts):
        raise HandshakeConstraintViolationException(
            "You attempted to exceed the number of handshakes that you can send in one day.",
            reason="HANDSHAKE_RATE_LIMIT_EXCEEDED",
        )
    handshake_id = ids.new_handshake_id()
    call.conn.execute(
        h.insert().values(
            id=handshake_id,
            organization_id=org.id,
            action=INVITE,
            state=OPEN,
            target_type=target_type,
            target_id=target_id,
            target_key=key,
            target_account_id=target_account,
            notes=notes,
            tags=tags_to_json(tags),
            requested_at=call.now,
            expires_at=call.now + call.quotas.invitation_lifetime,
            updated_at=call.now,
        )
    )
    return describe_handshake(call, handshake_id)


def _row(call: OrgCall, handshake_id: str) -> Row[Any]:
    h = t.org_handshakes
    row = call.conn.execute(sa.select(h).where(h.c.id == handshake_id, _visible(call))).first()
    if row is None:
        raise HandshakeNotFoundException()
    return row


def _is_target(call: OrgCall, row: Row[Any]) -> bool:
    if row.target_account_id == call.account_id:
        return True
    return bool(row.target_type == "EMAIL" and row.target_key == _caller_email(call))


def _is_sender(call: OrgCall, row: Row[Any]) -> bool:
    org = organization_by_id(call.conn, row.organization_id)
    return org is not None and org.management_account_id == call.account_id


def describe_handshake(call: OrgCall, handshake_id: str) -> Handshake:
    row = _row(call, handshake_id)
    if not (_is_target(call, row) or _is_sender(call, row)):
        raise HandshakeNotFoundException()
    return _from_row(row, call.now)


def _answer(call: OrgCall, handshake_id: str, *, by_sender: bool, to: str) -> Row[Any]:
    """The handshake, checked for a move to ``to`` by its sender or its target."""
    row = _row(call, handshake_id)
    sender, target = _is_sender(call, row), _is_target(call, row)
    if not (sender or target):
        raise HandshakeNotFoundException()
    if (by_sender and not sender) or (not by_sender and not target):
        who = "the account that sent it" if by_sender else "the account that received it"
        raise AccessDeniedException(f"You don't have permissions to access this resource: only {who} can do this.")
    state = _state(row, call.now)
    if state == to:
        raise HandshakeAlreadyInStateException()
    if state not in _PENDING:
        raise InvalidHandshakeTransitionException(
            f"You can't perform the operation on the handshake in its current state ({state})."
        )
    return row


def _set_state(call: OrgCall, handshake_id: str, state: str, **values: Any) -> Handshake:
    h = t.org_handshakes
    call.conn.execute(h.update().where(h.c.id == handshake_id).values(state=state, updated_at=call.now, **values))
    return _from_row(call.conn.execute(sa.select(h).where(h.c.id == handshake_id)).one(), call.now)


def accept_handshake(call: OrgCall, handshake_id: str) -> Handshake:
    _settle(call)
    row = _answer(call, handshake_id, by_sender=False, to=ACCEPTED)
    if organization_of(call.conn, call.account_id) is not None:
        raise HandshakeConstraintViolationException(
            "The handshake request is invalid because the invited account is already a member of an organization.",
            reason="ALREADY_IN_AN_ORGANIZATION",
        )
    org = organization_by_id(call.conn, row.organization_id)
    assert org is not None  # the handshake is deleted with its organization
    email = call.conn.execute(sa.select(t.accounts.c.root_email).where(t.accounts.c.id == call.account_id)).scalar()
    join(
        call,
        org,
        call.account_id,
        joined_method="INVITED",
        email=email or (row.target_id if row.target_type == "EMAIL" else None),
        tags=tags_from_json(row.tags),
    )
    return _set_state(call, handshake_id, ACCEPTED, target_account_id=call.account_id)


def decline_handshake(call: OrgCall, handshake_id: str) -> Handshake:
    _settle(call)
    _answer(call, handshake_id, by_sender=False, to=DECLINED)
    return _set_state(call, handshake_id, DECLINED)


def cancel_handshake(call: OrgCall, handshake_id: str) -> Handshake:
    _settle(call)
    _answer(call, handshake_id, by_sender=True, to=CANCELED)
    return _set_state(call, handshake_id, CANCELED)


def list_handshakes_for_account(
    call: OrgCall, after: str | None = None, limit: int | None = None, action: str | None = None
) -> Page[Handshake]:
    """The handshakes the caller received (any account may ask, in an organization or not)."""
    h = t.org_handshakes
    query = sa.select(h).where(_targets_caller(call), _visible(call))
    if action is not None:
        query = query.where(h.c.action == action)
    return page(call, query, h.c.id, lambda row: _from_row(row, call.now), after, limit)


def list_handshakes_for_organization(
    call: OrgCall, after: str | None = None, limit: int | None = None, action: str | None = None
) -> Page[Handshake]:
    org: Organization = require_reader(call)
    h = t.org_handshakes
    query = sa.select(h).where(h.c.organization_id == org.id, _visible(call))
    if action is not None:
        query = query.where(h.c.action == action)
    return page(call, query, h.c.id, lambda row: _from_row(row, call.now), after, limit)
