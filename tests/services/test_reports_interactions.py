"""How the tally counts answered and open cases: by status, with imported
history that has no answer time kept apart rather than called open (or late:
the inbox says 答复时间不详 of it too), and returned cases apart."""

from __future__ import annotations

from bot.domain.actors import Actor
from bot.services import cases, reports
from bot.services.imports import import_file


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_open_answered_and_imported_history(server, api_token, tmp_path):
    h = auth(api_token)
    body = {"channel": "portal", "received_at": "2022-03-01T10:00:00+08:00", "text": "请问人防车位可以出售吗"}
    answered = await (await server.post("/api/v1/cases", json=body, headers=h)).json()
    still_open = await (await server.post("/api/v1/cases", json={**body, "text": "人防工程漏水投诉"}, headers=h)).json()
    resp = await server.post(f"/api/v1/cases/{answered['id']}/replies", json={"text": "可以转让使用权", "delivered_by": "网站"}, headers=h)
    assert resp.status == 201
    assert (await server.patch(f"/api/v1/cases/{still_open['id']}", json={"status": "in_progress"}, headers=h)).status == 200
    elsewhere = await (await server.post("/api/v1/cases", json={**body, "text": "楼下餐馆油烟扰民"}, headers=h)).json()
    resp = await server.post(f"/api/v1/cases/{elsewhere['id']}/return", headers=h,
                             json={"reason": "餐饮油烟不属人防部门职责", "basis": "《大气污染防治法》第八十一条，由生态环境部门监管"})
    assert resp.status == 200

    export = tmp_path / "12345.csv"
    export.write_text(
        "工单编号,来电时间,诉求类型,标题,诉求内容,来电人,联系电话,办理时限\n"
        "RX-2022-1,2022-04-02 09:00,咨询,车位,咨询人防车位能否办理产权,张先生,13800001234,\n",
        encoding="utf-8")
    summary = await import_file(server.runtime, export, "hotline", progress=False)
    assert summary.imported == 1

    runtime = server.runtime
    report = await reports.build(runtime.db, 2022, calendar=await runtime.calendar.refresh(force=True))
    inter = report["interactions"]
    # Answered now, in 2026, long after its 2022 deadline: late. The imported
    # order is closed history with no answer time: neither open nor on time.
    assert (inter["answered_on_time"], inter["answered_late"], inter["answered_time_unknown"], inter["open"],
            inter["returned"]) == (0, 1, 1, 1, 1)
    assert inter["total"] == 4
    # The inbox says the same of the imported order: neither 按期 nor 超期.
    imported_id = (await (await server.get("/api/v1/cases?channel=hotline", headers=h)).json())["items"][0]["id"]
    workspace = await cases.workspace(runtime, Actor("test"), imported_id)
    assert workspace.deadline.label == "答复时间不详"
    # The report's own arithmetic holds with history in it.
    assert all(check["ok"] for check in report["checks"]), [c for c in report["checks"] if not c["ok"]]
