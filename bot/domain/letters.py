"""The web letter box (网上信箱): what a letter written on the public form
must be, and what of a letter and its answer /letters publishes. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidInput
from .masking import redact_text

NAME_MAX = 50
PHONE_DIGITS = (7, 15)  # a landline without area code … an international number
TITLE_MAX = 200
CONTENT_MAX = 5000
# Characters a browser never sends from a text field: NUL (PostgreSQL's text
# refuses it) and the other C0/C1 controls, bar tab and newline.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_PHONE = re.compile(r"^\+?[\d\s()-]+$")
CONSENT_VALUES = frozenset({"1", "on", "yes", "true"})


@dataclass(frozen=True)
class Letter:
    """A letter as the form gave it, checked; ``phone`` is its digits."""

    name: str
    phone: str
    title: str
    content: str
    publish: bool  # the writer consents to publishing the letter and its answer


def _text(value: object, field: str, label: str, maximum: int, *, multiline: bool = False) -> str:
    text = value if isinstance(value, str) else ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not multiline:
        text = " ".join(text.split())
    if _CONTROL.search(text):
        raise InvalidInput(f"{label}含有无法识别的控制字符，请删除后重新提交。", field, "bad_characters")
    if not text:
        raise InvalidInput(f"请填写{label}。", field, "missing")
    if len(text) > maximum:
        raise InvalidInput(f"{label}最多 {maximum} 个字，现在有 {len(text)} 个字，请精简后重新提交。", field, "too_long")
    return text


def read_letter(*, name: object, phone: object, title: object, content: object, publish: object) -> Letter:
    """The form's fields, checked one by one in the order the form shows
    them; the first problem is refused with the field it concerns. A missing
    consent box means "do not publish" (an unticked checkbox sends nothing)."""
    name_text = _text(name, "name", "姓名", NAME_MAX)
    phone_text = _text(phone, "phone", "联系电话", 30)
    digits = re.sub(r"\D", "", phone_text)
    if not _PHONE.match(phone_text) or not PHONE_DIGITS[0] <= len(digits) <= PHONE_DIGITS[1]:
        raise InvalidInput("联系电话格式不正确，请填写手机号码或带区号的固定电话。", "phone", "bad_phone")
    if phone_text.startswith("+86") or (len(digits) == 13 and digits.startswith("86")):
        digits = digits[2:]
    title_text = _text(title, "title", "标题", TITLE_MAX)
    content_text = _text(content, "content", "信件内容", CONTENT_MAX, multiline=True)
    consent = isinstance(publish, str) and publish.strip().lower() in CONSENT_VALUES
    return Letter(name_text, digits, title_text, content_text, consent)


def classification_text(letter_title: str | None, text: str) -> str:
    """What the classifier reads of a letter: its title says what it is about too."""
    return f"{letter_title}\n{text}" if letter_title else text


@dataclass(frozen=True)
class Publication:
    """What /letters shows of one letter: staff's edited text where there
    is one, else the automatic redaction."""

    title: str
    letter: str
    answer: str


def publication(*, title: str | None, letter: str, answer: str, writer_names: tuple[str, ...],
                edited_title: str | None = None, edited_letter: str | None = None,
                edited_answer: str | None = None) -> Publication:
    return Publication(
        edited_title if edited_title is not None else redact_text(title or "", writer_names),
        edited_letter if edited_letter is not None else redact_text(letter, writer_names),
        edited_answer if edited_answer is not None else redact_text(answer, writer_names),
    )


def read_edit(value: object, field: str, label: str, maximum: int, automatic: str) -> str | None:
    """A published text as staff edited it: None (publish the automatic
    redaction) when left empty or unchanged."""
    text = value if isinstance(value, str) else ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text or text == automatic.strip():
        return None
    if _CONTROL.search(text):
        raise InvalidInput(f"{label}含有无法识别的控制字符，请删除后重新提交。", field, "bad_characters")
    if len(text) > maximum:
        raise InvalidInput(f"{label}最多 {maximum} 个字。", field, "too_long")
    return text
