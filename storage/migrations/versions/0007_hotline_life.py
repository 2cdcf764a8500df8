"""12345 work-order life: 签收, pending 退回 requests, 撤单, and the
platform's events applied once each

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("accepted_at", UTC, nullable=True))
        batch.add_column(sa.Column("return_requested_at", UTC, nullable=True))
        batch.add_column(sa.Column("cancelled_at", UTC, nullable=True))
    # Orders received before this were taken as they came: signed for on receipt.
    op.execute("UPDATE cases SET accepted_at = received_at WHERE channel = 'hotline' AND external_id IS NOT NULL")
    op.create_index("ix_cases_unaccepted", "cases", ["received_at"],
                    sqlite_where=sa.text("channel = 'hotline' AND accepted_at IS NULL AND external_id IS NOT NULL"),
                    postgresql_where=sa.text("channel = 'hotline' AND accepted_at IS NULL AND external_id IS NOT NULL"))
    op.create_table(
        "hotline_events",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("applied_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_hotline_events_case_id_cases")),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_hotline_events")),
    )


def downgrade() -> None:
    op.drop_table("hotline_events")
    op.drop_index("ix_cases_unaccepted", "cases")
    with op.batch_alter_table("cases") as batch:
        for column in ("cancelled_at", "return_requested_at", "accepted_at"):
            batch.drop_column(column)
