"""The knowledge base as the application uses it: loading it from the
database into a matcher, changing it (API, import file), staff feedback.

Every change bumps a revision in the ``kv`` table; each worker checks it
every few seconds and reloads, so an edit reaches all workers quickly.
"""

from __future__ import annotations

import json
import logging
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nlp import kb_match
from storage import kb_queries, queries
from storage.models import Case, KbAnswer, KbEntry, KbFeedback

from .answers import (
    AnswersError,
    AutoAnswer,
    Entry,
    KeywordRule,
    check_against,
    check_set,
    compiled_rule,
    entry_data,
    first_rule,
    make_entry,
    make_rule,
    rule_data,
)
from .cases import WELCOME_TEXT

log = logging.getLogger(__name__)

# A message of these kinds may be settled by an automatic answer. A complaint,
# report, request for help or disclosure request still gets the answer but
# stays open for a person — unless the message is all but one of the office's
# own wordings (the wording explains ≥ CLOSE_MATCH of it): then the entry's
# needs_person decides, since the office wrote that answer for exactly that
# question ("刚才的警报是怎么回事" reads like a complaint to the classifier,
# but on the siren day it is a question).
SETTLED_BY_ANSWER_KINDS = frozenset({"consultation", "other"})
CLOSE_MATCH = 0.8


@dataclass(frozen=True)
class Knowledge:
    entries: dict[str, Entry] = field(default_factory=dict)  # by key, inactive ones too
    rules: tuple[KeywordRule, ...] = ()
    matcher: kb_match.Matcher = field(default_factory=lambda: kb_match.Matcher([]))
    welcome: str = WELCOME_TEXT
    revision: str | None = None

    def rule_for(self, text: str) -> KeywordRule | None:
        return first_rule(self.rules, text)

    def answer_for(self, text: str, kind: str, day: date) -> AutoAnswer | None:
        """The knowledge-base answer for a question asked on ``day`` (office
        time), or None when nothing matches well enough."""
        m = self.matcher.match(text, day)
        if m is None:
            return None
        e: Entry = m.entry  # type: ignore[assignment]
        return AutoAnswer(entry_id=e.id, entry_key=e.key, answer=e.answer, score=m.score,
                          needs_person=e.needs_person or (kind not in SETTLED_BY_ANSWER_KINDS
                                                          and m.question_covered < CLOSE_MATCH))

    def for_click(self, key: str, day: date) -> Entry | None:
        e = self.entries.get(key)
        return e if e is not None and e.valid_on(day) else None


def entry_from_row(row: KbEntry, learned: tuple[str, ...] = ()) -> Entry:
    return Entry(key=row.key, questions=tuple(row.questions or ()), answer=row.answer, topic=row.topic,
                 valid_from=row.valid_from, valid_to=row.valid_to, needs_person=row.needs_person,
                 active=row.active, title=row.title, id=row.id, learned=learned)


async def load(sessions: async_sessionmaker[AsyncSession], threshold: float = kb_match.DEFAULT_THRESHOLD) -> Knowledge:
    async with sessions() as s:
        revision = await kb_queries.get_value(s, kb_queries.REVISION_KEY)
        rows = await kb_queries.all_entries(s)
        rule_rows = await kb_queries.rules(s)
        feedback = await kb_queries.feedback_wordings(s)
        welcome = await kb_queries.get_value(s, kb_queries.WELCOME_KEY)
    key_of = {r.id: r.key for r in rows}
    learned: dict[str, list[str]] = defaultdict(list)
    negatives: dict[str, list[str]] = defaultdict(list)
    for text, matched_id, correct_id in feedback:
        if correct_id in key_of:
            learned[key_of[correct_id]].append(text)
        if matched_id in key_of and matched_id != correct_id:
            negatives[key_of[matched_id]].append(text)
    entries = {r.key: entry_from_row(r, tuple(learned.get(r.key, ()))) for r in rows}
    rules = []
    for r in rule_rows:
        try:
            rules.append(compiled_rule(KeywordRule(r.match, r.pattern, r.reply, r.active, r.id)))
        except Exception:  # validated on the way in; a bad row must not stop the account
            log.exception("answers: keyword rule %s cannot be used", r.id)
    matcher = kb_match.build([e for e in entries.values() if e.active], negatives, threshold)
    return Knowledge(entries, tuple(rules), matcher, welcome or WELCOME_TEXT, revision)


# ---- changes ------------------------------------------------------------------------


