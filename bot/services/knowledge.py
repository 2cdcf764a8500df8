"""The knowledge base of instant answers: what every worker answers from
(``KnowledgeCache``), and how admins and staff change it (entries, keyword
rules, the welcome text, files, judgements of automatic answers).

Every change bumps a revision in the ``kv`` table; each worker checks it
every few seconds and reloads, so an edit reaches all workers quickly (the
one that made it at once).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Any

from bot.domain import answers as rules
from bot.domain.actors import Actor, require_admin
from bot.domain.answers import AnswersError, AutoAnswer, Entry, KeywordRule
from bot.domain.cases import WELCOME_TEXT
from bot.domain.errors import Conflict, InvalidInput, NotFound
from bot.domain.lifecycle import unmark_answered
from bot.domain.vocabulary import Status
from nlp import kb_match
from storage.database import Database, Tx
from storage.models import Case, KbAnswer, KbEntry, KbFeedback
from storage.queries import audit
from storage.queries import kb as q
from storage.queries import kv

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Knowledge:
    """One revision of the knowledge base, ready to answer."""

    entries: dict[str, Entry] = field(default_factory=dict)  # by key, inactive ones too
    rules: tuple[KeywordRule, ...] = ()
    matcher: kb_match.Matcher = field(default_factory=lambda: kb_match.Matcher([]))
    welcome: str = WELCOME_TEXT
    revision: str | None = None

    def rule_for(self, text: str) -> KeywordRule | None:
        return rules.first_rule(self.rules, text)

    def answer_for(self, text: str, kind: str, day: date, secondary_kind: str | None = None) -> AutoAnswer | None:
        """The knowledge-base answer for a question asked on ``day`` (office
        time), or None when nothing matches well enough."""
        m = self.matcher.match(text, day)
        if m is None:
            return None
        e: Entry = m.entry  # type: ignore[assignment]
        return AutoAnswer(entry_id=e.id, entry_key=e.key, answer=e.answer, score=m.score,
                          needs_person=rules.person_follows(e, kind, m.question_covered, secondary_kind))

    def for_click(self, key: str, day: date) -> Entry | None:
        e = self.entries.get(key)
        return e if e is not None and e.valid_on(day) and not e.held_back else None

    @property
    def held_back(self) -> list[Entry]:
        """Active entries whose answer still holds 【…】 blanks: not used for
        automatic answers until edited (or an admin allows them)."""
        return held_back(self.entries.values())


def held_back(entries) -> list[Entry]:
    return sorted((e for e in entries if e.active and e.held_back), key=lambda e: e.key)


def entry_from_row(row: KbEntry, learned: tuple[str, ...] = ()) -> Entry:
    return Entry(key=row.key, questions=tuple(row.questions or ()), answer=row.answer, topic=row.topic,
                 valid_from=row.valid_from, valid_to=row.valid_to, needs_person=row.needs_person,
                 active=row.active, title=row.title, id=row.id, learned=learned,
                 placeholders_allowed=bool(row.placeholders_allowed))


def _load(tx: Tx, threshold: float) -> Knowledge:
    s = tx.session
    revision = q.revision(s)
    rows = q.all_entries(s)
    rule_rows = q.rules(s)
    feedback = q.feedback_wordings(s)
    welcome = kv.get_value(s, q.WELCOME_KEY)
    key_of = {r.id: r.key for r in rows}
    learned: dict[str, list[str]] = defaultdict(list)
    negatives: dict[str, list[str]] = defaultdict(list)
    for text, matched_id, correct_id in feedback:
        if correct_id in key_of:
            learned[key_of[correct_id]].append(text)
        if matched_id in key_of and matched_id != correct_id:
            negatives[key_of[matched_id]].append(text)
    entries = {r.key: entry_from_row(r, tuple(learned.get(r.key, ()))) for r in rows}
    keyword_rules = []
    for r in rule_rows:
        try:
            keyword_rules.append(rules.compiled_rule(KeywordRule(r.match, r.pattern, r.reply, r.active, r.id)))
        except Exception:  # validated on the way in; a bad row must not stop the account
            log.exception("answers: keyword rule %s cannot be used", r.id)
    # An answer with 【…】 blanks still to fill in never reaches a citizen on its own.
    matcher = kb_match.build([e for e in entries.values() if e.active and not e.held_back], negatives, threshold)
    return Knowledge(entries, tuple(keyword_rules), matcher, welcome or WELCOME_TEXT, revision)


class KnowledgeCache:
    """The process's current knowledge base."""

    def __init__(self, db: Database, threshold: float = kb_match.DEFAULT_THRESHOLD):
        self._db = db
        self._threshold = threshold
        self.current = Knowledge()

    async def reload(self) -> Knowledge:
        self.current = await self._db.read(_load, self._threshold)
        return self.current

    async def reload_if_changed(self) -> bool:
        """Reload when another worker (or the CLI) changed the knowledge base."""
        revision = await self._db.read(lambda tx: q.revision(tx.session))
        if revision == self.current.revision:
            return False
        await self.reload()
        log.info("answers: knowledge base reloaded (revision %s)", revision)
        return True


