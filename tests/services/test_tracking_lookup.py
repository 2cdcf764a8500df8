"""bot/services/tracking.py on SQLite and PostgreSQL: the look-up by number
and 查询码 (the same NotFound after the same work for an unknown number and
a wrong code, every look-up counted), the citizen's view, the codes for
receipts, and the staff's new code."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.domain import tracking as codes
from bot.domain.actors import Actor
from bot.domain.errors import NotFound, TooManyRequests
from bot.services import cases, tracking
from bot.services.cases import ManualEntry
from storage.models import Case, RequestCount
from tests.conftest import make_settings

STAFF = Actor("user:zhangsan", user_id=None, username="zhangsan")


@pytest.fixture
async def rt(db_url, tmp_path, classifier):
    from bot.app import build_runtime

    runtime = build_runtime(make_settings(db_url, tmp_path, track_lookups_per_minute=5), classifier=classifier)
    await runtime.calendar.refresh(force=True)
    yield runtime
    await runtime.db.close()


async def enter(rt, channel="letter", text="请问人防车位能否出售？"):
    detail, _ = await cases.enter(rt, STAFF, ManualEntry(channel=channel, received_at=datetime.now(timezone.utc),
                                                         text=text, contact_name="王女士"))
    return detail


async def test_number_and_code_give_the_citizens_view(rt):
    detail = await enter(rt)
    assert detail.tracking_code and codes.code_matches(rt.settings.secret_key, detail.tracking_code,
                                                       detail.case.tracking_code_hash)
    view = await tracking.look_up(rt, "10.0.0.1", f" {detail.case.number.lower()} ", detail.tracking_code.lower())
    assert (view.number, view.status, view.status_label) == (detail.case.number, "new", "新收")
    assert view.received_date == detail.case.received_date
    assert view.deadline_date == detail.case.deadline_at.astimezone(rt.settings.tz).date()
    assert view.deadline_days == detail.case.deadline_days and view.replies == [] and not view.can_rate


async def test_unknown_number_and_wrong_code_do_the_same_work(rt, monkeypatch):
    detail = await enter(rt)
    no_code = await enter(rt, channel="phone")
    assert no_code.tracking_code is None and no_code.case.tracking_code_hash is None
    hashed = []
    real = codes.code_hash
    monkeypatch.setattr(codes, "code_hash", lambda key, code: hashed.append(code) or real(key, code))
    for number, code in ((detail.case.number, "ABCDEFGH"), ("XH20000101-0001", "ABCDEFGH"),
                         (no_code.case.number, "ABCDEFGH")):
        hashed.clear()
        with pytest.raises(NotFound) as refused:
            await tracking.look_up(rt, "10.0.0.2", number, code)
        assert refused.value.message == tracking.NOT_FOUND
        assert hashed == ["ABCDEFGH"], number  # one HMAC each, whether the number exists or not


async def test_every_look_up_counts_and_the_limit_refuses(rt):
    detail = await enter(rt)
    for i in range(5):
        with pytest.raises(NotFound):
            await tracking.look_up(rt, "10.0.0.3", detail.case.number, f"WRONG{i}")
    with pytest.raises(TooManyRequests):
        await tracking.look_up(rt, "10.0.0.3", detail.case.number, detail.tracking_code)
    assert (await tracking.look_up(rt, "10.0.0.4", detail.case.number, detail.tracking_code)).number

    def counted(tx):
        return tx.session.get(RequestCount, "track:10.0.0.3").count

    assert await rt.db.read(counted) == 6


async def test_a_new_code_replaces_the_old_and_is_audited(rt):
    detail = await enter(rt, channel="in_person")
    version = detail.case.version
    new = await tracking.issue_code(rt, STAFF, detail.case.id)
    with pytest.raises(NotFound):
        await tracking.look_up(rt, "10.0.0.5", detail.case.number, detail.tracking_code)
    assert (await tracking.look_up(rt, "10.0.0.5", detail.case.number, new)).number == detail.case.number

    def load(tx):
        return tx.session.get(Case, detail.case.id)

    case = await rt.db.read(load)
    assert case.version == version  # nobody's open form goes stale
    with pytest.raises(NotFound):
        await tracking.issue_code(rt, STAFF, 10**9)


async def test_issue_code_in_gives_a_code_inside_the_callers_transaction(rt):
    detail = await enter(rt, channel="other")
    assert detail.tracking_code is None

    def give(tx):
        return tracking.issue_code_in(tx, rt.settings, tx.session.get(Case, detail.case.id))

    code = await rt.db.write(give)
    assert len(code) >= 6
    assert (await tracking.look_up(rt, "10.0.0.6", detail.case.number, code)).status == "new"
    receipt = tracking.receipt_code(rt.settings)
    assert codes.code_matches(rt.settings.secret_key, receipt.code, receipt.hash)


@pytest.mark.parametrize("score", [None, "", "0", "6", "-1", "2.5", "x" * 1000, 3.7])
def test_a_score_must_be_one_to_five(score):
    with pytest.raises(Exception) as refused:
        tracking.check_score(score)
    assert refused.value.field == "score"