def _apply(row: KbEntry, e: Entry, actor: str, now: datetime) -> None:
    row.title, row.topic, row.questions, row.answer = e.title, e.topic, list(e.questions), e.answer
    row.valid_from, row.valid_to, row.needs_person, row.active = e.valid_from, e.valid_to, e.needs_person, e.active
    row.updated_by, row.updated_at = actor, now


async def save_entry(session: AsyncSession, data: dict, actor: str, *, key: str | None = None) -> tuple[KbEntry, bool]:
    """Create or replace one entry (``key``: the entry being edited).
    Returns (row, created). Raises AnswersError, changing nothing."""
    if key is not None:
        data = {**data, "key": data.get("key", key)}
        if data["key"] != key:
            raise AnswersError("不能修改条目的 key，请新建条目", "key")
    entry = make_entry(data)
    rows = await kb_queries.all_entries(session)
    check_against(entry, [entry_from_row(r) for r in rows if r.key != entry.key])
    row = next((r for r in rows if r.key == entry.key), None)
    if key is not None and row is None:
        raise AnswersError(f"没有 key 为 {key} 的条目", "key")
    now = datetime.now(timezone.utc)
    created = row is None
    if row is None:
        row = KbEntry(key=entry.key, created_at=now)
        session.add(row)
    _apply(row, entry, actor, now)
    await session.flush()
    await queries.add_audit(session, actor, "kb.entry_created" if created else "kb.entry_updated", None,
                            key=entry.key)
    await kb_queries.bump_revision(session)
    return row, created


async def deactivate_entry(session: AsyncSession, key: str, actor: str) -> KbEntry:
    row = await kb_queries.entry_by_key(session, key)
    if row is None:
        raise AnswersError(f"没有 key 为 {key} 的条目", "key")
    row.active = False
    row.updated_by, row.updated_at = actor, datetime.now(timezone.utc)
    await queries.add_audit(session, actor, "kb.entry_deactivated", None, key=key)
    await kb_queries.bump_revision(session)
    return row


def parse_rules(data: Any, where: str = "rules") -> list[KeywordRule]:
    if not isinstance(data, list):
        raise AnswersError("rules 必须是列表", where)
    return [make_rule(r, where=f"{where}[{i}].") for i, r in enumerate(data)]


async def set_rules(session: AsyncSession, rules: list[KeywordRule], actor: str) -> None:
    await kb_queries.replace_rules(session, [rule_data(r) | {"active": r.active} for r in rules])
    await queries.add_audit(session, actor, "kb.rules_replaced", None, count=len(rules))
    await kb_queries.bump_revision(session)


