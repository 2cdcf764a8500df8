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
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("publish_consent", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("publish_withheld", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("published_title", sa.String(300), nullable=True))
        batch.add_column(sa.Column("published_letter", sa.Text(), nullable=True))
        batch.add_column(sa.Column("published_answer", sa.Text(), nullable=True))
    # /letters: the consenting writers' answered letters, newest answer first.
    op.create_index("ix_cases_published", "cases", ["publish_consent", "answered_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_published", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        for name in ("published_answer", "published_letter", "published_title", "publish_withheld",
                     "publish_consent"):
            batch.drop_column(name)
