"""Fixtures shared by the services unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from iamd.store import tables as t
from iamd.store.db import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite store of the test's own."""
    database = Database(f"sqlite:///{tmp_path / 'iamd.db'}")
    database.migrate()
    yield database
    database.dispose()


ACCOUNT = "123456789012"


def seed_user(db: Database, user_id: str, name: str, key_id: str, secret_enc: bytes, path: str = "/") -> None:
    """The account ACCOUNT with one user holding one active access key (raw rows, no handlers)."""
    with db.write() as conn:
        conn.execute(sa.insert(t.accounts).values(id=ACCOUNT, name="a", created_at=0.0))
        conn.execute(
            sa.insert(t.users).values(
                id=user_id, account_id=ACCOUNT, name=name, name_key=name.lower(), path=path, created_at=0.0
            )
        )
        conn.execute(
            sa.insert(t.access_keys).values(
                id=key_id, account_id=ACCOUNT, user_id=user_id, secret_enc=secret_enc, status="Active", created_at=0.0
            )
        )
