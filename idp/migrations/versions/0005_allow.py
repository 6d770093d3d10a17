"""clients: the credential-check API's per-client allowance

``checks_per_minute`` and ``failures_per_day`` from the client file: when set, the
client's credential checks count against the client instead of its server's address
(docs/security.md §1, "Allowances for registered callers"). NULL: the per-address limits.

Revision ID: 0003_allow
Revises: 0003_timing
Create Date: 2026-12-01 07:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003_allow"
down_revision = "0003_timing"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (nullable): no table copy on SQLite, instant on PostgreSQL.
    op.add_column("clients", sa.Column("checks_per_minute", sa.Integer(), nullable=True))
    op.add_column("clients", sa.Column("failures_per_day", sa.Integer(), nullable=True))


def downgrade():
    op.drop_column("clients", "failures_per_day")
    op.drop_column("clients", "checks_per_minute")
