"""The DOCX files as an office prints them (GB/T 9704-2012, 党政机关公文格式):
the annual report draft and the 答复书, downloaded over the real API on
SQLite and PostgreSQL and opened with python-docx: A4 and its margins, the
fonts named for East Asian text, the page-number field, the 成文日期, the
merged headers of 表三 and 表四; the 答复书's salutation for a person and
for an organisation, the office's name, the 文号 and the delivery form; a
chart drawn without a CJK font says what to install."""

from __future__ import annotations

import io
import logging
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import parse_xml
from docx.oxml.ns import qn

from tests.conftest import make_settings

OFFICE = "某某市人民防空办公室"
OFFICE_TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def settings(db_url, tmp_path):
    return make_settings(db_url, tmp_path, office_name=OFFICE)


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def office_today() -> str:
    d = datetime.now(OFFICE_TZ).date()
    return f"{d.year}年{d.month}月{d.day}日"


async def disclosure_case(server, token, **registration) -> dict:
    resp = await server.post("/api/v1/cases", headers=auth(token), json={
        "channel": "letter", "received_at": "2022-05-09T10:00:00+08:00", "text": "申请公开人防工程名录",
        "kind": "disclosure_request"})
    assert resp.status == 201, await resp.text()
    case = await resp.json()
    resp = await server.put(f"/api/v1/cases/{case['id']}/disclosure", headers=auth(token),
                            json={"id_proof": "360102198001011234", "contact": "13712345678", **registration})
    assert resp.status == 201, await resp.text()
    return case


async def seed(server, token) -> None:
    """Two channels of letters, three requests (one still open), one review."""
    for i, channel in enumerate(("portal", "wechat")):
        resp = await server.post("/api/v1/cases", headers=auth(token), json={
            "channel": channel, "received_at": f"2022-0{i + 3}-10T10:00:00+08:00", "text": f"来信{i}",
            "kind": "consultation"})
        assert resp.status == 201
    decided = await disclosure_case(server, token, applicant_type="natural_person", outcome="r1",
                                    decided_at="2022-05-20")
    await disclosure_case(server, token, applicant_type="commercial", outcome="r2", decided_at="2022-06-01")
    await disclosure_case(server, token, applicant_type="legal_service")
    resp = await server.post("/api/v1/reviews", headers=auth(token), json={
        "case_id": decided["id"], "kind": "reconsideration", "filed_on": "2022-07-01", "result": "upheld",
        "concluded_on": "2022-09-01"})
    assert resp.status == 201, await resp.text()


# ---- what python-docx shows ----------------------------------------------------


def mm(length) -> float:
    return length / 36000  # EMU per millimetre


def assert_gongwen_page(doc) -> None:
    section = doc.sections[0]
    assert round(mm(section.page_width)) == 210 and round(mm(section.page_height)) == 297
    margins = (section.top_margin, section.bottom_margin, section.left_margin, section.right_margin)
    assert [round(mm(m), 1) for m in margins] == [37.0, 35.0, 28.0, 26.0]


def style_font(style) -> tuple[str | None, str | None, float | None]:
    """(eastAsia font, Latin font, size in pt) a style names, up its base styles."""
    east = latin = size = None
    while style is not None:
        fonts = style.element.rPr.rFonts if style.element.rPr is not None else None
        if fonts is not None:
            east = east or fonts.get(qn("w:eastAsia"))
            latin = latin or fonts.get(qn("w:ascii"))
        if size is None and style.font.size is not None:
            size = style.font.size.pt
        style = style.base_style
    return east, latin, size


