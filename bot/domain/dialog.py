"""The WeChat disclosure dialog (条例 第二十九条), as rules: when a text reads
as a disclosure request, explain what a valid application needs and take
it in four short steps (name, contact, the information wanted, form of
delivery); "取消" or "退出" stops at any step. Pure: bot/services/dialog.py
keeps the dialog's state in the database and registers the request."""

from __future__ import annotations

import re
from datetime import date, timedelta

CANCEL_WORDS = frozenset({"取消", "退出", "取消申请", "不申请了", "算了"})
ACTIVE_STEPS = ("name", "contact", "info", "form")
IDLE_LIMIT = timedelta(hours=24)  # a dialog left this long starts over
DELIVERY_FORMS = {"1": "纸质文本（邮寄）", "2": "电子邮件", "3": "微信公众号回复", "4": "当面领取"}
PHONE = re.compile(r"^1[3-9]\d{9}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

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
NO_DEADLINE = ("您的政府信息公开申请已收到，受理编号 {number}，收到申请日期：{day:%Y年%m月%d日}。"
               "工作人员将尽快与您联系确认答复期限。")


def advance(step: str, text: str, data: dict) -> tuple[str, str]:
    """(next step, reply) for one answer; validates and fills ``data``."""
    if step == "name":
        if not 1 <= len(text) <= 100:
            return step, "姓名或名称应为1到100个字，请重新回复。"
        data["name"] = text
        return "contact", ASK_CONTACT
    if step == "contact":
        compact = text.replace(" ", "").replace("-", "")
        if not (PHONE.match(compact) or EMAIL.match(text)):
            return step, "未能识别联系方式，请回复11位手机号码或电子邮箱。"
        data["contact"] = compact if PHONE.match(compact) else text
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


def is_active(step: str, idle: timedelta) -> bool:
    return step in ACTIVE_STEPS and idle < IDLE_LIMIT


def case_text(data: dict) -> str:
    """What the registered case says of the application."""
    return (f"【政府信息公开申请（微信）】申请公开：{data['info']}\n获取方式：{data['form']}"
            + (f"\n最初留言：{data['request']}" if data.get("request") else ""))


def _cn(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def done_text(number: str, day: date, due: date) -> str:
    return DONE.format(number=number, day=_cn(day), due=_cn(due))
