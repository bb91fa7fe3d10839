"""Access key -> secret and principal, cached off the database."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from iamd.core.arn import iam_arn, root_arn
from iamd.core.crypto import SecretBox
from iamd.core.errors import InvalidClientTokenId
from iamd.core.principal import Principal, PrincipalKind
from iamd.store import tables as t
from iamd.store.cache import LoadingCache
from iamd.store.db import Database


@dataclass(frozen=True, slots=True)
class ResolvedKey:
    secret_access_key: str
    principal: Principal


class CredentialResolver:
    def __init__(self, db: Database, box: SecretBox, partition: str, max_entries: int = 100_000) -> None:
        self._db = db
        self._box = box
        self._partition = partition
        self._cache: LoadingCache[str, ResolvedKey | None] = LoadingCache(max_entries, metric="credentials")

    def clear(self) -> None:
        self._cache.clear()

    def resolve(self, access_key_id: str) -> ResolvedKey:
        hit = self._cache.get(access_key_id, lambda: self._load(access_key_id))
        if hit is None:
            raise InvalidClientTokenId()
        return hit

    def _load(self, access_key_id: str) -> ResolvedKey | None:
        if not access_key_id.startswith("AKIA") or len(access_key_id) > 32:
            return None
        k, u = t.access_keys, t.users
        query = (
            sa.select(k.c.account_id, k.c.user_id, k.c.secret_enc, k.c.status, u.c.name, u.c.path)
            .select_from(k.outerjoin(u, u.c.id == k.c.user_id))
            .where(k.c.id == access_key_id)
        )
        with self._db.read() as conn:
            row = conn.execute(query).first()
            if row is None:
                return self._service(conn, access_key_id)
        if row.status != "Active":
            return None
        secret = self._box.decrypt_text(row.secret_enc, aad=access_key_id)
        if row.user_id is None:
            principal = Principal(
                kind=PrincipalKind.ROOT,
                account_id=row.account_id,
                arn=root_arn(self._partition, row.account_id),
                user_id=row.account_id,
                name=row.account_id,
                access_key_id=access_key_id,
            )
        else:
            principal = Principal(
                kind=PrincipalKind.USER,
                account_id=row.account_id,
                arn=iam_arn(self._partition, row.account_id, "user", row.path, row.name),
                user_id=row.user_id,
                name=row.name,
                access_key_id=access_key_id,
                entity_id=row.user_id,
            )
        return ResolvedKey(secret, principal)

    def _service(self, conn: sa.Connection, access_key_id: str) -> ResolvedKey | None:
        """The key of a registered service (``iamd services register``): a SERVICE principal."""
        sp = t.service_principals
        row = conn.execute(
            sa.select(sp.c.name, sp.c.secret_enc, sp.c.status).where(sp.c.access_key_id == access_key_id)
        ).first()
        if row is None or row.status != "Active":
            return None
        principal = Principal(
            kind=PrincipalKind.SERVICE,
            account_id="",
            arn=row.name,
            user_id=row.name,
            name=row.name,
            access_key_id=access_key_id,
        )
        return ResolvedKey(self._box.decrypt_text(row.secret_enc, aad=access_key_id), principal)