def assert_fonts(doc, title_text: str, body_text: str) -> None:
    title = next(p for p in doc.paragraphs if title_text in p.text)
    assert style_font(title.style) == ("方正小标宋简体", "方正小标宋简体", 22)  # 2号小标宋
    assert (title.alignment or title.style.paragraph_format.alignment) == WD_ALIGN_PARAGRAPH.CENTER
    body = next(p for p in doc.paragraphs if body_text in p.text)
    assert style_font(body.style) == ("仿宋_GB2312", "仿宋_GB2312", 16)  # 3号仿宋
    assert not any(r.font.name or r.font.size for r in body.runs)  # nothing overrides the style
    assert body.paragraph_format.first_line_indent is None or body.paragraph_format.first_line_indent.pt in (0, 32)
    # No theme font wins over the names, and Word finds 仿宋 where 仿宋_GB2312 is missing.
    for style in (title.style, body.style):
        assert style.element.rPr.rFonts.get(qn("w:eastAsiaTheme")) is None
    table = next(r.target_part for r in doc.part.rels.values() if r.reltype == RT.FONT_TABLE)
    fonts = {f.get(qn("w:name")): f for f in parse_xml(table.blob).findall(qn("w:font"))}
    assert fonts["仿宋_GB2312"].find(qn("w:altName")).get(qn("w:val")) == "仿宋"
    assert fonts["方正小标宋简体"].find(qn("w:altName")) is not None


def assert_page_numbers(doc) -> None:
    """7.5: "— 1 —" from a PAGE field, odd pages right, even pages left, in 4号宋体."""
    assert doc.settings.odd_and_even_pages_header_footer
    section = doc.sections[0]
    for footer, align in ((section.footer, WD_ALIGN_PARAGRAPH.RIGHT),
                          (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT)):
        p = footer.paragraphs[0]
        xml = p._p.xml
        assert "<w:instrText" in xml and " PAGE " in "".join(t.text for t in p._p.iter(qn("w:instrText")))
        assert p.text.startswith("— ") and p.text.endswith(" —")
        assert p.alignment == align
        sizes = {r.font.size.pt for r in p.runs if r.font.size}
        assert sizes == {14} and {r._r.rPr.rFonts.get(qn("w:eastAsia")) for r in p.runs} == {"宋体"}


def grid(table) -> list[list[tuple[str, int, str | None]]]:
    """Each row's cells as stored: (text, w:gridSpan, w:vMerge)."""
    rows = []
    for tr in table._tbl.tr_lst:
        row = []
        for tc in tr.tc_lst:
            pr = tc.tcPr
            span = pr.find(qn("w:gridSpan")) if pr is not None else None
            vmerge = pr.find(qn("w:vMerge")) if pr is not None else None
            text = "".join(t.text for t in tc.iter(qn("w:t")))
            row.append((text, int(span.get(qn("w:val"))) if span is not None else 1,
                        None if vmerge is None else (vmerge.get(qn("w:val")) or "continue")))
        rows.append(row)
    return rows


# ---- the annual report ----------------------------------------------------------


