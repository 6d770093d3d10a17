"""saml_service_providers, saml_request_ids: the SAML 2.0 IdP's registrations and replay memory

Revision ID: 0005_saml
Revises: 0004_staff
Create Date: 2026-12-04 08:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005_saml"
down_revision = "0004_staff"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "saml_service_providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("metadata_xml", sa.Text(), nullable=False),
        sa.Column("temporary_password_policy", sa.String(length=16), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("is_idp_initiated_allowed", sa.Boolean(), nullable=False),
        sa.Column("is_unsigned_request_allowed", sa.Boolean(), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saml_service_providers")),
    )
    with op.batch_alter_table("saml_service_providers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_saml_service_providers_entity_id"), ["entity_id"], unique=True
        )
    op.create_table(
        "saml_request_ids",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_saml_request_ids")),
    )
    with op.batch_alter_table("saml_request_ids", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_saml_request_ids_expires_at"), ["expires_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("saml_request_ids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saml_request_ids_expires_at"))
    op.drop_table("saml_request_ids")
    with op.batch_alter_table("saml_service_providers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saml_service_providers_entity_id"))
    op.drop_table("saml_service_providers")
