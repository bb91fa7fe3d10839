"""The policies that apply to a principal, loaded from the store and cached per generation.

For an IAM user: its inline policies, the managed policies attached to it, and the inline and
attached policies of each of its groups; its permissions boundary.  For a role (sessions of it):
the role's inline and attached policies and its boundary.  Documents come back as text with a
stable id naming where each came from (the engine reports deciding statements by these ids).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.store import tables as t
from iamd.store.cache import LoadingCache
from iamd.store.db import Database
from iamd.store.queries import EMPTY_POLICY, SourcedPolicy, default_document, entity_policies, entity_tags

__all__ = ["ManagedPolicyCache", "PrincipalPolicies", "PrincipalPolicyCache", "SourcedPolicy", "load_role", "load_user"]


@dataclass(frozen=True, slots=True)
class PrincipalPolicies:
    identity: tuple[SourcedPolicy, ...] = ()
    boundary: SourcedPolicy | None = None
    tags: dict[str, str] = field(default_factory=dict)
    service_linked: bool = False
    """A service-linked role: SCPs do not limit it."""


class PrincipalPolicyCache:
    def __init__(self, db: Database, max_entries: int = 50_000) -> None:
        self._db = db
        self._cache: LoadingCache[tuple[str, str], PrincipalPolicies] = LoadingCache(max_entries, metric="policies")

    def clear(self) -> None:
        self._cache.clear()

    def for_user(self, user_id: str) -> PrincipalPolicies:
        return self._cache.get(("user", user_id), lambda: self._load(load_user, user_id))

    def for_role(self, role_id: str) -> PrincipalPolicies:
        return self._cache.get(("role", role_id), lambda: self._load(load_role, role_id))

    def _load(self, load: Callable[[Connection, str], PrincipalPolicies], entity_id: str) -> PrincipalPolicies:
        with self._db.read() as conn:
            return load(conn, entity_id)


def _boundary(conn: Connection, boundary_arn: str | None) -> SourcedPolicy | None:
    if not boundary_arn:
        return None
    # A boundary whose policy vanished allows nothing (AWS refuses to delete a policy in use as one).
    return SourcedPolicy(boundary_arn, default_document(conn, boundary_arn) or EMPTY_POLICY)


def load_user(conn: Connection, user_id: str) -> PrincipalPolicies:
    user = conn.execute(sa.select(t.users).where(t.users.c.id == user_id)).first()
    if user is None:
        return PrincipalPolicies()
    policies = entity_policies(conn, "user", user_id, user.name)
    g, gm = t.groups, t.group_members
    groups = conn.execute(
        sa.select(g.c.id, g.c.name).select_from(gm.join(g, g.c.id == gm.c.group_id)).where(gm.c.user_id == user_id)
    ).all()
    for group in groups:
        policies += entity_policies(conn, "group", group.id, group.name)
    return PrincipalPolicies(
        tuple(policies), _boundary(conn, user.permissions_boundary), entity_tags(conn, "user", user_id)
    )


def load_role(conn: Connection, role_id: str) -> PrincipalPolicies:
    role = conn.execute(sa.select(t.roles).where(t.roles.c.id == role_id)).first()
    if role is None:
        return PrincipalPolicies()
    policies = entity_policies(conn, "role", role_id, role.name)
    return PrincipalPolicies(
        tuple(policies),
        _boundary(conn, role.permissions_boundary),
        entity_tags(conn, "role", role_id),
        bool(role.service_linked),
    )


class ManagedPolicyCache:
    """Default-version documents of managed policies by ARN (session PolicyArns), per generation."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: LoadingCache[str, SourcedPolicy | None] = LoadingCache(10_000)

    def clear(self) -> None:
        self._cache.clear()

    def get(self, arn: str) -> SourcedPolicy | None:
        return self._cache.get(arn, lambda: self._load(arn))

    def _load(self, arn: str) -> SourcedPolicy | None:
        with self._db.read() as conn:
            document = default_document(conn, arn)
        return SourcedPolicy(arn, document) if document is not None else None