async def test_report_docx_is_a_gongwen_with_the_official_tables(server, api_token):
    await seed(server, api_token)
    before = office_today()
    resp = await server.get("/api/v1/reports/2022?format=docx", headers=auth(api_token))
    assert resp.status == 200
    doc = Document(io.BytesIO(await resp.read()))
    assert_gongwen_page(doc)
    assert_fonts(doc, "2022年政府信息公开工作年度报告", "本机关共受理群众来信")
    assert_page_numbers(doc)
    heading = next(p for p in doc.paragraphs if p.text == "一、总体情况")
    assert style_font(heading.style)[::2] == ("黑体", 16)

    # 落款: the office over the date, a 公文 date (Arabic numerals, no zeros), the 成文日期 右空四字.
    texts = [p.text for p in doc.paragraphs]
    dated = next(i for i, t in enumerate(texts) if t in (before, office_today()))
    assert texts[dated - 1] == OFFICE
    assert doc.paragraphs[dated].alignment == WD_ALIGN_PARAGRAPH.RIGHT
    assert doc.paragraphs[dated].paragraph_format.right_indent.pt >= 32

    # 表三: the header note over three label columns and three header rows,
    # 申请人情况 over seven columns, 自然人 and 总计 down two rows, 法人或其他组织 over five.
    t3 = next(t for t in doc.tables if "勾稽关系" in t.cell(0, 0).text)
    g = grid(t3)
    assert g[0][0][1:] == (3, "restart") and "勾稽关系" in g[0][0][0]
    assert g[0][1] == ("申请人情况", 7, None)
    assert g[1][0][1:] == (3, "continue") and g[2][0][1:] == (3, "continue")
    assert [c for c in g[1][1:]] == [("自然人", 1, "restart"), ("法人或其他组织", 5, None), ("总计", 1, "restart")]
    assert [c[0] for c in g[2][1:]] == ["", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他", ""]
    assert g[2][1][2] == g[2][-1][2] == "continue"
    rows = {r[0][0]: [c[0] for c in r[1:]] for r in g[3:]}
    assert rows["一、本年新收政府信息公开申请数量"] == ["1", "1", "0", "0", "1", "0", "3"]
    assert rows["四、结转下年度继续办理"] == ["0", "0", "0", "0", "1", "0", "1"]
    # 三、本年度办理结果 merged down column A, each （三）…（六） down column B.
    results = [r for r in g[3:] if r[0][0] == "三、本年度办理结果"]
    assert len(results) == 1 and results[0][0][2] == "restart"
    start = g.index(results[0])
    column_a = [r[0][2] for r in g[start:] if r[0][1] == 1]
    assert len(column_a) > 10 and column_a == ["restart"] + ["continue"] * (len(column_a) - 1)
    not_public = next(r for r in g if any(c[0].startswith("（三）不予公开") and c[2] == "restart" for c in r))
    assert [c[0] for c in not_public][-8] == "1.属于国家秘密"
    assert all(c[0] == "" for r in g for c in r if c[2] == "continue")  # merged cells hold no text of their own

    # 表四: 行政复议 over five columns and two rows; 行政诉讼 over ten, split in two.
    t4 = next(t for t in doc.tables if t.cell(0, 0).text == "行政复议")
    g = grid(t4)
    assert g[0] == [("行政复议", 5, "restart"), ("行政诉讼", 10, None)]
    assert g[1] == [("", 5, "continue"), ("未经复议直接起诉", 5, None), ("复议后起诉", 5, None)]
    assert [c[0] for c in g[2]] == ["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"] * 3
    assert [c[0] for c in g[3]][:5] == ["1", "0", "0", "0", "1"] and len(g[3]) == 15


async def test_report_docx_from_the_staff_page_and_the_command_line_is_the_same_format(server, api_token, db_url,
                                                                                       tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    await seed(server, api_token)
    out = tmp_path / "r.docx"
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url, "INTAKE_VAR_DIR": str(tmp_path / "var"),
           "INTAKE_SECRET_KEY": "cli-test-key", "INTAKE_OFFICE_NAME": OFFICE}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "report", "--year", "2022", "--format", "docx",
                           "-o", str(out)], cwd=REPO, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    doc = Document(str(out))
    assert_gongwen_page(doc)
    assert_page_numbers(doc)
    assert OFFICE in [p.text for p in doc.paragraphs]


# ---- the 答复书 ---------------------------------------------------------------


async def letter(server, token, **registration) -> Document:
    case = await disclosure_case(server, token, **registration)
    resp = await server.get(f"/api/v1/cases/{case['id']}/disclosure/answer-letter.docx", headers=auth(token))
    assert resp.status == 200, await resp.text()
    return Document(io.BytesIO(await resp.read()))


def salutation(doc) -> object:
    return next(p for p in doc.paragraphs if p.text.endswith("："))


