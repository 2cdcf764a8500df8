"""Instant answers: the office's knowledge base, keyword rules and custom
menu, as pure domain rules (no I/O).

- A knowledge-base entry answers a common question: several wordings of the
  question, the answer (may contain a link), a topic, optional validity dates
  (office-local days, both inclusive), and whether a person must still follow
  up. Entries that share a wording may not be valid on the same day, so the
  account never has two answers to one question.
- Keyword rules answer before the knowledge base: exact, contains or regex.
- The custom menu is WeChat's JSON (``{"button": [...]}``), checked against
  WeChat's limits here, before anything is sent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Iterable

from .errors import InvalidInput
from .own_cases import MENU_KEY
from .vocabulary import TOPICS

MAX_ANSWER_CHARS = 600  # the passive reply also carries the case number; WeChat caps it at 2000 bytes
MAX_QUESTION_CHARS = 200
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
MATCH_KINDS = ("exact", "contains", "regex")
MAX_PATTERN_CHARS = 200


class AnswersError(InvalidInput):
    """Bad knowledge-base, rule or menu input; ``field`` names what is wrong
    (e.g. ``answer``, ``entries[2].valid_to``, ``button[1].sub_button[0].name``)."""


# ---- text ---------------------------------------------------------------------


_PUNCT_SPACE = re.compile(r"[\s\u3000]+")


def normalize(text: str) -> str:
    """Full-width → half-width, lower case, spaces and trailing punctuation
    dropped: the form in which wordings are compared."""
    t = unicodedata.normalize("NFKC", text or "").lower()
    t = _PUNCT_SPACE.sub("", t)
    return t.strip("?？!！。.,，~～…、；;：:")


# ---- knowledge-base entries ----------------------------------------------------


@dataclass(frozen=True)
class Entry:
    key: str  # stable id; also the EventKey of a menu CLICK that asks for it
    questions: tuple[str, ...]
    answer: str
    topic: str = "general"
    valid_from: date | None = None
    valid_to: date | None = None
    needs_person: bool = False
    active: bool = True
    title: str | None = None
    id: int | None = None
    learned: tuple[str, ...] = ()  # wordings added from staff corrections
    # The admin's knowing choice: the answer's 【…】 are meant for citizens
    # (not blanks left to fill), so the entry may answer automatically.
    placeholders_allowed: bool = False

    @property
    def placeholders(self) -> list[str]:
        """The 【…】 blanks still in the answer (the starter knowledge base's
        【请填写电话】, 【3】), in order."""
        return placeholders_in(self.answer)

    @property
    def held_back(self) -> bool:
        """Not used for automatic answers: the answer holds blanks to fill
        in and no admin has said they are meant."""
        return bool(self.placeholders) and not self.placeholders_allowed

    def valid_on(self, day: date) -> bool:
        return self.active and (self.valid_from is None or day >= self.valid_from) and (
            self.valid_to is None or day <= self.valid_to)

    def overlaps(self, other: "Entry") -> bool:
        lo = max(self.valid_from or date.min, other.valid_from or date.min)
        hi = min(self.valid_to or date.max, other.valid_to or date.max)
        return lo <= hi

    @property
    def label(self) -> str:
        return self.title or self.questions[0]


PLACEHOLDER = re.compile(r"【[^【】\n]*】")


def placeholders_in(text: str) -> list[str]:
    """Every 【…】 in a text, in order (a reply's own 【自动答复】 tag is
    added later, never stored in an answer)."""
    return PLACEHOLDER.findall(text or "")


def _as_date(value: Any, name: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise AnswersError(f"{name} 必须是日期，格式如 2026-09-18，收到 {value!r}", name)


def make_entry(data: dict, *, where: str = "") -> Entry:
    """An Entry from plain data (API body, YAML/TOML file), validated on its
    own; ``where`` prefixes field names (e.g. ``entries[3].``)."""
    if not isinstance(data, dict):
        raise AnswersError("每个条目必须是一个对象（键值对）", where.rstrip(".") or None)
    key = data.get("key")
    if not isinstance(key, str) or not KEY_RE.match(key.strip()):
        raise AnswersError("key 必须是 1–64 位字母、数字、下划线、点或连字符，例如 siren-test-day", f"{where}key")
    questions = data.get("questions")
    if isinstance(questions, str):
        questions = [questions]
    if not isinstance(questions, list) or not questions:
        raise AnswersError("questions 至少要有一种问法", f"{where}questions")
    qs: list[str] = []
    seen: set[str] = set()
    for i, q in enumerate(questions):
        if not isinstance(q, str) or not normalize(q):
            raise AnswersError(f"第{i + 1}个问法为空", f"{where}questions[{i}]")
        q = q.strip()
        if len(q) > MAX_QUESTION_CHARS:
            raise AnswersError(f"第{i + 1}个问法过长（最多 {MAX_QUESTION_CHARS} 字）", f"{where}questions[{i}]")
        if normalize(q) not in seen:
            seen.add(normalize(q))
            qs.append(q)
    answer = data.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        raise AnswersError("答案不能为空", f"{where}answer")
    answer = answer.strip()
    if len(answer) > MAX_ANSWER_CHARS:
        raise AnswersError(f"答案过长（最多 {MAX_ANSWER_CHARS} 字，微信被动回复有长度上限）", f"{where}answer")
    topic = data.get("topic") or "general"
    if topic not in TOPICS:
        raise AnswersError(f"topic 必须是 {', '.join(TOPICS)} 之一", f"{where}topic")
    valid_from = _as_date(data.get("valid_from"), f"{where}valid_from")
    valid_to = _as_date(data.get("valid_to"), f"{where}valid_to")
    if valid_from and valid_to and valid_to < valid_from:
        raise AnswersError("有效期结束日期早于开始日期", f"{where}valid_to")
    needs_person = data.get("needs_person", False)
    active = data.get("active", True)
    placeholders_allowed = data.get("placeholders_allowed", False)
    for name, value in (("needs_person", needs_person), ("active", active),
                        ("placeholders_allowed", placeholders_allowed)):
        if not isinstance(value, bool):
            raise AnswersError(f"{name} 必须是 true 或 false", f"{where}{name}")
    title = data.get("title")
    if title is not None and (not isinstance(title, str) or len(title) > 100):
        raise AnswersError("title 必须是不超过 100 字的文字", f"{where}title")
    return Entry(key=key.strip(), questions=tuple(qs), answer=answer, topic=topic, valid_from=valid_from,
                 valid_to=valid_to, needs_person=needs_person, active=active, title=(title or "").strip() or None,
                 placeholders_allowed=placeholders_allowed)


def check_against(entry: Entry, others: Iterable[Entry]) -> None:
    """Refuse an entry that gives a second answer to a question another
    active entry answers on the same day (same wording, overlapping dates),
    or that reuses another entry's key."""
    if not entry.active:
        return
    mine = {normalize(q): q for q in entry.questions}
    for other in others:
        if other.key == entry.key or not other.active:
            continue
        shared = [mine[n] for n in (normalize(q) for q in other.questions) if n in mine]
        if shared and entry.overlaps(other):
            span = _span(other)
            raise AnswersError(
                f"问法「{shared[0]}」已属于条目 {other.key}（有效期{span}），有效期重叠："
                f"同一天同一个问题只能有一个答案。请调整有效期或删去这个问法。", "valid_from")


