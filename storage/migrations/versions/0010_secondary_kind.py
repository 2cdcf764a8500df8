"""The classifier's secondary kind on a case: a second request in the first
message (a complaint that also asks for a document), or the kind it could
not rule out (a consultation that may be a disclosure request), shown to
staff (issue 18)

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch: on SQLite a batch may copy the table,
    # which drops the full-text index's triggers on cases (migration 0003).
    op.add_column("cases", sa.Column("secondary_kind", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("cases", "secondary_kind")  # SQLite 3.35+: a plain DROP COLUMN
