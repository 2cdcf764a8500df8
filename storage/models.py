"""Tables, as SQLAlchemy 2.0 typed declarative models.

Every change to this file comes with an Alembic migration in
storage/migrations/versions.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import UTCDateTime

# Stable constraint names, so migrations work the same on both databases.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The condition of the partial index of open cases, with its statuses as
# literals (a planner can only use a partial index whose condition it can
# prove). They are the domain's open statuses (bot.domain.vocabulary); a test
# holds the two equal. queries.cases.open_cases() spells it the same way.
OPEN_CASE_STATUSES = ("assigned", "in_progress", "new", "waiting")
OPEN_CASES_SQL = f"status IN ({', '.join(repr(s) for s in OPEN_CASE_STATUSES)}) AND merged_into_id IS NULL"

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[str]: JSON}


class Contact(Base):
    """Who wrote: one row per identity on a channel (OpenID, phone, e-mail…)."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("channel", "identity", name="uq_contacts_channel_identity"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    identity: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    applicant_type: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    subscribed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # admin | staff
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """Bearer tokens: only a SHA-256 of the token is kept (tokens are 256-bit
    random, so a slow hash adds nothing but latency)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_cases_channel_external_id"),
        Index("ix_cases_year_channel_kind", "received_year", "channel", "kind"),
        Index("ix_cases_status_deadline", "status", "deadline_at"),
        Index("ix_cases_contact_last", "contact_id", "last_message_at"),
        Index("ix_cases_received", "received_at"),
        # inbox (issue 5): the open cases, a few % of a million, in one small
        # covering index for every open view and its counter (queries.cases
        # repeats this exact condition so SQLite can use it); list filters.
        Index("ix_cases_open", "id", "status", "deadline_at", "assignee_id", "merged_into_id",
              sqlite_where=text(OPEN_CASES_SQL), postgresql_where=text(OPEN_CASES_SQL)),
        Index("ix_cases_kind_id", "kind", "id"),
        Index("ix_cases_topic_id", "topic", "id"),
        Index("ix_cases_year_day", "received_year", "received_date", "channel", "kind", "merged_into_id"),  # dashboard
        Index("ix_cases_published", "publish_consent", "answered_at"),  # /letters (issue 16)
        # the disclosure list's second requests (issue 18): the few cases that have one, by time
        Index("ix_cases_secondary", "secondary_kind", "received_at",
              sqlite_where=text("secondary_kind IS NOT NULL"), postgresql_where=text("secondary_kind IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    matched: Mapped[list[str]] = mapped_column(default=list)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    classified_by: Mapped[str] = mapped_column(String(16), default="rules")
    # a second request the classifier saw in the first message (e.g. a
    # complaint that also asks for a document), shown to staff; None: none
    secondary_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="new")
    title: Mapped[str | None] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text, default="")  # the first message
    received_at: Mapped[datetime]  # UTC
    # The office-local day and year of receipt, fixed at entry, so counting
    # needs no time-zone arithmetic in SQL.
    received_date: Mapped[date] = mapped_column(Date)
    received_year: Mapped[int] = mapped_column(Integer)
    last_message_at: Mapped[datetime]
    deadline_at: Mapped[datetime | None]
    deadline_days: Mapped[int | None] = mapped_column(Integer)
    deadline_error: Mapped[str | None] = mapped_column(String(200))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    external_id: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic locking for staff edits
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # inbox (issue 5): jieba tokens for full-text search (storage/search.py), and
    # the deadline pause while the office waits for the citizen.
    search_tokens: Mapped[str | None] = mapped_column(Text)
    waiting_since: Mapped[datetime | None]
    paused_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # lifecycle (issue 14): the office-local day of the final answer (the
    # statistics count working days by it), extensions granted, re-handlings
    # after a low rating, the latest rating, urging, a return to the sender.
    answered_date: Mapped[date | None] = mapped_column(Date)
    extended_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reopened: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_requested_at: Mapped[datetime | None]
    urged: Mapped[str | None] = mapped_column(String(8))  # 催办 | 督办
    urged_at: Mapped[datetime | None]
    returned_at: Mapped[datetime | None]
    return_reason: Mapped[str | None] = mapped_column(Text)
    return_basis: Mapped[str | None] = mapped_column(Text)
    # A citizen wrote after the answer (within the week, so it joined the
    # case) and no reply has gone out since: staff must look.
    follow_up_at: Mapped[datetime | None]
    # Kept as the case changes, so the 通报 table is one GROUP BY over the
    # cases (bench/bench_stats.py): legal working days from receipt to the
    # final answer (None while unanswered or when the calendar could not
    # count them), and the ratings given to it and how many were satisfied.
    answer_working_days: Mapped[int | None] = mapped_column(Integer)
    ratings_given: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ratings_satisfied: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # 12345 orders (issue 15): signed for (签收), a 退回 request awaiting the
    # platform's answer (return_reason/basis hold it meanwhile), 撤单.
    accepted_at: Mapped[datetime | None]
    return_requested_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    tracking_code_hash: Mapped[str | None] = mapped_column(String(64))  # the 查询码's keyed hash (bot/domain/tracking.py)
    # The web letter box (issue 16): the writer's consent to publish the answer
    # on /letters; staff may withhold it, or edit what is published (None: the
    # automatic redaction of the letter and the answer is published).
    publish_consent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    publish_withheld: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    published_title: Mapped[str | None] = mapped_column(String(300))
    published_letter: Mapped[str | None] = mapped_column(Text)
    published_answer: Mapped[str | None] = mapped_column(Text)


class Message(Base):
    """Every message in and out, with the raw payload as received."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    channel: Mapped[str] = mapped_column(String(16))
    msg_type: Mapped[str] = mapped_column(String(32), default="text")
    text: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[str | None] = mapped_column(Text)
    # Retries of one delivery share this key, e.g. wx:{to}:{from}:{MsgId}.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    reply_text: Mapped[str | None] = mapped_column(Text)  # the passive reply we gave
    status: Mapped[str] = mapped_column(String(16), default="received")  # received|sent|draft|failed
    error: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseCounter(Base):
    """Daily sequence for case numbers, shared by all workers."""

    __tablename__ = "case_counters"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class AuditEntry(Base):
    """Append-only (triggers refuse UPDATE and DELETE): who did what, when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))  # user:<name>, token:<name>, system, wechat…
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Correction(Base):
    """A staff reclassification: training data for the classifier."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str] = mapped_column(String(32))
    previous_kind: Mapped[str | None] = mapped_column(String(32))
    previous_topic: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxItem(Base):
    """Durable outbound deliveries (12345 results, WeChat messages): retried
    with backoff until acknowledged; visible to staff."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    target: Mapped[str] = mapped_column(String(32))  # hotline | wechat
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class KeyValue(Base):
    """Small shared state for all workers, e.g. the WeChat access token."""

    __tablename__ = "kv"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarDay(Base):
    """A holiday (is_workday false) or make-up working day the office entered."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(100))


