"""throttle_counters: settled failures and reservation times; e-mail confirmation times

``settled``, ``reserved_at``, ``previous_reserved_at``: the limiter reserves a slot
(``count``) before a password is checked and settles the failures afterwards, so that
parallel attempts are decided on one atomic step's values (docs/security.md §1). ``email_verified_at``/``email2_verified_at``: when an
address was confirmed; a re-issue link goes only to an address confirmed long enough
ago (``IDP_REISSUE_EMAIL_MIN_AGE``). NULL: confirmed before this revision.

Revision ID: 0004_signin
Revises: 0004_ops
Create Date: 2026-12-04 07:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004_signin"
down_revision = "0004_ops"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "throttle_counters",
        sa.Column("settled", sa.Integer(), nullable=False, server_default="0"),
    )
    for column in ("reserved_at", "previous_reserved_at"):
        op.add_column(
            "throttle_counters", sa.Column(column, sa.DateTime(timezone=True), nullable=True)
        )
    op.add_column(
        "patrons", sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "patrons", sa.Column("email2_verified_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade():
    op.drop_column("patrons", "email2_verified_at")
    op.drop_column("patrons", "email_verified_at")
    op.drop_column("throttle_counters", "previous_reserved_at")
    op.drop_column("throttle_counters", "reserved_at")
    op.drop_column("throttle_counters", "settled")
