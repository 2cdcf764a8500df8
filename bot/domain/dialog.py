"""The WeChat disclosure dialog (条例 第二十九条), as rules: when a text reads
as a disclosure request, it becomes a case at once (its number in the first
reply), and four short steps (name, contact, the information wanted, form
of delivery) fill the case's registration. Plain ways of stopping (算了,
不办了, 取消…) end it at any step; an answer that does not look like what
was asked (a question, odd characters) is asked again, with an example.
Pure: bot/services/dialog.py keeps the dialog's state in the database and
writes each answer into the registration."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

ACTIVE_STEPS = ("name", "contact", "info", "form")
IDLE_LIMIT = timedelta(hours=24)  # a dialog left this long is abandoned: the next message is an ordinary one
DELIVERY_FORMS = {"1": "纸质文本（邮寄）", "2": "电子邮件", "3": "微信公众号回复", "4": "当面领取"}
# Free-text answers at the last step, by what they mention (checked in order).
DELIVERY_WORDS = (("邮寄", "1"), ("纸质", "1"), ("邮件", "2"), ("邮箱", "2"), ("email", "2"), ("微信", "3"),
                  ("公众号", "3"), ("当面", "4"), ("自取", "4"), ("领取", "4"))
PHONE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$")  # 区号 + number, e.g. 01012345678
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Ways people say "stop": an answer made only of these (and the filler words
# around them) ends the dialog; "取消政策文件" is a description, not a stop.
STOP_PHRASES = ("不申请了", "不用申请了", "不办了", "不弄了", "不用了", "不要了", "不需要了", "取消申请", "取消",
                "退出", "算了", "结束", "停止", "放弃", "不想办了", "先不办了", "先不了", "不了")
STOP_FILLERS = "我那就还是先吧啊呀了哦嗯好的谢"
# A question instead of an answer.
QUESTION = re.compile(r"[?？]|为什么|为啥|为何|凭什么|干嘛|干什么|什么|怎么|怎样|能不能|可不可以|是否|吗|呢$")
# What a name (a person's or an organisation's) is made of.
NAME_CHARS = re.compile(r"^[\u3400-\u9fffA-Za-z0-9·•.\-&()（）、 ]+$")
HAS_LETTER = re.compile(r"[\u3400-\u9fffA-Za-z]")

INTRO = (
    "您好，您要申请政府信息公开，已登记，受理编号 {number}。依据《政府信息公开条例》第二十九条，申请需包括："
    "（一）申请人的姓名或者名称、身份证明、联系方式；（二）申请公开的政府信息的名称、文号或者便于查询的其他特征性描述；"
    "（三）申请公开的政府信息的形式要求，包括获取信息的方式、途径。\n"
    "我们将分4步补全登记，任何时候回复“取消”或“算了”即可停止。\n"
    "第1步：请回复申请人姓名（法人或其他组织请回复单位名称），例如：张三。"
)
ASK_NAME = "第1步：请回复申请人姓名（法人或其他组织请回复单位名称），例如：张三，或 某某有限公司。"
WHY_NAME = ("依据《政府信息公开条例》第二十九条，政府信息公开申请须写明申请人的姓名或者名称，"
            "以便依法登记、答复和送达。只想了解政策，可以回复“取消”后直接留言咨询。\n")
BAD_NAME = "这看起来不像姓名或名称。"
ASK_CONTACT = "第2步：请回复您的联系方式（手机号码或电子邮箱），用于送达答复，例如：13800138000 或 zhangsan@example.com。"
WHY_CONTACT = "依据《政府信息公开条例》第二十九条，申请须写明联系方式，用于送达答复和必要时通知补正。\n"
BAD_CONTACT = "未能识别联系方式。"
ASK_INFO = ("第3步：请描述您申请公开的政府信息（名称、文号或便于查询的特征，如年份、项目名称），"
            "例如：2023年人防工程易地建设费收支情况。")
BAD_INFO = "描述太短，请写明信息的名称、文号或特征（至少4个字）。\n"
ASK_FORM = ("第4步：请选择获取信息的方式，回复序号：\n"
            + "\n".join(f"{k}. {v}" for k, v in DELIVERY_FORMS.items()))
BAD_FORM = "请回复序号1–4选择获取方式。\n"
STOPPED = ("好的，已停止本次登记。您已发送的内容记录在受理编号 {number} 下，"
           "工作人员会查看，必要时通过本公众号与您联系；如需继续申请，可随时重新发送申请内容。")
DONE = (
    "您的政府信息公开申请已登记完整，受理编号 {number}。\n"
    "收到申请日期：{day}（通过网络提交的申请，以双方确认之日为收到申请之日，《政府信息公开条例》第三十一条）。\n"
    "我们将在20个工作日内（{due}前）答复；如需补正，将在7个工作日内一次性告知。"
    "身份证明材料请按工作人员通知提供。回复“查询 {number}”可查看办理进度。"
)
NO_DEADLINE = ("您的政府信息公开申请已收到，受理编号 {number}，收到申请日期：{day}。"
               "工作人员将尽快与您联系确认答复期限。")
CLOSED_BY_STAFF = ("您的申请（受理编号 {number}）已由工作人员办理，本次登记不再继续。"
                   "如有新的申请，请重新发送申请内容。")


def normalise(text: str) -> str:
    """What the citizen typed, compared as they mean it: full-width letters
    and digits as ASCII, control characters gone, spaces collapsed."""
    return clean(unicodedata.normalize("NFKC", text))


def clean(text: str) -> str:
    """What the citizen typed, kept as typed, less control characters and
    runs of spaces."""
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\n\t")
    return " ".join(text.split())


def is_stop(text: str) -> bool:
    """Whether an answer says "stop" (算了，不办了 / 不用了 / 取消 / 退出…)."""
    compact = re.sub(r"[\W_]+", "", normalise(text).lower())
    if not compact or len(compact) > 16:
        return False
    rest = compact
    for phrase in STOP_PHRASES:
        rest = rest.replace(phrase, "")
    if len(rest) == len(compact):
        return False  # no stop phrase at all
    return all(ch in STOP_FILLERS for ch in rest)


def _is_question(text: str) -> bool:
    return bool(QUESTION.search(text))


def advance(step: str, text: str, data: dict) -> tuple[str, str]:
    """(next step, reply) for one answer; validates and fills ``data``
    (``name``, ``contact``, ``info``, ``form``). The last step's reply is
    "" (the caller writes the confirmation)."""
    kept, text = clean(text), normalise(text)
    if step == "name":
        if _is_question(text):
            return step, WHY_NAME + ASK_NAME
        if not (1 <= len(text) <= 100 and NAME_CHARS.match(text) and HAS_LETTER.search(text)):
            return step, BAD_NAME + ASK_NAME
        data["name"] = kept
        return "contact", ASK_CONTACT
    if step == "contact":
        compact = re.sub(r"[\s\-()（）]", "", text)
        if compact.startswith("+86"):
            compact = compact[3:]
        if PHONE.match(compact) or LANDLINE.match(compact):
            data["contact"] = compact
        elif EMAIL.match(text) and len(text) <= 200:
            data["contact"] = text
        elif _is_question(text):
            return step, WHY_CONTACT + ASK_CONTACT
        else:
            return step, BAD_CONTACT + ASK_CONTACT
        return "info", ASK_INFO
    if step == "info":
        if len(text) < 4 or not HAS_LETTER.search(text):
            return step, BAD_INFO + ASK_INFO
        data["info"] = kept[:2000]
        return "form", ASK_FORM
    if step == "form":
        form = delivery_form(text)
        if form is None:
            return step, BAD_FORM + ASK_FORM
        data["form"] = form
        return "done", ""
    raise ValueError(step)


def delivery_form(text: str) -> str | None:
    """The form of delivery an answer names: a number 1–4 or the words of one."""
    text = text.strip().rstrip("。.").strip()
    if text in DELIVERY_FORMS:
        return DELIVERY_FORMS[text]
    if _is_question(text) or len(text) > 30:
        return None
    lowered = text.lower()
    for word, key in DELIVERY_WORDS:
        if word in lowered:
            return DELIVERY_FORMS[key]
    return None


def is_active(step: str, idle: timedelta) -> bool:
    return step in ACTIVE_STEPS and idle < IDLE_LIMIT


def cn_day(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def intro_text(number: str) -> str:
    return INTRO.format(number=number)


def done_text(number: str, day: date, due: date) -> str:
    return DONE.format(number=number, day=cn_day(day), due=cn_day(due))
