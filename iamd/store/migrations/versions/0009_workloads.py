"""workloads and IAM Roles Anywhere: workload CAs, registrations, tokens, certificates; anchors, profiles, CRLs

Workloads bind a machine or container to an instance profile or role (issue 12); the Roles Anywhere
tables hold trust anchors, profiles, CRLs, subjects and tags.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rolesanywhere_profiles",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("role_arns", sa.Text(), nullable=False),
        sa.Column("managed_policy_arns", sa.Text(), nullable=False),
        sa.Column("session_policy", sa.Text(), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("require_instance_properties", sa.Boolean(), nullable=False),
        sa.Column("accept_role_session_name", sa.Boolean(), nullable=False),
        sa.Column("attribute_mappings", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=2048), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_rolesanywhere_profiles_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rolesanywhere_profiles")),
    )
    op.create_index("ix_rolesanywhere_profiles_account", "rolesanywhere_profiles", ["account_id"], unique=False)
    op.create_table(
        "rolesanywhere_subjects",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("x509_subject", sa.String(length=1024), nullable=False),
        sa.Column("certificates", sa.Text(), nullable=False),
        sa.Column("instance_properties", sa.Text(), nullable=True),
        sa.Column("credentials", sa.Text(), nullable=True),
        sa.Column("last_seen_at", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_rolesanywhere_subjects_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rolesanywhere_subjects")),
        sa.UniqueConstraint("account_id", "region", "x509_subject", name="uq_rolesanywhere_subjects_account_subject"),
    )
    op.create_table(
        "rolesanywhere_tags",
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_rolesanywhere_tags_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("resource_id", "key", name=op.f("pk_rolesanywhere_tags")),
    )
    op.create_table(
        "rolesanywhere_trust_anchors",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("source_type", sa.String(length=32), nullable=False),
        sa.Column("source_data", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("notification_settings", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_rolesanywhere_trust_anchors_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rolesanywhere_trust_anchors")),
    )
    op.create_index(
        "ix_rolesanywhere_trust_anchors_account", "rolesanywhere_trust_anchors", ["account_id"], unique=False
    )
    op.create_table(
        "workload_cas",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("private_key_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("retired_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_workload_cas_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workload_cas")),
    )
    op.create_index("ix_workload_cas_account", "workload_cas", ["account_id", "created_at"], unique=False)
    op.create_table(
        "workloads",
        sa.Column("id", sa.String(length=19), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=32), nullable=False),
        sa.Column("target_arn", sa.String(length=2048), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("enrolled_at", sa.Double(), nullable=True),
        sa.Column("deregistered_at", sa.Double(), nullable=True),
        sa.Column("last_credentials_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_workloads_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workloads")),
    )
    op.create_index("ix_workloads_account", "workloads", ["account_id", "created_at"], unique=False)
    op.create_table(
        "rolesanywhere_crls",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("trust_anchor_id", sa.String(length=36), nullable=False),
        sa.Column("crl_der", sa.LargeBinary(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_rolesanywhere_crls_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["trust_anchor_id"],
            ["rolesanywhere_trust_anchors.id"],
            name=op.f("fk_rolesanywhere_crls_trust_anchor_id_rolesanywhere_trust_anchors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rolesanywhere_crls")),
    )
    op.create_index("ix_rolesanywhere_crls_trust_anchor", "rolesanywhere_crls", ["trust_anchor_id"], unique=False)
    op.create_table(
        "workload_bootstrap_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("workload_id", sa.String(length=19), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("used_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workload_id"],
            ["workloads.id"],
            name=op.f("fk_workload_bootstrap_tokens_workload_id_workloads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_workload_bootstrap_tokens")),
    )
    op.create_index("ix_workload_bootstrap_tokens_workload", "workload_bootstrap_tokens", ["workload_id"], unique=False)
    op.create_table(
        "workload_certificates",
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("workload_id", sa.String(length=19), nullable=False),
        sa.Column("ca_id", sa.String(length=32), nullable=False),
        sa.Column("issued_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ca_id"], ["workload_cas.id"], name=op.f("fk_workload_certificates_ca_id_workload_cas"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workload_id"],
            ["workloads.id"],
            name=op.f("fk_workload_certificates_workload_id_workloads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_workload_certificates")),
    )
    op.create_index("ix_workload_certificates_workload", "workload_certificates", ["workload_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_workload_certificates_workload", table_name="workload_certificates")
    op.drop_table("workload_certificates")
    op.drop_index("ix_workload_bootstrap_tokens_workload", table_name="workload_bootstrap_tokens")
    op.drop_table("workload_bootstrap_tokens")
    op.drop_index("ix_rolesanywhere_crls_trust_anchor", table_name="rolesanywhere_crls")
    op.drop_table("rolesanywhere_crls")
    op.drop_index("ix_workloads_account", table_name="workloads")
    op.drop_table("workloads")
    op.drop_index("ix_workload_cas_account", table_name="workload_cas")
    op.drop_table("workload_cas")
    op.drop_index("ix_rolesanywhere_trust_anchors_account", table_name="rolesanywhere_trust_anchors")
    op.drop_table("rolesanywhere_trust_anchors")
    op.drop_table("rolesanywhere_tags")
    op.drop_table("rolesanywhere_subjects")
    op.drop_index("ix_rolesanywhere_profiles_account", table_name="rolesanywhere_profiles")
    op.drop_table("rolesanywhere_profiles")
