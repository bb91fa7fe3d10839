"""The session-token key ring: kept in the database (encrypted with the master key), cached per node."""

from __future__ import annotations

import os

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.auth.session_tokens import TokenKeyRing
from iamd.core.clock import Clock
from iamd.core.crypto import SecretBox
from iamd.store import tables as t
from iamd.store.cache import LoadingCache
from iamd.store.db import Database


def ensure_primary_key(conn: Connection, box: SecretBox, clock: Clock) -> None:
    tk = t.token_keys
    if conn.execute(sa.select(tk.c.id).where(tk.c.is_primary.is_(True))).first() is None:
        key = os.urandom(32)
        kid = os.urandom(4).hex()
        conn.execute(
            tk.insert().values(
                id=kid,
                key_enc=box.encrypt(key, aad=b"token-key:" + kid.encode()),
                created_at=clock.time(),
                is_primary=True,
            )
        )


def rotate(conn: Connection, box: SecretBox, clock: Clock) -> str:
    """Make a new primary key; older keys keep validating the tokens they issued."""
    tk = t.token_keys
    conn.execute(tk.update().values(is_primary=False))
    ensure_primary_key(conn, box, clock)
    return str(conn.execute(sa.select(tk.c.id).where(tk.c.is_primary.is_(True))).scalar_one())


class TokenKeyCache:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._cache: LoadingCache[str, TokenKeyRing] = LoadingCache(1)

    def clear(self) -> None:
        self._cache.clear()

    def ring(self) -> TokenKeyRing:
        return self._cache.get("ring", self._load)

    def _load(self) -> TokenKeyRing:
        tk = t.token_keys
        with self._db.read() as conn:
            rows = conn.execute(sa.select(tk)).all()
        keys: dict[bytes, bytes] = {}
        primary = b""
        for row in rows:
            kid = bytes.fromhex(row.id)
            keys[kid] = self._box.decrypt(row.key_enc, aad=b"token-key:" + row.id.encode())
            if row.is_primary:
                primary = kid
        return TokenKeyRing(keys, primary)
