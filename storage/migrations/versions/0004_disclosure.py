"""disclosure: disclosure requests, reviews (table 四), WeChat dialog state

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import storage.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_index("ix_cases_report", "cases",
                    ["received_year", "channel", "kind", "merged_into_id", "status", "answered_at", "deadline_at"])
    op.create_table(
        "disclosure_requests",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("case_id", BIG_ID, nullable=False),
        sa.Column("applicant_type", sa.String(length=32), nullable=False),
        sa.Column("applicant_name", sa.String(length=200), nullable=True),
        sa.Column("id_proof_protected", sa.Text(), nullable=True),
        sa.Column("contact_protected", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("delivery_form", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("receipt_date", sa.Date(), nullable=False),
        sa.Column("receipt_basis", sa.String(length=32), nullable=False),
        sa.Column("receipt_year", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("correction_notice_due", sa.Date(), nullable=False),
        sa.Column("correction_sent_on", sa.Date(), nullable=True),
        sa.Column("correction_reply_due", sa.Date(), nullable=True),
        sa.Column("correction_text", sa.Text(), nullable=True),
        sa.Column("corrected_on", sa.Date(), nullable=True),
        sa.Column("third_party_sent_on", sa.Date(), nullable=True),
        sa.Column("third_party_answered_on", sa.Date(), nullable=True),
        sa.Column("extension_days", sa.Integer(), nullable=False),
        sa.Column("extension_approved_by", sa.String(length=100), nullable=True),
        sa.Column("extension_notice_on", sa.Date(), nullable=True),
        sa.Column("answer_due", sa.Date(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decided_year", sa.Integer(), nullable=True),
        sa.Column("archived_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_disclosure_requests_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_requests")),
        sa.UniqueConstraint("case_id", name=op.f("uq_disclosure_requests_case_id")),
    )
    op.create_index("ix_disclosure_receipt_year", "disclosure_requests", ["receipt_year", "applicant_type"])
    op.create_index("ix_disclosure_decided_year", "disclosure_requests", ["decided_year", "outcome", "applicant_type"])
    op.create_table(
        "disclosure_reviews",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("case_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("filed_year", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("concluded_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_disclosure_reviews_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_reviews")),
    )
    op.create_index("ix_disclosure_reviews_year", "disclosure_reviews", ["filed_year", "kind", "result"])
    op.create_table(
        "disclosure_dialogs",
        sa.Column("openid", sa.String(length=128), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("last_key", sa.String(length=200), nullable=True),
        sa.Column("last_reply", sa.Text(), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("openid", name=op.f("pk_disclosure_dialogs")),
    )


def downgrade() -> None:
    op.drop_table("disclosure_dialogs")
    op.drop_index("ix_disclosure_reviews_year", table_name="disclosure_reviews")
    op.drop_table("disclosure_reviews")
    op.drop_index("ix_disclosure_decided_year", table_name="disclosure_requests")
    op.drop_index("ix_disclosure_receipt_year", table_name="disclosure_requests")
    op.drop_table("disclosure_requests")
    op.drop_index("ix_cases_report", table_name="cases")