def check_welcome(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise AnswersError("关注欢迎语不能为空", "welcome")
    if len(text) > 600:
        raise AnswersError("关注欢迎语过长（最多 600 字）", "welcome")
    return text.strip()


async def set_welcome(session: AsyncSession, text: str, actor: str) -> None:
    await kb_queries.set_value(session, kb_queries.WELCOME_KEY, check_welcome(text))
    await queries.add_audit(session, actor, "kb.welcome_changed", None)
    await kb_queries.bump_revision(session)


# ---- import / export -----------------------------------------------------------------


@dataclass
class ImportSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rules: int | None = None
    welcome: bool = False


async def import_document(session: AsyncSession, doc: Any, actor: str) -> ImportSummary:
    """Entries are upserted by key (entries not in the file are kept);
    ``rules`` and ``welcome``, when present, replace the current ones. All
    or nothing: the first problem refuses the whole file."""
    if not isinstance(doc, dict):
        raise AnswersError("文件顶层必须是键值对，含 entries（以及可选的 rules、welcome）")
    unknown = set(doc) - {"entries", "rules", "welcome"}
    if unknown:
        raise AnswersError(f"不认识的部分：{', '.join(sorted(unknown))}（可用 entries、rules、welcome）", sorted(unknown)[0])
    raw = doc.get("entries", [])
    if not isinstance(raw, list):
        raise AnswersError("entries 必须是列表", "entries")
    entries = [make_entry(d, where=f"entries[{i}].") for i, d in enumerate(raw)]
    check_set(entries)
    rules = parse_rules(doc["rules"]) if "rules" in doc else None
    welcome = check_welcome(doc["welcome"]) if "welcome" in doc else None
    rows = {r.key: r for r in await kb_queries.all_entries(session)}
    in_file = {e.key for e in entries}
    kept = [entry_from_row(r) for k, r in rows.items() if k not in in_file]
    for i, e in enumerate(entries):
        try:
            check_against(e, kept)
        except AnswersError as exc:
            raise AnswersError(f"条目 {e.key}：{exc.message}", f"entries[{i}].valid_from") from None
    summary = ImportSummary()
    now = datetime.now(timezone.utc)
    for e in entries:
        row = rows.get(e.key)
        if row is not None and entry_from_row(row) == replace(e, id=row.id):
            summary.unchanged.append(e.key)
            continue
        if row is None:
            row = KbEntry(key=e.key, created_at=now)
            session.add(row)
            summary.created.append(e.key)
        else:
            summary.updated.append(e.key)
        _apply(row, e, actor, now)
    if rules is not None:
        await kb_queries.replace_rules(session, [rule_data(r) | {"active": r.active} for r in rules])
        summary.rules = len(rules)
    if welcome is not None:
        await kb_queries.set_value(session, kb_queries.WELCOME_KEY, welcome)
        summary.welcome = True
    await session.flush()
    await queries.add_audit(session, actor, "kb.imported", None, created=summary.created, updated=summary.updated,
                            rules=summary.rules)
    await kb_queries.bump_revision(session)
    return summary


async def export_document(session: AsyncSession) -> dict:
    rows = await kb_queries.all_entries(session)
    doc: dict[str, Any] = {"entries": [entry_data(entry_from_row(r)) for r in rows]}
    rules = [KeywordRule(r.match, r.pattern, r.reply, r.active) for r in await kb_queries.rules(session)]
    doc["rules"] = [rule_data(r) for r in rules]
    welcome = await kb_queries.get_value(session, kb_queries.WELCOME_KEY)
    if welcome:
        doc["welcome"] = welcome
    return doc


def read_document(path: str | Path) -> Any:
    """A knowledge-base or menu file: YAML (.yaml/.yml), TOML (.toml) or JSON."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise AnswersError(f"读不了文件 {p}：{exc.strerror}") from None
    try:
        if p.suffix.lower() == ".toml":
            return tomllib.loads(raw.decode("utf-8"))
        if p.suffix.lower() == ".json":
            return json.loads(raw.decode("utf-8"))
        return yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise AnswersError(f"{p} 不是 UTF-8 编码的文本") from None
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise AnswersError(f"{p} 格式有误：{exc}") from None


def dump_document(doc: dict, fmt: str) -> str:
    if fmt == "toml":
        import tomli_w

        return tomli_w.dumps(doc)
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n"
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=1000)


# ---- staff feedback on automatic answers ------------------------------------------------


async def judge_answer(session: AsyncSession, answer_id: int, correct_key: str | None, actor_label: str,
                       user_id: int | None) -> KbAnswer:
    """Staff say which entry the message should have got (None: none fits).
    The text becomes a wording of the right entry and a negative example of
    the wrong one; a case the wrong answer settled is reopened for a person."""
    answer = await session.get(KbAnswer, answer_id)
    if answer is None:
        raise AnswersError("没有这条自动答复记录", "answer_id")
    correct_id = None
    if correct_key is not None:
        row = await kb_queries.entry_by_key(session, correct_key)
        if row is None:
            raise AnswersError(f"没有 key 为 {correct_key} 的条目", "entry")
        correct_id = row.id
    right = correct_id is not None and correct_id == answer.entry_id
    session.add(KbFeedback(answer_id=answer.id, text=answer.question, matched_entry_id=answer.entry_id,
                           correct_entry_id=correct_id, user_id=user_id))
    answer.reviewed = "right" if right else "wrong"
    detail: dict[str, Any] = {"answer_id": answer.id, "matched": answer.entry_key, "correct": correct_key}
    if not right and answer.case_id is not None:
        case = await session.get(Case, answer.case_id)
        if case is not None and case.status == "answered" and case.answered_at == case.received_at:
            # Settled only by the wrong automatic answer: a person must answer.
            case.status, case.answered_at = "new", None
            case.version += 1
            case.updated_at = datetime.now(timezone.utc)
            detail["reopened"] = True
    await queries.add_audit(session, actor_label, "kb.answer_judged", answer.case_id, **detail)
    await kb_queries.bump_revision(session)
    return answer


async def entry_keys_by_id(session: AsyncSession) -> dict[int, str]:
    return dict((await session.execute(select(KbEntry.id, KbEntry.key))).all())
