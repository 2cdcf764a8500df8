"""The web letter box (网上信箱): the writer's consent to publish the answer,
and what staff made of the published text (edited, or withheld)

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch: on SQLite a batch may copy the table,
    # which drops the full-text index's triggers on cases (migration 0003).
    op.add_column("cases", sa.Column("publish_consent", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("cases", sa.Column("publish_withheld", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("cases", sa.Column("published_title", sa.String(300), nullable=True))
    op.add_column("cases", sa.Column("published_letter", sa.Text(), nullable=True))
    op.add_column("cases", sa.Column("published_answer", sa.Text(), nullable=True))
    # /letters: the consenting writers' answered letters, newest answer first.
    op.create_index("ix_cases_published", "cases", ["publish_consent", "answered_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_published", table_name="cases")
    for name in ("published_answer", "published_letter", "published_title", "publish_withheld", "publish_consent"):
        op.drop_column("cases", name)  # SQLite 3.35+: a plain DROP COLUMN
