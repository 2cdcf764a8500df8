"""Government information disclosure requests (政府信息公开申请) handled to
the 条例 (2019): the procedure 登记→审核→办理→答复→归档, 补正 (第三十条),
date of receipt (第三十一条), third-party consultation (第三十二条), the
answer deadline and its extension (第三十三条), and the outcome as a row of
table 三. Pure domain: functions change a DisclosureRecord object and
raise DisclosureError; no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from functools import lru_cache
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from cryptography.fernet import Fernet, InvalidToken

from . import lifecycle
from .errors import InvalidInput
from .masking import mask_contact, mask_id_number
from .vocabulary import APPLICANT_TYPES, Status
from .workdays import UnknownCalendarYear, WorkingCalendar

TABLES_FILE = Path(__file__).with_name("report_tables.json")

STAGES: tuple[str, ...] = ("registered", "reviewing", "processing", "answered", "archived")
STAGE_LABELS: dict[str, str] = {
    "registered": "登记", "reviewing": "审核", "processing": "办理", "answered": "答复", "archived": "归档",
}
# 第三十一条: how the date of receipt is fixed.
RECEIPT_BASES: dict[str, str] = {
    "in_person": "当面提交，以提交之日为收到申请之日",
    "post_signed": "邮寄提交，以签收之日为收到申请之日",
    "confirmed": "通过互联网（含微信）或传真提交，以双方确认之日为收到申请之日",
}
DEFAULT_BASIS_BY_CHANNEL: dict[str, str] = {"in_person": "in_person", "letter": "post_signed"}

CORRECTION_NOTICE_DAYS = 7  # 第三十条
ANSWER_DAYS = 20  # 第三十三条
MAX_EXTENSION_DAYS = 20  # 第三十三条
THIRD_PARTY_DAYS = 15  # 第三十二条
DEFAULT_CORRECTION_REPLY_DAYS = 15  # the office's own period for the applicant to correct
WARN_WITHIN_DAYS = 3  # working days before a deadline when staff are warned


@lru_cache(maxsize=1)
def report_tables() -> dict:
    return json.loads(TABLES_FILE.read_text(encoding="utf-8"))


def _row_keys(fmt: str) -> list[str]:
    name = "table3_rows_2021_format_国办公开办函〔2021〕30号" if fmt == "2021" else "table3_rows_2019_trial_format_国办公开办函〔2019〕60号"
    return [r["key"] for r in report_tables()[name]]


# Leaf result rows: a decision is one of these. ``r6`` (2019 format) is kept
# as given and counted as r6_3 其他 in the 2021 format.
OUTCOMES: tuple[str, ...] = tuple(
    k for k in _row_keys("2021") if k.startswith("r") and k != "r7"
) + ("r6",)
OUTCOME_LABELS: dict[str, str] = {
    **{r["key"]: r["label"] for r in report_tables()["table3_rows_2021_format_国办公开办函〔2021〕30号"]},
    "r6": "（六）其他处理",
}


class DisclosureError(InvalidInput):
    """A step the 条例 does not allow (too late, twice, out of order)."""


class DisclosureRecord(Protocol):
    """One request's legal file, as these rules read and change it."""

    case_id: int
    channel: str
    applicant_type: str
    applicant_name: str | None
    id_proof_protected: str | None
    contact_protected: str | None
    description: str
    delivery_form: str | None
    receipt_date: date
    receipt_basis: str
    receipt_year: int
    stage: str
    correction_notice_due: date
    correction_sent_on: date | None
    correction_reply_due: date | None
    correction_text: str | None
    corrected_on: date | None
    third_party_sent_on: date | None
    third_party_answered_on: date | None
    extension_days: int
    extension_approved_by: str | None
    extension_notice_on: date | None
    answer_due: date | None
    outcome: str | None
    decided_on: date | None
    decided_year: int | None
    archived_on: date | None
    version: int
    updated_at: datetime


