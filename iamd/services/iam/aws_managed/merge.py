"""Write AWS managed policies into the store: the one path for the shipped catalogue and imports.

``merge`` takes policies in ``ManagedPolicyDetail`` form and brings the ``aws`` rows up to date
with them, under one rule so that start-up seeding and imports never undo each other:

- a missing policy is inserted with every version it lists (its PolicyId is AWS's own);
- versions the store lacks are added; a version whose document differs is rewritten (a version
  id names one document at AWS, so the newer source is right);
- a policy's default version (and its description, dates, attachability) only moves forward:
  when the store already holds a newer default version, it stays;
- nothing is deleted: AWS lists every version of its policies.

Rows written by older iamd releases, whose ids were derived from the name, are re-keyed to the
real PolicyId with their versions and attachments.  Reads and writes are batched: one query per
table, not per policy.  Writers are serialised (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory
transaction lock) so that nodes starting together, or a node and the import command, agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from iamd.services.iam.aws_managed.records import AWS_ACCOUNT, AwsManagedPolicy, same_document, version_number
from iamd.store import tables as t

_LOCK_KEY = 0x69616D64  # "iamd": one advisory lock for writers of AWS managed policies
_CHUNK = 500
_T = TypeVar("_T")


class MergeConflict(ValueError):
    """The store holds another policy under the PolicyId of an incoming one."""


@dataclass
class MergeReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept_newer: list[str] = field(default_factory=list)
    """Policies whose stored default version is newer than the incoming one (left as they were)."""
    versions_added: int = 0


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def lock(conn: Connection) -> None:
    """Serialise writers of AWS managed policies (SQLite write transactions already are)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def stored_policies(conn: Connection) -> dict[str, Row[Any]]:
    """The stored AWS managed policy rows by lower-case name."""
    mp = t.managed_policies
    return {row.name_key: row for row in conn.execute(sa.select(mp).where(mp.c.account_id == AWS_ACCOUNT))}


def _rekey(conn: Connection, row: Row[Any], new_id: str) -> None:
    """Give a stored policy its real PolicyId, moving its versions and attachments along."""
    mp, pv, pa, tags = t.managed_policies, t.policy_versions, t.policy_attachments, t.tags
    taken = conn.execute(sa.select(mp.c.arn).where(mp.c.id == new_id)).first()
    if taken is not None:
        raise MergeConflict(f"policy id {new_id} of {row.arn} is already used by {taken.arn}")
    # Lock the old row first: a concurrent attach then waits and fails cleanly instead of being lost.
    conn.execute(sa.select(mp.c.id).where(mp.c.id == row.id).with_for_update())
    conn.execute(mp.update().where(mp.c.id == row.id).values(name_key=f"{row.id}#rekey", arn=f"{row.arn}#rekey"))
    values = dict(row._mapping)
    values["id"] = new_id
    conn.execute(mp.insert().values(**values))
    conn.execute(pv.update().where(pv.c.policy_id == row.id).values(policy_id=new_id))
    conn.execute(pa.update().where(pa.c.policy_id == row.id).values(policy_id=new_id))
    conn.execute(
        tags.update().where(tags.c.resource_type == "policy", tags.c.resource_id == row.id).values(resource_id=new_id)
    )
    conn.execute(mp.delete().where(mp.c.id == row.id))


def _check_new_ids(conn: Connection, policies: Sequence[AwsManagedPolicy]) -> None:
    """Refuse to insert a policy under an id that another stored policy already has."""
    mp = t.managed_policies
    for chunk in _chunks([p.policy_id for p in policies]):
        taken = conn.execute(sa.select(mp.c.id, mp.c.arn).where(mp.c.id.in_(chunk))).first()
        if taken is not None:
            name = next(p.name for p in policies if p.policy_id == taken.id)
            raise MergeConflict(f"policy id {taken.id} of {name} is already used by {taken.arn}")


def _version_keys(conn: Connection, policy_ids: Sequence[str]) -> set[tuple[str, str]]:
    pv = t.policy_versions
    keys: set[tuple[str, str]] = set()
    for chunk in _chunks(policy_ids):
        keys.update(
            (r.policy_id, r.version_id)
            for r in conn.execute(sa.select(pv.c.policy_id, pv.c.version_id).where(pv.c.policy_id.in_(chunk)))
        )
    return keys


class _StoredVersion(NamedTuple):
    document: str
    created_at: float


