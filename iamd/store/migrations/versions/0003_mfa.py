"""MFA devices, used codes, failures and events

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mfa_devices",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=True),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("is_root", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("name_key", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("serial", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("seed_enc", sa.LargeBinary(), nullable=False),
        sa.Column("algorithm", sa.String(length=8), nullable=False),
        sa.Column("digits", sa.Integer(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("drift", sa.Integer(), server_default="0", nullable=False),
        sa.Column("partition_restriction", sa.String(length=16), nullable=True),
        sa.Column("enabled_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_mfa_devices_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_mfa_devices_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_devices")),
        sa.UniqueConstraint("account_id", "name_key", name="uq_mfa_devices_account_name"),
        sa.UniqueConstraint("serial", name=op.f("uq_mfa_devices_serial")),
    )
    op.create_index("ix_mfa_devices_user", "mfa_devices", ["user_id"], unique=False)
    op.create_table(
        "mfa_used_codes",
        sa.Column("serial", sa.String(length=256), nullable=False),
        sa.Column("step", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("used_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("serial", "step", name=op.f("pk_mfa_used_codes")),
    )
    op.create_table(
        "mfa_failures",
        sa.Column("serial", sa.String(length=256), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("locks", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.Double(), nullable=True),
        sa.Column("last_failure_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_mfa_failures")),
    )
    op.create_table(
        "mfa_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("serial", sa.String(length=256), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=True),
        sa.Column("principal_arn", sa.String(length=2048), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_events")),
    )
    op.create_index("ix_mfa_events_serial", "mfa_events", ["serial", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_mfa_events_serial", table_name="mfa_events")
    op.drop_table("mfa_events")
    op.drop_table("mfa_failures")
    op.drop_table("mfa_used_codes")
    op.drop_index("ix_mfa_devices_user", table_name="mfa_devices")
    op.drop_table("mfa_devices")