# ---- protected personal data (个人信息保护法 第五十一条) ----------------------


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"gov-intake/disclosure-pii/" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def protect(value: str | None, secret_key: str) -> str | None:
    if not value:
        return None
    return _fernet(secret_key).encrypt(value.encode()).decode()


def reveal(token: str | None, secret_key: str) -> str | None:
    if not token:
        return None
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        return None  # a different key: the value can't be shown, never a crash


# ---- dates ------------------------------------------------------------------


def _add(calendar: WorkingCalendar, start: date, days: int, field: str) -> date:
    try:
        return calendar.add_working_days(start, days)
    except UnknownCalendarYear as exc:
        raise DisclosureError(str(exc), field, "unknown_calendar_year") from None


def _between(calendar: WorkingCalendar, start: date, end: date, field: str) -> int:
    try:
        return calendar.working_days_between(start, end)
    except UnknownCalendarYear as exc:
        raise DisclosureError(str(exc), field, "unknown_calendar_year") from None


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tz).astimezone(timezone.utc)


# ---- the procedure ----------------------------------------------------------


@dataclass(frozen=True)
class Applicant:
    applicant_type: str
    name: str | None = None
    id_proof: str | None = None
    contact: str | None = None
    description: str = ""
    delivery_form: str | None = None


def validate_applicant_type(value) -> str:
    if value not in APPLICANT_TYPES:
        raise DisclosureError(f"applicant_type 必须是 {', '.join(APPLICANT_TYPES)} 之一", "applicant_type")
    return value


def validate_outcome(value) -> str:
    if value not in OUTCOMES:
        raise DisclosureError(
            f"outcome 必须是年度报告表三的办理结果行之一（{', '.join(OUTCOMES)}），收到 {value!r}", "outcome"
        )
    return value


def check_receipt_date(day: date, today: date) -> date:
    """A request can't be received after today (office time): the date
    decides its deadlines and the year it is counted in."""
    if day > today:
        raise DisclosureError(f"收到申请日期 {day} 晚于今天，不能预先登记", "receipt_date", "in_future")
    return day


def register(
    req: DisclosureRecord, *, case_id: int, channel: str, applicant: Applicant, receipt_date: date,
    receipt_basis: str | None, calendar: WorkingCalendar, secret_key: str,
) -> None:
    """登记: ``req`` (a new, empty record) becomes a request with its date of
    receipt and first deadlines."""
    validate_applicant_type(applicant.applicant_type)
    basis = receipt_basis or DEFAULT_BASIS_BY_CHANNEL.get(channel, "confirmed")
    if basis not in RECEIPT_BASES:
        raise DisclosureError(f"receipt_basis 必须是 {', '.join(RECEIPT_BASES)} 之一", "receipt_basis")
    req.case_id, req.channel = case_id, channel
    req.applicant_type, req.applicant_name = applicant.applicant_type, applicant.name
    req.id_proof_protected = protect(applicant.id_proof, secret_key)
    req.contact_protected = protect(applicant.contact, secret_key)
    req.description, req.delivery_form = applicant.description or "", applicant.delivery_form
    req.receipt_date, req.receipt_basis, req.receipt_year = receipt_date, basis, receipt_date.year
    req.stage, req.extension_days, req.version = "registered", 0, 1
    for name in ("correction_sent_on", "correction_reply_due", "correction_text", "corrected_on",
                 "third_party_sent_on", "third_party_answered_on", "extension_approved_by", "extension_notice_on",
                 "outcome", "decided_on", "decided_year", "archived_on"):
        setattr(req, name, None)
    req.correction_notice_due = _add(calendar, receipt_date, CORRECTION_NOTICE_DAYS, "receipt_date")
    recompute_answer_due(req, calendar)


