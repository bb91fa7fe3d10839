"""The store on SQLite and PostgreSQL: migrations, bootstrap, transactions, cross-node visibility."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from iamd.core.clock import FixedClock
from iamd.core.config import SecretSettings, Settings
from iamd.core.crypto import new_key_text
from iamd.core.errors import ConcurrentModification, InvalidClientTokenId
from iamd.services import accounts
from iamd.services.runtime import ConfigError, Runtime
from iamd.store import tables as t
from iamd.store.db import is_uniqueness_violation
from tests.storage.conftest import ACCOUNT, ROOT_KEY, ROOT_SECRET


def test_migrations_create_every_table(runtime: Runtime) -> None:
    names = set(sa.inspect(runtime.db.engine).get_table_names())
    assert set(t.metadata.tables) <= names
    assert "alembic_version" in names


def test_migrate_twice_is_a_no_op(runtime: Runtime) -> None:
    runtime.prepare_store()
    runtime.prepare_store()
    with runtime.db.read() as conn:
        assert conn.execute(sa.text("select version_num from alembic_version")).scalar()


def test_bootstrap_creates_default_account_once(runtime: Runtime) -> None:
    assert runtime.bootstrap() is None  # already there
    with runtime.db.read() as conn:
        rows = accounts.list_accounts(conn)
    assert [r["AccountId"] for r in rows] == [ACCOUNT]
    resolved = runtime.resolver.resolve(ROOT_KEY)
    assert resolved.secret_access_key == ROOT_SECRET
    assert resolved.principal.arn == f"arn:aws:iam::{ACCOUNT}:root"


def test_secrets_are_encrypted_at_rest(runtime: Runtime) -> None:
    with runtime.db.read() as conn:
        blob = conn.execute(sa.select(t.access_keys.c.secret_enc).where(t.access_keys.c.id == ROOT_KEY)).scalar()
    assert blob is not None
    assert ROOT_SECRET.encode() not in bytes(blob)


def test_write_transaction_rolls_back_on_error(runtime: Runtime) -> None:
    before = runtime.db.current_generation()
    with pytest.raises(RuntimeError), runtime.db.write() as conn:
        conn.execute(
            t.users.insert().values(
                id="AIDAAAAAAAAAAAAAAAAAA", account_id=ACCOUNT, name="x", name_key="x", path="/", created_at=1.0
            )
        )
        raise RuntimeError("boom")
    with runtime.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.users)).scalar() == 0
    assert runtime.db.current_generation() == before


def test_every_write_bumps_generation(runtime: Runtime) -> None:
    before = runtime.db.current_generation()
    with runtime.db.write():
        pass
    assert runtime.db.current_generation() == before + 1


def test_unique_names_are_case_insensitive(runtime: Runtime) -> None:
    values = dict(account_id=ACCOUNT, path="/", created_at=1.0)
    with pytest.raises(ConcurrentModification), runtime.db.write() as conn:  # a uniqueness race, as AWS answers it
        conn.execute(t.users.insert().values(id="AIDA1", name="Bob", name_key="bob", **values))
        conn.execute(t.users.insert().values(id="AIDA2", name="BOB", name_key="bob", **values))


def test_other_broken_constraints_are_not_passed_off_as_races(runtime: Runtime) -> None:
    """A foreign key (or NOT NULL) violation is a bug: it is not turned into ConcurrentModification."""
    values = dict(path="/", created_at=1.0, name="Orphan", name_key="orphan")
    with pytest.raises(sa.exc.IntegrityError) as info, runtime.db.write() as conn:
        conn.execute(t.users.insert().values(id="AIDA3", account_id="000000000000", **values))
    assert not is_uniqueness_violation(info.value)
    with runtime.db.read() as conn:
        assert conn.execute(sa.select(t.users.c.id).where(t.users.c.id == "AIDA3")).first() is None


def test_second_node_sees_changes_within_the_bound(runtime: Runtime, store_settings: Settings) -> None:
    """Two nodes on one database: a key created by one is usable on the other after the refresh bound."""
    clock = FixedClock(1_800_000_000.0)
    other = Runtime(store_settings, clock=clock)
    try:
        other.watcher.refresh_if_due()
        with pytest.raises(InvalidClientTokenId):
            other.resolver.resolve("AKIANEWNEWNEWNEWNEW2")
        with runtime.db.write() as conn:
            accounts.create_account(
                conn,
                runtime.box,
                runtime.clock,
                root_access_key_id="AKIANEWNEWNEWNEWNEW2",
                root_secret_access_key="s" * 40,
            )
        # within the bound the other node may still answer from its cache ...
        clock.advance(store_settings.store.cache_refresh_seconds)
        other.watcher.refresh_if_due()
        # ... and after it, it must see the change.
        assert other.resolver.resolve("AKIANEWNEWNEWNEWNEW2").secret_access_key == "s" * 40
    finally:
        other.close()


def test_wrong_master_key_is_refused(runtime: Runtime, store_settings: Settings) -> None:
    bad = dataclasses.replace(store_settings, secrets=SecretSettings(master_key=new_key_text()))
    with pytest.raises(ConfigError, match="master key"):
        Runtime(bad).prepare_store()


def test_account_ids_are_validated(runtime: Runtime) -> None:
    with runtime.db.write() as conn:
        with pytest.raises(accounts.AccountError):
            accounts.create_account(conn, runtime.box, runtime.clock, account_id="12")
        with pytest.raises(accounts.AccountError):
            accounts.create_account(conn, runtime.box, runtime.clock, account_id=ACCOUNT)


def test_reset_recreates_default_account(runtime: Runtime) -> None:
    with runtime.db.write() as conn:
        accounts.create_account(conn, runtime.box, runtime.clock, account_id="999988887777")
    runtime.reset()
    with runtime.db.read() as conn:
        assert [r["AccountId"] for r in accounts.list_accounts(conn)] == [ACCOUNT]


def test_migrations_match_the_schema_module(runtime: Runtime) -> None:
    """Alembic's autogenerate finds nothing to add: migrations and tables.py agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with runtime.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert diff == []
