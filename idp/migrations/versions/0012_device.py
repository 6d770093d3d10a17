"""device_authorizations (RFC 8628); patron_passkeys; how a code's login was made

``device_authorizations``: requests of the Device Authorization Grant. ``patron_passkeys``:
patrons' WebAuthn credentials. ``authorization_codes.amr``: the RFC 8176 method of the
sign-in behind a code (NULL: password). ``clients.require_passkey``: the client accepts
only sign-ins with a passkey.

Revision ID: 0005_device
Revises: 0005_saml
Create Date: 2026-12-04 08:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005_device"
down_revision = "0005_saml"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "device_authorizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_code", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("patron_id", sa.Integer(), nullable=True),
        sa.Column("auth_time", sa.Integer(), nullable=True),
        sa.Column("sid", sa.String(length=64), nullable=True),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["patron_id"], ["patrons.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("device_code_hash"),
    )
    op.create_index(
        "ix_device_authorizations_user_code", "device_authorizations", ["user_code"]
    )
    op.create_index(
        "ix_device_authorizations_expires_at", "device_authorizations", ["expires_at"]
    )
    op.create_table(
        "patron_passkeys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patron_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=1024), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("transports", sa.JSON(), nullable=False),
        sa.Column("is_synced", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["patron_id"], ["patrons.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("credential_id"),
    )
    op.create_index("ix_patron_passkeys_patron_id", "patron_passkeys", ["patron_id"])
    op.add_column("authorization_codes", sa.Column("amr", sa.String(length=8), nullable=True))
    op.add_column(
        "clients",
        sa.Column("require_passkey", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade():
    with op.batch_alter_table("clients") as batch_op:
        batch_op.drop_column("require_passkey")
    with op.batch_alter_table("authorization_codes") as batch_op:
        batch_op.drop_column("amr")
    op.drop_index("ix_patron_passkeys_patron_id", table_name="patron_passkeys")
    op.drop_table("patron_passkeys")
    op.drop_index("ix_device_authorizations_expires_at", table_name="device_authorizations")
    op.drop_index("ix_device_authorizations_user_code", table_name="device_authorizations")
    op.drop_table("device_authorizations")
