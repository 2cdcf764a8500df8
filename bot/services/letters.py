"""The web letter box (网上信箱): a citizen's letter, recorded through the
one recording path (channel ``portal``) with its 查询码 and the writer's
consent to publish; the published letters (/letters); staff's edits of what
is published, or its withholding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bot.domain import letters as rules
from bot.domain.actors import Actor
from bot.domain.cases import InboundMessage
from bot.domain.errors import Conflict, DomainError, NotFound
from bot.domain.masking import redact_text
from bot.domain.vocabulary import ANSWERED_STATUSES, Channel
from storage.database import Tx
from storage.models import Case, Contact
from storage.queries import audit
from storage.queries import letters as q
from storage.queries.throttle import count_request

from . import intake
from .runtime import Runtime
from .tracking import receipt_code

PAGE_SIZE = 20


class TooManyLetters(DomainError):
    """One address sent more letters than the window allows."""

    default_code = "too_many"


@dataclass(frozen=True)
class Receipt:
    """What the writer is shown once: the case number, the 查询码 and the receipt text."""

    number: str
    code: str
    text: str


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def submit(rt: Runtime, *, name: object, phone: object, title: object, content: object, publish: object,
                 address: str) -> Receipt:
    """A letter from the public form. Checked first (a refused letter is not
    counted: nothing of it is stored); then counted against its address, in a
    transaction of its own so that a refusal for flooding counts too; then
    recorded with its code's hash and the consent, in the recording's
    transaction."""
    letter = rules.read_letter(name=name, phone=phone, title=title, content=content, publish=publish)
    settings = rt.settings
    now = _now()
    window = timedelta(minutes=settings.letters_window_minutes)
    # On the Core connection: an ORM session (a savepoint of its own) costs
    # more than the upsert itself (bench/bench_letters.py).
    sent = await rt.db.write(lambda tx: count_request(tx.conn, f"letters:{address}", now, window))
    if sent > settings.letters_per_address:
        raise TooManyLetters(f"您提交信件过于频繁，请 {settings.letters_window_minutes} 分钟后再试。")
    await rt.calendar.refresh()
    code = receipt_code(settings)  # a letter always makes a case of its own, so the code is that case's
    item = InboundMessage(
        channel=Channel.PORTAL,
        # One contact per phone and name: the name stays the one this writer
        # gave (it is what publication removes from their letters).
        identity=f"{letter.phone} {letter.name}", received_at=now, text=letter.content, title=letter.title,
        classification=rt.classifier.classify(rules.classification_text(letter.title, letter.content)),
        contact_name=letter.name, contact_phone=letter.phone,
        tracking_code_hash=code.hash, publish_consent=letter.publish,
    )
    (result,) = await intake.record(rt, [item])
    return Receipt(result.number, code.code, result.reply_text or "")


# ---- publication ------------------------------------------------------------

@dataclass(frozen=True)
class PublishedLetter:
    number: str
    received_at: datetime
    answered_at: datetime
    text: rules.Publication


@dataclass(frozen=True)
class PublishedPage:
    letters: list[PublishedLetter]
    page: int  # from 1
    pages: int  # 0 when nothing is published


async def published(rt: Runtime, page: int) -> PublishedPage:
    """A page of /letters: answered letters whose writers consented, newest
    answer first, with names, phone and ID numbers, e-mail addresses removed."""

    def load(tx: Tx) -> PublishedPage:
        rows, total = q.published_page(tx.session, sorted(ANSWERED_STATUSES), limit=PAGE_SIZE,
                                       offset=(page - 1) * PAGE_SIZE)
        answers = q.final_answers(tx.session, [case.id for case, _ in rows])
        items = [PublishedLetter(case.number, case.received_at, case.answered_at,
                                 _publication(case, name, answers.get(case.id, "")))
                 for case, name in rows]
        return PublishedPage(items, page, -(-total // PAGE_SIZE))

    return await rt.db.read(load)


def _publication(case: Case, writer_name: str | None, answer: str) -> rules.Publication:
    return rules.publication(title=case.title, letter=case.text, answer=answer,
                             writer_names=(writer_name,) if writer_name else (),
                             edited_title=case.published_title, edited_letter=case.published_letter,
                             edited_answer=case.published_answer)


@dataclass(frozen=True)
class PublicationState:
    """The case page's view of a letter's publication."""

    consent: bool
    withheld: bool
    answered: bool  # answered with a reply sent: on /letters unless withheld
    text: rules.Publication  # what is (or will be) published
    edited: tuple[str, ...]  # which of title, letter, answer staff edited


def publication_of(tx: Tx, case: Case, contact: Contact | None) -> PublicationState | None:
    """For the case page (in its transaction); None for a case that did not
    come through the web letter box."""
    if case.channel != Channel.PORTAL:
        return None
    answer = q.final_answers(tx.session, [case.id]).get(case.id, "")
    edited = tuple(n for n, v in (("title", case.published_title), ("letter", case.published_letter),
                                  ("answer", case.published_answer)) if v is not None)
    return PublicationState(bool(case.publish_consent), bool(case.publish_withheld),
                            bool(answer) and case.status in ANSWERED_STATUSES and case.answered_at is not None,
                            _publication(case, contact.name if contact else None, answer), edited)


async def edit_publication(rt: Runtime, actor: Actor, case_id: int, *, title: object, letter: object,
                           answer: object, withheld: bool) -> None:
    """Staff's version of what /letters shows of a letter (an empty or
    unchanged text: the automatic redaction), or its withholding. Only a
    writer who consented can be published."""

    def change(tx: Tx) -> None:
        s = tx.session
        case = s.get(Case, case_id, with_for_update=True)
        if case is None or case.channel != Channel.PORTAL:
            raise NotFound("没有这个网上信箱信件")
        if not case.publish_consent:
            raise Conflict("写信人未同意公开，此信件不会公开。")
        contact = s.get(Contact, case.contact_id) if case.contact_id else None
        names = (contact.name,) if contact and contact.name else ()
        auto_answer = q.final_answers(s, [case.id]).get(case.id, "")
        values = {
            "published_title": rules.read_edit(title, "published_title", "公开标题", rules.TITLE_MAX,
                                               redact_text(case.title or "", names)),
            "published_letter": rules.read_edit(letter, "published_letter", "公开的来信内容", 20_000,
                                                redact_text(case.text, names)),
            "published_answer": rules.read_edit(answer, "published_answer", "公开的答复内容", 20_000,
                                                redact_text(auto_answer, names)),
            "publish_withheld": withheld,
        }
        changed = {k: [getattr(case, k) is not None if k != "publish_withheld" else getattr(case, k),
                       v is not None if k != "publish_withheld" else v]
                   for k, v in values.items() if getattr(case, k) != v}
        if not changed:
            return
        for k, v in values.items():
            setattr(case, k, v)
        case.updated_at = _now()
        # The audit trail says what changed (edited or not, withheld or not), not the texts.
        audit.add(s, actor.label, "case.publication_edited", case.id, **changed)

    await rt.db.write(change)
