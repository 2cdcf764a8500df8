"""Citizens' own pages: the 查询码 (stored as a keyed hash) and per-address
counts for the public pages' limits

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC = storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("tracking_code_hash", sa.String(64), nullable=True))
    op.create_table(
        "request_counts",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("window_start", UTC, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_request_counts")),
    )


def downgrade() -> None:
    op.drop_table("request_counts")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("tracking_code_hash")