def _span(e: Entry) -> str:
    if e.valid_from is None and e.valid_to is None:
        return "长期"
    return f"{e.valid_from or '…'} 至 {e.valid_to or '…'}"


def check_set(entries: list[Entry]) -> None:
    """A whole knowledge base (e.g. an import file): unique keys, no
    overlapping answers."""
    keys: set[str] = set()
    for i, e in enumerate(entries):
        if e.key in keys:
            raise AnswersError(f"key {e.key} 重复", f"entries[{i}].key")
        keys.add(e.key)
    for i, e in enumerate(entries):
        try:
            check_against(e, entries[i + 1:])
        except AnswersError as exc:
            raise AnswersError(f"条目 {e.key}：{exc.message}", f"entries[{i}].valid_from") from None


def entry_data(e: Entry) -> dict:
    """An entry as plain data (export, API)."""
    out: dict[str, Any] = {"key": e.key}
    if e.title:
        out["title"] = e.title
    out.update(topic=e.topic, questions=list(e.questions), answer=e.answer)
    if e.valid_from:
        out["valid_from"] = e.valid_from
    if e.valid_to:
        out["valid_to"] = e.valid_to
    out["needs_person"] = e.needs_person
    if e.placeholders_allowed:
        out["placeholders_allowed"] = True
    if not e.active:
        out["active"] = False
    return out


