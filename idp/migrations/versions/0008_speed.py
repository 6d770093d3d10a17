"""tokens: refresh lineage and the retry grace; clients: registration version

``tokens.parent_id`` names the token a refresh rotated away from, and
``tokens.reused_at`` records the one retry of a rotated refresh token allowed within
``IDP_REFRESH_REUSE_GRACE`` (a response lost on the way back). ``clients.version`` is
raised by every change of a registration (sync, enable, disable): the token paths read
it with the token, so every process notices a change on the very next request.
``clients.id_token_signed_response_alg``: RS256 (default), ES256 or EdDSA per client.

Revision ID: 0004_speed
Revises: 0004_signin
Create Date: 2026-12-04 07:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0004_speed"
down_revision = "0004_signin"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN: no table copy on SQLite, instant on PostgreSQL.
    op.add_column("tokens", sa.Column("parent_id", sa.Integer(), nullable=True))
    op.add_column("tokens", sa.Column("reused_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_tokens_parent_id", "tokens", ["parent_id"])
    op.add_column(
        "clients",
        sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1")),
    )
    op.add_column(
        "clients",
        sa.Column(
            "id_token_signed_response_alg",
            sa.String(length=16),
            nullable=False,
            server_default=sa.text("'RS256'"),
        ),
    )


def downgrade():
    op.drop_column("clients", "id_token_signed_response_alg")
    op.drop_column("clients", "version")
    op.drop_index("ix_tokens_parent_id", table_name="tokens")
    op.drop_column("tokens", "reused_at")
    op.drop_column("tokens", "parent_id")