def update_details(req: DisclosureRecord, changes: dict, *, calendar: WorkingCalendar, secret_key: str) -> None:
    """Staff edits the registered details (not the decision)."""
    _not_archived(req)
    if "applicant_type" in changes:
        req.applicant_type = validate_applicant_type(changes["applicant_type"])
    if "name" in changes:
        req.applicant_name = changes["name"]
    if "id_proof" in changes:
        req.id_proof_protected = protect(changes["id_proof"], secret_key)
    if "contact" in changes:
        req.contact_protected = protect(changes["contact"], secret_key)
    if "description" in changes:
        req.description = changes["description"] or ""
    if "delivery_form" in changes:
        req.delivery_form = changes["delivery_form"]
    if "receipt_basis" in changes:
        if changes["receipt_basis"] not in RECEIPT_BASES:
            raise DisclosureError(f"receipt_basis 必须是 {', '.join(RECEIPT_BASES)} 之一", "receipt_basis")
        req.receipt_basis = changes["receipt_basis"]
    if "receipt_date" in changes and changes["receipt_date"] != req.receipt_date:
        day = changes["receipt_date"]
        if req.decided_on and day > req.decided_on:
            raise DisclosureError("收到申请日期不能晚于答复日期", "receipt_date")
        if req.correction_sent_on and day > req.correction_sent_on:
            raise DisclosureError("收到申请日期不能晚于补正通知日期", "receipt_date")
        req.receipt_date, req.receipt_year = day, day.year
        req.correction_notice_due = _add(calendar, day, CORRECTION_NOTICE_DAYS, "receipt_date")
        recompute_answer_due(req, calendar)


def _not_archived(req: DisclosureRecord) -> None:
    if req.stage == "archived":
        raise DisclosureError("该申请已归档，不能再修改", "stage", "archived")


def _not_decided(req: DisclosureRecord, what: str) -> None:
    if req.outcome is not None:
        raise DisclosureError(f"该申请已于 {req.decided_on} 答复，不能再{what}", "outcome", "already_answered")


def recompute_answer_due(req: DisclosureRecord, calendar: WorkingCalendar) -> None:
    """第三十三条: 20 working days (+ extension) from receipt, or from receipt
    of the corrected request (第三十条); the third party's time is not
    counted (第三十二条). While the office waits for a correction the clock
    does not run: no due date."""
    if req.outcome is not None:
        return
    if req.correction_sent_on and not req.corrected_on:
        req.answer_due = None
        return
    start = req.corrected_on or req.receipt_date
    paused = 0
    if req.third_party_sent_on:
        end = req.third_party_answered_on or _add(calendar, req.third_party_sent_on, THIRD_PARTY_DAYS, "third_party_sent_on")
        paused = _between(calendar, req.third_party_sent_on, end, "third_party_sent_on")
    req.answer_due = _add(calendar, start, ANSWER_DAYS + req.extension_days + paused, "receipt_date")


def _advance(req: DisclosureRecord, stage: str) -> None:
    if STAGES.index(stage) > STAGES.index(req.stage):
        req.stage = stage


def send_correction_notice(
    req: DisclosureRecord, *, sent_on: date, text: str, calendar: WorkingCalendar,
    reply_days: int = DEFAULT_CORRECTION_REPLY_DAYS,
) -> None:
    """第三十条: once, within 7 working days of receipt."""
    _not_archived(req)
    _not_decided(req, "发出补正通知")
    if req.correction_sent_on is not None:
        raise DisclosureError(f"补正通知只能发一次（已于 {req.correction_sent_on} 发出）", "sent_on", "already_sent")
    if sent_on < req.receipt_date:
        raise DisclosureError("补正通知日期不能早于收到申请日期", "sent_on")
    if sent_on > req.correction_notice_due:
        raise DisclosureError(
            f"已超过第三十条规定的补正期限（收到申请后7个工作日内，即 {req.correction_notice_due} 前）", "sent_on", "too_late"
        )
    if not text or not text.strip():
        raise DisclosureError("补正通知须写明需要补正的事项", "text")
    if not 1 <= reply_days <= 60:
        raise DisclosureError("补正期限须在 1 到 60 个工作日之间", "reply_days")
    req.correction_sent_on = sent_on
    req.correction_text = text.strip()
    req.correction_reply_due = _add(calendar, sent_on, reply_days, "sent_on")
    _advance(req, "reviewing")
    recompute_answer_due(req, calendar)


