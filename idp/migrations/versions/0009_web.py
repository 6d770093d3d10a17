"""clients: back-channel logout URIs on private addresses only when the file allows it

``backchannel_logout_allow_private`` from the client file: without it, a back-channel
logout URI on a loopback, private or link-local address is refused at registration and
at delivery (idp/services/destinations.py).

Revision ID: 0004_web
Revises: 0004_speed
Create Date: 2026-12-04 07:40:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0004_web"
down_revision = "0004_speed"
branch_labels = None
depends_on = None


def upgrade():
    # NOT NULL with a server default: existing clients get false, no table copy needed.
    op.add_column(
        "clients",
        sa.Column(
            "backchannel_logout_allow_private",
            sa.Boolean(),
            nullable=False,
            server_default=sa.false(),
        ),
    )


def downgrade():
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("backchannel_logout_allow_private")