class CalendarYear(Base):
    """A year whose holiday notice the office has entered in full."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    entered_by: Mapped[str | None] = mapped_column(String(64))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---- disclosure (issue 6): 政府信息公开申请, reviews, the WeChat dialog ------


# The annual tally reads only these columns of cases: a covering index makes
# it an index-only scan (a year of 1,000,000 cases in well under a second).
Index("ix_cases_report", Case.received_year, Case.channel, Case.kind, Case.merged_into_id,
      Case.status, Case.answered_at, Case.deadline_at)


class DisclosureRequest(Base):
    """The legal file of one disclosure request (条例 第二十九–三十九条), kept
    beside its case. ID proof and contact are stored encrypted (bot.domain.disclosure.protect)."""

    __tablename__ = "disclosure_requests"
    __table_args__ = (
        Index("ix_disclosure_receipt_year", "receipt_year", "applicant_type"),
        Index("ix_disclosure_decided_year", "decided_year", "outcome", "applicant_type"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    applicant_type: Mapped[str] = mapped_column(String(32))
    applicant_name: Mapped[str | None] = mapped_column(String(200))
    id_proof_protected: Mapped[str | None] = mapped_column(Text)  # ciphertext
    contact_protected: Mapped[str | None] = mapped_column(Text)  # ciphertext
    description: Mapped[str] = mapped_column(Text, default="")
    delivery_form: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    receipt_date: Mapped[date] = mapped_column(Date)  # 第三十一条
    receipt_basis: Mapped[str] = mapped_column(String(32))  # in_person | post_signed | confirmed
    receipt_year: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(16), default="registered")
    correction_notice_due: Mapped[date] = mapped_column(Date)
    correction_sent_on: Mapped[date | None] = mapped_column(Date)
    correction_reply_due: Mapped[date | None] = mapped_column(Date)
    correction_text: Mapped[str | None] = mapped_column(Text)
    corrected_on: Mapped[date | None] = mapped_column(Date)
    third_party_sent_on: Mapped[date | None] = mapped_column(Date)
    third_party_answered_on: Mapped[date | None] = mapped_column(Date)
    extension_days: Mapped[int] = mapped_column(Integer, default=0)
    extension_approved_by: Mapped[str | None] = mapped_column(String(100))
    extension_notice_on: Mapped[date | None] = mapped_column(Date)
    answer_due: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(String(16))
    decided_on: Mapped[date | None] = mapped_column(Date)
    decided_year: Mapped[int | None] = mapped_column(Integer)
    archived_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DisclosureReview(Base):
    """A 行政复议 or 行政诉讼 about a disclosure decision: table 四."""

    __tablename__ = "disclosure_reviews"
    __table_args__ = (Index("ix_disclosure_reviews_year", "filed_year", "kind", "result"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(24))  # reconsideration | litigation_direct | litigation_after
    filed_on: Mapped[date] = mapped_column(Date)
    filed_year: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(16), default="pending")  # upheld | corrected | other | pending
    concluded_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DisclosureDialog(Base):
    """Where a WeChat user is in the application dialog, shared by all workers."""

    __tablename__ = "disclosure_dialogs"

    openid: Mapped[str] = mapped_column(String(128), primary_key=True)
    step: Mapped[str] = mapped_column(String(16))  # name | contact | info | form | done | cancelled
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_key: Mapped[str | None] = mapped_column(String(200))  # the last message handled
    last_reply: Mapped[str | None] = mapped_column(Text)  # what we answered to it (retries get it again)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---- inbox (issue 5): staff sessions, login throttling, notes, canned replies ----


class StaffSession(Base):
    """A logged-in browser. The cookie holds a random id (signed); only its
    SHA-256 is stored, so a database dump opens no sessions."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_user", "user_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class LoginThrottle(Base):
    """Failed logins per user name (existing or not) and per address."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]


class RequestCount(Base):
    """Requests per key (a public page and an address) in the current
    window: the public pages' limits, shared by every worker."""

    __tablename__ = "request_counts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer, default=0)


