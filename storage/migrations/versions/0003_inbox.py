"""inbox (issue tables; reserved slot in the chain, filled by that feature)

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import storage.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
