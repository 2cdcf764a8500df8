"""GET /api/v1/stats over real HTTP on SQLite and PostgreSQL: cases made
through the API and the services (answered on time and late, open overdue,
waiting, returned, extended, rated low then re-handled and rated again,
imported without an answer time, merged duplicates), then the numbers a
person checking the 通报 would check, by every key, in JSON, CSV and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from openpyxl import load_workbook

from bot.domain.actors import Actor
from bot.domain.stats import COUNT_FIELDS, FIELD_LABELS, FIELDS
from bot.services import cases
from bot.services.imports import import_file
from tests.conftest import make_token

TZ = ZoneInfo("Asia/Shanghai")


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def enter(server, h: dict, text: str, at: datetime, *, channel: str = "portal", kind: str = "consultation",
                phone: str = "13800001234") -> dict:
    resp = await server.post("/api/v1/cases", headers=h, json={
        "channel": channel, "received_at": at.isoformat(), "text": text, "kind": kind,
        "contact": {"name": "群众", "phone": phone}})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def post(server, h: dict, path: str, body: dict, status: int = 200) -> dict:
    resp = await server.post(path, headers=h, json=body)
    assert resp.status == status, (path, await resp.text())
    return await resp.json()


async def patch(server, h: dict, case_id: int, **changes) -> dict:
    resp = await server.patch(f"/api/v1/cases/{case_id}", headers=h, json=changes)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def answer(server, h: dict, case_id: int) -> None:
    await post(server, h, f"/api/v1/cases/{case_id}/replies",
               {"text": "您好，经核实答复如下。", "type": "final", "delivered_by": "网站"}, 201)


async def stats(server, h: dict, **params) -> dict:
    resp = await server.get("/api/v1/stats", headers=h, params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


@pytest_asyncio.fixture
async def office(server, api_token, tmp_path):
    """Two staff members (zhangsan holds the token; 李四) and the cases of
    every kind of outcome, received between 60 days ago and now."""
    await make_token(server.runtime, "lisi", "李四")
    h = auth(api_token)
    now = datetime.now(timezone.utc)
    recent = now - timedelta(minutes=5)
    old = (now - timedelta(days=60)).astimezone(TZ).replace(hour=10, minute=0, second=0, microsecond=0)
    ids: dict[str, int] = {}

    ids["on_time"] = (await enter(server, h, "请问人防车位可以出售吗", recent))["id"]
    await patch(server, h, ids["on_time"], assignee="zhangsan", topic="siren")
    await answer(server, h, ids["on_time"])

    ids["late"] = (await enter(server, h, "投诉小区人防工程漏水无人处理", old, kind="complaint"))["id"]
    await patch(server, h, ids["late"], assignee="zhangsan", topic="siren")
    await answer(server, h, ids["late"])

    ids["overdue"] = (await enter(server, h, "咨询人防工程竣工验收备案", old, channel="letter"))["id"]
    await patch(server, h, ids["overdue"], assignee="lisi", status="in_progress")

    ids["returned"] = (await enter(server, h, "楼下餐馆油烟扰民", recent, kind="complaint"))["id"]
    await patch(server, h, ids["returned"], assignee="lisi")
    await post(server, h, f"/api/v1/cases/{ids['returned']}/return",
               {"reason": "餐饮油烟不属人防部门职责", "basis": "《大气污染防治法》第八十一条"})

    ids["extended"] = (await enter(server, h, "小区人防工程出入口被占用，请帮忙协调", recent, kind="help"))["id"]
    extended = await post(server, h, f"/api/v1/cases/{ids['extended']}/extension",
                          {"working_days": 2, "reason": "需要现场核查"})
    assert extended["extended_days"] == 2

    ids["rated"] = (await enter(server, h, "人防车位租赁合同到期怎么办", recent))["id"]
    await patch(server, h, ids["rated"], assignee="zhangsan")
    await answer(server, h, ids["rated"])
    low = await post(server, h, f"/api/v1/cases/{ids['rated']}/rating", {"score": 2, "source": "staff"})
    assert low["status"] == "in_progress" and low["reopened"] == 1 and low["answered_at"] is None
    await answer(server, h, ids["rated"])
    high = await post(server, h, f"/api/v1/cases/{ids['rated']}/rating", {"score": 5, "source": "staff"})
    assert high["status"] == "answered" and high["rating"] == 5

    # Waiting for the citizen: the clock is paused, so not overdue, unless
    # the deadline had passed before the office asked.
    ids["waiting"] = (await enter(server, h, "建议增加人防宣传栏", recent, channel="letter", kind="suggestion"))["id"]
    await patch(server, h, ids["waiting"], assignee="lisi")
    await post(server, h, f"/api/v1/cases/{ids['waiting']}/replies", {"text": "请补充地址", "type": "request_info"}, 201)
    ids["waiting_late"] = (await enter(server, h, "咨询人防工程使用费", old, channel="letter"))["id"]
    await patch(server, h, ids["waiting_late"], assignee="lisi")
    await post(server, h, f"/api/v1/cases/{ids['waiting_late']}/replies", {"text": "请补充材料", "type": "request_info"},
               201)

    # 12345 history without a 办结时间: answered (closed) at an unknown time.
    history = tmp_path / "12345.csv"
    received = (now - timedelta(days=10)).astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    history.write_text("工单编号,来电时间,诉求类型,标题,诉求内容,来电人,联系电话,办理时限\n"
                       f"RX-STATS-1,{received},咨询,车位,咨询人防车位能否办理产权,张先生,13800005678,\n",
                       encoding="utf-8")
    assert (await import_file(server.runtime, history, "hotline", progress=False)).imported == 1
    found = await (await server.get("/api/v1/cases?channel=hotline", headers=h)).json()
    ids["imported"] = found["items"][0]["id"]
    assert found["items"][0]["status"] == "closed" and found["items"][0]["answered_at"] is None

    # A duplicate merged into the case it repeats: one case, counted once.
    ids["kept"] = (await enter(server, h, "人防工程门口积水请处理", recent, kind="help", phone="13900001111"))["id"]
    ids["duplicate"] = (await enter(server, h, "人防工程门口积水请处理！", recent, kind="help",
                                    phone="13900001111"))["id"]
    kept_number = (await (await server.get(f"/api/v1/cases/{ids['kept']}", headers=h)).json())["number"]
    await cases.merge(server.runtime, Actor("test"), ids["duplicate"], kept_number)

    return {"h": h, "ids": ids, "from": old.date().isoformat(), "to": now.astimezone(TZ).date().isoformat(),
            "old_day": old.date(), "today": now.astimezone(TZ).date()}


def _counts(row: dict) -> dict:
    return {f: row[f] for f in COUNT_FIELDS}


async def test_the_numbers_a_person_would_check(server, office):
    h = office["h"]
    table = await stats(server, h, **{"from": office["from"], "to": office["to"]})  # by assignee, the default
    assert table["by"] == "assignee" and (table["from"], table["to"]) == (office["from"], office["to"])
    total = table["total"]
    # Eleven cases made, one a merged duplicate.
    assert total["received"] == 10
    # Answered: on time (now, before its deadline), late (60 days on), the
    # re-handled one (answered again after the low rating), and the imported
    # one, whose answer time nobody knows: answered, but neither on time nor late.
    assert (total["answered"], total["on_time"], total["late"]) == (4, 2, 1)
    # Overdue and open: the in-progress one and the one waiting since after its deadline.
    assert total["open_overdue"] == 2
    assert (total["extended"], total["returned"], total["reopened"]) == (1, 1, 1)
    # Two ratings of one case (2, then 5 after re-handling): one satisfied.
    assert (total["rated"], total["satisfied"], total["satisfaction_rate"]) == (2, 1, 0.5)
    calendar = await server.runtime.calendar.refresh(force=True)
    today, old_day = office["today"], office["old_day"]
    # Answered with a known day: two the same day (0), one 60 days on.
    assert total["avg_working_days"] == round(calendar.working_days_between(old_day, today) / 3, 2)

    rows = {r["key"]: r for r in table["rows"]}
    assert [r["key"] for r in table["rows"]] == ["lisi", "zhangsan", None]  # 4, 3, 3 received; unassigned last
    assert rows["lisi"]["label"] == "李四" and rows["zhangsan"]["label"] == "zhangsan" and rows[None]["label"] == "未分派"
    assert _counts(rows["zhangsan"]) == {"received": 3, "answered": 3, "on_time": 2, "late": 1, "open_overdue": 0,
                                         "extended": 0, "returned": 0, "cancelled": 0, "reopened": 1, "rated": 2, "satisfied": 1}
    assert _counts(rows["lisi"]) == {"received": 4, "answered": 0, "on_time": 0, "late": 0, "open_overdue": 2,
                                     "extended": 0, "returned": 1, "cancelled": 0, "reopened": 0, "rated": 0, "satisfied": 0}
    assert _counts(rows[None]) == {"received": 3, "answered": 1, "on_time": 0, "late": 0, "open_overdue": 0,
                                   "extended": 1, "returned": 0, "cancelled": 0, "reopened": 0, "rated": 0, "satisfied": 0}
    assert rows["lisi"]["satisfaction_rate"] is None and rows["lisi"]["avg_working_days"] is None
    assert rows[None]["avg_working_days"] is None  # its one answered case has no answer time
    for field in COUNT_FIELDS:
        assert total[field] == sum(r[field] for r in table["rows"]), field


async def test_every_grouping_adds_up_to_the_same_total(server, office):
    h, span = office["h"], {"from": office["from"], "to": office["to"]}
    by_assignee = await stats(server, h, **span, by="assignee")
    by_kind = await stats(server, h, **span, by="kind")
    by_channel = await stats(server, h, **span, by="channel")
    by_topic = await stats(server, h, **span, by="topic")
    for table in (by_kind, by_channel, by_topic):
        assert table["total"] == by_assignee["total"]
        for field in COUNT_FIELDS:
            assert sum(r[field] for r in table["rows"]) == table["total"][field]
    kinds = {r["key"]: r for r in by_kind["rows"]}
    assert (kinds["consultation"]["label"], kinds["consultation"]["received"]) == ("咨询", 5)
    assert _counts(kinds["complaint"]) == {"received": 2, "answered": 1, "on_time": 0, "late": 1, "open_overdue": 0,
                                           "extended": 0, "returned": 1, "cancelled": 0, "reopened": 0, "rated": 0, "satisfied": 0}
    assert (kinds["help"]["received"], kinds["help"]["extended"]) == (2, 1)  # the merged duplicate is not one
    channels = {r["key"]: (r["label"], r["received"]) for r in by_channel["rows"]}
    assert channels == {"portal": ("门户网站", 6), "letter": ("信函", 3), "hotline": ("12345热线", 1)}
    assert [r["key"] for r in by_channel["rows"]] == ["portal", "letter", "hotline"]
    siren = next(r for r in by_topic["rows"] if r["key"] == "siren")
    assert (siren["label"], siren["received"], siren["on_time"], siren["late"]) == ("防空警报", 2, 1, 1)


async def test_the_range_counts_office_local_days_of_receipt(server, api_token):
    h = auth(api_token)
    day = (datetime.now(timezone.utc) - timedelta(days=20)).astimezone(TZ).date()

    def at(d: date, t: time) -> datetime:
        return datetime.combine(d, t, TZ)

    moments = [at(day - timedelta(days=1), time(23, 59, 59)), at(day, time(0, 0)),
               at(day + timedelta(days=1), time(23, 59, 59)), at(day + timedelta(days=2), time(0, 0))]
    for i, moment in enumerate(moments):
        await enter(server, h, f"咨询人防车位第{i}件", moment, phone=f"1380000100{i}")
    two_days = await stats(server, h, **{"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()},
                           by="channel")
    # 00:00 office time is 16:00 UTC the day before: it belongs to the office's day.
    assert two_days["total"]["received"] == 2
    one_day = await stats(server, h, **{"from": day.isoformat(), "to": day.isoformat()}, by="channel")
    assert one_day["total"]["received"] == 1
    none = await stats(server, h, **{"from": (day + timedelta(days=3)).isoformat(),
                                     "to": (day + timedelta(days=9)).isoformat()})
    assert none["rows"] == [] and none["total"]["received"] == 0 and none["total"]["satisfaction_rate"] is None
    # Years the calendar does not know: nothing to count, and no error.
    unknown = await stats(server, h, **{"from": "2099-01-01", "to": "2099-12-31"})
    assert unknown["total"]["received"] == 0 and unknown["total"]["avg_working_days"] is None


async def test_csv_and_xlsx_hold_the_same_numbers_in_chinese(server, office):
    h, span = office["h"], {"from": office["from"], "to": office["to"]}
    table = await stats(server, h, **span)
    resp = await server.get("/api/v1/stats", headers=h, params={**span, "format": "csv"})
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert rows[0] == ["承办人", "受理", "已答复", "按期", "超期答复", "在办超期", "延期", "退回", "撤单", "重办", "评价数", "满意数",
                       "满意率", "平均办理工作日"]
    assert [r[0] for r in rows[1:]] == [r["label"] for r in table["rows"]] + ["合计"]
    for line, row in zip(rows[1:], table["rows"] + [table["total"]]):
        assert line[1:] == ["" if row[f] is None else str(row[f]) for f in FIELDS]

    resp = await server.get("/api/v1/stats", headers=h, params={**span, "format": "xlsx", "by": "kind"})
    assert resp.status == 200
    assert resp.headers["Content-Disposition"] == (
        f'attachment; filename="stats-kind-{office["from"]}-{office["to"]}.xlsx"')
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert "按诉求类型" in values[0][0]
    assert values[1] == ["诉求类型"] + [FIELD_LABELS[f] for f in FIELDS]
    by_kind = await stats(server, h, **span, by="kind")
    expected = [[r["label"]] + [r[f] for f in FIELDS] for r in by_kind["rows"] + [by_kind["total"]]]
    assert values[2:] == expected
    assert values[-1][0] == "合计" and values[-1][1] == 10
    assert sheet.cell(len(values), 2 + FIELDS.index("satisfaction_rate")).number_format == "0.00%"


@pytest.mark.parametrize("params,field", [
    ({"to": "2026-11-30"}, "from"),
    ({"from": "2026-11-01"}, "to"),
    ({"from": "2026-11-31", "to": "2026-12-01"}, "from"),
    ({"from": "2026/11/01", "to": "2026-12-01"}, "from"),
    ({"from": "20261101", "to": "20261201"}, "from"),
    ({"from": "2026-11-01", "to": "2026-11-01T12:00"}, "to"),
    ({"from": "2026-12-01", "to": "2026-11-01"}, "to"),
    ({"from": "2023-01-01", "to": "2026-01-01"}, "to"),
    ({"from": "2026-11-01", "to": "2026-11-30", "by": "status"}, "by"),
    ({"from": "2026-11-01", "to": "2026-11-30", "format": "pdf"}, "format"),
])
async def test_bad_input_is_a_400_naming_the_field(server, api_token, params, field):
    resp = await server.get("/api/v1/stats", headers=auth(api_token), params=params)
    assert resp.status == 400
    body = await resp.json()
    assert list(body) == ["error"] and body["error"]["field"] == field
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["error"]["message"])


async def test_needs_a_token(server):
    resp = await server.get("/api/v1/stats", params={"from": "2026-11-01", "to": "2026-11-30"})
    assert resp.status == 401
