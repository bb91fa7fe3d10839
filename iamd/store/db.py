"""Engine, transactions and migrations, identical on SQLite and PostgreSQL.

Every API request runs in exactly one transaction: ``Database.write()`` for requests that
change state (SQLite: ``BEGIN IMMEDIATE`` so that two processes never deadlock on a lock
upgrade; every write also bumps the shared generation counter that other nodes poll to drop
their caches), ``Database.read()`` for the rest.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from iamd.core.errors import ConcurrentModification, ServiceUnavailable
from iamd.core.private_files import ensure_private_dir, open_private, touch_private
from iamd.store import tables

log = logging.getLogger(__name__)

GENERATION_ROW = 1
STARTUP_LOCK_KEY = 726574
"""PostgreSQL advisory lock key of ``Database.startup_lock``."""


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = sa.make_url(url)
        self.display_url = self.url.render_as_string(hide_password=True)
        """The URL without its password, for messages."""
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            path = self.url.database
            if path and path != ":memory:":
                # SQLite gives the -wal and -shm files the database file's mode: create it 0600.
                ensure_private_dir(Path(path).parent)
                touch_private(Path(path))
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            kwargs["pool_size"] = 8
            kwargs["max_overflow"] = 8
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["pool_size"] = 8
            kwargs["max_overflow"] = 8
        self.engine: Engine = sa.create_engine(self.url, **kwargs)
        if self.is_sqlite:
            self._install_sqlite_hooks()

    # -- SQLite specifics ------------------------------------------------------------------------

    def _install_sqlite_hooks(self) -> None:
        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Connection) -> None:
            if conn.get_execution_options().get("iamd_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

    # -- transactions -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with _database_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction; commits (and bumps the generation) when the block succeeds."""
        with self.side_write() as conn:
            yield conn
            bump_generation(conn)

    @contextlib.contextmanager
    def side_write(self) -> Iterator[Connection]:
        """A write transaction that does not bump the generation: for bookkeeping no cache reads
        (console sessions, sign-in throttling, WebAuthn challenges)."""
        with _database_errors(), self.engine.connect().execution_options(iamd_write=True) as conn, conn.begin():
            yield conn

    def current_generation(self) -> int:
        with self.read() as conn:
            value = conn.execute(
                sa.select(tables.generation.c.value).where(tables.generation.c.id == GENERATION_ROW)
            ).scalar()
        return int(value or 0)

    # -- schema -------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest revision (safe when several processes start at once)."""
        with self.startup_lock():
            self.upgrade_schema()

    def upgrade_schema(self) -> None:
        """Bring the schema to the newest revision; the caller holds ``startup_lock()``."""
        from alembic import command

        with self.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")

    @contextlib.contextmanager
    def startup_lock(self) -> Iterator[None]:
        """Serialise first-start work across every process on this database.

        A file lock beside an SQLite database, a session advisory lock on PostgreSQL.  Everything a
        first start inserts (schema, master key check, AWS managed policies, token key, default
        account) is checked and written under it, so any number of nodes may start at once.  Not
        re-entrant: take it once.
        """
        if self.is_sqlite:
            path = self.url.database
            if not path or path == ":memory:":
                yield
                return
            fd = open_private(Path(f"{path}.migrate-lock"))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the lock
        else:
            with self.engine.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({STARTUP_LOCK_KEY})")
                conn.commit()
                try:
                    yield
                finally:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({STARTUP_LOCK_KEY})")
                    conn.commit()

    def wipe(self) -> None:
        """Delete every row of every table (dev reset)."""
        with self.write() as conn:
            for table in reversed(tables.metadata.sorted_tables):
                if table.name in ("generation", "settings", "token_keys"):
                    continue
                conn.execute(table.delete())

    def dispose(self) -> None:
        self.engine.dispose()


def bump_generation(conn: Connection) -> None:
    g = tables.generation
    result = conn.execute(
        g.update().where(g.c.id == GENERATION_ROW).values(value=g.c.value + 1, changed_at=time.time())
    )
    if result.rowcount == 0:
        conn.execute(g.insert().values(id=GENERATION_ROW, value=1, changed_at=time.time()))


def alembic_config(conn: Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


_UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE unique_violation
_SQLITE_UNIQUE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


def is_uniqueness_violation(exc: sa.exc.IntegrityError) -> bool:
    """A unique or primary key constraint refused the row (and not a foreign key, NOT NULL or CHECK)."""
    orig = exc.orig
    return getattr(orig, "sqlstate", None) == _UNIQUE_VIOLATION or getattr(orig, "sqlite_errorname", None) in (
        _SQLITE_UNIQUE
    )


@contextlib.contextmanager
def _database_errors() -> Iterator[None]:
    """What a transaction's database errors become for the caller.

    A uniqueness violation is the race the schema expects: two requests created the same name
    (or row) at once, and the loser's transaction rolled back whole: ``ConcurrentModification``.
    Any other broken constraint is a bug and is not dressed up as a race: it propagates (an
    InternalFailure the log explains).  Other database errors mean the database did not answer.
    """
    try:
        yield
    except sa.exc.IntegrityError as exc:
        if not is_uniqueness_violation(exc):
            raise
        raise ConcurrentModification(
            "The request was rejected because it conflicted with a concurrent change; retry it."
        ) from exc
    except sa.exc.DBAPIError as exc:
        log.error("database error: %s", type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__)
        raise ServiceUnavailable("The service is unavailable: its database did not answer. Please retry.") from exc


def insert_ignore(conn: Connection, table: sa.Table, values: dict[str, Any]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; the number of rows inserted (0: the key was there).

    The count comes from RETURNING: psycopg reports no row count for this statement.
    """
    key = next(iter(table.primary_key.columns))
    if conn.dialect.name == "postgresql":
        pg_stmt = postgresql.insert(table).values(**values).on_conflict_do_nothing().returning(key)
        return len(conn.execute(pg_stmt).all())
    lite_stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return len(conn.execute(lite_stmt).all())
