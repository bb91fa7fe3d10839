"""Reads that several layers share: the policies that apply where, default versions, tags.

The authorizer's caches (``services/principal_policies.py``), the policy simulator and the
authorization targets all read policies and tags the same way; they read them here.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.store import tables as t

EMPTY_POLICY = '{"Version":"2012-10-17","Statement":[]}'


@dataclass(frozen=True, slots=True)
class SourcedPolicy:
    policy_id: str
    """Where it came from: ``user/NAME/inline/POLICY``, a managed policy ARN, ``group/G/inline/P``..."""
    document: str


def with_default_version() -> sa.Join:
    """Managed policies joined to their default version (``policy_versions`` as ``pv``)."""
    mp, pv = t.managed_policies, t.policy_versions
    return mp.join(pv, sa.and_(pv.c.policy_id == mp.c.id, pv.c.version_id == mp.c.default_version))


def default_document(conn: Connection, policy_arn: str) -> str | None:
    """The default version's document of the managed policy ``policy_arn`` (None: no such policy)."""
    mp, pv = t.managed_policies, t.policy_versions
    row = conn.execute(sa.select(pv.c.document).select_from(with_default_version()).where(mp.c.arn == policy_arn))
    return row.scalar()


def inline_policies(conn: Connection, principal_type: str, principal_id: str, label: str) -> list[SourcedPolicy]:
    """A user's, group's or role's inline policies, by name; ids are ``LABEL/inline/NAME``."""
    ip = t.inline_policies
    rows = conn.execute(
        sa.select(ip.c.name, ip.c.document)
        .where(ip.c.principal_type == principal_type, ip.c.principal_id == principal_id)
        .order_by(ip.c.name_key)
    )
    return [SourcedPolicy(f"{label}/inline/{r.name}", r.document) for r in rows]


def attached_policies(conn: Connection, principal_type: str, principal_id: str) -> list[SourcedPolicy]:
    """The default versions of the managed policies attached to a user, group or role, by ARN."""
    pa, mp, pv = t.policy_attachments, t.managed_policies, t.policy_versions
    rows = conn.execute(
        sa.select(mp.c.arn, pv.c.document)
        .select_from(with_default_version().join(pa, pa.c.policy_id == mp.c.id))
        .where(pa.c.principal_type == principal_type, pa.c.principal_id == principal_id)
        .order_by(mp.c.arn)
    )
    return [SourcedPolicy(r.arn, r.document) for r in rows]


def entity_policies(conn: Connection, principal_type: str, principal_id: str, name: str) -> list[SourcedPolicy]:
    """Inline, then attached policies of one user, group or role."""
    return inline_policies(conn, principal_type, principal_id, f"{principal_type}/{name}") + attached_policies(
        conn, principal_type, principal_id
    )


def entity_tags(conn: Connection, resource_type: str, resource_id: str) -> dict[str, str]:
    tt = t.tags
    rows = conn.execute(
        sa.select(tt.c.key, tt.c.value).where(tt.c.resource_type == resource_type, tt.c.resource_id == resource_id)
    )
    return {r.key: r.value for r in rows}
