"""card_failures: the durable failure count of every well-formed card number

Moves ``patrons.failed_login_count`` into the new ``card_failures`` table, keyed by the
card number, so that a wrong password for an unknown card number writes exactly what one
for an issued card writes (docs/security.md, "Unknown and issued cards cost the same").

Revision ID: 0003_timing
Revises: 0003_card
Create Date: 2026-12-01 06:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003_timing"
down_revision = "0003_card"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('card_failures',
    sa.Column('card_number', sa.String(length=32), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('last_failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('card_number', name=op.f('pk_card_failures'))
    )
    op.execute(
        "INSERT INTO card_failures (card_number, count, last_failed_at, locked_at) "
        "SELECT card_number, failed_login_count, COALESCE(locked_at, updated_at), locked_at "
        "FROM patrons WHERE failed_login_count > 0 OR locked_at IS NOT NULL"
    )
    # A plain DROP COLUMN (SQLite 3.35+, PostgreSQL): no table copy, which on SQLite
    # would drop and re-create ``patrons`` under the tables that refer to it.
    op.drop_column('patrons', 'failed_login_count')


def downgrade():
    op.add_column(
        'patrons',
        sa.Column('failed_login_count', sa.Integer(), nullable=False, server_default='0'),
    )
    op.execute(
        "UPDATE patrons SET failed_login_count = COALESCE((SELECT count FROM card_failures "
        "WHERE card_failures.card_number = patrons.card_number), 0)"
    )
    op.drop_table('card_failures')