# ---- the reply a citizen reads ----------------------------------------------------

FOLLOW_UP = "如以上答复未能解决您的问题，请直接留言说明，工作人员会跟进。"
PERSON_FOLLOWS = "工作人员将在{days}个工作日内跟进答复。"


# A message of these kinds may be settled by an automatic answer. A complaint,
# report, request for help or disclosure request still gets the answer but
# stays open for a person — unless the message is all but one of the office's
# own wordings (the wording explains ≥ CLOSE_MATCH of it): then the entry's
# needs_person decides, since the office wrote that answer for exactly that
# question ("刚才的警报是怎么回事" reads like a complaint to the classifier,
# but on the siren day it is a question).
SETTLED_BY_ANSWER_KINDS = frozenset({"consultation", "other"})
CLOSE_MATCH = 0.8


def person_follows(entry: Entry, kind: str, question_covered: float, secondary_kind: str | None = None) -> bool:
    """Whether a person must still follow up an automatic answer: a second
    request in the message (a complaint beside the question) counts too."""
    unsettled = kind not in SETTLED_BY_ANSWER_KINDS or (
        secondary_kind is not None and secondary_kind not in SETTLED_BY_ANSWER_KINDS)
    return entry.needs_person or (unsettled and question_covered < CLOSE_MATCH)


