"""The 通报 statistics' service on SQLite and PostgreSQL, over history
imported with known times: the working days each case keeps from its
answer agree with the calendar's count (across holidays and the turn of a
year), the numbers agree with the annual report's where the two overlap;
and the dashboard's digest of cases due soon or overdue per assignee."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.domain.actors import Actor
from bot.domain.workdays import PACKAGE_YEARS
from bot.services import cases, reports, stats
from bot.services.imports import import_file
from tests.inbox_staff import add_user

TZ = ZoneInfo("Asia/Shanghai")
YEAR = max(PACKAGE_YEARS) - 1  # a finished year the calendar knows, and the next one too
HEADER = "外部编号,收到时间,类型,状态,内容,办理期限,办结时间\n"
ACTOR = Actor("test")


async def _import(rt, tmp_path, channel: str, rows: list[str]) -> None:
    path = tmp_path / f"{channel}.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    summary = await import_file(rt, path, channel, progress=False)
    errors = summary.error_file.read_text(encoding="utf-8") if summary.error_file else ""
    assert summary.imported == len(rows) and summary.rejected == 0, errors


async def _by_external(server, external_id: str) -> dict:
    rt = server.runtime
    found = await cases.list_cases(rt, cases.search_filter(None), None, limit=500, before_id=None)
    return next(c for c, _ in found.items if c.external_id == external_id)


async def _history(server, tmp_path) -> None:
    """A year of portal letters and post: answered on time and late across
    劳动节 and 国庆, answered at an unknown time, open past the deadline,
    returned, one received at the year's last minute and answered in the
    next, one the minute before the year, and a duplicate merged away."""
    y, n = YEAR, YEAR + 1
    await _import(server.runtime, tmp_path, "portal", [
        f"WZ-1,{y}-04-28 09:00,咨询,已办结,人防车位能否出售,{y}-05-09,{y}-05-06 10:00",
        f"WZ-2,{y}-09-26 15:00,投诉,已答复,人防工程漏水,{y}-09-30,{y}-10-10 16:00",
        f"WZ-3,{y}-03-03 10:00,求助,已办结,人防工程出入口被占,{y}-03-12,",
        f"WZ-4,{y}-06-02 10:00,咨询,办理中,人防工程使用费,{y}-06-05,",
        f"WZ-5,{y}-12-31 23:30,建议,已办结,多组织防空演练,{n}-01-09,{n}-01-05 09:00",
        f"WZ-6,{y - 1}-12-31 23:30,咨询,已办结,去年的留言,{y}-01-06,{y}-01-02 09:00",
        f"WZ-7,{y}-07-01 10:00,举报,新收,举报小区违规占用人防工程,{y}-07-22,",
        f"WZ-8,{y}-07-01 10:05,举报,新收,举报小区违规占用人防工程（重复）,{y}-07-22,",
    ])
    await _import(server.runtime, tmp_path, "letter", [
        f"XH-1,{y}-02-10 09:00,咨询,已退回,咨询住房公积金,{y}-02-13,",
        f"XH-2,{y}-11-03 09:00,咨询,已答复,人防警报试鸣时间,{y}-11-06,{y}-11-05 11:00",
    ])
    kept = await _by_external(server, "WZ-7")
    duplicate = await _by_external(server, "WZ-8")
    await cases.merge(server.runtime, ACTOR, duplicate.id, kept.number)


async def test_the_year_agrees_with_the_annual_report(server, tmp_path):
    await _history(server, tmp_path)
    rt = server.runtime
    calendar = await rt.calendar.refresh(force=True)
    report = (await reports.build(rt.db, YEAR, calendar=calendar))["interactions"]
    year = {"from": f"{YEAR}-01-01", "to": f"{YEAR}-12-31"}
    by_channel = await stats.table(rt, year["from"], year["to"], "channel")
    by_kind = await stats.table(rt, year["from"], year["to"], "kind")
    total = by_channel["total"]
    assert total["received"] == report["total"] == 8  # ten rows, one merged, one of the year before
    assert {r["key"]: r["received"] for r in by_channel["rows"]} == report["by_channel"]
    assert {r["key"]: r["received"] for r in by_kind["rows"]} == report["by_kind"]
    assert total["on_time"] == report["answered_on_time"] == 3
    assert total["late"] == report["answered_late"] == 1
    assert total["answered"] - total["on_time"] - total["late"] == report["answered_time_unknown"] == 1
    assert total["returned"] == report["returned"] == 1
    assert total["received"] - total["answered"] - total["returned"] == report["open"] == 2
    assert by_kind["total"] == total


async def test_working_days_follow_the_calendar_across_holidays_and_years(server, tmp_path):
    await _history(server, tmp_path)
    rt = server.runtime
    calendar = await rt.calendar.refresh(force=True)
    table = await stats.table(rt, f"{YEAR}-01-01", f"{YEAR}-12-31", "kind")
    wd = calendar.working_days_between
    y = YEAR
    answered = {  # kind: working days of each answered case with a known time
        "consultation": [wd(date(y, 4, 28), date(y, 5, 6)), wd(date(y, 11, 3), date(y, 11, 5))],
        "complaint": [wd(date(y, 9, 26), date(y, 10, 10))],
        "suggestion": [wd(date(y, 12, 31), date(y + 1, 1, 5))],
    }
    rows = {r["key"]: r for r in table["rows"]}
    for kind, days in answered.items():
        assert rows[kind]["avg_working_days"] == round(sum(days) / len(days), 2), kind
    assert rows["help"]["avg_working_days"] is None  # answered, time unknown
    every = [d for days in answered.values() for d in days]
    assert table["total"]["avg_working_days"] == round(sum(every) / len(every), 2)
    # The holidays are not working days: the late complaint's fortnight is 国庆.
    assert answered["complaint"][0] < (date(y, 10, 10) - date(y, 9, 26)).days * 5 // 7
    # The minute before the year counts in the year before, with its own numbers.
    before = await stats.table(rt, f"{y - 1}-12-31", f"{y - 1}-12-31")
    assert before["total"]["received"] == 1 and before["total"]["on_time"] == 1
    assert before["total"]["avg_working_days"] == wd(date(y - 1, 12, 31), date(y, 1, 2))


async def test_the_digest_lists_what_is_due_or_overdue_per_assignee(server, tmp_path):
    rt = server.runtime
    await add_user(rt, "liming", display_name="李明")
    await add_user(rt, "wangwu")
    now = datetime.now(timezone.utc)
    today = now.astimezone(TZ).date()
    received = (now - timedelta(days=10)).astimezone(TZ).strftime("%Y-%m-%d %H:%M")

    def row(ref: str, due: date, status: str = "办理中") -> str:
        return f"{ref},{received},咨询,{status},人防车位咨询{ref},{due.isoformat()},"

    await _import(rt, tmp_path, "portal", [
        row("D-1", today - timedelta(days=2)), row("D-2", today - timedelta(days=1)),
        row("D-3", today - timedelta(days=3)),
        row("D-4", today), row("D-5", today + timedelta(days=40)), row("D-6", today - timedelta(days=1)),
        row("D-7", today - timedelta(days=1), "待群众补充"), row("D-8", today - timedelta(days=5), "已办结"),
    ])
    ids = {ref: (await _by_external(server, ref)).id for ref in ("D-1", "D-2", "D-3", "D-4", "D-5", "D-6", "D-7")}
    for ref in ("D-1", "D-2", "D-3", "D-4", "D-5", "D-7"):
        await cases.update(rt, ACTOR, ids[ref], {"assignee": "liming"})
    digest = await stats.due_digest(rt, per_assignee=2)
    assert digest.calendar_error is None and digest.working_days == 2
    people = {a.key: a for a in digest.assignees}
    # wangwu has nothing due: left out. D-6 is nobody's; D-7 waits for the
    # citizen (its clock is paused); D-5 is far off; D-8 is answered.
    assert set(people) == {"liming", None}
    li = people["liming"]
    assert (li.label, li.overdue, li.due_soon) == ("李明", 3, 1)
    assert [c.id for c in li.overdue_cases] == [ids["D-3"], ids["D-1"]]  # the two most overdue of three
    assert [c.id for c in li.due_soon_cases] == [ids["D-4"]]
    nobody = people[None]
    assert (nobody.label, nobody.overdue, [c.id for c in nobody.overdue_cases]) == ("未分派", 1, [ids["D-6"]])
    assert [a.key for a in digest.assignees] == ["liming", None]  # the most overdue first
