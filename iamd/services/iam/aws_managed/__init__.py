"""AWS managed policies: the real documents of a few common ones, seeded into every store.

Each ``*.json`` file here holds one policy as AWS publishes it (name, path, description,
default version id, dates and the default version's document).  ``seed`` inserts the missing
ones under the pseudo-account ``aws`` and refreshes those whose content changed; it is
idempotent and safe to run from several nodes at once.  Policy ids are derived from the
name so that every node (and every fresh store) agrees on them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from iamd.core import ids
from iamd.store import tables as t

AWS_ACCOUNT = "aws"
_DIR = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class AwsManagedPolicy:
    name: str
    path: str
    description: str
    default_version: str
    create_date: float | None
    update_date: float | None
    document: str

    @property
    def version_number(self) -> int:
        return version_number(self.default_version)

    @property
    def policy_id(self) -> str:
        return policy_id(self.name)

    def arn(self, partition: str) -> str:
        return f"arn:{partition}:iam::{AWS_ACCOUNT}:policy{self.path}{self.name}"


def version_number(version_id: str) -> int:
    """``v12`` -> 12 (``v3.beta`` -> 3)."""
    return int(version_id[1:].split(".", 1)[0])


def policy_id(name: str) -> str:
    """A stable ANPA… id: the prefix and 17 base32 characters of sha256(name)."""
    digest = hashlib.sha256(name.encode()).digest()
    return ids.AWS_POLICY_PREFIX + base64.b32encode(digest).decode()[:17]


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def render_document(document: Any) -> str:
    """The stored text of a shipped document (stable, so nodes compare equal)."""
    return document if isinstance(document, str) else json.dumps(document, indent=4)


def _parse(data: dict[str, Any]) -> AwsManagedPolicy:
    return AwsManagedPolicy(
        name=str(data["PolicyName"]),
        path=str(data.get("Path") or "/"),
        description=str(data.get("Description") or ""),
        default_version=str(data.get("DefaultVersionId") or "v1"),
        create_date=_epoch(data.get("CreateDate")),
        update_date=_epoch(data.get("UpdateDate")),
        document=render_document(data["Document"]),
    )


@functools.cache
def load() -> tuple[AwsManagedPolicy, ...]:
    """Every shipped AWS managed policy, sorted by name."""
    policies = [_parse(json.loads(p.read_text(encoding="utf-8"))) for p in sorted(_DIR.glob("*.json"))]
    return tuple(sorted(policies, key=lambda p: p.name.lower()))


def _insert_ignore(conn: Connection, table: sa.Table, values: dict[str, Any]) -> None:
    """INSERT that silently does nothing when another node inserted the same row first."""
    name = conn.dialect.name
    if name == "postgresql":
        conn.execute(postgresql.insert(table).values(**values).on_conflict_do_nothing())
    elif name == "sqlite":
        conn.execute(sqlite.insert(table).values(**values).on_conflict_do_nothing())
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        conn.execute(table.insert().values(**values))


def seed(conn: Connection, partition: str, now: float) -> None:
    """Insert missing AWS managed policies and refresh changed ones (idempotent)."""
    mp, pv = t.managed_policies, t.policy_versions
    for policy in load():
        created = policy.create_date if policy.create_date is not None else now
        updated = policy.update_date if policy.update_date is not None else created
        arn = policy.arn(partition)
        number = policy.version_number
        row = conn.execute(
            sa.select(mp).where(mp.c.account_id == AWS_ACCOUNT, mp.c.name_key == policy.name.lower())
        ).first()
        if row is None:
            _insert_ignore(
                conn,
                mp,
                {
                    "id": policy.policy_id,
                    "account_id": AWS_ACCOUNT,
                    "name": policy.name,
                    "name_key": policy.name.lower(),
                    "path": policy.path,
                    "arn": arn,
                    "description": policy.description or None,
                    "created_at": created,
                    "updated_at": updated,
                    "default_version": policy.default_version,
                    "next_version": number + 1,
                    "is_attachable": True,
                },
            )
            row = conn.execute(
                sa.select(mp).where(mp.c.account_id == AWS_ACCOUNT, mp.c.name_key == policy.name.lower())
            ).one()
        wanted = {
            "name": policy.name,
            "path": policy.path,
            "arn": arn,
            "description": policy.description or None,
            "created_at": created,
            "updated_at": updated,
            "default_version": policy.default_version,
            "next_version": max(int(row.next_version), number + 1),
        }
        changed = {k: v for k, v in wanted.items() if getattr(row, k) != v}
        if changed:
            conn.execute(mp.update().where(mp.c.id == row.id).values(**changed))
        version = conn.execute(
            sa.select(pv).where(pv.c.policy_id == row.id, pv.c.version_id == policy.default_version)
        ).first()
        if version is None:
            _insert_ignore(
                conn,
                pv,
                {
                    "policy_id": row.id,
                    "version_id": policy.default_version,
                    "version_number": number,
                    "document": policy.document,
                    "created_at": updated,
                },
            )
        elif version.document != policy.document or version.created_at != updated:
            conn.execute(
                pv.update()
                .where(pv.c.policy_id == row.id, pv.c.version_id == policy.default_version)
                .values(document=policy.document, created_at=updated, version_number=number)
            )
        # AWS shows only the shipped default version of its policies.
        conn.execute(pv.delete().where(pv.c.policy_id == row.id, pv.c.version_id != policy.default_version))