def check_welcome(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise AnswersError("关注欢迎语不能为空", "welcome")
    if len(text) > 600:
        raise AnswersError("关注欢迎语过长（最多 600 字）", "welcome")
    return text.strip()


def auto_reply_text(answer: str, number: str, *, needs_person: bool, days: int | None, joined: bool) -> str:
    """The answer first, then the case number, then honestly what happens next."""
    if joined:
        tail = f"（已并入受理编号 {number}）"
    else:
        tail = f"受理编号 {number}。"
    if needs_person:
        nxt = PERSON_FOLLOWS.format(days=days) if days else "工作人员将尽快跟进答复。"
    else:
        nxt = FOLLOW_UP
    return f"{answer}\n\n【自动答复】{tail}{nxt}"


@dataclass(frozen=True)
class AutoAnswer:
    """A knowledge-base answer attached to an inbound message (seam 3)."""

    entry_id: int | None
    entry_key: str
    answer: str
    score: float
    needs_person: bool

    def as_dict(self) -> dict:
        return {"entry_id": self.entry_id, "entry": self.entry_key, "score": round(self.score, 3),
                "needs_person": self.needs_person}


# ---- keyword rules ------------------------------------------------------------------


@dataclass(frozen=True)
class KeywordRule:
    match: str  # exact | contains | regex
    pattern: str
    reply: str
    active: bool = True
    id: int | None = None
    compiled: re.Pattern | None = field(default=None, compare=False, repr=False)

    def matches(self, text: str) -> bool:
        if not self.active:
            return False
        if self.match == "exact":
            return normalize(text) == normalize(self.pattern)
        if self.match == "contains":
            return normalize(self.pattern) in normalize(text)
        return bool(self.compiled and self.compiled.search(text))


def make_rule(data: dict, *, where: str = "") -> KeywordRule:
    if not isinstance(data, dict):
        raise AnswersError("每条关键词规则必须是一个对象", where.rstrip(".") or None)
    match = data.get("match", "contains")
    if match not in MATCH_KINDS:
        raise AnswersError("match 必须是 exact（完全一致）、contains（包含）或 regex（正则表达式）", f"{where}match")
    pattern = data.get("pattern")
    if not isinstance(pattern, str) or not pattern.strip():
        raise AnswersError("pattern 不能为空", f"{where}pattern")
    pattern = pattern.strip()
    if len(pattern) > MAX_PATTERN_CHARS:
        raise AnswersError(f"pattern 过长（最多 {MAX_PATTERN_CHARS} 字）", f"{where}pattern")
    compiled = None
    if match == "regex":
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise AnswersError(f"正则表达式有误：{exc}", f"{where}pattern") from None
        if compiled.search(""):
            raise AnswersError("正则表达式会匹配空消息，请写得更具体", f"{where}pattern")
    elif not normalize(pattern):
        raise AnswersError("pattern 只有标点或空白", f"{where}pattern")
    reply = data.get("reply")
    if not isinstance(reply, str) or not reply.strip():
        raise AnswersError("回复内容不能为空", f"{where}reply")
    if len(reply) > MAX_ANSWER_CHARS:
        raise AnswersError(f"回复内容过长（最多 {MAX_ANSWER_CHARS} 字）", f"{where}reply")
    active = data.get("active", True)
    if not isinstance(active, bool):
        raise AnswersError("active 必须是 true 或 false", f"{where}active")
    return KeywordRule(match, pattern, reply.strip(), active, compiled=compiled)


def compiled_rule(rule: KeywordRule) -> KeywordRule:
    if rule.match == "regex" and rule.compiled is None:
        return replace(rule, compiled=re.compile(rule.pattern))
    return rule


def first_rule(rules: Iterable[KeywordRule], text: str) -> KeywordRule | None:
    """Rules are tried in order: exact ones first, then the rest as listed."""
    rules = list(rules)
    for r in [r for r in rules if r.match == "exact"] + [r for r in rules if r.match != "exact"]:
        if r.matches(text):
            return r
    return None


def rule_data(r: KeywordRule) -> dict:
    out: dict[str, Any] = {"match": r.match, "pattern": r.pattern, "reply": r.reply}
    if not r.active:
        out["active"] = False
    return out


# ---- the custom menu -------------------------------------------------------------------

MAX_BUTTONS, MAX_SUB_BUTTONS = 3, 5
# CLICK keys the account answers itself, not from the knowledge base: 查询 (own_cases.MENU_KEY).
COMMAND_KEYS = frozenset({MENU_KEY})
MAX_NAME_BYTES, MAX_SUB_NAME_BYTES = 16, 60
MAX_KEY_BYTES, MAX_URL_BYTES = 128, 1024
_URL = re.compile(r"^https?://[^\s/]+", re.I)


def _menu_name(item: dict, where: str, label: str, max_bytes: int, limit_text: str) -> tuple[str, str]:
    """A button's name, checked against WeChat's byte limit; and the label
    that names the button in later errors."""
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise AnswersError(f"{label}缺少名称 name", f"{where}.name")
    label = f"{label}「{name}」"
    if _nbytes(name) > max_bytes:
        raise AnswersError(f"{label}：名称 {_nbytes(name)} 字节，{limit_text}", f"{where}.name")
    return name, label


def _nbytes(s: str) -> int:
    return len(s.encode("utf-8"))


def validate_menu(menu: Any, *, known_keys: set[str] | None = None) -> dict:
    """WeChat's menu JSON, checked against WeChat's limits; returns the menu
    as WeChat expects it. ``known_keys``: the knowledge-base keys a CLICK may
    name (None: not checked). Errors name the button, e.g.
    ``第2个菜单「办事指南」的第3个子菜单「…」：名称超过 60 字节``."""
    if not isinstance(menu, dict) or "button" not in menu:
        raise AnswersError("菜单文件必须有 button 列表", "button")
    buttons = menu["button"]
    if not isinstance(buttons, list) or not buttons:
        raise AnswersError("button 必须是至少含一个菜单的列表", "button")
    if len(buttons) > MAX_BUTTONS:
        raise AnswersError(f"一级菜单最多 {MAX_BUTTONS} 个，文件中有 {len(buttons)} 个", "button")
    out = []
    for i, b in enumerate(buttons):
        where, label = f"button[{i}]", f"第{i + 1}个菜单"
        if not isinstance(b, dict):
            raise AnswersError(f"{label}必须是一个对象", where)
        name, label = _menu_name(b, where, label, MAX_NAME_BYTES, f"一级菜单名称最多 {MAX_NAME_BYTES} 字节（约5个汉字）")
        subs = b.get("sub_button")
        if subs is not None and subs != []:
            if not isinstance(subs, list):
                raise AnswersError(f"{label}：sub_button 必须是列表", f"{where}.sub_button")
            if len(subs) > MAX_SUB_BUTTONS:
                raise AnswersError(f"{label}：子菜单最多 {MAX_SUB_BUTTONS} 个，文件中有 {len(subs)} 个",
                                   f"{where}.sub_button")
            if "type" in b:
                raise AnswersError(f"{label}：有子菜单的菜单不能再设 type", f"{where}.type")
            out_subs = []
            for j, s in enumerate(subs):
                sw, sl = f"{where}.sub_button[{j}]", f"{label}的第{j + 1}个子菜单"
                if not isinstance(s, dict):
                    raise AnswersError(f"{sl}必须是一个对象", sw)
                _, sl = _menu_name(s, sw, sl, MAX_SUB_NAME_BYTES, f"子菜单名称最多 {MAX_SUB_NAME_BYTES} 字节")
                out_subs.append(_leaf(s, sw, sl, known_keys))
            out.append({"name": name, "sub_button": out_subs})
        else:
            out.append(_leaf(b, where, label, known_keys))
    return {"button": out}


def _leaf(b: dict, where: str, label: str, known_keys: set[str] | None) -> dict:
    kind = b.get("type")
    if kind == "click":
        key = b.get("key")
        if not isinstance(key, str) or not key.strip():
            raise AnswersError(f"{label}：click 菜单需要 key", f"{where}.key")
        if _nbytes(key) > MAX_KEY_BYTES:
            raise AnswersError(f"{label}：key 最多 {MAX_KEY_BYTES} 字节", f"{where}.key")
        if known_keys is not None and key not in known_keys and key not in COMMAND_KEYS:
            raise AnswersError(f"{label}：key {key} 在知识库中没有对应条目，点击后将无从答复", f"{where}.key")
        return {"type": "click", "name": b["name"], "key": key}
    if kind == "view":
        url = b.get("url")
        if not isinstance(url, str) or not _URL.match(url):
            raise AnswersError(f"{label}：view 菜单需要 http(s) 网址 url", f"{where}.url")
        if _nbytes(url) > MAX_URL_BYTES:
            raise AnswersError(f"{label}：url 最多 {MAX_URL_BYTES} 字节", f"{where}.url")
        return {"type": "view", "name": b["name"], "url": url}
    raise AnswersError(f"{label}：type 必须是 click 或 view（有子菜单时不写 type）", f"{where}.type")


def menu_click_keys(menu: dict) -> list[str]:
    keys = []
    for b in menu.get("button", []):
        for leaf in b.get("sub_button") or [b]:
            if leaf.get("type") == "click":
                keys.append(leaf["key"])
    return keys