def _version_rows(conn: Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], _StoredVersion]:
    pv = t.policy_versions
    rows: dict[tuple[str, str], _StoredVersion] = {}
    for chunk in _chunks(keys):
        query = sa.select(pv.c.policy_id, pv.c.version_id, pv.c.document, pv.c.created_at).where(
            sa.tuple_(pv.c.policy_id, pv.c.version_id).in_(list(chunk))
        )
        for row in conn.execute(query):
            rows[(row.policy_id, row.version_id)] = _StoredVersion(row.document, row.created_at)
    return rows


def _dates(policy: AwsManagedPolicy, now: float) -> tuple[float, float]:
    created = policy.create_date if policy.create_date is not None else now
    updated = policy.update_date if policy.update_date is not None else created
    return created, updated


def _version_date(policy: AwsManagedPolicy, version_id: str, now: float) -> float:
    version = next(v for v in policy.versions if v.version_id == version_id)
    if version.create_date is not None:
        return version.create_date
    created, updated = _dates(policy, now)
    return updated if version_id == policy.default_version else created


def _policy_values(policy: AwsManagedPolicy, partition: str, now: float) -> dict[str, Any]:
    created, updated = _dates(policy, now)
    values: dict[str, Any] = {
        "name": policy.name,
        "path": policy.path,
        "arn": policy.arn(partition),
        "created_at": created,
        "updated_at": updated,
        "default_version": policy.default_version,
        "is_attachable": policy.is_attachable,
    }
    if policy.description is not None:
        values["description"] = policy.description
    return values


def merge(conn: Connection, policies: Iterable[AwsManagedPolicy], partition: str, now: float) -> MergeReport:
    """Bring the stored AWS managed policies up to date with ``policies`` (see the module doc)."""
    policies = list(policies)
    lock(conn)
    mp, pv = t.managed_policies, t.policy_versions
    stored = stored_policies(conn)
    for policy in policies:
        row = stored.get(policy.name_key)
        if row is not None and row.id != policy.policy_id:
            _rekey(conn, row, policy.policy_id)
            stored[policy.name_key] = conn.execute(sa.select(mp).where(mp.c.id == policy.policy_id)).one()
    _check_new_ids(conn, [p for p in policies if p.name_key not in stored])
    present = [p for p in policies if p.name_key in stored]
    keys = _version_keys(conn, [p.policy_id for p in present])
    shared = [(p.policy_id, v.version_id) for p in present for v in p.versions if (p.policy_id, v.version_id) in keys]
    versions = _version_rows(conn, shared)

    report = MergeReport()
    new_policies: list[dict[str, Any]] = []
    new_versions: list[dict[str, Any]] = []
    for policy in policies:
        row = stored.get(policy.name_key)
        highest = max(v.number for v in policy.versions)
        changed = False
        for version in policy.versions:
            key = (policy.policy_id, version.version_id)
            created = _version_date(policy, version.version_id, now)
            old = versions.get(key)
            if row is None or key not in keys:
                new_versions.append(
                    {
                        "policy_id": policy.policy_id,
                        "version_id": version.version_id,
                        "version_number": version.number,
                        "document": version.document,
                        "created_at": created,
                    }
                )
                report.versions_added += 1
                changed = True
            elif old is not None and (
                not same_document(old.document, version.document)
                or (version.create_date is not None and old.created_at != created)
            ):
                conn.execute(
                    pv.update()
                    .where(pv.c.policy_id == policy.policy_id, pv.c.version_id == version.version_id)
                    .values(document=version.document, created_at=created, version_number=version.number)
                )
                changed = True
        if row is None:
            new_policies.append(
                {
                    "id": policy.policy_id,
                    "account_id": AWS_ACCOUNT,
                    "name_key": policy.name_key,
                    "description": None,
                    "next_version": highest + 1,
                    **_policy_values(policy, partition, now),
                }
            )
            report.added.append(policy.name)
            continue
        wanted: dict[str, Any] = {"next_version": max(int(row.next_version), highest + 1)}
        if policy.version_number >= version_number(row.default_version):
            wanted.update(_policy_values(policy, partition, now))
        else:
            report.kept_newer.append(policy.name)
        updates = {k: v for k, v in wanted.items() if getattr(row, k) != v}
        if updates:
            conn.execute(mp.update().where(mp.c.id == row.id).values(**updates))
        (report.updated if changed or updates else report.unchanged).append(policy.name)
    for chunk in _chunks(new_policies):
        conn.execute(mp.insert(), list(chunk))
    for chunk in _chunks(new_versions):
        conn.execute(pv.insert(), list(chunk))
    return report
