"""purge: indexes for expiry lookups and nonce checks, the maintenance lease table

``idp purge`` deletes expired rows by their expiry columns; ``exists_nonce`` looks up
(client_id, nonce) on every OpenID authentication request; the anonymous-session cap
counts records per address. The composite nonce index replaces the one on client_id.

Revision ID: 0004_ops
Revises: 0003_allow
Create Date: 2026-12-04 07:30:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0004_ops"
down_revision = "0003_allow"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "maintenance_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_maintenance_leases")),
    )
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_authorization_codes_client_id")
        batch_op.create_index(
            "ix_authorization_codes_client_id_nonce", ["client_id", "nonce"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_authorization_codes_expires_at"), ["expires_at"], unique=False
        )
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_sessions_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_login_sessions_last_seen_at"), ["last_seen_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_login_sessions_ip"), ["ip"], unique=False)
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tokens_access_expires_at"), ["access_expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tokens_refresh_expires_at"), ["refresh_expires_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_refresh_expires_at"))
        batch_op.drop_index(batch_op.f("ix_tokens_access_expires_at"))
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_sessions_ip"))
        batch_op.drop_index(batch_op.f("ix_login_sessions_last_seen_at"))
        batch_op.drop_index(batch_op.f("ix_login_sessions_expires_at"))
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authorization_codes_expires_at"))
        batch_op.drop_index("ix_authorization_codes_client_id_nonce")
        batch_op.create_index("ix_authorization_codes_client_id", ["client_id"], unique=False)
    op.drop_table("maintenance_leases")
