"""The WeChat disclosure dialog (条例 第二十九条): when a text reads as a
disclosure request, explain what a valid application needs and take it in
four short steps (name, contact, the information wanted, form of delivery);
the last reply confirms the case number and the date of receipt (第三十一条:
the day both sides confirm). "取消" or "退出" stops at any step.

The dialog's state is a database row, so any worker can continue it; the
row remembers the last message handled and its reply, so a WeChat retry of
the same message gets the same reply and never advances the dialog twice.
Placed ahead of the keyword/knowledge-base and default handlers.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from aiohttp import web
from sqlalchemy import bindparam, insert, select, update
from wechatpy.messages import BaseMessage

from bot import disclosure as dz
from bot.batching import BatchLookup
from bot.cases import InboundMessage
from bot.intake import IntakeContext, record_inbound_sync
from bot.services import Services
from nlp.base import Classification
from storage import queries
from storage.models import AuditEntry, Case, DisclosureDialog, DisclosureRequest, Message

from . import wechat
from .wechat_router import SKIP, Router

router = Router("disclosure")

CANCEL_WORDS = frozenset({"取消", "退出", "取消申请", "不申请了", "算了"})
ACTIVE_STEPS = ("name", "contact", "info", "form")
IDLE_LIMIT = timedelta(hours=24)  # a dialog left this long starts over
DELIVERY_FORMS = {"1": "纸质文本（邮寄）", "2": "电子邮件", "3": "微信公众号回复", "4": "当面领取"}
_PHONE = re.compile(r"^1[3-9]\d{9}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

INTRO = (
    "您好，您要申请政府信息公开。依据《政府信息公开条例》第二十九条，申请需包括："
    "（一）申请人的姓名或者名称、身份证明、联系方式；（二）申请公开的政府信息的名称、文号或者便于查询的其他特征性描述；"
    "（三）申请公开的政府信息的形式要求，包括获取信息的方式、途径。\n"
    "我们将分4步登记，任何时候回复“取消”即可退出。\n"
    "第1步：请回复申请人姓名（法人或其他组织请回复单位名称）。"
)
ASK_CONTACT = "第2步：请回复您的联系方式（手机号码或电子邮箱），用于送达答复。"
ASK_INFO = "第3步：请描述您申请公开的政府信息（名称、文号或便于查询的特征，如年份、项目名称）。"
ASK_FORM = ("第4步：请选择获取信息的方式，回复序号：\n"
            + "\n".join(f"{k}. {v}" for k, v in DELIVERY_FORMS.items()))
CANCELLED = "已取消本次政府信息公开申请，未作登记。如需申请，可随时重新发送。"
DONE = (
    "您的政府信息公开申请已登记，受理编号 {number}。\n"
    "收到申请日期：{day}（通过网络提交的申请，以双方确认之日为收到申请之日，《政府信息公开条例》第三十一条）。\n"
    "我们将在20个工作日内（{due}前）答复；如需补正，将在7个工作日内一次性告知。"
    "身份证明材料请按工作人员通知提供。"
)


def _is_text(msg: BaseMessage) -> bool:
    return msg.type == "text"


def _clean(msg: BaseMessage) -> str:
    return str(msg._data.get("Content") or "").strip()


def advance(step: str, text: str, data: dict) -> tuple[str, str]:
    """(next step, reply) for one answer. Pure: validates and fills ``data``."""
    if step == "name":
        if not 1 <= len(text) <= 100:
            return step, "姓名或名称应为1到100个字，请重新回复。"
        data["name"] = text
        return "contact", ASK_CONTACT
    if step == "contact":
        compact = text.replace(" ", "").replace("-", "")
        if not (_PHONE.match(compact) or _EMAIL.match(text)):
            return step, "未能识别联系方式，请回复11位手机号码或电子邮箱。"
        data["contact"] = compact if _PHONE.match(compact) else text
        return "info", ASK_INFO
    if step == "info":
        if len(text) < 4:
            return step, "描述太短，请写明信息的名称、文号或特征（至少4个字）。"
        data["info"] = text[:2000]
        return "form", ASK_FORM
    if step == "form":
        form = DELIVERY_FORMS.get(text) or (text if 2 <= len(text) <= 30 else None)
        if form is None:
            return step, "请回复序号1–4选择获取方式。\n" + ASK_FORM
        data["form"] = form
        return "done", ""
    raise ValueError(step)


_DIALOGS = select(DisclosureDialog.openid, DisclosureDialog.step, DisclosureDialog.updated_at).where(
    DisclosureDialog.openid.in_(bindparam("openids", expanding=True)))


def _active_dialogs(conn, openids: list[str]) -> dict[str, bool]:
    """One read-only query for all users asked about at once: most messages
    belong to no dialog, and a burst must not cost a round trip each."""
    rows = conn.execute(_DIALOGS, {"openids": openids}).all()
    now = datetime.now(timezone.utc)
    return {openid: step in ACTIVE_STEPS and now - updated_at < IDLE_LIMIT for openid, step, updated_at in rows}


async def _active_dialog(services: Services, openid: str) -> bool:
    lookup = services.extras.get("disclosure_dialogs")
    if lookup is None:
        async def fetch(openids: list[str]) -> dict[str, bool]:
            # most senders have no dialog at all: ask that first, cheaply
            have = await services.writer.keys_present(DisclosureDialog.openid, openids)
            return await services.writer.read(_active_dialogs, list(have)) if have else {}

        lookup = services.extras["disclosure_dialogs"] = BatchLookup(fetch, default=False)
    return await lookup.get(openid)


@router.message("text")
async def on_text(msg: BaseMessage, services: Services):
    openid, text = msg.source, _clean(msg)
    key = wechat.message_key(msg)
    in_dialog = await _active_dialog(services, openid)
    if not in_dialog:
        if services.classifier.classify(text).kind != "disclosure_request":
            return SKIP
    now = datetime.now(timezone.utc)
    calendar = await services.refresh_calendar()
    return await services.writer.transaction(_dialog_step, services, msg, key, text, now, calendar)


def _statements(dialect: str):
    D = DisclosureDialog
    dialog_of = select(D.step, D.data, D.last_key, D.last_reply, D.updated_at).where(D.openid == bindparam("openid"))
    if dialect == "postgresql":
        dialog_of = dialog_of.with_for_update()  # SQLite: BEGIN IMMEDIATE already serialises
    return (queries.insert_for(dialect, D).on_conflict_do_nothing(index_elements=["openid"]), dialog_of,
            queries.insert_for(dialect, Message).on_conflict_do_nothing(index_elements=["dedupe_key"]))


# Built once (building costs SQLAlchemy more than running them), run as
# queries.Prepared: a dialog step is a dozen statements, and through
# SQLAlchemy's execute they cost several times the step's SQL.
_STATEMENTS = {name: tuple(map(queries.Prepared, _statements(name))) for name in ("sqlite", "postgresql")}
_SAVE_DIALOG = queries.Prepared(update(DisclosureDialog).where(DisclosureDialog.openid == bindparam("key_openid")))


def _dialog_step(conn, services: Services, msg: BaseMessage, key: str, text: str, now: datetime,
                 calendar) -> str:
    """One step of the dialog in one write transaction (on the intake writer:
    the SQLite write lock is never held across the event loop's turns)."""
    openid = msg.source
    # A retry of any message the dialog already answered (not only the last
    # one: retries can arrive late) gets that answer again, no step taken.
    stored = queries.existing_deliveries(conn, [key]).get(key)
    if stored is not None and stored[1]:
        return stored[1]
    new_dialog, dialog_of, _ = _STATEMENTS[conn.dialect.name]
    new_dialog(conn, {"openid": openid, "step": "new", "data": {}, "updated_at": now})
    ((current, stored_data, last_key, last_reply, updated_at),) = dialog_of(conn, {"openid": openid})
    if last_key == key:
        return last_reply  # a retry: same answer, no step taken
    active = current in ACTIVE_STEPS and now - updated_at < IDLE_LIMIT
    data = dict(stored_data or {})
    if not active:
        step, data, reply = "name", {"request": text[:2000]}, INTRO
    elif text in CANCEL_WORDS:
        step, reply = "cancelled", CANCELLED
    else:
        step, reply = advance(current, text, data)
        if step == "done":
            reply = _register(conn, services, msg, key, data, calendar)
    if step != "done":
        # Every step is logged as it is answered (no case yet); the
        # registered case takes the whole dialog into its thread.
        _store_step(conn, msg, key, text, reply, now)
        data["keys"] = [*data.get("keys", []), key]
    _SAVE_DIALOG(conn, {"key_openid": openid, "step": step, "data": data if step != "done" else {},
                        "last_key": key, "last_reply": reply, "updated_at": now})
    return reply


def _register(conn, services: Services, msg: BaseMessage, key: str, data: dict, calendar) -> str:
    """The completed application becomes a case and a disclosure request in
    the dialog's own transaction; the date of receipt is today, the day both
    sides confirm."""
    settings, tz = services.settings, services.settings.tz
    received_at = wechat._received_at(msg)
    today = received_at.astimezone(tz).date()
    description = data["info"]
    c = services.classifier.classify(description, hint_kind="disclosure_request")
    classification = Classification("disclosure_request", c.topic, c.confidence, c.matched, False, "feed")
    text = (f"【政府信息公开申请（微信）】申请公开：{description}\n获取方式：{data['form']}"
            + (f"\n最初留言：{data['request']}" if data.get("request") else ""))
    item = InboundMessage(
        channel="wechat", identity=msg.source, received_at=received_at, text=text, classification=classification,
        dedupe_key=key, raw=msg._raw_xml, contact_name=data["name"],
        contact_phone=data["contact"] if _PHONE.match(data["contact"]) else None,
        applicant_type="natural_person", thread=False, passive_reply=False,
        title="政府信息公开申请",
    )
    (result,) = record_inbound_sync(conn, [item], IntakeContext(settings, calendar))
    steps = [k for earlier in data.get("keys", []) for k in (earlier, earlier + "#reply")]
    if steps:
        conn.execute(update(Message).where(Message.dedupe_key.in_(steps), Message.case_id.is_(None))
                           .values(case_id=result.case_id))
    try:
        req = dz.register(
            case_id=result.case_id, channel="wechat",
            applicant=dz.Applicant(applicant_type="natural_person", name=data["name"], contact=data["contact"],
                                   description=description, delivery_form=data["form"]),
            receipt_date=today, receipt_basis="confirmed", calendar=calendar, secret_key=settings.secret_key,
        )
    except dz.DisclosureError as exc:
        # The calendar can't date the deadline (a year not entered yet): the
        # case is kept, staff register the request by hand.
        reply = (f"您的政府信息公开申请已收到，受理编号 {result.number}，收到申请日期：{today:%Y年%m月%d日}。"
                 "工作人员将尽快与您联系确认答复期限。")
        _store_reply(conn, key, result, msg, reply, note=str(exc))
        return reply
    values = {c.name: getattr(req, c.name) for c in DisclosureRequest.__table__.columns if c.name != "id"}
    values.update(created_at=datetime.now(timezone.utc), updated_at=datetime.now(timezone.utc))
    conn.execute(insert(DisclosureRequest).values(**values))
    conn.execute(update(Case).where(Case.id == result.case_id).values(
        deadline_at=dz.end_of_day(req.answer_due, tz), deadline_days=dz.ANSWER_DAYS, deadline_error=None))
    reply = DONE.format(number=result.number, day=f"{today.year}年{today.month}月{today.day}日",
                        due=f"{req.answer_due.year}年{req.answer_due.month}月{req.answer_due.day}日")
    _store_reply(conn, key, result, msg, reply)
    return reply


def _store_step(conn, msg: BaseMessage, key: str, text: str, reply: str, now: datetime) -> None:
    ids = queries.ensure_contacts(conn, "wechat", {msg.source: {"at": now}})
    rows = [
        dict(contact_id=ids[msg.source], direction="in", channel="wechat", msg_type="text", text=text,
             raw=msg._raw_xml, dedupe_key=key, reply_text=reply, status="received", created_at=wechat._received_at(msg)),
        dict(contact_id=ids[msg.source], direction="out", channel="wechat", msg_type="text", text=reply,
             raw=None, dedupe_key=key + "#reply", reply_text=None, status="sent", created_at=now),
    ]
    _STATEMENTS[conn.dialect.name][2](conn, rows)


def _store_reply(conn, key: str, result, msg: BaseMessage, reply: str, note: str | None = None) -> None:
    conn.execute(update(Message).where(Message.dedupe_key == key).values(reply_text=reply))
    conn.execute(insert(Message).values(
        case_id=result.case_id, direction="out", channel="wechat", msg_type="text", text=reply, status="sent",
        created_at=datetime.now(timezone.utc)))
    conn.execute(insert(AuditEntry).values(
        at=datetime.now(timezone.utc), actor="channel:wechat", action="disclosure.registered", case_id=result.case_id,
        detail={"via": "wechat_dialog", **({"calendar_error": note} if note else {})}))


def setup(app: web.Application) -> None:
    app[wechat.ROUTER].include(router, first=True)