async def test_answer_letter_to_a_person(server, api_token):
    doc = await letter(server, api_token, applicant_type="natural_person", name="张三", delivery_form="纸质文本（邮寄）",
                       outcome="r4_1", decided_at="2022-05-20")
    assert_gongwen_page(doc)
    assert_fonts(doc, "政府信息公开申请答复书", "现答复如下")
    assert_page_numbers(doc)
    texts = [p.text for p in doc.paragraphs if p.text]
    assert texts[0] == f"{OFFICE}\n政府信息公开申请答复书"
    # The 文号: 〔year〕 and a blank for the number, no 第 (7.2.5), under the title.
    number = texts[1]
    assert number.startswith("〔2022〕") and number.endswith("号") and "第" not in number
    greeting = salutation(doc)
    assert greeting.text == "张三：" and greeting.paragraph_format.first_line_indent.pt == 0  # 顶格
    body = "\n".join(texts)
    assert "收到您提出的" in body and "（单位）" not in body and "你单位" not in body
    assert "获取方式送达：纸质文本（邮寄）" in body
    # 署名 and 成文日期 last, the date in Arabic numerals 右空四字.
    assert texts[-2:] == [OFFICE, "2022年5月20日"]
    date_p = doc.paragraphs[-1]
    assert date_p.alignment == WD_ALIGN_PARAGRAPH.RIGHT and round(date_p.paragraph_format.right_indent.pt) == 64


async def test_answer_letter_to_an_organisation(server, api_token):
    doc = await letter(server, api_token, applicant_type="commercial", name="某某科技有限公司", delivery_form="电子邮件",
                       outcome="r1", decided_at="2022-05-20")
    body = "\n".join(p.text for p in doc.paragraphs)
    assert salutation(doc).text == "某某科技有限公司："
    assert "收到你单位提出的" in body and "向你单位提供该信息" in body
    assert "您" not in body
    assert "获取方式送达：电子邮件" in body and OFFICE in body


async def test_answer_letter_without_a_name_or_a_delivery_form_leaves_blanks_for_staff(server, api_token):
    doc = await letter(server, api_token, applicant_type="research", outcome="r5_2", decided_at="2022-05-20")
    body = "\n".join(p.text for p in doc.paragraphs)
    assert salutation(doc).text == "（申请单位名称）："
    assert "请填写" in body and "送达" in body


# ---- charts -------------------------------------------------------------------


@pytest.fixture
def no_cjk_font(monkeypatch):
    """A machine without a CJK font: the lookup finds nothing."""
    from bot.exports import report_charts

    monkeypatch.delenv("INTAKE_CJK_FONT", raising=False)
    monkeypatch.setattr(report_charts, "FONT_CANDIDATES", (("/nonexistent/NotoSansCJK-Regular.ttc", 2),))
    report_charts.cjk_font_path.cache_clear()
    yield
    report_charts.cjk_font_path.cache_clear()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_chart_without_a_cjk_font_warns_and_keeps_its_labels_in_the_text(server, api_token, no_cjk_font,
                                                                                 caplog):
    await seed(server, api_token)
    with caplog.at_level(logging.WARNING, logger="bot.exports.report_charts"):
        resp = await server.get("/api/v1/reports/2022?format=docx", headers=auth(api_token))
    assert resp.status == 200
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.exports.report_charts"]
    assert len(warnings) == 1 and "fonts-noto-cjk" in warnings[0]  # once, naming the package
    doc = Document(io.BytesIO(await resp.read()))
    assert len(doc.inline_shapes) >= 2
    captions = [p.text for p in doc.paragraphs if p.text.startswith("图：")]
    legend = next(c for c in captions if "受理件数" in c)
    assert re.search(r"[1-9]\. 门户网站", legend) and re.search(r"[1-9]\. 微信公众号", legend)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_chart_with_a_cjk_font_says_nothing(server, api_token, caplog):
    from bot.exports import report_charts

    report_charts.cjk_font_path.cache_clear()
    if report_charts.cjk_font_path() is None:
        pytest.skip("no CJK font on this machine (apt-get install fonts-noto-cjk)")
    await seed(server, api_token)
    with caplog.at_level(logging.WARNING, logger="bot.exports.report_charts"):
        resp = await server.get("/api/v1/reports/2022?format=docx", headers=auth(api_token))
    assert not [r for r in caplog.records if r.name == "bot.exports.report_charts"]
    doc = Document(io.BytesIO(await resp.read()))
    assert "图：2022年各渠道受理件数" in [p.text for p in doc.paragraphs]
