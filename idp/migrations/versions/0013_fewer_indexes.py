"""tokens: one purge index instead of two, none on parent_id; audit_events: the actor
index leaves out the rows without one

Every issue of a token writes one entry into each index of ``tokens`` and of
``audit_events``; on SQLite each is a page of the write-ahead log written while the
database's write lock is held. ``tokens.kept_until`` (the later of the two expiries) is
what ``idp purge`` compares, with one index instead of one per expiry. ``parent_id`` is
only looked up within a family, which ``family_id``'s index finds. ``actor`` is set on
staff and operator events only: a partial index skips every patron's and client's own
event.

Revision ID: 0006_indexes
Revises: 0005_device
Create Date: 2026-12-05 05:15:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006_indexes"
down_revision = "0005_device"
branch_labels = None
depends_on = None

_ACTOR_SET = sa.text("actor IS NOT NULL")


def upgrade():
    op.drop_index("ix_tokens_access_expires_at", table_name="tokens")
    op.drop_index("ix_tokens_refresh_expires_at", table_name="tokens")
    op.drop_index("ix_tokens_parent_id", table_name="tokens")
    op.add_column("tokens", sa.Column("kept_until", sa.DateTime(timezone=True), nullable=True))
    # A NULL refresh expiry compares as unknown: the access token's expiry is kept.
    op.execute(
        "UPDATE tokens SET kept_until = CASE WHEN refresh_expires_at > access_expires_at "
        "THEN refresh_expires_at ELSE access_expires_at END"
    )
    with op.batch_alter_table("tokens") as batch_op:
        batch_op.alter_column(
            "kept_until", existing_type=sa.DateTime(timezone=True), nullable=False
        )
    op.create_index("ix_tokens_kept_until", "tokens", ["kept_until"])
    op.drop_index("ix_audit_events_actor", table_name="audit_events")
    op.create_index(
        "ix_audit_events_actor",
        "audit_events",
        ["actor"],
        sqlite_where=_ACTOR_SET,
        postgresql_where=_ACTOR_SET,
    )


def downgrade():
    op.drop_index("ix_audit_events_actor", table_name="audit_events")
    op.create_index("ix_audit_events_actor", "audit_events", ["actor"])
    op.drop_index("ix_tokens_kept_until", table_name="tokens")
    with op.batch_alter_table("tokens") as batch_op:
        batch_op.drop_column("kept_until")
    op.create_index("ix_tokens_parent_id", "tokens", ["parent_id"])
    op.create_index("ix_tokens_refresh_expires_at", "tokens", ["refresh_expires_at"])
    op.create_index("ix_tokens_access_expires_at", "tokens", ["access_expires_at"])
