"""Masking personal data for display and export (个人信息保护法: show the
minimum): phones as 138****1234, ID numbers as their first 6 and last 4
characters, and the same inside free text citizens typed."""

from __future__ import annotations

import re

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID = re.compile(r"(?<![0-9Xx])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9Xx])")


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) >= 7:
        return digits[:3] + "****" + digits[-4:]
    return "****"


def mask_id_number(value: str | None) -> str | None:
    if not value:
        return value
    v = value.strip()
    return v[:6] + "*" * max(len(v) - 10, 4) + v[-4:] if len(v) > 10 else "*" * len(v)


def mask_text(text: str) -> str:
    """Mask phone and ID numbers that citizens type into free text."""
    text = _ID.sub(lambda m: m.group(1) + "********" + m.group(3), text)
    return _PHONE.sub(lambda m: m.group(1) + "****" + m.group(3), text)


def mask_contact(value: str | None) -> str | None:
    """Phones as 138****1234; anything else (e-mail, address) keeps its first
    and last characters."""
    if not value:
        return value
    v = value.strip()
    digits = v.replace("-", "").replace(" ", "")
    if digits.isdigit():
        return mask_phone(digits)
    if "@" in v:
        user, _, host = v.partition("@")
        return (user[:1] + "***@" + host) if user else "***@" + host
    return v[:1] + "*" * max(len(v) - 2, 2) + v[-1:] if len(v) > 2 else "**"


# ---- redaction for publication (the web letter box's /letters) ---------------
# Published text keeps nothing that identifies the writer: e-mail addresses,
# ID numbers, phone numbers (mobile, landline, any other long run of digits:
# QQ, bank cards) and names go entirely, not half-masked. Names are the
# writer's own as given on the form (wherever they appear, and as 张先生/张女士)
# and whatever follows 姓名：/联系人：/我叫. Automatic redaction cannot know
# every name, so staff may edit the published text before it goes out.

REDACTED = "***"
# Full-width forms (Ｕ+FF01..FF5E) read as ASCII for matching, one character
# for one, so the positions found apply to the original text.
_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_PERSONAL = re.compile(
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"  # e-mail
    r"|(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])"  # ID number (18)
    r"|(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)"  # mobile, 138-1234-5678
    r"|(?<!\d)\(?0\d{2,3}\)?[- ]?\d{7,8}(?!\d)"  # landline, 028-12345678
    r"|\d{7,}"  # any other long number
)
_NAMED = re.compile(r"(姓名|联系人|署名|写信人|反映人|投诉人|举报人|申请人)([:：]\s*)([\u4e00-\u9fff·]{2,4})"
                    r"|(我叫|本人叫|名叫)([\u4e00-\u9fff·]{2,3})(?=[，,。.！!；;、\s]|$)")
_COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "长孙", "宇文",
                      "司徒", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门", "澹台")
_HONORIFICS = "先生|女士|小姐|同志|老师|师傅|阿姨|大爷|大姐|大哥"
_CJK_NAME = re.compile(r"^[\u4e00-\u9fff·]{2,6}$")


def _surname(name: str) -> str:
    return name[:2] if name.startswith(_COMPOUND_SURNAMES) and len(name) > 2 else name[:1]


def redact_text(text: str, names: tuple[str, ...] | list[str] = ()) -> str:
    """``text`` with e-mail addresses, ID and phone numbers, and names
    removed (replaced by ``***``), for publication."""
    if not text:
        return text or ""
    for name in sorted({n.strip() for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True):
        text = text.replace(name, REDACTED)
        if _CJK_NAME.match(name):
            text = re.sub(re.escape(_surname(name)) + f"(?=(?:{_HONORIFICS}))", "*", text)
    plain = text.translate(_FULLWIDTH)
    parts, last = [], 0
    for m in _PERSONAL.finditer(plain):
        parts += [text[last:m.start()], REDACTED]
        last = m.end()
    text = "".join(parts) + text[last:]
    return _NAMED.sub(lambda m: (m.group(1) + m.group(2) if m.group(1) else m.group(4)) + REDACTED, text)
