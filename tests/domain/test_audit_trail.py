"""bot/domain/audit_trail.py: every audit action the services write reads
as a Chinese sentence, with display names and office-local times, never a
key, an actor label or JSON."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain import audit_trail as trail
from bot.domain.disclosure import STAGES
from bot.services.disclosure import STEPS

TZ = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]
PEOPLE = trail.People(by_username={"zhangsan": "张三", "lisi": "李四", "admin": "王主任"},
                      by_id={1: "张三", 2: "李四"}, by_token={"admin": "王主任", "ops-feed": "张三"},
                      kb_entries={"siren-general": "防空警报试鸣是怎么回事"})


@dataclass
class Entry:
    at: datetime
    actor: str
    action: str
    detail: dict


AT = datetime(2026, 3, 2, 1, 5, tzinfo=timezone.utc)  # 09:05 in the office
ISO = "2026-03-20T15:59:59.999999+00:00"  # 23:59:59 on 2026-03-20 in the office

# One realistic detail per action, shaped as the services write it.
DETAILS: dict[str, dict] = {
    "case.created": {"number": "WX20260302-0001", "classification": {
        "kind": "complaint", "topic": "siren", "confidence": 0.3, "matched": ["警报"], "needs_review": True,
        "source": "rules"}},
    "case.classified": {"kind": ["consultation", "complaint"], "deadline_days": 15, "deadline_at": ISO},
    "case.updated": {"assignee_id": [None, 2], "status": ["new", "in_progress"]},
    "case.replied": {"message_id": 3, "type": "final", "via": "wechat", "status": ["in_progress", "answered"]},
    "case.noted": {"note_id": 4},
    "case.merged": {"into": 9, "into_number": "WX20260302-0009", "status": ["new", "merged"]},
    "case.merged_in": {"from": 8, "from_number": "WX20260302-0008"},
    "case.reply_retried": {"message_id": 3},
    "case.reply_delivered": {"message_id": 3, "via": "邮寄"},
    "case.entered": {"channel": "phone"},
    "case.imported": {},
    "case.entry_duplicate": {"channel": "phone"},
    "case.accepted": {"auto": True, "handler": "张三"},
    "case.resumed": {"status": ["waiting", "in_progress"], "paused_working_days": 2,
                     "deadline": ["2026-03-18T15:59:59+00:00", ISO]},
    "case.extension_requested": {"extension_id": 1, "working_days": 5, "reason": "需要现场核实", "to": "admin"},
    "case.extended": {"extension_id": 1, "reason": "需要现场核实", "approved_by": "王主任", "working_days": 5,
                      "deadline": ["2026-03-13T15:59:59+00:00", ISO]},
    "case.extension_refused": {"extension_id": 1, "note": "理由不充分"},
    "case.return_requested": {"reason": "不属本单位职责", "basis": "《人民防空法》"},
    "case.returned": {"reason": "不属本单位职责", "basis": "《人民防空法》", "status": ["new", "returned"]},
    "case.return_refused": {"note": "请继续办理"},
    "case.rated": {"rating_id": 1, "score": 2, "source": "citizen"},
    "case.reopened": {"reopened": 1, "status": ["answered", "in_progress"], "deadline": ISO},
    "case.supervised": {"reason": "low_rating", "score": 2},
    "case.cancelled": {"reason": "群众撤回", "status": ["new", "closed"]},
    "case.urged": {"level": "督办", "note": "请尽快办理"},
    "case.deadline_computed": {"deadline": ISO},
    "case.tracking_code_issued": {"replaced": True},
    "case.publication_edited": {"published_answer": [False, True], "publish_withheld": [False, True]},
    "contact.unmasked": {},
    "kb.auto_answered": {"entry_id": 1, "entry": "siren-general", "score": 0.9, "needs_person": False},
    "kb.answer_judged": {"answer_id": 1, "matched": "siren-general", "correct": None, "reopened": True},
    "kb.entry_created": {"key": "siren-general"},
    "kb.entry_updated": {"key": "siren-general"},
    "kb.entry_deactivated": {"key": "siren-general"},
    "kb.rules_replaced": {"count": 3},
    "kb.welcome_changed": {},
    "kb.imported": {"created": ["siren-general"], "updated": [], "rules": None},
    "disclosure.registered": {"fields": ["name"], "outcome": None, "decided_at": None,
                              "via": "wechat_dialog", "missing": ["contact", "delivery_form"]},
    "disclosure.updated": {"fields": ["outcome"], "outcome": "r3_1", "decided_at": "2026-03-10"},
    "disclosure.unmasked": {},
    "disclosure.correction_notice": {"sent_on": "2026-03-03", "reply_due": "2026-03-24"},
    "disclosure.corrected": {"received_on": "2026-03-05", "answer_due": "2026-04-02"},
    "disclosure.abandoned": {"outcome": "r6_1"},
    "disclosure.third_party": {"sent_on": "2026-03-05"},
    "disclosure.third_party_answer": {"answered_on": "2026-03-15"},
    "disclosure.extension": {"days": 20, "approved_by": "王主任", "notice_on": "2026-03-20"},
    "disclosure.stage": {"stage": STAGES[1]},
    "disclosure.answer_letter": {"outcome": "r1"},
    "disclosure.review_added": {"review_id": 1, "kind": "reconsideration", "result": "pending"},
    "disclosure.review_updated": {"review_id": 1, "result": "upheld"},
    "disclosure.dialog_completed": {"via": "wechat_dialog"},
    "disclosure.dialog_stopped": {"step": "name"},
    "disclosure.registration_failed": {"via": "wechat_dialog", "error": "boom"},
    "outbox.retry": {"item_id": 5},
    "staff.login": {"address": "127.0.0.1"},
    "staff.login_failed": {"username": "zhangsan", "address": "127.0.0.1"},
    "staff.logout": {},
    "token.created": {"username": "zhangsan"},
    "token.revoked": {"token_id": 3, "name": "巡检脚本", "username": "zhangsan"},
    "user.created": {"username": "lisi", "role": "staff"},
    "user.activate": {"username": "lisi"},
    "user.deactivate": {"username": "lisi"},
    "user.password": {"username": "lisi"},
    "calendar.saved": {"year": 2026, "holidays": 28, "workdays": 6},
    "canned.saved": {"id": 1, "title": "警报试鸣说明", "reply_type": "final"},
}


def written_actions() -> set[str]:
    """Every action the code writes into the audit log: literal names in
    ``audit.add(...)`` / ``_audit(...)`` calls, and the f-string families
    expanded (``user.{op}``, ``disclosure.{step}``)."""
    found: set[str] = set()
    call = re.compile(r"(?:audit\.add|_audit)\(")
    name = re.compile(r"(?<!f)[\"']([a-z_]+\.[a-z_]+)[\"']")
    either = re.compile(r"[\"']([a-z_]+\.[a-z_]+)[\"'] if created else [\"']([a-z_]+\.[a-z_]+)[\"']")
    for path in list((ROOT / "bot").rglob("*.py")) + list((ROOT / "storage").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for m in call.finditer(text):
            first = name.search(text, m.end(), m.end() + 200)
            if first:
                found.add(first.group(1))
        for pair in either.findall(text):
            found.update(pair)
        if 'f"user.{op}"' in text:
            found.update({"user.activate", "user.deactivate", "user.password"})
        if 'f"disclosure.{step}"' in text:
            found.update(f"disclosure.{s}" for s in STEPS)
    return found


def test_every_written_action_has_a_sentence_and_a_sample_here():
    actions = written_actions()
    assert len(actions) > 50  # the scan works
    assert actions <= set(trail.SENTENCES), sorted(actions - set(trail.SENTENCES))
    assert actions <= set(DETAILS), sorted(actions - set(DETAILS))


KEYISH = re.compile(r"[a-z]+_[a-z]+|[a-z]+\.[a-z]+|token:|user:|channel:|[{}\[\]\"]|\+0[08]:00|T\d\d:|\bnull\b|None")


@pytest.mark.parametrize("action", sorted(DETAILS))
def test_each_action_reads_as_a_chinese_sentence(action):
    line = trail.line(Entry(AT, "user:zhangsan", action, DETAILS[action]), PEOPLE, TZ)
    assert line.at == "2026-03-02 09:05"
    assert line.who == "张三"
    assert line.text.startswith("张三 ")
    assert not KEYISH.search(line.text), line.text
    assert re.search(r"[\u4e00-\u9fff]{2}", line.text[3:]), line.text
    assert action in line.raw  # the raw entry, for admins


def test_assignment_and_status_read_as_the_issue_asks():
    line = trail.line(Entry(AT, "user:zhangsan", "case.updated",
                            {"assignee_id": [None, 2], "status": ["new", "in_progress"]}), PEOPLE, TZ)
    assert line.text == "张三 将案件分派给 李四；状态：新收 → 办理中"


def test_reclassification_names_the_kinds_and_the_new_deadline_in_office_time():
    line = trail.line(Entry(AT, "user:lisi", "case.updated", {
        "kind": ["consultation", "complaint"], "deadline_days": [15, 20],
        "deadline_at": ["2026-03-20T15:59:59+00:00", "2026-03-27T15:59:59+00:00"]}), PEOPLE, TZ)
    assert line.text == ("李四 人工改分类；类型：咨询 → 投诉；办理期限：2026-03-20 → 2026-03-27；"
                         "办理时限：15 → 20 个工作日")


def test_who_did_it():
    assert trail.who("token:admin", PEOPLE) == "王主任（接口）"
    assert trail.who("token:ops-feed", PEOPLE) == "张三（接口）"
    assert trail.who("token:gone", PEOPLE) == "gone（接口）"  # a token since deleted: its name is all there is
    assert trail.who("channel:wechat", PEOPLE) == "微信公众号"
    assert trail.who("channel:hotline", PEOPLE) == "12345热线"
    assert trail.who("platform:12345", PEOPLE) == "12345平台"  # bot.services.hotline.PLATFORM
    assert trail.who("citizen:track", PEOPLE) == "群众（办理进度查询页）"  # bot.services.tracking.CITIZEN
    assert trail.who("system", PEOPLE) == "系统"
    assert trail.who("cli", PEOPLE) == "管理员（命令行）"
    assert trail.who("user:nobody", PEOPLE) == "nobody"


def test_times_are_office_local_even_from_a_naive_utc_value():
    naive = datetime(2026, 3, 2, 16, 30)  # SQLite hands back naive UTC
    assert trail.line(Entry(naive, "system", "case.deadline_computed", {}), PEOPLE, TZ).at == "2026-03-03 00:30"


def test_an_unknown_action_or_odd_detail_never_shows_its_key_or_breaks():
    assert trail.line(Entry(AT, "system", "case.something_new", {"x": 1}), PEOPLE, TZ).text == "系统 进行了其他操作"
    line = trail.line(Entry(AT, "user:zhangsan", "case.updated", {"status": ["new", "weird"]}), PEOPLE, TZ)
    assert line.text == "张三 修改了案件；状态：新收 → 其他"
    assert trail.line(Entry(AT, "user:zhangsan", "case.updated", None), PEOPLE, TZ).text == "张三 修改了案件"


def test_actor_names_collects_users_and_tokens():
    assert trail.actor_names(["user:a", "token:t", "channel:wechat", "system", "user:a"]) == ({"a"}, {"t"})


def test_every_actor_the_services_name_reads_as_a_person_or_a_party():
    """Each fixed actor label in bot/ (Actor("...") and the channel actors)
    has its own name, not the fallback 系统 (only the system is 系统)."""
    labels = set()
    for path in (ROOT / "bot").rglob("*.py"):
        labels.update(re.findall(r'Actor\("([a-z]+(?::[a-z0-9_]+)?)"', path.read_text(encoding="utf-8")))
    assert {"platform:12345", "citizen:track"} <= labels
    for label in labels - {"system"}:
        assert trail.who(label, PEOPLE) != "系统", label
