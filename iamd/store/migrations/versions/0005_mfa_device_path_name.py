"""virtual MFA devices unique per account, path and name; names up to 226 characters

Not per account and name: CreateVirtualMFADevice allows the same name under different paths.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SAVED = "_iamd_0005_webauthn_credentials"


def _recreate_mfa_devices(old_unique: tuple[str, list[str]], new_unique: tuple[str, list[str]], width: int) -> None:
    """Swap the unique constraint (and the name width) of ``mfa_devices``.

    On SQLite the batch operation rebuilds the table, and dropping the old copy with foreign
    keys on (iamd always turns them on; the pragma cannot change inside the migration's
    transaction) cascades to ``webauthn_credentials``: its rows are kept aside and put back.
    """
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute(f"CREATE TEMP TABLE {_SAVED} AS SELECT * FROM webauthn_credentials")
    with op.batch_alter_table("mfa_devices", schema=None) as batch_op:
        batch_op.drop_constraint(old_unique[0], type_="unique")
        batch_op.alter_column("name", type_=sa.String(length=width), existing_nullable=False)
        batch_op.alter_column("name_key", type_=sa.String(length=width), existing_nullable=False)
        batch_op.create_unique_constraint(new_unique[0], new_unique[1])
    if sqlite:
        op.execute(
            f"INSERT INTO webauthn_credentials SELECT * FROM {_SAVED} "
            "WHERE serial NOT IN (SELECT serial FROM webauthn_credentials)"
        )
        op.execute(f"DROP TABLE {_SAVED}")


def upgrade() -> None:
    _recreate_mfa_devices(
        ("uq_mfa_devices_account_name", ["account_id", "name_key"]),
        ("uq_mfa_devices_account_path_name", ["account_id", "path", "name_key"]),
        226,
    )


def downgrade() -> None:
    _recreate_mfa_devices(
        ("uq_mfa_devices_account_path_name", ["account_id", "path", "name_key"]),
        ("uq_mfa_devices_account_name", ["account_id", "name_key"]),
        128,
    )
