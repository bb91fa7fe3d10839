"""Helpers shared by the organizations storage tests (``test_orgs_*.py``); no tests here.

Each ``run`` is one write transaction as an account, as one API request is: an error rolls all of
it back.  The store's default account (``tests.storage.conftest.ACCOUNT``) is the management
account of the tests' organizations; more accounts are plain rows of ``accounts``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from iamd.orgs import handshakes, organization
from iamd.orgs.core import OrgCall
from iamd.orgs.model import Organization
from iamd.orgs.quotas import DEFAULT_QUOTAS, OrgQuotas
from iamd.services.runtime import Runtime
from iamd.store import tables as t
from tests.storage.conftest import ACCOUNT

T = TypeVar("T")

MGMT = ACCOUNT
MEMBER = "222233334444"
OTHER = "555566667777"
OUTSIDER = "888899990000"


def add_account(rt: Runtime, account_id: str, email: str | None = None) -> None:
    with rt.db.write() as conn:
        conn.execute(
            t.accounts.insert().values(
                id=account_id,
                name=f"account-{account_id}",
                created_at=rt.clock.time(),
                root_email=email or f"root+{account_id}@example.com",
            )
        )


def run(
    rt: Runtime, account: str, fn: Callable[..., T], *args: Any, quotas: OrgQuotas = DEFAULT_QUOTAS, **kwargs: Any
) -> T:
    """``fn(OrgCall, *args, **kwargs)`` in one write transaction as ``account``."""
    with rt.db.write() as conn:
        return fn(OrgCall(conn, account, rt.clock.time(), quotas=quotas), *args, **kwargs)


def read(rt: Runtime, account: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn`` in one read transaction as ``account``."""
    with rt.db.read() as conn:
        return fn(OrgCall(conn, account, rt.clock.time()), *args, **kwargs)


def new_organization(rt: Runtime, feature_set: str = "ALL") -> Organization:
    return run(rt, MGMT, organization.create_organization, feature_set)


def join(rt: Runtime, account: str) -> None:
    """Invite ``account`` (adding it to the store first) and accept as it."""
    add_account(rt, account)
    invitation = run(rt, MGMT, handshakes.invite_account, "ACCOUNT", account)
    run(rt, account, handshakes.accept_handshake, invitation.id)


def rows(rt: Runtime, table: sa.Table, *where: sa.ColumnElement[bool]) -> list[Any]:
    with rt.db.read() as conn:
        return list(conn.execute(sa.select(table).where(*where)).all())


def attached(rt: Runtime, target_id: str) -> set[str]:
    pa = t.org_policy_attachments
    return {row.policy_id for row in rows(rt, pa, pa.c.target_id == target_id)}
