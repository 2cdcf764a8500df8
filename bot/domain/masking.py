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
