"""answers: knowledge base, keyword rules, auto-answer log, staff feedback

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

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "kb_entries",
        sa.Column("id", BigId, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("title", sa.String(100), nullable=True),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("needs_person", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_entries")),
        sa.UniqueConstraint("key", name=op.f("uq_kb_entries_key")),
    )
    op.create_table(
        "kb_rules",
        sa.Column("id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("match", sa.String(16), nullable=False),
        sa.Column("pattern", sa.String(200), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_rules")),
    )
    op.create_table(
        "kb_answers",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=True),
        sa.Column("entry_id", BigId, nullable=True),
        sa.Column("entry_key", sa.String(64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("needs_person", sa.Boolean(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("reviewed", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_kb_answers_case_id_cases")),
        sa.ForeignKeyConstraint(["entry_id"], ["kb_entries.id"], name=op.f("fk_kb_answers_entry_id_kb_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_answers")),
    )
    op.create_index("ix_kb_answers_case", "kb_answers", ["case_id"])
    op.create_index("ix_kb_answers_entry", "kb_answers", ["entry_id", "id"])
    op.create_table(
        "kb_feedback",
        sa.Column("id", BigId, nullable=False),
        sa.Column("answer_id", BigId, nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("matched_entry_id", BigId, nullable=True),
        sa.Column("correct_entry_id", BigId, nullable=True),
        sa.Column("user_id", BigId, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["answer_id"], ["kb_answers.id"], name=op.f("fk_kb_feedback_answer_id_kb_answers")),
        sa.ForeignKeyConstraint(["matched_entry_id"], ["kb_entries.id"],
                                name=op.f("fk_kb_feedback_matched_entry_id_kb_entries")),
        sa.ForeignKeyConstraint(["correct_entry_id"], ["kb_entries.id"],
                                name=op.f("fk_kb_feedback_correct_entry_id_kb_entries")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_kb_feedback_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_feedback")),
    )


def downgrade() -> None:
    op.drop_table("kb_feedback")
    op.drop_index("ix_kb_answers_entry", table_name="kb_answers")
    op.drop_index("ix_kb_answers_case", table_name="kb_answers")
    op.drop_table("kb_answers")
    op.drop_table("kb_rules")
    op.drop_table("kb_entries")
