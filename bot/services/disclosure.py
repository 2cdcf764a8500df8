"""Disclosure requests (政府信息公开申请) handled to the 条例: registering a
case as a request (staff through the API or the inbox, the citizen through
the WeChat dialog: one use case), the procedure's steps, the decision, the
answer letter, and the reviews (行政复议, 行政诉讼) of table 四.

Each call is one transaction: a refusal changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from bot.domain import disclosure as dz
from bot.domain.actors import Actor
from bot.domain.dates import day_or_today, parse_day
from bot.domain.disclosure import Applicant, Warning
from bot.domain.errors import Conflict, InvalidInput, NotFound
from bot.domain.report import REVIEW_KINDS, REVIEW_RESULTS
from bot.domain.vocabulary import OPEN_STATUSES, Kind
from bot.domain.workdays import WorkingCalendar
from bot.exports.answer_letter import letter_text
from storage.database import Tx
from storage.models import Case, Correction, DisclosureRequest, DisclosureReview
from storage.queries import audit
from storage.queries import disclosure as q

from .runtime import Runtime

STRING_FIELDS = {"name": 200, "id_proof": 64, "contact": 200, "description": 5000, "delivery_form": 64}
SAVE_FIELDS = set(STRING_FIELDS) | {"applicant_type", "receipt_date", "receipt_basis", "outcome", "decided_at", "version"}
UNLOGGED = ("id_proof", "contact")  # personal data stays out of the audit trail


def office_name(settings) -> str:
    return settings.office_name or "（机关名称）"


@dataclass(frozen=True)
class RequestView:
    """A request as staff see it: the case, the legal file (personal data
    masked unless asked for) and the deadlines near or past."""

    case: Case
    request: dict | None
    warnings: list[Warning]

    def as_dict(self) -> dict:
        return {**(self.request or {}), "case_id": self.case.id, "number": self.case.number,
                "case_status": self.case.status, "warnings": [w.as_dict() for w in self.warnings]}


def _view(rt: Runtime, case: Case, req: DisclosureRequest | None, *, unmask: bool = False) -> RequestView:
    if req is None:
        return RequestView(case, None, [])
    today = datetime.now(rt.settings.tz).date()
    return RequestView(case, dz.to_view(req, rt.settings.secret_key, unmask=unmask),
                       dz.warnings(req, today, rt.calendar.current))


def _load(tx: Tx, case_id: int, *, required: bool = True) -> tuple[Case, DisclosureRequest | None]:
    case = tx.session.get(Case, case_id)
    if case is None:
        raise NotFound("没有这个案件")
    req = q.request_of_case(tx.session, case.id)
    if req is None and required:
        raise NotFound("该案件尚未登记为政府信息公开申请（请先 PUT …/disclosure）")
    return case, req


def _strings(data: dict) -> dict:
    out = {}
    for name, max_len in STRING_FIELDS.items():
        if name in data:
            value = data[name]
            if value is not None and not isinstance(value, str):
                raise InvalidInput(f"{name} 必须是字符串", name)
            value = (value or "").strip() or None
            if value and len(value) > max_len:
                raise InvalidInput(f"{name} 过长（最多 {max_len} 字）", name)
            out[name] = value
    return out


# ---- registration, shared by every way a request arrives ---------------------------

def register_in(tx: Tx, case: Case, applicant: Applicant, *, receipt_date: date, receipt_basis: str | None,
                calendar: WorkingCalendar, secret_key: str) -> DisclosureRequest:
    """登记: ``case`` becomes a disclosure request with its date of receipt
    and deadlines (the caller then keeps the case in step: dz.sync_case)."""
    req = DisclosureRequest()
    dz.register(req, case_id=case.id, channel=case.channel, applicant=applicant, receipt_date=receipt_date,
                receipt_basis=receipt_basis, calendar=calendar, secret_key=secret_key)
    tx.session.add(req)
    return req


def _save(tx: Tx, rt: Runtime, actor: Actor, case_id: int, data: dict, calendar: WorkingCalendar) -> tuple[RequestView, bool]:
    settings, tz = rt.settings, rt.settings.tz
    unknown = set(data) - SAVE_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(f"不认识的字段 {name}", name)
    strings = _strings(data)
    now = datetime.now(timezone.utc)
    receipt_date = parse_day(data["receipt_date"], "receipt_date", tz) if data.get("receipt_date") else None
    if receipt_date is not None:
        dz.check_receipt_date(receipt_date, now.astimezone(tz).date())
    if ("outcome" in data) != ("decided_at" in data) and not (data.get("outcome") is None and data.get("decided_at") is None):
        field = "decided_at" if "outcome" in data else "outcome"
        raise InvalidInput("outcome 与 decided_at 须同时提供", field, "missing")
    outcome = data.get("outcome")
    if outcome is not None:
        dz.validate_outcome(outcome)
    decided_on = parse_day(data["decided_at"], "decided_at", tz) if data.get("decided_at") else None
    case, req = _load(tx, case_id, required=False)
    if "version" in data and req is not None and data["version"] != req.version:
        raise Conflict("该申请已被他人修改，请刷新后重试", "version")
    created = req is None
    if created:
        if "applicant_type" not in data:
            raise InvalidInput("登记政府信息公开申请须提供 applicant_type", "applicant_type", "missing")
        applicant = Applicant(
            applicant_type=data["applicant_type"], name=strings.get("name"), id_proof=strings.get("id_proof"),
            contact=strings.get("contact"), description=strings.get("description") or case.text,
            delivery_form=strings.get("delivery_form"),
        )
        req = register_in(tx, case, applicant, receipt_date=receipt_date or case.received_date,
                          receipt_basis=data.get("receipt_basis"), calendar=calendar,
                          secret_key=settings.secret_key)
    else:
        changes: dict[str, Any] = dict(strings)
        for name in ("applicant_type", "receipt_basis"):
            if name in data:
                changes[name] = data[name]
        if receipt_date:
            changes["receipt_date"] = receipt_date
        dz.update_details(req, changes, calendar=calendar, secret_key=settings.secret_key)
    if outcome is not None:
        dz.decide(req, outcome=outcome, decided_on=decided_on, today=now.astimezone(tz).date())
    if case.kind != Kind.DISCLOSURE_REQUEST:
        tx.session.add(Correction(case_id=case.id, text=case.text, kind=Kind.DISCLOSURE_REQUEST, topic=case.topic,
                                  previous_kind=case.kind, previous_topic=case.topic, user_id=actor.user_id))
        case.kind, case.classified_by, case.needs_review = Kind.DISCLOSURE_REQUEST, "staff", False
    dz.sync_case(case, req, tz, now, calendar=calendar)
    audit.add(tx.session, actor.label, "disclosure.registered" if created else "disclosure.updated", case.id,
              fields=sorted(k for k in data if k not in UNLOGGED),
              outcome=req.outcome, decided_at=req.decided_on.isoformat() if req.decided_on else None)
    tx.flush()
    return _view(rt, case, req), created


async def save(rt: Runtime, actor: Actor, case_id: int, data: dict) -> tuple[RequestView, bool]:
    """Register a case as a disclosure request, or update it; record a
    decision (``outcome`` with ``decided_at``). Returns (view, created)."""
    calendar = await rt.calendar.refresh()
    return await rt.db.write(_save, rt, actor, case_id, data, calendar)


async def get(rt: Runtime, actor: Actor, case_id: int, *, unmask: bool = False,
              required: bool = True) -> RequestView:
    """A request (or, ``required`` False, a case not registered yet). Seeing
    the full ID number and contact is a recorded act."""
    await rt.calendar.refresh()

    def load(tx: Tx) -> RequestView:
        case, req = _load(tx, case_id, required=required)
        if unmask:
            audit.add(tx.session, actor.label, "disclosure.unmasked", case.id)
        return _view(rt, case, req, unmask=unmask)

    return await (rt.db.write(load) if unmask else rt.db.read(load))


# ---- the procedure's steps --------------------------------------------------------

def _int(data: dict, name: str, default: int) -> int:
    value = data.get(name, default)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{name} 必须是整数", name)
    return value


def _correction(req, data, tz, cal):
    sent_on = day_or_today(data, "sent_on", tz)
    reply_days = _int(data, "reply_days", dz.DEFAULT_CORRECTION_REPLY_DAYS)
    dz.send_correction_notice(req, sent_on=sent_on, text=data.get("text") or "", calendar=cal, reply_days=reply_days)
    return {"sent_on": sent_on.isoformat(), "reply_due": req.correction_reply_due.isoformat()}


def _corrected(req, data, tz, cal):
    day = day_or_today(data, "received_on", tz)
    dz.record_corrected(req, received_on=day, calendar=cal)
    return {"received_on": day.isoformat(), "answer_due": req.answer_due.isoformat()}


def _abandoned(req, data, tz, cal):
    today = day_or_today(data, "today", tz)
    dz.close_abandoned(req, today=today)
    return {"outcome": req.outcome}


def _third_party(req, data, tz, cal):
    day = day_or_today(data, "sent_on", tz)
    dz.start_third_party(req, sent_on=day, calendar=cal)
    return {"sent_on": day.isoformat()}


def _third_party_answer(req, data, tz, cal):
    day = day_or_today(data, "answered_on", tz)
    dz.third_party_answered(req, answered_on=day, calendar=cal)
    return {"answered_on": day.isoformat()}


def _extension(req, data, tz, cal):
    day = day_or_today(data, "notice_on", tz)
    days = _int(data, "days", dz.MAX_EXTENSION_DAYS)
    approved_by = data.get("approved_by")
    if approved_by is not None and not isinstance(approved_by, str):
        raise InvalidInput("approved_by 必须是字符串", "approved_by")
    dz.extend(req, approved_by=approved_by or "", notice_on=day, calendar=cal, days=days)
    return {"days": days, "approved_by": req.extension_approved_by, "notice_on": day.isoformat()}


def _stage(req, data, tz, cal):
    dz.set_stage(req, data.get("stage"), today=datetime.now(tz).date())
    return {"stage": req.stage}


# Workflow steps by name (the API's paths use dashes, these underscores).
STEPS = {
    "correction_notice": _correction, "corrected": _corrected, "abandoned": _abandoned,
    "third_party": _third_party, "third_party_answer": _third_party_answer, "extension": _extension,
    "stage": _stage,
}


async def take_step(rt: Runtime, actor: Actor, case_id: int, step: str, data: dict) -> RequestView:
    """One step of 登记→审核→办理→答复→归档: apply, keep the case in step, audit."""
    if step not in STEPS:
        raise NotFound(f"没有这个办理步骤：{step}")
    tz = rt.settings.tz
    calendar = await rt.calendar.refresh()

    def run(tx: Tx) -> RequestView:
        case, req = _load(tx, case_id)
        detail = STEPS[step](req, data, tz, calendar)
        dz.sync_case(case, req, tz, datetime.now(timezone.utc), calendar=calendar)
        audit.add(tx.session, actor.label, f"disclosure.{step}", case.id, **(detail or {}))
        tx.flush()
        return _view(rt, case, req)

    return await rt.db.write(run)


async def answer_letter(rt: Runtime, actor: Actor, case_id: int) -> tuple[Case, str]:
    """The 答复书 text of a decided request (audited: it names the applicant)."""
    settings = rt.settings

    def write(tx: Tx) -> tuple[Case, str]:
        case, req = _load(tx, case_id)
        text = letter_text(case, req, office=office_name(settings), var_dir=settings.var_dir)
        audit.add(tx.session, actor.label, "disclosure.answer_letter", case.id, outcome=req.outcome)
        return case, text

    return await rt.db.write(write)


@dataclass(frozen=True)
class RequestRow:
    request: DisclosureRequest
    number: str
    warnings: list[Warning]
    missing: tuple[str, ...] = ()  # labels of the application's elements not given yet


@dataclass(frozen=True)
class RequestsOverview:
    rows: list[RequestRow]  # open ones first, nearest deadline first
    unregistered: list[tuple]  # (id, number, received_at, channel) of disclosure-request cases with no file
    # (id, number, received_at, channel, kind) of open cases whose second
    # request is a disclosure request, with no file: staff weigh them
    second_requests: list[tuple]


async def open_requests(rt: Runtime) -> RequestsOverview:
    """Requests, open ones first by nearest deadline, with their warnings;
    the cases of kind disclosure_request nobody has registered yet (the
    legal clock may already be running); and the open cases that hold one
    beside another request, not registered either."""
    calendar = await rt.calendar.refresh()
    today = datetime.now(rt.settings.tz).date()
    dis = Kind.DISCLOSURE_REQUEST
    rows, unregistered, second = await rt.db.read(lambda tx: (
        q.requests_by_urgency(tx.session, 500), q.unregistered_cases(tx.session, dis, 200),
        q.unregistered_second_requests(tx.session, dis, OPEN_STATUSES, 200)))
    return RequestsOverview([RequestRow(r, number, dz.warnings(r, today, calendar),
                                        tuple(dz.REQUIRED_FIELDS[m] for m in dz.missing_fields(r)))
                             for r, number in rows], unregistered, second)


# ---- reviews (table 四) -----------------------------------------------------------

def _review_kind(data: dict) -> str:
    kind = data.get("kind")
    if kind == "litigation":
        after = data.get("after_reconsideration", False)
        if not isinstance(after, bool):
            raise InvalidInput("after_reconsideration 必须是 true 或 false", "after_reconsideration")
        kind = "litigation_after" if after else "litigation_direct"
    if kind not in REVIEW_KINDS:
        raise InvalidInput("kind 必须是 reconsideration（行政复议）、litigation_direct（未经复议直接起诉）"
                           "或 litigation_after（复议后起诉）", "kind")
    return kind


def _review_result(data: dict, tz, filed_on: date) -> tuple[str, date | None]:
    result = data.get("result", "pending")
    if result not in REVIEW_RESULTS:
        raise InvalidInput(f"result 必须是 {', '.join(REVIEW_RESULTS)} 之一", "result")
    concluded = parse_day(data["concluded_on"], "concluded_on", tz) if data.get("concluded_on") else None
    if result != "pending" and concluded is None:
        raise InvalidInput("已审结的案件须提供 concluded_on", "concluded_on", "missing")
    if result == "pending" and concluded is not None:
        raise InvalidInput("尚未审结的案件不能有 concluded_on", "concluded_on")
    if concluded and concluded < filed_on:
        raise InvalidInput("审结日期不能早于提起日期", "concluded_on")
    return result, concluded


async def add_review(rt: Runtime, actor: Actor, data: dict) -> DisclosureReview:
    tz = rt.settings.tz
    case_id = data.get("case_id")
    if not isinstance(case_id, int) or isinstance(case_id, bool):
        raise InvalidInput("case_id 必须是政府信息公开申请案件的 id", "case_id", "missing")
    kind = _review_kind(data)
    filed_on = parse_day(data.get("filed_on"), "filed_on", tz)
    result, concluded = _review_result(data, tz, filed_on)
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        raise InvalidInput("note 必须是字符串", "note")

    def add(tx: Tx) -> DisclosureReview:
        req = q.request_of_case(tx.session, case_id)
        if req is None:
            raise InvalidInput("该案件不是已登记的政府信息公开申请", "case_id")
        if filed_on < req.receipt_date:
            raise InvalidInput("提起日期不能早于收到申请日期", "filed_on")
        review = DisclosureReview(case_id=case_id, kind=kind, filed_on=filed_on, filed_year=filed_on.year,
                                  result=result, concluded_on=concluded, note=note)
        tx.session.add(review)
        tx.flush()
        audit.add(tx.session, actor.label, "disclosure.review_added", case_id, review_id=review.id, kind=kind,
                  result=result)
        return review

    return await rt.db.write(add)


async def update_review(rt: Runtime, actor: Actor, review_id: int, data: dict) -> DisclosureReview:
    def update(tx: Tx) -> DisclosureReview:
        review = tx.session.get(DisclosureReview, review_id)
        if review is None:
            raise NotFound("没有这个复议或诉讼记录")
        review.result, review.concluded_on = _review_result(data, rt.settings.tz, review.filed_on)
        audit.add(tx.session, actor.label, "disclosure.review_updated", review.case_id, review_id=review.id,
                  result=review.result)
        return review

    return await rt.db.write(update)


async def list_reviews(rt: Runtime, year: int | None = None) -> list[DisclosureReview]:
    return await rt.db.read(lambda tx: q.reviews(tx.session, year))

