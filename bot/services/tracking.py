"""The citizen's progress look-up (/track) and the 查询码 that opens it.

- ``look_up``: a case by its 受理编号 and 查询码, as the citizen may see it
  (status, received date, deadline, the replies sent to them, and whether
  they may rate the answer): nothing of the staff's side. An unknown
  number and a wrong code are the same ``NotFound`` after the same work (one
  indexed SELECT, one HMAC), so neither the answer nor its timing tells
  whether a number exists. Every look-up counts against its address's
  per-minute limit, in the same transaction, right or wrong.
- ``rate``: the citizen's 1–5 rating of the answer on that page, once per
  answer, within the lifecycle's rating window, through the lifecycle
  service (a low rating re-opens the case as the lifecycle says).
- ``issue_code``: staff give a new 查询码 (the old one stops working).
- For the recording paths: ``receipt_code`` (a code and its hash, to put in
  ``InboundMessage.tracking_code_hash`` before ``intake.record``) and
  ``issue_code_in`` (a code for a case inside the caller's transaction).
  The plain code is returned once, for the receipt, and never stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from bot.config import Settings
from bot.domain import lifecycle
from bot.domain import tracking as codes
from bot.domain.actors import Actor
from bot.domain.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from bot.domain.lifecycle import Clock
from bot.domain.masking import mask_text
from bot.domain.vocabulary import REPLY_TYPE_LABELS, STATUS_LABELS, RatingSource, Status
from storage.database import Tx
from storage.models import Case
from storage.queries import audit
from storage.queries import tracking as q
from storage.queries.throttle import count_request

from .lifecycle import rate_in
from .runtime import Runtime

LOOKUP_WINDOW = timedelta(minutes=1)
NOT_FOUND = "没有找到与该受理编号和查询码相符的记录。请核对后重新输入（查询码不区分大小写）。"
TOO_MANY = "查询过于频繁，请一分钟后再试。"
# 受理编号 as issued (bot/domain/cases.py: case_number): two letters, the day, a sequence.
NUMBER = re.compile(r"^[A-Z]{2}\d{8}-\d{1,6}$")
CITIZEN = Actor("citizen:track")
# What an unknown number's look-up compares the code against, so that it
# does the same HMAC as a wrong code (no real code hashes to this value
# under any server's key but by an HMAC collision).
_NO_CASE = "0" * 64
_THROTTLED = object()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def throttle_key(address: str) -> str:
    return "track:" + (address or "unknown")[:180]


def normalise_number(number: str | None) -> str | None:
    """受理编号 as typed (spaces, lower case, full-width dash) → as issued, or
    None when it cannot be one."""
    if not isinstance(number, str) or len(number) > 40:
        return None
    text = number.strip().upper().replace("－", "-").replace("—", "-").replace(" ", "")
    return text if NUMBER.match(text) else None


# ---- codes for receipts ----------------------------------------------------------

@dataclass(frozen=True)
class ReceiptCode:
    code: str  # shown once, on the receipt
    hash: str  # stored in cases.tracking_code_hash


def receipt_code(settings: Settings) -> ReceiptCode:
    """A new 查询码 for a case about to be recorded: put ``hash`` in
    ``InboundMessage.tracking_code_hash`` and show ``code`` on the receipt if
    the recording created the case (a duplicate keeps its own code)."""
    code = codes.new_code()
    return ReceiptCode(code, codes.code_hash(settings.secret_key, code))


def issue_code_in(tx: Tx, settings: Settings, case: Case) -> str:
    """A new 查询码 for ``case`` inside the caller's transaction (the case
    row loaded in ``tx.session``): the hash replaces the old one, the plain
    code is returned for the receipt. The caller writes its own audit entry."""
    code = codes.new_code()
    case.tracking_code_hash = codes.code_hash(settings.secret_key, code)
    return code


async def issue_code(rt: Runtime, actor: Actor, case_id: int) -> str:
    """Staff give the citizen a new 查询码 (a lost receipt, a letter or visit
    recorded before codes existed): the old code stops working at once."""

    def issue(tx: Tx) -> str:
        case = tx.session.get(Case, case_id, with_for_update=True)
        if case is None:
            raise NotFound("没有这个案件")
        replaced = case.tracking_code_hash is not None
        code = issue_code_in(tx, rt.settings, case)
        case.updated_at = _now()  # not the version: no one's open form is made stale by a new code
        audit.add(tx.session, actor.label, "case.tracking_code_issued", case.id, replaced=replaced)
        return code

    return await rt.db.write(issue)


# ---- the citizen's view ----------------------------------------------------------

@dataclass(frozen=True)
class ReplyView:
    at: datetime
    text: str  # phone and ID numbers masked
    type: str | None  # final | interim | request_info; None: an automatic message
    type_label: str


@dataclass(frozen=True)
class CitizenView:
    """All /track shows of a case, and nothing more."""

    number: str
    status: str
    status_label: str
    received_date: date
    deadline_date: date | None
    deadline_days: int | None  # the legal limit in working days
    extended_days: int
    paused: bool  # waiting for the citizen: the clock stands still
    replies: list[ReplyView]
    can_rate: bool
    rated: bool  # the current answer has its rating
    rate_until: date | None  # the last day a rating is taken


def _clean_code(code) -> str:
    """What the HMAC is computed over: a code that is not text (or not
    encodable text) is compared as the empty code, with the same work."""
    if not isinstance(code, str):
        return ""
    try:
        code.encode()
    except UnicodeEncodeError:  # lone surrogates from a malformed query
        return ""
    return code


def _matching(tx: Tx, secret: str, number: str | None, code: str | None) -> q.CaseFacts | None:
    wanted = normalise_number(number)
    facts = q.case_facts(tx.conn, wanted) if wanted else None
    stored = facts.tracking_code_hash if facts is not None and facts.tracking_code_hash else _NO_CASE
    matches = codes.code_matches(secret, _clean_code(code), stored)
    return facts if matches and stored != _NO_CASE else None


def _rating_window_end(case: q.CaseFacts | Case) -> datetime | None:
    if case.answered_at is None:
        return None
    return case.answered_at + timedelta(days=lifecycle.RATING_DAYS)


def _rating_state(tx: Tx, case: q.CaseFacts | Case, now: datetime) -> tuple[bool, bool]:
    """(may rate now, already rated): an answered case, within the rating
    window of its answer, whose current answer has no rating yet."""
    if case.status != Status.ANSWERED:
        return False, False
    rated = q.ratings_of_round(tx.conn, case.id, case.reopened or 0) > 0
    end = _rating_window_end(case)
    return (not rated and end is not None and now <= end), rated


def _view(tx: Tx, case: q.CaseFacts, now: datetime, settings: Settings) -> CitizenView:
    tz = settings.tz
    can_rate, rated = _rating_state(tx, case, now)
    end = _rating_window_end(case)
    replies = [ReplyView(at, mask_text(text), kind, REPLY_TYPE_LABELS.get(kind, "回复") if kind else "系统回复")
               for at, text, kind in q.replies_sent(tx.conn, case.id)]
    return CitizenView(
        number=case.number, status=case.status, status_label=STATUS_LABELS.get(case.status, case.status),
        received_date=case.received_date,
        deadline_date=case.deadline_at.astimezone(tz).date() if case.deadline_at else None,
        deadline_days=case.deadline_days, extended_days=case.extended_days or 0,
        paused=case.status == Status.WAITING, replies=replies, can_rate=can_rate, rated=rated,
        rate_until=end.astimezone(tz).date() if end and can_rate else None,
    )


async def look_up(rt: Runtime, address: str, number: str | None, code: str | None) -> CitizenView:
    """The case numbered ``number`` if ``code`` is its 查询码. Raises
    ``TooManyRequests`` past the address's limit, ``NotFound`` otherwise
    (the same for an unknown number, a wrong code, a malformed input)."""
    settings = rt.settings
    now = _now()

    def find(tx: Tx):
        # Counted first and kept whatever the outcome: nothing below raises.
        if count_request(tx.conn, throttle_key(address), now, LOOKUP_WINDOW) > settings.track_lookups_per_minute:
            return _THROTTLED
        case = _matching(tx, settings.secret_key, number, code)
        return None if case is None else _view(tx, case, now, settings)

    found = await rt.db.write(find)
    if found is _THROTTLED:
        raise TooManyRequests(TOO_MANY)
    if found is None:
        raise NotFound(NOT_FOUND)
    return found


# ---- the citizen's rating ----------------------------------------------------------

@dataclass(frozen=True)
class CitizenRating:
    score: int
    reopened: bool  # 重办: the case is being handled again
    supervised: bool  # before a leader (督办)
    deadline_days: int | None


def check_score(score) -> int:
    """The score as the form sends it (a string "1"…"5")."""
    try:
        value = int(str(score).strip()) if score is not None and len(str(score)) <= 3 else None
    except ValueError:
        value = None
    if value is None or not 1 <= value <= 5:
        raise InvalidInput("请选择 1 到 5 分的评价（5 非常满意 … 1 非常不满意）", "score")
    return value


async def rate(rt: Runtime, address: str, number: str | None, code: str | None, score) -> CitizenRating:
    """The citizen rates the answer on /track: the number and code checked
    again (and counted, as a look-up), then ``lifecycle.rate_in`` with
    source ``citizen``. Refused (``Conflict``) when the case is not
    answered, the rating window has passed, or this answer is rated already."""
    value = check_score(score)
    settings = rt.settings
    clock = Clock(settings.tz, await rt.calendar.refresh())
    now = _now()

    def give(tx: Tx):
        if count_request(tx.conn, throttle_key(address), now, LOOKUP_WINDOW) > settings.track_lookups_per_minute:
            return _THROTTLED
        facts = _matching(tx, settings.secret_key, number, code)
        if facts is None:
            return None
        case = tx.session.get(Case, facts.id, with_for_update=True)
        can_rate, rated = _rating_state(tx, case, now)
        if not can_rate:
            return _refusal(case, rated)
        result = rate_in(tx, rt, clock, CITIZEN, case, value, RatingSource.CITIZEN, None, now)
        return CitizenRating(value, result.outcome.reopened, result.outcome.supervised, case.deadline_days)

    outcome = await rt.db.write(give)
    if outcome is _THROTTLED:
        raise TooManyRequests(TOO_MANY)
    if outcome is None:
        raise NotFound(NOT_FOUND)
    if isinstance(outcome, Conflict):
        raise outcome
    rt.outbox_queued()
    return outcome


def _refusal(case: Case, rated: bool) -> Conflict:
    # Returned, not raised, inside the transaction: raising would roll back
    # the look-up's count along with it.
    if rated:
        return Conflict("您已对本次答复作出评价，每次答复只能评价一次。感谢您的反馈！", "score", "already_rated")
    if case.status != Status.ANSWERED:
        return Conflict("该事项尚未答复或已办结，目前不能评价。", "score", "not_answered")
    return Conflict(f"评价须在答复后 {lifecycle.RATING_DAYS} 日内提交，现已超过期限。", "score", "too_late")
