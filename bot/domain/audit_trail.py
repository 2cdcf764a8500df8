"""The audit trail as staff read it (the case page's 办理记录): one Chinese
sentence per entry, "张三 将案件分派给 李四；状态：新收 → 办理中", with
office-local times (no UTC offset) and staff display names, never an actor
label (``token:admin``), a stable key or raw JSON. The raw entry stays
available (``AuditLine.raw``) for admins to open.

Pure: the entries (anything with ``at``, ``actor``, ``action``, ``detail``),
the people (``People``) and the office's time zone in, ``AuditLine`` out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone, tzinfo
from typing import Any, Protocol

from .disclosure import OUTCOME_LABELS, REQUIRED_FIELDS, STAGE_LABELS
from .report import REVIEW_KIND_LABELS, REVIEW_RESULT_LABELS
from .vocabulary import (
    CHANNEL_LABELS, KIND_LABELS, RATING_LABELS, RATING_SOURCE_LABELS, REPLY_TYPE_LABELS, STATUS_LABELS, TOPIC_LABELS,
)

TIME_FORMAT = "%Y-%m-%d %H:%M"


class AuditRecord(Protocol):
    at: datetime
    actor: str
    action: str
    detail: Any


@dataclass(frozen=True)
class People:
    """Who the labels and ids of an audit trail are, by display name."""

    by_username: Mapping[str, str] = field(default_factory=dict)  # user name → display name
    by_id: Mapping[int, str] = field(default_factory=dict)  # user id → display name
    by_token: Mapping[str, str] = field(default_factory=dict)  # API token name → its owner's display name
    kb_entries: Mapping[str, str] = field(default_factory=dict)  # knowledge-base key → title or first question

    def user(self, username: str) -> str:
        return self.by_username.get(username, username)

    def of_id(self, user_id: Any) -> str:
        if user_id in (None, ""):
            return "（无）"
        try:
            return self.by_id.get(int(user_id), f"已删除的账号（{user_id}）")
        except (TypeError, ValueError):
            return str(user_id)


@dataclass(frozen=True)
class AuditLine:
    at: str  # office-local, e.g. 2026-12-03 09:15
    who: str  # 张三, 张三（接口）, 微信公众号, 系统
    text: str  # the whole sentence, who first
    raw: str  # the entry as recorded (action and detail, JSON), for admins


def actor_names(labels: Iterable[str]) -> tuple[set[str], set[str]]:
    """The user names and API token names that audit actor labels mention
    (what a service looks up to fill ``People``)."""
    users, tokens = set(), set()
    for label in labels:
        kind, _, name = (label or "").partition(":")
        if kind == "user" and name:
            users.add(name)
        elif kind == "token" and name:
            tokens.add(name)
    return users, tokens


def who(label: str, people: People) -> str:
    """How an actor label reads: a person by display name, a token by its
    owner and （接口）, a channel by its Chinese name."""
    kind, _, name = (label or "").partition(":")
    if kind == "user" and name:
        return people.user(name)
    if kind == "token" and name:
        return f"{people.by_token.get(name, people.user(name))}（接口）"
    if kind == "channel" and name:
        return CHANNEL_LABELS.get(name, "其他渠道")
    if kind == "platform":
        return "12345平台" if name == "12345" else "对接平台"
    if kind == "citizen":
        return "群众（办理进度查询页）" if name == "track" else "群众"
    return {"system": "系统", "cli": "管理员（命令行）", "anonymous": "未登录的访客"}.get(label, "系统")


# ---- values ----------------------------------------------------------------------------


def _moment(value: Any, tz: tzinfo) -> str:
    """An ISO date or datetime recorded in the detail, as an office-local
    date (and time when it has one that matters)."""
    if not value:
        return "（无）"
    if isinstance(value, str):
        try:
            parsed: date | datetime = datetime.fromisoformat(value) if "T" in value or " " in value \
                else date.fromisoformat(value)
        except ValueError:
            return value
    else:
        parsed = value
    if isinstance(parsed, datetime):
        local = (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(tz)
        if (local.hour, local.minute) in ((0, 0), (23, 59)):
            return local.strftime("%Y-%m-%d")
        return local.strftime(TIME_FORMAT)
    return parsed.isoformat()


def _label(labels: Mapping[str, str], value: Any) -> str:
    if value in (None, ""):
        return "（无）"
    return labels.get(value, "其他") if isinstance(value, str) else str(value)


def _pair(value: Any) -> tuple[Any, Any] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[0], value[1]
    return None


def _changes(detail: Mapping[str, Any], people: People, tz: tzinfo, *, skip: Iterable[str] = ()) -> list[str]:
    """The clauses for what changed, in a fixed order."""
    out: list[str] = []
    skipped = set(skip)

    def arrow(name: str, labels: Mapping[str, str]) -> None:
        pair = _pair(detail.get(name))
        if pair is not None and name not in skipped:
            out.append(f"{_FIELD[name]}：{_label(labels, pair[0])} → {_label(labels, pair[1])}")

    arrow("status", STATUS_LABELS)
    arrow("kind", KIND_LABELS)
    arrow("topic", TOPIC_LABELS)
    deadline = detail.get("deadline") or detail.get("deadline_at")
    if "deadline" not in skipped and deadline:
        pair = _pair(deadline)
        out.append(f"办理期限：{_moment(pair[0], tz)} → {_moment(pair[1], tz)}" if pair
                   else f"办理期限：{_moment(deadline, tz)}")
    days = _pair(detail.get("deadline_days"))
    if days is not None and "deadline_days" not in skipped:
        out.append(f"办理时限：{days[0] or '—'} → {days[1] or '—'} 个工作日")
    if detail.get("paused_working_days"):
        out.append(f"暂停计时 {detail['paused_working_days']} 个工作日")
    if detail.get("pause_error") or detail.get("deadline_error"):
        out.append("办理期限未能自动计算，请人工核定")
    return out


_FIELD = {"status": "状态", "kind": "类型", "topic": "主题"}


def _quote(text: Any, limit: int = 60) -> str:
    t = str(text or "").strip()
    return f"“{t[:limit]}{'…' if len(t) > limit else ''}”" if t else ""


# ---- the sentences -----------------------------------------------------------------------


def _case_updated(d, people, tz) -> list[str]:
    head: list[str] = []
    pair = _pair(d.get("assignee_id"))
    if pair is not None:
        head.append(f"将案件分派给 {people.of_id(pair[1])}" if pair[1] else "取消了案件的分派")
    if _pair(d.get("kind")) or _pair(d.get("topic")):
        head.append("人工改分类")
    rest = _changes(d, people, tz)
    if not head:
        head = ["修改了案件"]
    return [" ".join(head[:1]) if len(head) == 1 else f"{head[0]}，{head[1]}", *rest]


def _classified(d, people, tz) -> list[str]:
    pair = _pair(d.get("kind"))
    parts = ["确定了类型并计算办理期限"]
    if pair is not None and pair[0] != pair[1]:
        parts.append(f"类型：{_label(KIND_LABELS, pair[0])} → {_label(KIND_LABELS, pair[1])}")
    if d.get("deadline_days"):
        parts.append(f"办理时限 {d['deadline_days']} 个工作日")
    if d.get("deadline_at"):
        parts.append(f"办理期限：{_moment(d['deadline_at'], tz)}")
    return parts


def _created(d, people, tz) -> list[str]:
    c = d.get("classification") or {}
    parts = [f"登记了案件{(' ' + d['number']) if d.get('number') else ''}"]
    if c.get("kind"):
        parts.append(f"自动分类：{_label(KIND_LABELS, c['kind'])}、{_label(TOPIC_LABELS, c.get('topic'))}")
    return parts


def _replied(d, people, tz) -> list[str]:
    kind = REPLY_TYPE_LABELS.get(d.get("type"), "答复")
    via = d.get("via")
    how = CHANNEL_LABELS.get(via) or (via if isinstance(via, str) and via else "")
    return [f"答复了群众：{kind}" + (f"，经{how}" if how else ""), *_changes(d, people, tz)]


def _rated(d, people, tz) -> list[str]:
    score = d.get("score")
    label = RATING_LABELS.get(score, f"{score} 分") if isinstance(score, int) else "（未知）"
    source = RATING_SOURCE_LABELS.get(d.get("source"), "回访")
    return [f"记录了回访评价：{label}（{source}）"]


def _extension(d, people, tz, verb: str) -> list[str]:
    parts = [verb + (f" {d['working_days']} 个工作日" if d.get("working_days") else "")]
    if d.get("to") == "platform":
        parts.append("已报12345平台审批")
    elif d.get("to") == "admin":
        parts.append("待管理员审批")
    if d.get("reason"):
        parts.append(f"理由：{_quote(d['reason'])}")
    if d.get("approved_by"):
        parts.append(f"批准人：{d['approved_by']}")
    if d.get("note"):
        parts.append(f"说明：{_quote(d['note'])}")
    return parts + _changes(d, people, tz)


def _returned(d, people, tz, verb: str) -> list[str]:
    parts = [verb]
    if d.get("reason"):
        parts.append(f"理由：{_quote(d['reason'])}")
    if d.get("basis"):
        parts.append(f"依据：{_quote(d['basis'])}")
    if d.get("note"):
        parts.append(f"说明：{_quote(d['note'])}")
    return parts + _changes(d, people, tz)


def _urged(d, people, tz) -> list[str]:
    level = d.get("level") if d.get("level") in ("催办", "督办") else "催办"
    return [f"对案件{level}" + (f"：{_quote(d['note'])}" if d.get("note") else "")]


def _merged(d, people, tz) -> list[str]:
    return [f"将本案合并到 {d.get('into_number') or '另一案件'}", *_changes(d, people, tz)]


def _merged_in(d, people, tz) -> list[str]:
    return [f"将 {d.get('from_number') or '另一案件'} 合并进本案"]


def _auto_answered(d, people, tz) -> list[str]:
    parts = ["按知识库自动答复了群众"]
    if d.get("entry"):
        parts.append(f"条目：{people.kb_entries.get(d['entry'], '（已删除的条目）')}")
    parts.append("需人工跟进" if d.get("needs_person") else "无需人工跟进")
    return parts


def _answer_judged(d, people, tz) -> list[str]:
    if d.get("correct") and d.get("correct") == d.get("matched"):
        parts = ["核对自动答复：答对了"]
    elif d.get("correct"):
        parts = [f"核对自动答复：答错了，应答复“{people.kb_entries.get(d['correct'], '（已删除的条目）')}”"]
    else:
        parts = ["核对自动答复：没有合适的条目，转人工办理"]
    if d.get("reopened"):
        parts.append("案件重新打开交由人工办理")
    return parts


def _publication(d, people, tz) -> list[str]:
    what = [label for key, label in (("published_title", "公开标题"), ("published_letter", "公开的来信内容"),
                                     ("published_answer", "公开的答复内容")) if key in d]
    parts = ["修改了网上信箱的公开内容" + (f"（{'、'.join(what)}）" if what else "")]
    withheld = _pair(d.get("publish_withheld"))
    if withheld is not None:
        parts.append("不予公开" if withheld[1] else "恢复公开")
    return parts


def _disclosure_saved(d, people, tz, verb: str) -> list[str]:
    parts = [verb]
    missing = d.get("missing")
    if missing:
        parts.append("尚缺：" + "、".join(REQUIRED_FIELDS.get(m, "其他要素") for m in missing))
    if d.get("outcome"):
        parts.append(f"办理结果：{OUTCOME_LABELS.get(d['outcome'], '其他')}")
    if d.get("decided_at"):
        parts.append(f"决定日期：{_moment(d['decided_at'], tz)}")
    return parts


def _disclosure_step(d, people, tz, verb: str) -> list[str]:
    parts = [verb]
    for key, label in (("sent_on", "发出日期"), ("received_on", "收到日期"), ("answered_on", "答复日期"),
                       ("notice_on", "告知日期"), ("reply_due", "补正期限"), ("answer_due", "答复期限")):
        if d.get(key):
            parts.append(f"{label}：{_moment(d[key], tz)}")
    if d.get("days"):
        parts.append(f"延长 {d['days']} 个工作日")
    if d.get("approved_by"):
        parts.append(f"批准人：{d['approved_by']}")
    if d.get("stage"):
        parts.append(f"阶段：{STAGE_LABELS.get(d['stage'], '其他')}")
    if d.get("outcome"):
        parts.append(f"办理结果：{OUTCOME_LABELS.get(d['outcome'], '其他')}")
    return parts


def _review(d, people, tz, verb: str) -> list[str]:
    parts = [verb]
    if d.get("kind"):
        parts.append(REVIEW_KIND_LABELS.get(d["kind"], "其他"))
    if d.get("result"):
        parts.append(f"结果：{REVIEW_RESULT_LABELS.get(d['result'], '其他')}")
    return parts


def _fixed(text: str):
    return lambda d, people, tz: [text]


def _with_changes(text: str):
    return lambda d, people, tz: [text, *_changes(d, people, tz)]


# Every action the services write (grep "audit.add" and "_audit(" in bot/services).
SENTENCES = {
    "case.created": _created,
    "case.classified": _classified,
    "case.updated": _case_updated,
    "case.replied": _replied,
    "case.noted": _fixed("添加了内部备注"),
    "case.merged": _merged,
    "case.merged_in": _merged_in,
    "case.reply_retried": _fixed("重新发送了答复"),
    "case.reply_delivered": lambda d, p, tz: ["记录答复已通过其他方式送达" + (f"（{d['via']}）" if d.get("via") else "")],
    "case.entered": lambda d, p, tz: [f"人工录入了案件（{CHANNEL_LABELS.get(d.get('channel'), '其他渠道')}）"],
    "case.imported": _fixed("从历史数据导入了案件"),
    "case.entry_duplicate": _fixed("重复录入了同一件诉求（未另立案件）"),
    "case.accepted": lambda d, p, tz: ["自动签收了工单" if d.get("auto") else "签收了工单"],
    "case.resumed": _with_changes("收到群众补充，案件恢复办理"),
    "case.extension_requested": lambda d, p, tz: _extension(d, p, tz, "申请延期"),
    "case.extended": lambda d, p, tz: _extension(d, p, tz, "延期"),
    "case.extension_refused": lambda d, p, tz: _extension(d, p, tz, "未批准延期申请"),
    "case.return_requested": lambda d, p, tz: _returned(d, p, tz, "申请退回（不属本单位职责）"),
    "case.returned": lambda d, p, tz: _returned(d, p, tz, "退回了案件（不属本单位职责）"),
    "case.return_refused": lambda d, p, tz: _returned(d, p, tz, "退回申请未获同意"),
    "case.rated": _rated,
    "case.reopened": _with_changes("重新办理案件"),
    "case.supervised": _fixed("因群众不满意，案件提交督办"),
    "case.cancelled": lambda d, p, tz: _returned(d, p, tz, "撤单"),
    "case.urged": _urged,
    "case.deadline_computed": lambda d, p, tz: ["重新计算了办理期限", *_changes(d, p, tz)],
    "case.tracking_code_issued": lambda d, p, tz: ["发放了新的查询码" + ("（旧查询码作废）" if d.get("replaced") else "")],
    "case.publication_edited": _publication,
    "contact.unmasked": _fixed("查看了完整的联系方式"),
    "kb.auto_answered": _auto_answered,
    "kb.answer_judged": _answer_judged,
    "disclosure.registered": lambda d, p, tz: _disclosure_saved(d, p, tz, "登记了政府信息公开申请"),
    "disclosure.updated": lambda d, p, tz: _disclosure_saved(d, p, tz, "修改了政府信息公开申请"),
    "disclosure.unmasked": _fixed("查看了申请人的完整个人信息"),
    "disclosure.correction_notice": lambda d, p, tz: _disclosure_step(d, p, tz, "发出补正通知"),
    "disclosure.corrected": lambda d, p, tz: _disclosure_step(d, p, tz, "收到申请人的补正"),
    "disclosure.abandoned": lambda d, p, tz: _disclosure_step(d, p, tz, "申请人逾期未补正，不再处理"),
    "disclosure.third_party": lambda d, p, tz: _disclosure_step(d, p, tz, "征求第三方意见"),
    "disclosure.third_party_answer": lambda d, p, tz: _disclosure_step(d, p, tz, "收到第三方意见"),
    "disclosure.extension": lambda d, p, tz: _disclosure_step(d, p, tz, "延长答复期限"),
    "disclosure.stage": lambda d, p, tz: _disclosure_step(d, p, tz, "改变办理阶段"),
    "disclosure.answer_letter": lambda d, p, tz: _disclosure_step(d, p, tz, "生成了答复书"),
    "disclosure.review_added": lambda d, p, tz: _review(d, p, tz, "登记了行政复议或行政诉讼"),
    "disclosure.review_updated": lambda d, p, tz: _review(d, p, tz, "更新了行政复议或行政诉讼的结果"),
    "disclosure.dialog_completed": _fixed("申请人在微信中完成了登记"),
    "disclosure.dialog_stopped": _fixed("申请人在微信中停止了登记"),
    "disclosure.registration_failed": _fixed("自动登记未成功，请人工登记"),
    "outbox.retry": _fixed("重新发送了一条外发消息"),
    # Not tied to a case (the same trail, should a page list them).
    "kb.entry_created": lambda d, p, tz: [f"新增了知识库条目{_entry(d, p)}"],
    "kb.entry_updated": lambda d, p, tz: [f"修改了知识库条目{_entry(d, p)}"],
    "kb.entry_deactivated": lambda d, p, tz: [f"停用了知识库条目{_entry(d, p)}"],
    "kb.rules_replaced": lambda d, p, tz: [f"替换了关键词规则（{d.get('count', 0)} 条）"],
    "kb.welcome_changed": _fixed("修改了关注欢迎语"),
    "kb.imported": lambda d, p, tz: [f"导入了知识库（新增 {len(d.get('created') or ())} 条，"
                                     f"更新 {len(d.get('updated') or ())} 条）"],
    "staff.login": _fixed("登录"),
    "staff.login_failed": _fixed("登录失败"),
    "staff.logout": _fixed("退出登录"),
    "token.created": lambda d, p, tz: [f"为 {p.user(str(d.get('username', '')))} 创建了接口令牌"],
    "token.revoked": lambda d, p, tz: [f"吊销了 {p.user(str(d.get('username', '')))} 的接口令牌"
                                       f"{_quote(d.get('name'), 30)}"],
    "user.created": lambda d, p, tz: [f"创建了账号 {p.user(str(d.get('username', '')))}"
                                      + ("（管理员）" if d.get("role") == "admin" else "（工作人员）")],
    "user.activate": lambda d, p, tz: [f"启用了账号 {p.user(str(d.get('username', '')))}"],
    "user.deactivate": lambda d, p, tz: [f"停用了账号 {p.user(str(d.get('username', '')))}"],
    "user.password": lambda d, p, tz: [f"重设了 {p.user(str(d.get('username', '')))} 的密码"],
    "calendar.saved": lambda d, p, tz: [f"保存了 {d.get('year', '')} 年的节假日安排"],
    "canned.saved": lambda d, p, tz: [f"保存了常用答复{_quote(d.get('title'), 30)}"],
}


def _entry(d: Mapping[str, Any], people: People) -> str:
    title = people.kb_entries.get(d.get("key") or "")
    return f"“{title}”" if title else ""


def describe(action: str, detail: Any, people: People, tz: tzinfo) -> str:
    """What was done, as a predicate (without who did it)."""
    d = detail if isinstance(detail, Mapping) else {}
    fn = SENTENCES.get(action)
    if fn is None:
        return "进行了其他操作"
    parts = [p for p in fn(d, people, tz) if p]
    return "；".join(parts)


def line(entry: AuditRecord, people: People, tz: tzinfo) -> AuditLine:
    name = who(entry.actor, people)
    at = (entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=timezone.utc)).astimezone(tz)
    raw = json.dumps({"actor": entry.actor, "action": entry.action, "detail": entry.detail or {}},
                     ensure_ascii=False, sort_keys=True, default=str)
    return AuditLine(at.strftime(TIME_FORMAT), name, f"{name} {describe(entry.action, entry.detail, people, tz)}", raw)


def lines(entries: Iterable[AuditRecord], people: People, tz: tzinfo) -> list[AuditLine]:
    return [line(e, people, tz) for e in entries]
