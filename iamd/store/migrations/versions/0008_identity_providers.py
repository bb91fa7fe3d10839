"""IAM identity providers (OIDC, SAML with private keys) and the SAML assertion replay table

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TIME: sa.Double[float] = sa.Double()


def upgrade() -> None:
    op.create_table(
        "oidc_providers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("url", sa.String(length=255), nullable=False),
        sa.Column("client_ids", sa.Text(), nullable=False),
        sa.Column("thumbprints", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_oidc_providers_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_providers")),
        sa.UniqueConstraint("account_id", "url", name="uq_oidc_providers_account_url"),
    )
    op.create_table(
        "saml_providers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("name_key", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("uuid", sa.String(length=64), nullable=False),
        sa.Column("metadata_document", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.String(length=1024), nullable=False),
        sa.Column("valid_until", _TIME, nullable=True),
        sa.Column("encryption_mode", sa.String(length=16), nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_saml_providers_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saml_providers")),
        sa.UniqueConstraint("account_id", "name_key", name="uq_saml_providers_account_name"),
        sa.UniqueConstraint("uuid", name=op.f("uq_saml_providers_uuid")),
    )
    op.create_table(
        "saml_private_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=32), nullable=False),
        sa.Column("private_key_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["saml_providers.id"],
            name=op.f("fk_saml_private_keys_provider_id_saml_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_saml_private_keys")),
    )
    op.create_index("ix_saml_private_keys_provider", "saml_private_keys", ["provider_id"], unique=False)
    op.create_table(
        "federation_replay",
        sa.Column("provider_arn", sa.String(length=2048), nullable=False),
        sa.Column("assertion_id", sa.String(length=256), nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("provider_arn", "assertion_id", name=op.f("pk_federation_replay")),
    )
    op.create_index("ix_federation_replay_expires", "federation_replay", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_federation_replay_expires", table_name="federation_replay")
    op.drop_table("federation_replay")
    op.drop_index("ix_saml_private_keys_provider", table_name="saml_private_keys")
    op.drop_table("saml_private_keys")
    op.drop_table("saml_providers")
    op.drop_table("oidc_providers")
