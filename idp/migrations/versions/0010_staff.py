"""staff: the web console's accounts, passkeys, recovery codes and sessions; audit actor

Staff accounts live in their own tables, never in ``patrons``; ``audit_events.actor``
names the staff member or operator behind an event (``idp audit --staff``).

Revision ID: 0004_staff
Revises: 0004_web
Create Date: 2026-12-04 07:30:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0004_staff"
down_revision = "0004_web"
branch_labels = None
depends_on = None


def upgrade():
    # One long function on purpose: a migration is a frozen, linear script of the schema
    # at one point in history (Alembic's generated shape); splitting it would only hide
    # the order of the DDL statements.
    op.create_table(
        "staff_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("branch", sa.String(length=100), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("totp_secret", sa.String(length=255), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("enrolment_hash", sa.String(length=64), nullable=True),
        sa.Column("enrolment_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_members")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_members_username")),
        sa.UniqueConstraint("enrolment_hash", name=op.f("uq_staff_members_enrolment_hash")),
    )
    op.create_table(
        "staff_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("transports", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_credentials_staff_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_credentials")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_staff_credentials_credential_id")),
    )
    with op.batch_alter_table("staff_credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_credentials_staff_id"), ["staff_id"], unique=False
        )
    op.create_table(
        "staff_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_recovery_codes_staff_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_recovery_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_staff_recovery_codes_code_hash")),
    )
    with op.batch_alter_table("staff_recovery_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_recovery_codes_staff_id"), ["staff_id"], unique=False
        )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_sessions_staff_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("id_hash", name=op.f("uq_staff_sessions_id_hash")),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_sessions_staff_id"), ["staff_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_staff_sessions_expires_at"), ["expires_at"], unique=False
        )
    # Plain ADD COLUMN (nullable) and an index: no table copy on SQLite.
    op.add_column("audit_events", sa.Column("actor", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_audit_events_actor"), "audit_events", ["actor"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_audit_events_actor"), table_name="audit_events")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("actor")
    op.drop_table("staff_sessions")
    op.drop_table("staff_recovery_codes")
    op.drop_table("staff_credentials")
    op.drop_table("staff_members")
