"""hotline (issue tables; reserved slot in the chain, filled by that feature)

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import storage.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
