"""The 查询码: what lets a citizen without an identity on the channel (a
web letter, a letter by post, a visit) look up their own case at /track.

A code is random, 8 characters of an alphabet without look-alikes (no 0/O,
1/I/L), about 40 bits: with look-ups limited per address, guessing one is
hopeless. It is shown once, on the receipt, and stored only as a keyed
hash (HMAC-SHA256 with the server's secret key), so a database dump opens
no case. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .vocabulary import Channel

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 8
# Channels whose writers have no identity we can recognise them by again.
CODE_CHANNELS: frozenset[str] = frozenset({Channel.PORTAL, Channel.LETTER, Channel.IN_PERSON})


def needs_code(channel: str) -> bool:
    return channel in CODE_CHANNELS


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(code: str) -> str:
    """What a citizen typed, as issued: case and spaces and dashes do not matter."""
    return "".join(ch for ch in code.upper() if ch not in " -\u3000")


def code_hash(secret_key: str, code: str) -> str:
    return hmac.new(secret_key.encode(), b"track:" + normalise(code).encode(), hashlib.sha256).hexdigest()


def code_matches(secret_key: str, code: str, stored: str | None) -> bool:
    """Constant time; False for a case that has no code."""
    if not stored or not isinstance(code, str) or len(code) > 64:
        return False
    return hmac.compare_digest(code_hash(secret_key, code).encode(), stored.encode())


def derived_code(secret_key: str, number: str) -> str:
    """The code a WeChat notice's link carries for a case with no code of
    its own: derived from the case number with the server's key, so the
    plain code is stored nowhere (the sender derives it again) and the case
    keeps only its hash, like any other code."""
    digest = hmac.new(secret_key.encode(), b"notice:" + number.encode(), hashlib.sha256).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:LENGTH])
