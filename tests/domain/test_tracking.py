"""The 查询码 (bot/domain/tracking.py)."""

from __future__ import annotations

from bot.domain import tracking


def test_codes_are_random_unambiguous_and_stored_only_as_a_keyed_hash():
    codes = {tracking.new_code() for _ in range(1000)}
    assert len(codes) == 1000
    assert all(len(c) == tracking.LENGTH and set(c) <= set(tracking.ALPHABET) for c in codes)
    assert not set("01OIL") & set(tracking.ALPHABET)
    code = next(iter(codes))
    stored = tracking.code_hash("key-one", code)
    assert code not in stored and len(stored) == 64
    assert tracking.code_matches("key-one", code, stored)
    # As a citizen types it: lower case, spaces, a dash.
    assert tracking.code_matches("key-one", f" {code[:4].lower()}-{code[4:]} ", stored)
    assert not tracking.code_matches("key-two", code, stored)  # another server's key
    assert not tracking.code_matches("key-one", tracking.new_code(), stored)
    assert not tracking.code_matches("key-one", code, None)  # a case without a code
    assert not tracking.code_matches("key-one", "x" * 65, stored)


def test_which_channels_get_a_code():
    assert tracking.needs_code("portal") and tracking.needs_code("letter") and tracking.needs_code("in_person")
    assert not tracking.needs_code("wechat") and not tracking.needs_code("hotline")
