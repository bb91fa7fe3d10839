"""Alembic environment: iamd passes its own connection in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from iamd.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is None:
    import sqlalchemy as sa

    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url (alembic -x) or run migrations through iamd")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