def record_corrected(req: DisclosureRecord, *, received_on: date, calendar: WorkingCalendar) -> None:
    """The corrected request arrived: the 20 days start again from that day."""
    _not_archived(req)
    _not_decided(req, "登记补正")
    if req.correction_sent_on is None:
        raise DisclosureError("尚未发出补正通知", "received_on", "no_correction")
    if req.corrected_on is not None:
        raise DisclosureError(f"补正材料已于 {req.corrected_on} 收到", "received_on", "already_corrected")
    if received_on < req.correction_sent_on:
        raise DisclosureError("收到补正日期不能早于补正通知日期", "received_on")
    req.corrected_on = received_on
    recompute_answer_due(req, calendar)


def close_abandoned(req: DisclosureRecord, *, today: date) -> None:
    """No correction by its deadline: 视为放弃申请 → table 三 (六)1. Stored as
    r6_1 whatever the year; the 2019 format's report folds it into (六)."""
    _not_archived(req)
    _not_decided(req, "按逾期不补正处理")
    if req.correction_sent_on is None or req.corrected_on is not None:
        raise DisclosureError("只有发出补正通知且申请人未补正的申请才能按逾期不补正处理", "outcome", "no_correction")
    if today <= req.correction_reply_due:
        raise DisclosureError(f"补正期限 {req.correction_reply_due} 尚未届满", "today", "not_yet")
    req.outcome = "r6_1"
    req.decided_on, req.decided_year = today, today.year
    req.answer_due = None
    req.stage = "answered"


def start_third_party(req: DisclosureRecord, *, sent_on: date, calendar: WorkingCalendar) -> None:
    _not_archived(req)
    _not_decided(req, "征求第三方意见")
    if req.third_party_sent_on is not None:
        raise DisclosureError(f"已于 {req.third_party_sent_on} 征求第三方意见", "sent_on", "already_sent")
    if sent_on < req.receipt_date:
        raise DisclosureError("征求意见日期不能早于收到申请日期", "sent_on")
    req.third_party_sent_on = sent_on
    _advance(req, "processing")
    recompute_answer_due(req, calendar)


def third_party_answered(req: DisclosureRecord, *, answered_on: date, calendar: WorkingCalendar) -> None:
    _not_archived(req)
    _not_decided(req, "登记第三方意见")
    if req.third_party_sent_on is None:
        raise DisclosureError("尚未征求第三方意见", "answered_on", "no_consultation")
    if answered_on < req.third_party_sent_on:
        raise DisclosureError("第三方答复日期不能早于征求意见日期", "answered_on")
    req.third_party_answered_on = answered_on
    recompute_answer_due(req, calendar)


def extend(
    req: DisclosureRecord, *, approved_by: str, notice_on: date, calendar: WorkingCalendar,
    days: int = MAX_EXTENSION_DAYS,
) -> None:
    """第三十三条: at most 20 more working days, approved by the head of the
    disclosure office, with notice to the applicant before the deadline."""
    _not_archived(req)
    _not_decided(req, "延期")
    if not approved_by or not approved_by.strip():
        raise DisclosureError("延期须经政府信息公开工作机构负责人同意，请填写批准人", "approved_by")
    if req.extension_days:
        raise DisclosureError("该申请已经延期，不能再次延期", "days", "already_extended")
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise DisclosureError(f"延期不得超过 {MAX_EXTENSION_DAYS} 个工作日", "days")
    if req.answer_due is None:
        raise DisclosureError("答复期限尚未起算（等待补正），无需延期", "days")
    if notice_on < req.receipt_date or notice_on > req.answer_due:
        raise DisclosureError(f"延期通知须在答复期限 {req.answer_due} 届满前发出", "notice_on")
    req.extension_days = days
    req.extension_approved_by = approved_by.strip()
    req.extension_notice_on = notice_on
    recompute_answer_due(req, calendar)


