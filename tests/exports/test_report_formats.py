"""The report's files as the disclosure officer opens them: XLSX laid out
like the official tables (merged headers), the DOCX draft with sections
一 to 六 and charts, CSV/Markdown, and the `intake report` command."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

REPO = Path(__file__).resolve().parents[2]


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def seed(server, token) -> None:
    h = auth(token)
    for i, (channel, kind) in enumerate([("portal", "consultation"), ("portal", "complaint"),
                                         ("platform", "consultation"), ("wechat", "suggestion")]):
        resp = await server.post("/api/v1/cases", headers=h, json={
            "channel": channel, "received_at": f"2022-0{i + 3}-10T10:00:00+08:00", "text": f"来信{i}", "kind": kind,
            "contact": {"name": "赵某", "phone": "13800001234"}})
        assert resp.status == 201
    for applicant, outcome, day in (("natural_person", "r1", "2022-05-20"), ("commercial", "r2", "2022-06-01"),
                                    ("legal_service", None, None)):
        resp = await server.post("/api/v1/cases", headers=h, json={
            "channel": "letter", "received_at": "2022-05-09T10:00:00+08:00", "text": "申请公开人防工程名录",
            "kind": "disclosure_request"})
        case = await resp.json()
        body = {"applicant_type": applicant, "id_proof": "360102198001011234", "contact": "13712345678"}
        if outcome:
            body.update(outcome=outcome, decided_at=day)
        assert (await server.put(f"/api/v1/cases/{case['id']}/disclosure", headers=h, json=body)).status == 201


async def test_xlsx_is_laid_out_like_the_official_tables(server, api_token):
    await seed(server, api_token)
    resp = await server.get("/api/v1/reports/2022?format=xlsx", headers=auth(api_token))
    assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(await resp.read()))
    assert wb.sheetnames[:2] == ["表三", "表四"]
    t3 = wb["表三"]
    merged = {str(r) for r in t3.merged_cells.ranges}
    assert {"A2:C4", "D2:J2", "D3:D4", "E3:I3", "J3:J4"} <= merged
    assert t3["D2"].value == "申请人情况" and t3["E3"].value == "法人或其他组织" and t3["H4"].value == "法律服务机构"
    rows = {t3.cell(r, 1).value or t3.cell(r, 2).value or t3.cell(r, 3).value: r for r in range(5, t3.max_row + 1)}
    new = rows["一、本年新收政府信息公开申请数量"]
    assert [t3.cell(new, c).value for c in range(4, 11)] == [1, 1, 0, 0, 1, 0, 3]
    # 2022 uses the 2021 format: (六) split into three rows, parents merged down.
    labels = [t3.cell(r, 3).value for r in range(5, t3.max_row + 1)]
    assert "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请" in labels
    assert any(r.startswith("A") and t3[r.split(":")[0]].value == "三、本年度办理结果" for r in merged)
    out = rows["四、结转下年度继续办理"]
    assert t3.cell(out, 8).value == 1 and t3.cell(out, 10).value == 1
    t4 = wb["表四"]
    assert {"A2:E3", "F2:O2", "F3:J3", "K3:O3"} <= {str(r) for r in t4.merged_cells.ranges}
    assert t4["A2"].value == "行政复议" and t4["K3"].value == "复议后起诉" and t4["E4"].value == "总计"
    checks = wb["校验"]
    assert all(checks.cell(r, 2).value == "通过" for r in range(2, checks.max_row + 1))


async def test_docx_draft_has_sections_one_to_six_numbers_and_charts(server, api_token):
    from docx import Document

    await seed(server, api_token)
    resp = await server.get("/api/v1/reports/2022?format=docx", headers=auth(api_token))
    doc = Document(io.BytesIO(await resp.read()))
    headings = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading")]
    for title in ("一、总体情况", "二、主动公开政府信息情况", "三、收到和处理政府信息公开申请情况",
                  "四、政府信息公开行政复议、行政诉讼情况", "五、存在的主要问题及改进情况", "六、其他需要报告的事项"):
        assert title in headings
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "共受理群众来信、来电、留言等诉求7件" in text and "门户网站2件" in text
    assert "新收政府信息公开申请3件" in text and "结转下年度继续办理1件" in text
    assert len(doc.inline_shapes) >= 2  # the channel chart and the outcome chart
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    assert "（一）予以公开" in cells
    assert "13800001234" not in text and "360102198001011234" not in "".join(cells)


def run_cli(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url, "INTAKE_VAR_DIR": str(tmp_path / "var"),
           "INTAKE_SECRET_KEY": "cli-test-key"}
    return subprocess.run([sys.executable, "-m", "bot.cli", "report", *args], cwd=REPO, env=env,
                          capture_output=True, timeout=120)


async def test_intake_report_command(server, api_token, db_url, tmp_path):
    await seed(server, api_token)
    md = run_cli(db_url, tmp_path, "--year", "2022", "--format", "md")
    assert md.returncode == 0, md.stderr.decode()
    assert "| 门户网站 | 2 |" in md.stdout.decode() and "国办公开办函〔2021〕30号" in md.stdout.decode()
    js = run_cli(db_url, tmp_path, "--year", "2022", "--template", "2019")
    report = json.loads(js.stdout)
    assert report["template"] == "2019" and report["table3"]["rows"]["r7"]["total"] == 2
    out = tmp_path / "r.xlsx"
    done = run_cli(db_url, tmp_path, "--year", "2022", "--format", "xlsx", "-o", str(out))
    assert done.returncode == 0 and load_workbook(out)["表三"]["D2"].value == "申请人情况"
    assert "全部通过" in done.stderr.decode()
    no_file = run_cli(db_url, tmp_path, "--year", "2022", "--format", "docx")
    assert no_file.returncode == 2 and "-o" in no_file.stderr.decode()
    unknown = run_cli(db_url, tmp_path, "--year", "2031")
    assert unknown.returncode == 2 and "2031" in unknown.stderr.decode() and not unknown.stdout


@pytest.mark.parametrize("fmt", ["csv", "md"])
async def test_text_formats_hold_the_same_numbers(server, api_token, fmt):
    await seed(server, api_token)
    body = (await (await server.get(f"/api/v1/reports/2022?format={fmt}", headers=auth(api_token))).read()).decode("utf-8-sig")
    sep = "," if fmt == "csv" else " | "
    assert sep.join(["一、本年新收政府信息公开申请数量", "1", "1", "0", "0", "1", "0", "3"]) in body
    assert sep.join(["（二）部分公开（区分处理的，只计这一情形，不计其他情形）", "0", "1", "0", "0", "0", "0", "1"]) in body