# ---- changes ------------------------------------------------------------------------

def _apply(row: KbEntry, e: Entry, actor: str, now: datetime) -> None:
    row.title, row.topic, row.questions, row.answer = e.title, e.topic, list(e.questions), e.answer
    row.valid_from, row.valid_to, row.needs_person, row.active = e.valid_from, e.valid_to, e.needs_person, e.active
    row.placeholders_allowed = e.placeholders_allowed
    row.updated_by, row.updated_at = actor, now


def save_entry_in(tx: Tx, data: dict, actor: str, *, key: str | None = None, create_only: bool = False) -> tuple[Entry, bool]:
    """Create or replace one entry (``key``: the entry being edited).
    Returns (entry, created). Raises AnswersError, changing nothing."""
    if key is not None:
        data = {**data, "key": data.get("key", key)}
        if data["key"] != key:
            raise AnswersError("不能修改条目的 key，请新建条目", "key")
    s = tx.session
    existing = q.all_entries(s)
    if key is not None and not any(r.key == key for r in existing):
        raise NotFound(f"没有 key 为 {key} 的条目", "key")
    entry = rules.make_entry(data)
    row = next((r for r in existing if r.key == entry.key), None)
    if create_only and row is not None:
        raise Conflict(f"key {entry.key} 已存在：请换一个 key，或修改那个条目", "key", "exists")
    rules.check_against(entry, [entry_from_row(r) for r in existing if r.key != entry.key])
    now = datetime.now(timezone.utc)
    created = row is None
    if row is None:
        row = KbEntry(key=entry.key, created_at=now)
        s.add(row)
    _apply(row, entry, actor, now)
    s.flush()
    audit.add(s, actor, "kb.entry_created" if created else "kb.entry_updated", None, key=entry.key)
    q.bump_revision(s)
    return entry_from_row(row), created


ADMINS_ONLY = "只有管理员可以修改知识库"


async def save_entry(rt, actor: Actor, data: dict, *, key: str | None = None,
                     create_only: bool = False) -> tuple[Entry, bool]:
    require_admin(actor, ADMINS_ONLY)
    result = await rt.db.write(lambda tx: save_entry_in(tx, data, actor.label, key=key, create_only=create_only))
    await rt.knowledge.reload()
    return result


async def deactivate_entry(rt, actor: Actor, key: str) -> Entry:
    require_admin(actor, ADMINS_ONLY)
    def deactivate(tx: Tx) -> Entry:
        row = q.entry_by_key(tx.session, key)
        if row is None:
            raise NotFound(f"没有 key 为 {key} 的条目", "key")
        row.active = False
        row.updated_by, row.updated_at = actor.label, datetime.now(timezone.utc)
        audit.add(tx.session, actor.label, "kb.entry_deactivated", None, key=key)
        q.bump_revision(tx.session)
        return entry_from_row(row)

    entry = await rt.db.write(deactivate)
    await rt.knowledge.reload()
    return entry


def parse_rules(data: Any, where: str = "rules") -> list[KeywordRule]:
    if not isinstance(data, list):
        raise AnswersError("rules 必须是列表", where)
    return [rules.make_rule(r, where=f"{where}[{i}].") for i, r in enumerate(data)]


async def set_rules(rt, actor: Actor, data: Any, welcome: Any = None, *, with_welcome: bool = False) -> None:
    """Replace the keyword rules (and the welcome text when given)."""
    require_admin(actor, ADMINS_ONLY)
    keyword_rules = parse_rules(data, "items")
    text = rules.check_welcome(welcome) if with_welcome else None

    def replace_all(tx: Tx) -> None:
        q.replace_rules(tx.session, [rules.rule_data(r) | {"active": r.active} for r in keyword_rules])
        audit.add(tx.session, actor.label, "kb.rules_replaced", None, count=len(keyword_rules))
        if text is not None:
            kv.set_value(tx.session, q.WELCOME_KEY, text)
            audit.add(tx.session, actor.label, "kb.welcome_changed", None)
        q.bump_revision(tx.session)

    await rt.db.write(replace_all)
    await rt.knowledge.reload()


# ---- import / export -----------------------------------------------------------------

@dataclass
class ImportSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rules: int | None = None
    welcome: bool = False
    # Every active entry of the knowledge base (after the import) whose
    # answer still holds 【…】 blanks: not used for automatic answers.
    held_back: list[Entry] = field(default_factory=list)


