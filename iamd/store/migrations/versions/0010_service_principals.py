"""Services that act for customers: a service principal name and its access key

Revision ID: 0010
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_principals",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("access_key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_principals")),
        sa.UniqueConstraint("access_key_id", name=op.f("uq_service_principals_access_key_id")),
    )


def downgrade() -> None:
    op.drop_table("service_principals")
