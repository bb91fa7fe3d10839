"""The policies that apply to a principal, loaded from the store and cached per generation.

For an IAM user: its inline policies, the managed policies attached to it, and the inline and
attached policies of each of its groups; its permissions boundary.  For a role (sessions of it):
the role's inline and attached policies and its boundary.  Documents come back as text with a
stable id naming where each came from (the engine reports deciding statements by these ids).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.core import counters
from iamd.store import tables as t
from iamd.store.db import Database


@dataclass(frozen=True, slots=True)
class SourcedPolicy:
    policy_id: str
    """Where it came from: ``user/NAME/inline/POLICY``, a managed policy ARN, ``group/G/inline/P``..."""
    document: str


@dataclass(frozen=True, slots=True)
class PrincipalPolicies:
    identity: tuple[SourcedPolicy, ...] = ()
    boundary: SourcedPolicy | None = None
    tags: dict[str, str] = field(default_factory=dict)


class PrincipalPolicyCache:
    def __init__(self, db: Database, max_entries: int = 50_000) -> None:
        self._db = db
        self._cache: dict[tuple[str, str], PrincipalPolicies] = {}
        self._max = max_entries
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._cache = {}

    def for_user(self, user_id: str) -> PrincipalPolicies:
        return self._get("user", user_id)

    def for_role(self, role_id: str) -> PrincipalPolicies:
        return self._get("role", role_id)

    def _get(self, kind: str, entity_id: str) -> PrincipalPolicies:
        key = (kind, entity_id)
        hit = self._cache.get(key)
        counters.count_cache("policies", hit is not None)
        if hit is not None:
            return hit
        with self._db.read() as conn:
            value = load_user(conn, entity_id) if kind == "user" else load_role(conn, entity_id)
        with self._lock:
            if len(self._cache) >= self._max:
                self._cache = {}
            self._cache[key] = value
        return value


def _inline(conn: Connection, principal_type: str, principal_id: str, label: str) -> list[SourcedPolicy]:
    ip = t.inline_policies
    rows = conn.execute(
        sa.select(ip.c.name, ip.c.document)
        .where(ip.c.principal_type == principal_type, ip.c.principal_id == principal_id)
        .order_by(ip.c.name_key)
    )
    return [SourcedPolicy(f"{label}/inline/{r.name}", r.document) for r in rows]


def _attached(conn: Connection, principal_type: str, principal_id: str) -> list[SourcedPolicy]:
    pa, mp, pv = t.policy_attachments, t.managed_policies, t.policy_versions
    rows = conn.execute(
        sa.select(mp.c.arn, pv.c.document)
        .select_from(
            pa.join(mp, mp.c.id == pa.c.policy_id).join(
                pv, sa.and_(pv.c.policy_id == mp.c.id, pv.c.version_id == mp.c.default_version)
            )
        )
        .where(pa.c.principal_type == principal_type, pa.c.principal_id == principal_id)
        .order_by(mp.c.arn)
    )
    return [SourcedPolicy(r.arn, r.document) for r in rows]


def _boundary(conn: Connection, boundary_arn: str | None) -> SourcedPolicy | None:
    if not boundary_arn:
        return None
    mp, pv = t.managed_policies, t.policy_versions
    row = conn.execute(
        sa.select(pv.c.document)
        .select_from(mp.join(pv, sa.and_(pv.c.policy_id == mp.c.id, pv.c.version_id == mp.c.default_version)))
        .where(mp.c.arn == boundary_arn)
    ).first()
    # A boundary whose policy vanished allows nothing (AWS refuses to delete a policy in use as one).
    return SourcedPolicy(boundary_arn, row.document if row else '{"Version":"2012-10-17","Statement":[]}')


def _tags(conn: Connection, resource_type: str, resource_id: str) -> dict[str, str]:
    tt = t.tags
    rows = conn.execute(
        sa.select(tt.c.key, tt.c.value).where(tt.c.resource_type == resource_type, tt.c.resource_id == resource_id)
    )
    return {r.key: r.value for r in rows}


def load_user(conn: Connection, user_id: str) -> PrincipalPolicies:
    user = conn.execute(sa.select(t.users).where(t.users.c.id == user_id)).first()
    if user is None:
        return PrincipalPolicies()
    policies = _inline(conn, "user", user_id, f"user/{user.name}") + _attached(conn, "user", user_id)
    g, gm = t.groups, t.group_members
    groups = conn.execute(
        sa.select(g.c.id, g.c.name).select_from(gm.join(g, g.c.id == gm.c.group_id)).where(gm.c.user_id == user_id)
    ).all()
    for group in groups:
        policies += _inline(conn, "group", group.id, f"group/{group.name}") + _attached(conn, "group", group.id)
    return PrincipalPolicies(tuple(policies), _boundary(conn, user.permissions_boundary), _tags(conn, "user", user_id))


def load_role(conn: Connection, role_id: str) -> PrincipalPolicies:
    role = conn.execute(sa.select(t.roles).where(t.roles.c.id == role_id)).first()
    if role is None:
        return PrincipalPolicies()
    policies = _inline(conn, "role", role_id, f"role/{role.name}") + _attached(conn, "role", role_id)
    return PrincipalPolicies(tuple(policies), _boundary(conn, role.permissions_boundary), _tags(conn, "role", role_id))


class ManagedPolicyCache:
    """Default-version documents of managed policies by ARN (session PolicyArns), per generation."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[str, SourcedPolicy | None] = {}

    def clear(self) -> None:
        self._cache = {}

    def get(self, arn: str) -> SourcedPolicy | None:
        if arn in self._cache:
            return self._cache[arn]
        mp, pv = t.managed_policies, t.policy_versions
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(pv.c.document)
                .select_from(mp.join(pv, sa.and_(pv.c.policy_id == mp.c.id, pv.c.version_id == mp.c.default_version)))
                .where(mp.c.arn == arn)
            ).first()
        value = SourcedPolicy(arn, row.document) if row else None
        if len(self._cache) > 10_000:
            self._cache = {}
        self._cache[arn] = value
        return value
