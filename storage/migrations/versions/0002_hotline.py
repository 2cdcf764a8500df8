"""hotline: index the outbox by case (a case's deliveries, checked when a
12345 case is closed and listed for staff)

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_case", "outbox", ["case_id", "target"])


def downgrade() -> None:
    op.drop_index("ix_outbox_case", table_name="outbox")
