"""card: replay memory of the rotating library-card codes

Revision ID: 0003_card
Revises: 0002_throttle
Create Date: 2026-12-01 06:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003_card"
down_revision = "0002_throttle"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "used_card_codes",
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_used_card_codes")),
    )
    with op.batch_alter_table("used_card_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_used_card_codes_expires_at"), ["expires_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("used_card_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_used_card_codes_expires_at"))
    op.drop_table("used_card_codes")
