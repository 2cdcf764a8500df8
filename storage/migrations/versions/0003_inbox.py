"""inbox: search tokens (FTS5 / GIN), deadline pause, staff sessions, login
throttling, case notes, canned replies

Revision ID: 0003
Revises: 0002
"""
from alembic import context, op
import sqlalchemy as sa
import storage.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN_CASES_SQL = "status IN ('assigned', 'in_progress', 'new', 'waiting') AND merged_into_id IS NULL"

CANNED = [
    ("已收到·核实中", "您好，您反映的问题我们已收到，正在核实处理，处理结果将及时答复您。"),
    ("人防车位产权", "您好，关于人防车位：人防工程平时由投资者使用管理，收益归投资者所有，"
                 "但不得出售人防车位的产权。具体问题可致电我办咨询。"),
    ("请补充材料", "您好，为便于办理，请补充以下信息：具体地址（小区名称、楼栋）、联系电话及相关照片或材料。"),
    ("已办结", "您好，您反映的问题已办理完毕。感谢您对人防工作的关心和支持！"),
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("search_tokens", sa.Text(), nullable=True))
        batch.add_column(sa.Column("waiting_since", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("paused_days", sa.Integer(), server_default="0", nullable=False))
    # Open cases (a few % of all) in one covering partial index: every open
    # view and its counter reads only this (see bot/inbox.open_cases).
    op.create_index("ix_cases_open", "cases", ["id", "status", "deadline_at", "assignee_id", "merged_into_id"],
                    sqlite_where=sa.text(OPEN_CASES_SQL), postgresql_where=sa.text(OPEN_CASES_SQL))
    op.create_index("ix_cases_kind_id", "cases", ["kind", "id"])
    op.create_index("ix_cases_topic_id", "cases", ["topic", "id"])
    # The dashboard's volumes by day, channel and kind, from the index alone.
    op.create_index("ix_cases_year_day", "cases", ["received_year", "received_date", "channel", "kind", "merged_into_id"])

    # Tokens first, then the index over them: an external-content FTS5 table
    # must be built from the rows ('rebuild') before its triggers run.
    _backfill_search_tokens()
    if dialect == "sqlite":
        # External-content FTS5 index over cases.search_tokens, kept in step by
        # triggers. The tokens are already cut by jieba and normalised the way
        # unicode61 would (bot/search.py), so the tokenizer only splits on spaces.
        op.execute("CREATE VIRTUAL TABLE cases_fts USING fts5(search_tokens, content='cases', "
                   "content_rowid='id', tokenize='unicode61 remove_diacritics 0')")
        op.execute("INSERT INTO cases_fts(cases_fts) VALUES ('rebuild')")
        op.execute("CREATE TRIGGER cases_fts_ai AFTER INSERT ON cases BEGIN "
                   "INSERT INTO cases_fts(rowid, search_tokens) VALUES (new.id, new.search_tokens); END")
        op.execute("CREATE TRIGGER cases_fts_ad AFTER DELETE ON cases BEGIN "
                   "INSERT INTO cases_fts(cases_fts, rowid, search_tokens) VALUES ('delete', old.id, old.search_tokens); END")
        op.execute("CREATE TRIGGER cases_fts_au AFTER UPDATE OF search_tokens ON cases BEGIN "
                   "INSERT INTO cases_fts(cases_fts, rowid, search_tokens) VALUES ('delete', old.id, old.search_tokens); "
                   "INSERT INTO cases_fts(rowid, search_tokens) VALUES (new.id, new.search_tokens); END")
    else:
        op.execute("CREATE INDEX ix_cases_search_tokens ON cases USING gin (string_to_array(search_tokens, ' '))")

    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_staff_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
    )
    op.create_index("ix_staff_sessions_user", "staff_sessions", ["user_id"])
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "case_notes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("author_id", BigId, nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_notes_case_id_cases")),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_case_notes_author_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notes")),
    )
    op.create_index("ix_case_notes_case", "case_notes", ["case_id", "id"])
    canned = op.create_table(
        "canned_replies",
        sa.Column("id", BigId, nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=True),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_replies")),
    )
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    op.bulk_insert(canned, [{"title": t, "text": x, "active": True, "updated_by": "system", "updated_at": now}
                            for t, x in CANNED])


def _backfill_search_tokens() -> None:
    """Cases recorded before this migration get their tokens now, made by
    the tokeniser the caller hands over (storage.migrate.upgrade)."""
    document_tokens = context.config.attributes.get("document_tokens")
    conn = op.get_bind()
    if document_tokens is None:
        if conn.execute(sa.text("SELECT 1 FROM cases LIMIT 1")).first() is not None:
            raise RuntimeError("cases need search tokens: run this migration through `intake db upgrade`")
        return
    last = 0
    while True:
        rows = conn.execute(sa.text("SELECT id, title, text FROM cases WHERE id > :last ORDER BY id LIMIT 1000"),
                            {"last": last}).all()
        if not rows:
            return
        conn.execute(sa.text("UPDATE cases SET search_tokens = :tokens WHERE id = :id"),
                     [{"id": r[0], "tokens": document_tokens(r[1], r[2])} for r in rows])
        last = rows[-1][0]


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_table("canned_replies")
    op.drop_index("ix_case_notes_case", "case_notes")
    op.drop_table("case_notes")
    op.drop_table("login_throttle")
    op.drop_index("ix_staff_sessions_user", "staff_sessions")
    op.drop_table("staff_sessions")
    if dialect == "sqlite":
        for name in ("cases_fts_ai", "cases_fts_ad", "cases_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS cases_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_cases_search_tokens")
    op.drop_index("ix_cases_year_day", "cases")
    op.drop_index("ix_cases_topic_id", "cases")
    op.drop_index("ix_cases_kind_id", "cases")
    op.drop_index("ix_cases_open", "cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("paused_days")
        batch.drop_column("waiting_since")
        batch.drop_column("search_tokens")
