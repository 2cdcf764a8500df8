"""Knowledge-base entries: an admin's knowing choice that the answer's 【…】
are meant for citizens (without it, an answer still holding 【…】 blanks is
not used for automatic answers)

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("kb_entries", sa.Column("placeholders_allowed", sa.Boolean(), server_default=sa.false(),
                                          nullable=False))


def downgrade() -> None:
    op.drop_column("kb_entries", "placeholders_allowed")  # SQLite 3.35+: a plain DROP COLUMN
