"""answers (issue tables; reserved slot in the chain, filled by that feature)

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa
import storage.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
