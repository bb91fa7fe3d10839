"""AWS Organizations: organizations, roots, OUs, members, handshakes, account requests, policies, tags

Chained after 0006 (audit events).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TIME: sa.Double[float] = sa.Double()


def _organization_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
        ondelete="CASCADE",
    )


def _account_fk(table: str, column: str = "account_id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["accounts.id"], name=op.f(f"fk_{table}_{column}_accounts"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(length=34), nullable=False),
        sa.Column("management_account_id", sa.String(length=12), nullable=False),
        sa.Column("feature_set", sa.String(length=24), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        _account_fk("organizations", "management_account_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("management_account_id", name=op.f("uq_organizations_management_account_id")),
    )
    op.create_table(
        "org_roots",
        sa.Column("id", sa.String(length=34), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        _organization_fk("org_roots"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_roots")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_org_roots_organization_id")),
    )
    op.create_table(
        "org_units",
        sa.Column("id", sa.String(length=68), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("parent_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        _organization_fk("org_units"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_units")),
        sa.UniqueConstraint("parent_id", "name", name="uq_org_units_parent_name"),
    )
    op.create_index("ix_org_units_organization", "org_units", ["organization_id"], unique=False)
    op.create_table(
        "org_accounts",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("parent_id", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=256), nullable=True),
        sa.Column("joined_method", sa.String(length=8), nullable=False),
        sa.Column("joined_at", _TIME, nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        _account_fk("org_accounts"),
        _organization_fk("org_accounts"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_org_accounts")),
    )
    op.create_index("ix_org_accounts_organization", "org_accounts", ["organization_id"], unique=False)
    op.create_index("ix_org_accounts_parent", "org_accounts", ["parent_id"], unique=False)
    op.create_table(
        "org_handshakes",
        sa.Column("id", sa.String(length=34), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=256), nullable=False),
        sa.Column("target_key", sa.String(length=256), nullable=False),
        sa.Column("target_account_id", sa.String(length=12), nullable=True),
        sa.Column("notes", sa.String(length=1024), nullable=True),
        sa.Column("tags", sa.Text(), nullable=True),
        sa.Column("requested_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        _organization_fk("org_handshakes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_handshakes")),
    )
    op.create_index(
        "ix_org_handshakes_organization", "org_handshakes", ["organization_id", "requested_at"], unique=False
    )
    op.create_index("ix_org_handshakes_target", "org_handshakes", ["target_key"], unique=False)
    op.create_table(
        "org_create_account_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("account_name", sa.String(length=50), nullable=False),
        sa.Column("email", sa.String(length=64), nullable=False),
        sa.Column("role_name", sa.String(length=64), nullable=False),
        sa.Column("iam_user_access_to_billing", sa.String(length=8), nullable=False),
        sa.Column("tags", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.String(length=64), nullable=True),
        sa.Column("account_id", sa.String(length=12), nullable=True),
        sa.Column("requested_at", _TIME, nullable=False),
        sa.Column("completed_at", _TIME, nullable=True),
        _organization_fk("org_create_account_requests"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_create_account_requests")),
    )
    op.create_index(
        "ix_org_create_account_requests_organization",
        "org_create_account_requests",
        ["organization_id", "state"],
        unique=False,
    )
    op.create_table(
        "org_policies",
        sa.Column("id", sa.String(length=130), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("type", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=512), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        _organization_fk("org_policies"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_policies")),
        sa.UniqueConstraint("organization_id", "type", "name", name="uq_org_policies_organization_type_name"),
    )
    op.create_table(
        "org_policy_attachments",
        sa.Column("policy_id", sa.String(length=130), nullable=False),
        sa.Column("target_id", sa.String(length=100), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("policy_type", sa.String(length=48), nullable=False),
        _organization_fk("org_policy_attachments"),
        sa.PrimaryKeyConstraint("policy_id", "target_id", name=op.f("pk_org_policy_attachments")),
    )
    op.create_index(
        "ix_org_policy_attachments_target", "org_policy_attachments", ["target_id", "policy_type"], unique=False
    )
    op.create_index(
        "ix_org_policy_attachments_organization", "org_policy_attachments", ["organization_id"], unique=False
    )
    op.create_table(
        "org_policy_types",
        sa.Column("root_id", sa.String(length=34), nullable=False),
        sa.Column("policy_type", sa.String(length=48), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["root_id"], ["org_roots.id"], name=op.f("fk_org_policy_types_root_id_org_roots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("root_id", "policy_type", name=op.f("pk_org_policy_types")),
    )
    op.create_table(
        "org_service_access",
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("service_principal", sa.String(length=128), nullable=False),
        sa.Column("enabled_at", _TIME, nullable=False),
        _organization_fk("org_service_access"),
        sa.PrimaryKeyConstraint("organization_id", "service_principal", name=op.f("pk_org_service_access")),
    )
    op.create_table(
        "org_delegated_admins",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("service_principal", sa.String(length=128), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("enabled_at", _TIME, nullable=False),
        _account_fk("org_delegated_admins"),
        _organization_fk("org_delegated_admins"),
        sa.PrimaryKeyConstraint("account_id", "service_principal", name=op.f("pk_org_delegated_admins")),
    )
    op.create_index("ix_org_delegated_admins_organization", "org_delegated_admins", ["organization_id"], unique=False)
    op.create_table(
        "org_tags",
        sa.Column("resource_id", sa.String(length=130), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        _organization_fk("org_tags"),
        sa.PrimaryKeyConstraint("resource_id", "key", name=op.f("pk_org_tags")),
    )
    op.create_index("ix_org_tags_organization", "org_tags", ["organization_id"], unique=False)


def downgrade() -> None:
    for table in (
        "org_tags",
        "org_delegated_admins",
        "org_service_access",
        "org_policy_types",
        "org_policy_attachments",
        "org_policies",
        "org_create_account_requests",
        "org_handshakes",
        "org_accounts",
        "org_units",
        "org_roots",
        "organizations",
    ):
        op.drop_table(table)