class CaseNote(Base):
    """An internal note on a case: staff only, never sent to the citizen."""

    __tablename__ = "case_notes"
    __table_args__ = (Index("ix_case_notes_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CannedReply(Base):
    """A ready-made answer staff can pick and edit before sending."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    reply_type: Mapped[str] = mapped_column(String(16), default="final", server_default="final")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---- answers (issue 7): knowledge base, keyword rules, auto-answer log, staff feedback ----


class KbEntry(Base):
    """A question the office answers itself: several wordings, one answer,
    optional validity (office-local days, inclusive)."""

    __tablename__ = "kb_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # also a menu CLICK's EventKey
    title: Mapped[str | None] = mapped_column(String(100))
    topic: Mapped[str] = mapped_column(String(32), default="general")
    questions: Mapped[list[str]] = mapped_column(default=list)
    answer: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    needs_person: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # An admin said the answer's 【…】 are meant (not blanks to fill in).
    placeholders_allowed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbRule(Base):
    """A keyword rule of the account (exact / contains / regex), tried in
    ``position`` order before the knowledge base."""

    __tablename__ = "kb_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    match: Mapped[str] = mapped_column(String(16))
    pattern: Mapped[str] = mapped_column(String(200))
    reply: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbAnswer(Base):
    """Every automatic answer: which entry, what score, for which message."""

    __tablename__ = "kb_answers"
    __table_args__ = (Index("ix_kb_answers_case", "case_id"), Index("ix_kb_answers_entry", "entry_id", "id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("kb_entries.id"))
    entry_key: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    question: Mapped[str] = mapped_column(Text)
    needs_person: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed: Mapped[str | None] = mapped_column(String(16))  # right | wrong (by staff)


class KbFeedback(Base):
    """A staff judgement of a match: the text should get ``correct_entry_id``
    (None: no entry fits). Becomes a wording of the right entry and a
    negative example of the wrong one."""

    __tablename__ = "kb_feedback"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("kb_answers.id"))
    text: Mapped[str] = mapped_column(Text)
    matched_entry_id: Mapped[int | None] = mapped_column(ForeignKey("kb_entries.id"))
    correct_entry_id: Mapped[int | None] = mapped_column(ForeignKey("kb_entries.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---- lifecycle (issue 14): extensions, ratings, urging ---------------------------


class CaseExtension(Base):
    """A request to extend a case's deadline (延期) and what became of it."""

    __tablename__ = "case_extensions"
    __table_args__ = (Index("ix_case_extensions_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    working_days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | refused
    requested_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    old_deadline: Mapped[datetime | None]
    new_deadline: Mapped[datetime | None]


class CaseRating(Base):
    """A satisfaction rating (回访/满意度) of a case's answer, 1–5."""

    __tablename__ = "case_ratings"
    __table_args__ = (Index("ix_case_ratings_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    score: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # citizen | staff | platform
    comment: Mapped[str | None] = mapped_column(Text)
    round: Mapped[int] = mapped_column(Integer)  # the case's re-handlings before this answer
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseUrge(Base):
    """催办 or 督办 of a case, by staff, a leader or the 12345 platform."""

    __tablename__ = "case_urges"
    __table_args__ = (Index("ix_case_urges_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    level: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


# The 通报 statistics need no index of their own: they reach a range's cases
# through ix_cases_year_day (bench/bench_stats.py measured one on
# (received_date, status, answered_date): no faster, and worse for the ratings' join).
# Partial: only urged cases, and cases with an unanswered follow-up, are in
# them, so recording a new case never touches them.
Index("ix_cases_urged", Case.deadline_at, sqlite_where=Case.urged.isnot(None), postgresql_where=Case.urged.isnot(None))
Index("ix_cases_follow_up", Case.follow_up_at, sqlite_where=Case.follow_up_at.isnot(None),
      postgresql_where=Case.follow_up_at.isnot(None))
# 12345 orders not signed for yet (only when signing is by hand).
_UNACCEPTED = text("channel = 'hotline' AND accepted_at IS NULL AND external_id IS NOT NULL")
Index("ix_cases_unaccepted", Case.received_at, sqlite_where=_UNACCEPTED, postgresql_where=_UNACCEPTED)


class HotlineEvent(Base):
    """An event of the 12345 platform applied to a case: its id is never applied twice."""

    __tablename__ = "hotline_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---- hotline (issue 4) ----------------------------------------------------------
# A case's deliveries: looked up when a 12345 case is closed, listed for staff.
Index("ix_outbox_case", OutboxItem.case_id, OutboxItem.target)
