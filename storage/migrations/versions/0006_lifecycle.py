"""lifecycle: extensions, returns, ratings and re-handling, urging; the
answer's office-local day; merged cases get their own status; canned
replies say which kind of reply they are

Revision ID: 0006
Revises: 0005
"""
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import context, op

import storage.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = storage.types.UTCDateTime(timezone=True)
# What the seeded canned replies are (0003): the rest are answers.
CANNED_TYPES = {"已收到·核实中": "interim", "请补充材料": "request_info"}


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("answered_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("extended_days", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("reopened", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rating_requested_at", UTC, nullable=True))
        batch.add_column(sa.Column("urged", sa.String(8), nullable=True))
        batch.add_column(sa.Column("urged_at", UTC, nullable=True))
        batch.add_column(sa.Column("returned_at", UTC, nullable=True))
        batch.add_column(sa.Column("return_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("return_basis", sa.Text(), nullable=True))
        batch.add_column(sa.Column("follow_up_at", UTC, nullable=True))
        batch.add_column(sa.Column("answer_working_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("ratings_given", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("ratings_satisfied", sa.Integer(), server_default="0", nullable=False))
    op.create_index("ix_cases_urged", "cases", ["deadline_at"], sqlite_where=sa.text("urged IS NOT NULL"),
                    postgresql_where=sa.text("urged IS NOT NULL"))
    op.create_index("ix_cases_follow_up", "cases", ["follow_up_at"], sqlite_where=sa.text("follow_up_at IS NOT NULL"),
                    postgresql_where=sa.text("follow_up_at IS NOT NULL"))
    _backfill_answers()
    op.execute("UPDATE cases SET status = 'merged' WHERE merged_into_id IS NOT NULL")

    op.create_table(
        "case_extensions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("approved_by", sa.String(100), nullable=True),
        sa.Column("requested_at", UTC, nullable=False),
        sa.Column("decided_at", UTC, nullable=True),
        sa.Column("old_deadline", UTC, nullable=True),
        sa.Column("new_deadline", UTC, nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_extensions_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_extensions")),
    )
    op.create_index("ix_case_extensions_case", "case_extensions", ["case_id", "id"])
    op.create_table(
        "case_ratings",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_ratings_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_ratings")),
    )
    op.create_index("ix_case_ratings_case", "case_ratings", ["case_id", "id"])
    op.create_table(
        "case_urges",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_urges_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_urges")),
    )
    op.create_index("ix_case_urges_case", "case_urges", ["case_id", "id"])
    with op.batch_alter_table("canned_replies") as batch:
        batch.add_column(sa.Column("reply_type", sa.String(16), server_default="final", nullable=False))
    for title, kind in CANNED_TYPES.items():
        op.execute(sa.text("UPDATE canned_replies SET reply_type = :k WHERE title = :t").bindparams(k=kind, t=title))


def _moment(value) -> datetime:
    if isinstance(value, str):  # SQLite hands back the stored text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _backfill_answers() -> None:
    """Each answer's office-local day and the working days it took. The
    assembly hands over ``answer_figures(overrides, entered years)``, which
    makes the function that counts them with the office's calendar (the
    holidays it entered are read here); run on its own, the day is dated in
    Asia/Shanghai and the working days are left to count as unknown."""
    conn = op.get_bind()
    factory = context.config.attributes.get("answer_figures")
    if factory is not None:
        overrides = {(date.fromisoformat(d) if isinstance(d, str) else d): bool(w)
                     for d, w in conn.execute(sa.text("SELECT day, is_workday FROM calendar_days"))}
        years = {y for (y,) in conn.execute(sa.text("SELECT year FROM calendar_years"))}
        figures = factory(overrides, years)
    else:
        tz = ZoneInfo("Asia/Shanghai")

        def figures(received_at, answered_at):
            return answered_at.astimezone(tz).date(), None
    last = 0
    while True:
        rows = conn.execute(sa.text("SELECT id, received_at, answered_at FROM cases WHERE id > :last"
                                    " AND answered_at IS NOT NULL ORDER BY id LIMIT 1000"), {"last": last}).all()
        if not rows:
            return
        updates = []
        for case_id, received_at, answered_at in rows:
            day, days = figures(_moment(received_at), _moment(answered_at))
            updates.append({"id": case_id, "d": day, "n": days})
        conn.execute(sa.text("UPDATE cases SET answered_date = :d, answer_working_days = :n WHERE id = :id"), updates)
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("canned_replies") as batch:
        batch.drop_column("reply_type")
    for table in ("case_urges", "case_ratings", "case_extensions"):
        op.drop_index(f"ix_{table}_case", table)
        op.drop_table(table)
    op.execute("UPDATE cases SET status = 'closed' WHERE status = 'merged'")
    op.drop_index("ix_cases_follow_up", "cases")
    op.drop_index("ix_cases_urged", "cases")
    with op.batch_alter_table("cases") as batch:
        for column in ("ratings_satisfied", "ratings_given", "answer_working_days", "follow_up_at", "return_basis", "return_reason", "returned_at", "urged_at", "urged", "rating_requested_at",
                       "rating", "reopened", "extended_days", "answered_date"):
            batch.drop_column(column)
