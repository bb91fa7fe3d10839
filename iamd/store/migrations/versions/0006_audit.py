"""audit trail: hash-chained CloudTrail-shaped records and the resources they touched

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_EVENT_INDEXES = (
    ("ix_audit_events_time", ["event_time", "seq"]),
    ("ix_audit_events_name", ["event_name", "event_time"]),
    ("ix_audit_events_username", ["username", "event_time"]),
    ("ix_audit_events_access_key", ["access_key_id", "event_time"]),
    ("ix_audit_events_source", ["event_source", "event_time"]),
    ("ix_audit_events_read_only", ["read_only", "event_time"]),
    ("ix_audit_events_error", ["error_code", "event_time"]),
    ("ix_audit_events_account", ["account_id", "event_time"]),
)
_RESOURCE_INDEXES = (
    ("ix_audit_event_resources_name", ["resource_name"]),
    ("ix_audit_event_resources_arn", ["resource_arn"]),
    ("ix_audit_event_resources_type", ["resource_type"]),
)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_time", sa.Double(), nullable=False),
        sa.Column("event_source", sa.String(length=64), nullable=False),
        sa.Column("event_name", sa.String(length=128), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=True),
        sa.Column("access_key_id", sa.String(length=128), nullable=True),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("error_code", sa.String(length=128), nullable=True),
        sa.Column("account_id", sa.String(length=12), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_events_event_id")),
    )
    for name, columns in _EVENT_INDEXES:
        op.create_index(name, "audit_events", columns, unique=False)
    op.create_table(
        "audit_event_resources",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("resource_type", sa.String(length=128), nullable=False),
        sa.Column("resource_name", sa.String(length=2048), nullable=False),
        sa.Column("resource_arn", sa.String(length=2048), nullable=True),
        sa.ForeignKeyConstraint(
            ["seq"], ["audit_events.seq"], name=op.f("fk_audit_event_resources_seq_audit_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", "position", name=op.f("pk_audit_event_resources")),
    )
    for name, columns in _RESOURCE_INDEXES:
        op.create_index(name, "audit_event_resources", columns, unique=False)


def downgrade() -> None:
    for name, _ in _RESOURCE_INDEXES:
        op.drop_index(name, table_name="audit_event_resources")
    op.drop_table("audit_event_resources")
    for name, _ in _EVENT_INDEXES:
        op.drop_index(name, table_name="audit_events")
    op.drop_table("audit_events")