def import_in(tx: Tx, doc: Any, actor: str) -> ImportSummary:
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
    entries = [rules.make_entry(d, where=f"entries[{i}].") for i, d in enumerate(raw)]
    rules.check_set(entries)
    keyword_rules = parse_rules(doc["rules"]) if "rules" in doc else None
    welcome = rules.check_welcome(doc["welcome"]) if "welcome" in doc else None
    s = tx.session
    rows = {r.key: r for r in q.all_entries(s)}
    in_file = {e.key for e in entries}
    kept = [entry_from_row(r) for k, r in rows.items() if k not in in_file]
    for i, e in enumerate(entries):
        try:
            rules.check_against(e, kept)
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
            s.add(row)
            summary.created.append(e.key)
        else:
            summary.updated.append(e.key)
        _apply(row, e, actor, now)
    if keyword_rules is not None:
        q.replace_rules(s, [rules.rule_data(r) | {"active": r.active} for r in keyword_rules])
        summary.rules = len(keyword_rules)
    if welcome is not None:
        kv.set_value(s, q.WELCOME_KEY, welcome)
        summary.welcome = True
    s.flush()
    summary.held_back = held_back(entry_from_row(r) for r in q.all_entries(s))
    audit.add(s, actor, "kb.imported", None, created=summary.created, updated=summary.updated, rules=summary.rules)
    q.bump_revision(s)
    return summary


async def import_document(db: Database, doc: Any, actor: Actor) -> ImportSummary:
    return await db.write(import_in, doc, actor.label)


def _export(tx: Tx) -> dict:
    s = tx.session
    doc: dict[str, Any] = {"entries": [rules.entry_data(entry_from_row(r)) for r in q.all_entries(s)]}
    doc["rules"] = [rules.rule_data(KeywordRule(r.match, r.pattern, r.reply, r.active)) for r in q.rules(s)]
    welcome = kv.get_value(s, q.WELCOME_KEY)
    if welcome:
        doc["welcome"] = welcome
    return doc


async def export_document(db: Database) -> dict:
    return await db.read(_export)


async def active_keys(db: Database) -> set[str]:
    """The keys a menu's CLICK buttons may name."""
    return await db.read(lambda tx: {r.key for r in q.all_entries(tx.session) if r.active})


async def remember_menu(db: Database, menu_json: str) -> None:
    await db.write(lambda tx: kv.set_value(tx.session, q.MENU_KEY, menu_json))


# ---- staff feedback on automatic answers ------------------------------------------------

def _judge(tx: Tx, answer_id: int, correct_key: str | None, actor: Actor) -> KbAnswer:
    s = tx.session
    answer = s.get(KbAnswer, answer_id)
    if answer is None:
        raise NotFound("没有这条自动答复记录", "answer_id")
    correct_id = None
    if correct_key is not None:
        row = q.entry_by_key(s, correct_key)
        if row is None:
            raise AnswersError(f"没有 key 为 {correct_key} 的条目", "entry")
        correct_id = row.id
    right = correct_id is not None and correct_id == answer.entry_id
    s.add(KbFeedback(answer_id=answer.id, text=answer.question, matched_entry_id=answer.entry_id,
                     correct_entry_id=correct_id, user_id=actor.user_id))
    answer.reviewed = "right" if right else "wrong"
    detail: dict[str, Any] = {"answer_id": answer.id, "matched": answer.entry_key, "correct": correct_key}
    if not right and answer.case_id is not None:
        case = s.get(Case, answer.case_id)
        if case is not None and case.status == Status.ANSWERED and case.answered_at == case.received_at:
            # Settled only by the wrong automatic answer: a person must answer.
            case.status = Status.NEW
            unmark_answered(case)
            case.version += 1
            case.updated_at = datetime.now(timezone.utc)
            detail["reopened"] = True
    audit.add(s, actor.label, "kb.answer_judged", answer.case_id, **detail)
    q.bump_revision(s)
    return answer


async def judge_answer(rt, actor: Actor, answer_id: int, correct_key: str | None) -> KbAnswer:
    """Staff say which entry the message should have got (None: none fits).
    The text becomes a wording of the right entry and a negative example of
    the wrong one; a case the wrong answer settled is reopened for a person."""
    answer = await rt.db.write(_judge, answer_id, correct_key, actor)
    await rt.knowledge.reload()
    return answer


def office_today(rt) -> date:
    return datetime.now(rt.settings.tz).date()


async def try_question(rt, text: str) -> dict:
    """What the account would answer to a question today (and the runners-up)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("text 不能为空", "text", "missing")
    knowledge, day = rt.knowledge.current, office_today(rt)
    rule = knowledge.rule_for(text)
    c = rt.classifier.classify(text)
    answer = knowledge.answer_for(text, c.kind, day, c.secondary_kind)
    return {
        "rule": {"match": rule.match, "pattern": rule.pattern, "reply": rule.reply} if rule else None,
        "answer": answer.as_dict() | {"text": answer.answer} if answer else None,
        "candidates": [{"entry": m.entry.key, "score": round(m.score, 3), "wording": m.wording}
                       for m in knowledge.matcher.ranked(text, day)],
        "threshold": knowledge.matcher.threshold,
    }


async def recent_answers(rt, *, limit: int, before_id: int | None = None, unreviewed: bool = False) -> list:
    """(KbAnswer, case number, case status) rows, newest first."""
    return await rt.db.read(lambda tx: list(q.recent_answers(tx.session, limit=limit, before_id=before_id,
                                                             unreviewed=unreviewed)))
