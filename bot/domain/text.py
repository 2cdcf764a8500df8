"""What a text field may hold to be stored: the one rule for every channel
and both databases.

PostgreSQL refuses the NUL character (U+0000) in text, and no database or
encoder takes a lone surrogate; SQLite would store a NUL and then cut the
text short in its own functions. Rather than store one thing on SQLite and
fail on PostgreSQL, the product refuses such a value where it comes in, with
a 4xx naming the field (a 12345 order or event is refused alone, the rest of
its batch is taken). Nothing is stripped silently: a citizen's words are
kept as sent or refused, never changed behind their back. Integers are held
to the databases' 64-bit range the same way."""

from __future__ import annotations

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 64  # deeper than any field we read: a hostile body is refused before it is walked further


def unstorable_text(value: str) -> bool:
    """True when no database would keep ``value`` as it is."""
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return True
    return False


def first_unstorable(value: object, path: str = "") -> tuple[str, str] | None:
    """The first value under ``value`` (a JSON-like tree) that can't be
    stored, as (field path such as ``caller.name`` or ``items[2]``, the
    reason in Chinese), or None when all can."""
    return _walk(value, path, 0)


def _walk(value: object, path: str, depth: int) -> tuple[str, str] | None:
    if depth > MAX_DEPTH:
        return path or "body", "嵌套过深"
    if isinstance(value, str):
        if unstorable_text(value):
            return path or "body", "含有无法保存的字符（如 NUL 空字符）"
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            return path or "body", "数值超出范围"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and unstorable_text(key):
                return path or "body", "字段名含有无法保存的字符"
            found = _walk(item, sub, depth + 1)
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _walk(item, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None


def fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX
