"""An index on the cases that have a secondary kind, by time: the disclosure
officer's list of unregistered second requests (issue 18) reads them
without scanning every case

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ONLY = "secondary_kind IS NOT NULL"


def upgrade() -> None:
    op.create_index("ix_cases_secondary", "cases", ["secondary_kind", "received_at"],
                    sqlite_where=sa.text(_ONLY), postgresql_where=sa.text(_ONLY))


def downgrade() -> None:
    op.drop_index("ix_cases_secondary", table_name="cases")