def decide(req: DisclosureRecord, *, outcome: str, decided_on: date, today: date | None = None) -> None:
    """答复: the outcome as a table 三 row, dated no earlier than receipt and
    not in the future (it decides the year the request is counted in)."""
    _not_archived(req)
    validate_outcome(outcome)
    if today is not None and decided_on > today:
        raise DisclosureError(f"答复日期 {decided_on} 晚于今天，不能预先登记答复", "decided_at", "in_future")
    if decided_on < req.receipt_date:
        raise DisclosureError(
            f"答复日期 {decided_on} 早于收到申请日期 {req.receipt_date}", "decided_at", "before_receipt"
        )
    if req.corrected_on and decided_on < req.corrected_on:
        raise DisclosureError(f"答复日期 {decided_on} 早于收到补正日期 {req.corrected_on}", "decided_at", "before_receipt")
    req.outcome = outcome
    req.decided_on, req.decided_year = decided_on, decided_on.year
    req.stage = "answered"


def set_stage(req: DisclosureRecord, stage: str, *, today: date) -> None:
    if stage not in STAGES:
        raise DisclosureError(f"stage 必须是 {', '.join(STAGES)} 之一", "stage")
    if stage == "answered":
        raise DisclosureError("答复请提交办理结果（outcome 与 decided_at）", "stage")
    if STAGES.index(stage) < STAGES.index(req.stage):
        raise DisclosureError(f"不能从「{STAGE_LABELS[req.stage]}」退回「{STAGE_LABELS[stage]}」", "stage")
    if stage == "archived":
        if req.outcome is None:
            raise DisclosureError("尚未答复的申请不能归档", "stage")
        req.archived_on = today
    req.stage = stage


def is_late(req: DisclosureRecord) -> bool | None:
    if req.decided_on is None or req.answer_due is None:
        return None
    return req.decided_on > req.answer_due


@dataclass(frozen=True)
class Warning:
    code: str
    due: date
    message: str

    def as_dict(self) -> dict:
        return {"code": self.code, "due": self.due.isoformat(), "message": self.message}


def warnings(req: DisclosureRecord, today: date, calendar: WorkingCalendar) -> list[Warning]:
    """Deadlines that are near (within WARN_WITHIN_DAYS working days) or past."""
    out: list[Warning] = []
    if req.outcome is not None:
        return out

    def check(code: str, due: date | None, what: str) -> None:
        if due is None:
            return
        try:
            left = calendar.working_days_between(today, due)
        except UnknownCalendarYear as exc:
            out.append(Warning("calendar", due, str(exc)))
            return
        if left < 0 or (left == 0 and today > due):
            out.append(Warning(code + ".overdue", due, f"{what}已于 {due} 届满，已逾期"))
        elif left <= WARN_WITHIN_DAYS:
            out.append(Warning(code + ".soon", due, f"{what}将于 {due} 届满（还剩 {left} 个工作日）"))

    if req.correction_sent_on is None and req.corrected_on is None and req.stage in ("registered", "reviewing"):
        if today <= req.correction_notice_due:
            check("correction_notice", req.correction_notice_due, "补正通知期限（第三十条）")
    if req.correction_sent_on and not req.corrected_on and req.correction_reply_due:
        if today > req.correction_reply_due:
            out.append(Warning("correction_reply.expired", req.correction_reply_due,
                               f"申请人未在 {req.correction_reply_due} 前补正，可按“逾期不补正”处理（表三（六）1）"))
    if req.third_party_sent_on and not req.third_party_answered_on:
        check("third_party", _add(calendar, req.third_party_sent_on, THIRD_PARTY_DAYS, "third_party_sent_on"),
              "第三方答复期限（第三十二条）")
    check("answer", req.answer_due, "答复期限（第三十三条）")
    return out


