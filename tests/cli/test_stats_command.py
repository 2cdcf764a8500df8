"""``intake stats`` as the office runs it (a real subprocess) on SQLite and
PostgreSQL: the same numbers as GET /api/v1/stats, as JSON or CSV on
standard output and XLSX to a file; mistakes explained in Chinese, exit 2."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from tests.cli.test_kb import intake

TZ = ZoneInfo("Asia/Shanghai")


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def _some_cases(server, token: str) -> tuple[str, str]:
    """Three cases: one answered and rated, one late and open, one returned."""
    h = auth(token)
    now = datetime.now(timezone.utc)
    entries = [("请问人防车位可以出售吗", now - timedelta(minutes=5), "consultation"),
               ("投诉人防工程漏水", now - timedelta(days=30), "complaint"),
               ("楼下餐馆油烟扰民", now - timedelta(days=3), "complaint")]
    made = []
    for text, at, kind in entries:
        resp = await server.post("/api/v1/cases", headers=h, json={
            "channel": "portal", "received_at": at.isoformat(), "text": text, "kind": kind})
        assert resp.status == 201
        made.append((await resp.json())["id"])
    reply = {"text": "不可以", "delivered_by": "网站"}
    assert (await server.post(f"/api/v1/cases/{made[0]}/replies", headers=h, json=reply)).status == 201
    assert (await server.post(f"/api/v1/cases/{made[0]}/rating", headers=h, json={"score": 4})).status == 200
    assert (await server.patch(f"/api/v1/cases/{made[1]}", headers=h, json={"assignee": "zhangsan"})).status == 200
    assert (await server.post(f"/api/v1/cases/{made[2]}/return", headers=h,
                              json={"reason": "非本部门职责", "basis": "三定方案"})).status == 200
    return (now - timedelta(days=40)).astimezone(TZ).date().isoformat(), now.astimezone(TZ).date().isoformat()


async def test_the_same_numbers_as_the_api(server, api_token, db_url, tmp_path):
    start, end = await _some_cases(server, api_token)
    for by in ("assignee", "kind"):
        code, out, err = await intake(db_url, tmp_path, "stats", "--from", start, "--to", end, "--by", by)
        assert code == 0, err
        api = await (await server.get("/api/v1/stats", headers=auth(api_token),
                                      params={"from": start, "to": end, "by": by})).json()
        assert json.loads(out) == api
    assert api["total"]["received"] == 3 and api["total"]["returned"] == 1 and api["total"]["satisfaction_rate"] == 1.0

    code, out, err = await intake(db_url, tmp_path, "stats", "--from", start, "--to", end, "--format", "csv")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out.lstrip("\ufeff"))))
    assert rows[0][:3] == ["承办人", "受理", "已答复"] and rows[-1][:2] == ["合计", "3"]
    assert {r[0] for r in rows[1:-1]} == {"zhangsan", "未分派"}

    code, out, err = await intake(db_url, tmp_path, "stats", "--from", start, "--to", end, "--by", "channel",
                                  "--format", "xlsx", "-o", "tongbao.xlsx")
    assert code == 0, err
    assert "tongbao.xlsx" in err and out == ""
    sheet = load_workbook(tmp_path / "tongbao.xlsx").active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[1][:2] == ["渠道", "受理"] and values[2][:2] == ["门户网站", 3] and values[-1][:2] == ["合计", 3]


@pytest.mark.parametrize("args,names", [
    (["--from", "2026-11-01", "--to", "2026-11-30", "--format", "xlsx"], "-o"),
    (["--from", "2026/11/01", "--to", "2026-11-30"], "--from"),
    (["--to", "2026-11-30"], "--from"),
    (["--from", "2026-11-30", "--to", "2026-11-01"], "--to"),
    (["--from", "2020-01-01", "--to", "2026-11-01"], "--to"),
    (["--from", "2026-11-01", "--to", "2026-11-30", "--by", "status"], "--by"),
    (["--from", "2026-11-01", "--to", "2026-11-30", "--format", "pdf"], "--format"),
])
async def test_mistakes_are_explained_in_chinese(db_url, tmp_path, args, names):
    code, out, err = await intake(db_url, tmp_path, "stats", *args)
    assert code == 2 and out == ""
    assert err.startswith("错误：") and names in err
    assert not list(tmp_path.glob("*.xlsx"))