# The application's elements (第二十九条) a registration may still lack, as
# staff read them: a WeChat dialog the citizen left midway registers what it got.
REQUIRED_FIELDS: dict[str, str] = {
    "name": "申请人姓名或名称", "contact": "联系方式", "description": "申请公开的信息", "delivery_form": "获取方式",
}


def missing_fields(req: DisclosureRecord) -> list[str]:
    """The elements of the application not given yet (keys of REQUIRED_FIELDS)."""
    present = {"name": req.applicant_name, "contact": req.contact_protected,
               "description": (req.description or "").strip(), "delivery_form": req.delivery_form}
    return [name for name in REQUIRED_FIELDS if not present[name]]


def to_view(req: DisclosureRecord, secret_key: str, *, unmask: bool = False) -> dict:
    """What staff see: personal data masked unless asked for (and audited)."""
    id_proof = reveal(req.id_proof_protected, secret_key)
    contact = reveal(req.contact_protected, secret_key)
    return {
        "applicant_type": req.applicant_type, "name": req.applicant_name,
        "id_proof": id_proof if unmask else mask_id_number(id_proof),
        "contact": contact if unmask else mask_contact(contact),
        "description": req.description, "delivery_form": req.delivery_form, "channel": req.channel,
        "receipt_date": _d(req.receipt_date), "receipt_basis": req.receipt_basis,
        "receipt_basis_label": RECEIPT_BASES.get(req.receipt_basis),
        "stage": req.stage, "stage_label": STAGE_LABELS.get(req.stage),
        "correction": {"notice_due": _d(req.correction_notice_due), "sent_on": _d(req.correction_sent_on),
                       "reply_due": _d(req.correction_reply_due), "text": req.correction_text,
                       "corrected_on": _d(req.corrected_on)},
        "third_party": {"sent_on": _d(req.third_party_sent_on), "answered_on": _d(req.third_party_answered_on)},
        "extension": {"days": req.extension_days, "approved_by": req.extension_approved_by,
                      "notice_on": _d(req.extension_notice_on)},
        "answer_due": _d(req.answer_due), "outcome": req.outcome,
        "outcome_label": OUTCOME_LABELS.get(req.outcome) if req.outcome else None,
        "decided_at": _d(req.decided_on), "late": is_late(req), "archived_on": _d(req.archived_on),
        "version": req.version,
        "missing": missing_fields(req),
        "missing_labels": [REQUIRED_FIELDS[name] for name in missing_fields(req)],
    }


def _d(day: date | None) -> str | None:
    return day.isoformat() if day else None


def sync_case(case, req: DisclosureRecord, tz: ZoneInfo, now: datetime, *, calendar: WorkingCalendar,
              staff_acted: bool = True) -> None:
    """The case mirrors the legal file: its deadline is the answer deadline,
    it waits while a correction is outstanding, it is answered on the
    decision day and closed when archived. Staff handling it moves a new
    case on to 办理中; a request the citizen completed alone (the WeChat
    dialog) stays new for staff to triage."""
    case.deadline_at = end_of_day(req.answer_due, tz) if req.answer_due else None
    case.deadline_days = ANSWER_DAYS + req.extension_days if req.answer_due else None
    case.deadline_error = None
    if req.outcome is not None and req.decided_on is not None:
        lifecycle.mark_answered(case, datetime.combine(req.decided_on, time(12, 0), tz).astimezone(timezone.utc),
                                lifecycle.Clock(tz, calendar))
        case.status = Status.CLOSED if req.stage == "archived" else Status.ANSWERED
        if req.stage == "archived":
            case.closed_at = case.closed_at or now
    elif req.correction_sent_on and not req.corrected_on:
        case.status = Status.WAITING
    elif case.status == Status.WAITING or (staff_acted and case.status == Status.NEW):
        case.status = Status.IN_PROGRESS
    case.version += 1
    case.updated_at = now
    req.version += 1
    req.updated_at = now
