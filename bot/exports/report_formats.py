"""The annual tally rendered: JSON, CSV, Markdown, XLSX (laid out like the
official tables, merged headers included) and a DOCX draft of the whole
report (sections 一 to 六, tables and charts) for the officer to edit, in
the 公文 format of GB/T 9704-2012 (gongwen.py), 表三 and 表四 merged as in
the XLSX: one layout (table3_blocks, table4_blocks) for both.
Counts only: no personal data ever reaches these files."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import NamedTuple

from bot.domain.disclosure import report_tables
from bot.domain.report import (  # check_label: one wording for the page and every file
    REVIEW_KIND_LABELS, REVIEW_KINDS, REVIEW_RESULT_LABELS, REVIEW_RESULTS, check_label, table3_rows,
)
from bot.domain.vocabulary import CHANNEL_LABELS, KIND_LABELS

FORMATS = ("json", "csv", "md", "xlsx", "docx")
TEXT_FORMATS = frozenset({"json", "csv", "md"})
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
TEMPLATE_NAMES = {"2019": "国办公开办函〔2019〕60号（试行格式）", "2021": "国办公开办函〔2021〕30号"}


def render(report: dict, fmt: str, *, today: date | None = None) -> bytes:
    """The file; ``today`` (the office's date) dates the DOCX draft's 落款."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if fmt == "docx":
        return to_docx(report, today=today)
    return {"json": to_json, "csv": to_csv, "md": to_markdown, "xlsx": to_xlsx}[fmt](report)


def filename(report: dict, fmt: str) -> str:
    return f"annual-report-{report['year']}.{fmt}"


# ---- labels -----------------------------------------------------------------


def column_labels() -> list[tuple[str, str]]:
    return [(c["key"], c["label"]) for c in report_tables()["table3_columns"]["columns"]]


def row_label(row: dict) -> str:
    return row["label"]


def channel_label(key: str) -> str:
    return CHANNEL_LABELS.get(key, key)


def kind_label(key: str) -> str:
    return KIND_LABELS.get(key, key)


# ---- JSON / CSV / Markdown ----------------------------------------------------


def to_json(report: dict) -> bytes:
    return (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _interaction_rows(report: dict) -> tuple[list[str], list[list]]:
    inter = report["interactions"]
    kinds = list(dict.fromkeys([k for k in KIND_LABELS if k in inter["by_kind"]] + list(inter["by_kind"])))
    header = ["渠道", "合计"] + [kind_label(k) for k in kinds]
    body = [[channel_label(ch), n] + [inter["by_channel_kind"].get(ch, {}).get(k, 0) for k in kinds]
            for ch, n in inter["by_channel"].items()]
    body.append(["合计", inter["total"]] + [inter["by_kind"].get(k, 0) for k in kinds])
    return header, body


def _table3_matrix(report: dict) -> tuple[list[str], list[list]]:
    rows = report["table3"]["rows"]
    header = ["项目"] + [label for _, label in column_labels()]
    body = []
    for row in table3_rows(report["template"]):
        label = row["label"] if not row["parent"] or row["parent"].startswith("三") else f"{row['parent']}{row['label']}"
        body.append([label] + [rows[row["key"]][c] for c, _ in column_labels()])
    return header, body


def _table4_matrix(report: dict) -> tuple[list[str], list[list]]:
    header = ["类别"] + [REVIEW_RESULT_LABELS[r] for r in REVIEW_RESULTS] + ["总计"]
    body = [[REVIEW_KIND_LABELS[k]] + [report["table4"][k][r] for r in REVIEW_RESULTS] + [report["table4"][k]["total"]]
            for k in REVIEW_KINDS]
    return header, body


def _summary_rows(report: dict) -> list[list]:
    inter = report["interactions"]
    return [["收到群众来信来访等合计", inter["total"]], ["按时答复", inter["answered_on_time"]],
            ["超期答复", inter["answered_late"]], ["已办结（导入的历史数据，答复时间不详）", inter["answered_time_unknown"]],
            ["尚未办结", inter["open"]], ["已退回（非本机关职责）", inter["returned"]],
            ["已撤单（12345平台撤回）", inter["cancelled"]]]


def to_csv(report: dict) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([f"{report['year']}年度政府信息公开工作年度报告统计", f"格式：{TEMPLATE_NAMES[report['template']]}"])
    w.writerow([])
    w.writerow(["（一）各渠道收到的群众诉求"])
    header, body = _interaction_rows(report)
    w.writerow(header)
    w.writerows(body)
    w.writerows(_summary_rows(report))
    w.writerow([])
    w.writerow(["表三 收到和处理政府信息公开申请情况"])
    header, body = _table3_matrix(report)
    w.writerow(header)
    w.writerows(body)
    w.writerow([])
    w.writerow(["表四 政府信息公开行政复议、行政诉讼情况"])
    header, body = _table4_matrix(report)
    w.writerow(header)
    w.writerows(body)
    w.writerow([])
    w.writerow(["校验规则", "结果", "说明"])
    for c in report["checks"]:
        w.writerow([check_label(c), "通过" if c["ok"] else "不通过", c.get("detail", "")])
    # UTF-8 with BOM so that Excel on Windows opens the Chinese correctly.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _md_table(header: list, body: list[list]) -> str:
    def cell(v) -> str:
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in body]
    return "\n".join(lines)


def to_markdown(report: dict) -> bytes:
    parts = [f"# {report['year']}年度政府信息公开工作年度报告统计",
             f"表格格式：{TEMPLATE_NAMES[report['template']]}", "",
             "## 各渠道收到的群众诉求", _md_table(*_interaction_rows(report)), "",
             _md_table(["项目", "件数"], _summary_rows(report)), "",
             "## 表三 收到和处理政府信息公开申请情况", _md_table(*_table3_matrix(report)), "",
             "## 表四 政府信息公开行政复议、行政诉讼情况", _md_table(*_table4_matrix(report)), "",
             "## 校验", _md_table(["规则", "结果", "说明"],
                                  [[check_label(c), "✅ 通过" if c["ok"] else "❌ 不通过", c.get("detail", "")]
                                   for c in report["checks"]])]
    return ("\n".join(parts) + "\n").encode("utf-8")


# ---- the official tables 三 and 四 ---------------------------------------------


class Block(NamedTuple):
    """One cell of an official table, merged over rows r1–r2 and columns
    c1–c2 (0-based, inclusive); ``kind``: head (bold), note, label (left), num."""

    r1: int
    c1: int
    r2: int
    c2: int
    value: object
    kind: str


TABLE3_COLUMNS = 10  # three of labels (A–C), seven of numbers (D–J)
TABLE3_HEAD_ROWS = 3
TABLE4_COLUMNS = 15  # 行政复议 (5) | 行政诉讼: 未经复议直接起诉 (5), 复议后起诉 (5)
TABLE4_HEAD_ROWS = 3


def table3_blocks(report: dict) -> list[Block]:
    """表三 as the official table lays it out: the header note over the
    labels, 申请人情况 over 自然人 | 法人或其他组织 (five) | 总计, the groups of
    rows merged down their column (三、本年度办理结果 down A, （三）…（六） down B)."""
    spec = report_tables()["table3_columns"]
    cols = spec["columns"]
    blocks = [Block(0, 0, 2, 2, spec["header_note"], "note"), Block(0, 3, 0, 9, spec["group_header"], "head"),
              Block(1, 3, 2, 3, cols[0]["label"], "head"), Block(1, 4, 1, 8, cols[1]["group"], "head"),
              Block(1, 9, 2, 9, cols[6]["label"], "head")]
    blocks += [Block(2, 4 + i, 2, 4 + i, col["label"], "head") for i, col in enumerate(cols[1:6])]
    rows = table3_rows(report["template"])
    first = TABLE3_HEAD_ROWS
    for i, row in enumerate(rows):
        r = first + i
        blocks += [Block(r, 3 + j, r, 3 + j, report["table3"]["rows"][row["key"]][key], "num")
                   for j, (key, _) in enumerate(column_labels())]
        if row["parent"] is None:
            blocks.append(Block(r, 0, r, 2, row["label"], "label"))
        elif row["parent"].startswith("三"):
            blocks.append(Block(r, 1, r, 2, row["label"], "label"))
        else:
            blocks.append(Block(r, 2, r, 2, row["label"], "label"))
    results = [i for i, r in enumerate(rows) if r["parent"] and r["key"] not in ("new", "carried_in", "carried_out")]
    if results:
        blocks.append(Block(first + results[0], 0, first + results[-1], 0, "三、本年度办理结果", "note"))
    i = 0
    while i < len(rows):
        parent = rows[i]["parent"]
        if parent and not parent.startswith("三"):
            j = i
            while j + 1 < len(rows) and rows[j + 1]["parent"] == parent:
                j += 1
            blocks.append(Block(first + i, 1, first + j, 1, parent, "note"))
            i = j + 1
        else:
            i += 1
    return blocks


def table4_blocks(report: dict) -> list[Block]:
    """表四: 行政复议 over two header rows, 行政诉讼 over its two kinds, the
    five results under each, one row of numbers."""
    blocks = [Block(0, 0, 1, 4, "行政复议", "head"), Block(0, 5, 0, 14, "行政诉讼", "head"),
              Block(1, 5, 1, 9, "未经复议直接起诉", "head"), Block(1, 10, 1, 14, "复议后起诉", "head")]
    for g, kind in enumerate(REVIEW_KINDS):
        for j, result in enumerate(REVIEW_RESULTS + ("total",)):
            blocks.append(Block(2, g * 5 + j, 2, g * 5 + j, REVIEW_RESULT_LABELS[result], "head"))
            blocks.append(Block(3, g * 5 + j, 3, g * 5 + j, report["table4"][kind][result], "num"))
    return blocks


# ---- XLSX -------------------------------------------------------------------


def to_xlsx(report: dict) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side

    thin = Side(style="thin", color="000000")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    left = Alignment(horizontal="left", vertical="center", wrap_text=True)
    bold = Font(bold=True)

    def frame(ws, min_row, max_row, min_col, max_col):
        for row in ws.iter_rows(min_row=min_row, max_row=max_row, min_col=min_col, max_col=max_col):
            for c in row:
                c.border = border
                if c.alignment is None or not c.alignment.wrap_text:
                    c.alignment = center

    def merge(ws, r1, c1, r2, c2, value, *, align=None, font=None):
        ws.cell(r1, c1, value)
        if (r1, c1) != (r2, c2):
            ws.merge_cells(start_row=r1, start_column=c1, end_row=r2, end_column=c2)
        ws.cell(r1, c1).alignment = align or center
        if font:
            ws.cell(r1, c1).font = font

    def place(ws, blocks: list[Block], top: int) -> None:
        for b in blocks:
            merge(ws, top + b.r1, 1 + b.c1, top + b.r2, 1 + b.c2, b.value,
                  align=left if b.kind == "label" else None, font=bold if b.kind == "head" else None)

    wb = Workbook()

    # Table 三: labels in A–C (parent groups merged down), 7 data columns D–J.
    ws = wb.active
    ws.title = "表三"
    merge(ws, 1, 1, 1, TABLE3_COLUMNS, f"三、收到和处理政府信息公开申请情况（{report['year']}年度）",
          font=Font(bold=True, size=14))
    place(ws, table3_blocks(report), 2)
    frame(ws, 2, 1 + TABLE3_HEAD_ROWS + len(table3_rows(report["template"])), 1, TABLE3_COLUMNS)
    ws.column_dimensions["A"].width = 14
    ws.column_dimensions["B"].width = 16
    ws.column_dimensions["C"].width = 44
    for letter in "DEFGHIJ":
        ws.column_dimensions[letter].width = 11

    # Table 四: 行政复议 (5) | 行政诉讼: 未经复议直接起诉 (5), 复议后起诉 (5).
    ws = wb.create_sheet("表四")
    merge(ws, 1, 1, 1, TABLE4_COLUMNS, f"四、政府信息公开行政复议、行政诉讼情况（{report['year']}年度）",
          font=Font(bold=True, size=14))
    place(ws, table4_blocks(report), 2)
    frame(ws, 2, 1 + TABLE4_HEAD_ROWS + 1, 1, TABLE4_COLUMNS)
    for col in range(1, TABLE4_COLUMNS + 1):
        ws.column_dimensions[ws.cell(4, col).column_letter].width = 10

    # Interactions by channel and kind.
    ws = wb.create_sheet("渠道与类型")
    header, body = _interaction_rows(report)
    merge(ws, 1, 1, 1, len(header), f"{report['year']}年各渠道收到的群众诉求", font=Font(bold=True, size=14))
    ws.append(header)
    for row in body + [[]] + _summary_rows(report):
        ws.append(row)
    frame(ws, 2, 2 + len(body), 1, len(header))
    ws.column_dimensions["A"].width = 22

    ws = wb.create_sheet("校验")
    ws.append(["校验规则", "结果", "说明"])
    for c in report["checks"]:
        ws.append([check_label(c), "通过" if c["ok"] else "不通过", c.get("detail", "")])
    ws.column_dimensions["A"].width = 48
    ws.column_dimensions["C"].width = 40

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ---- DOCX draft -------------------------------------------------------------

TABLE3_WIDTHS_MM = [10, 16, 38] + [92 / 7] * 7  # the 版心's 156 mm
TABLE4_WIDTHS_MM = [156 / TABLE4_COLUMNS] * TABLE4_COLUMNS


def _docx_table(doc, header: list, body: list[list]):
    from . import gongwen

    n = len(header)
    first = min(40.0, 156 / n * 1.6) if n > 1 else 156.0
    widths = [first] + [(156 - first) / (n - 1)] * (n - 1) if n > 1 else [first]
    table = gongwen.add_table(doc, 1 + len(body), n, widths)
    gongwen.fill_table(table, [(0, c, 0, c, h, True, False) for c, h in enumerate(header)]
                       + [(1 + r, c, 1 + r, c, v, False, c == 0) for r, row in enumerate(body) for c, v in enumerate(row)])
    gongwen.repeat_header(table, 1)
    return table


def _docx_official_table(doc, blocks: list[Block], rows: int, widths_mm: list[float], head_rows: int):
    """表三 or 表四 with its merged cells (w:gridSpan across, w:vMerge down)."""
    from . import gongwen

    table = gongwen.add_table(doc, rows, len(widths_mm), widths_mm)
    gongwen.fill_table(table, [(b.r1, b.c1, b.r2, b.c2, b.value, b.kind == "head", b.kind == "label") for b in blocks])
    gongwen.repeat_header(table, head_rows)
    return table


def _caption(doc, text: str):
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    from . import gongwen

    p = gongwen.add_body(doc, text, indent=False)
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.keep_with_next = True  # a table's caption stays on its page
    return p


def _chart(doc, title: str, items: list[tuple[str, int]]) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
    from docx.shared import Cm

    from . import gongwen
    from .report_charts import bar_chart

    png, cjk = bar_chart(title, items)
    # Its own paragraph, single-spaced: the body's exact line would crop it.
    p = gongwen.add_body(doc, indent=False)
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
    p.add_run().add_picture(io.BytesIO(png), width=Cm(15))
    caption = f"图：{title}"
    if not cjk:  # no CJK font on this machine: the legend goes in the text
        caption += "（" + "；".join(f"{i + 1}. {label}" for i, (label, _) in enumerate(items)) + "）"
    _caption(doc, caption)


def to_docx(report: dict, *, today: date | None = None) -> bytes:
    """The draft after GB/T 9704-2012: the 公文 page and fonts, 表三 and 表四
    as the official tables, signed by the office and dated ``today`` (the
    office's date; the machine's when not given)."""
    from . import gongwen

    year = report["year"]
    inter = report["interactions"]
    t3 = report["table3"]["rows"]
    doc = gongwen.new_document()
    office = report.get("office") or "（机关名称）"
    gongwen.add_title(doc, office, f"{year}年政府信息公开工作年度报告")
    gongwen.add_body(
        doc,
        f"本报告依据《中华人民共和国政府信息公开条例》第五十条编制，表格格式采用{TEMPLATE_NAMES[report['template']]}。"
        "本稿由系统根据全年受理记录自动生成，"
        + ("数字已通过全部校验规则核对，" if all(c["ok"] for c in report["checks"])
           else f"有{sum(not c['ok'] for c in report['checks'])}条校验规则未通过（见文末），请先核实数字，")
        + "文字部分请公开工作机构修改完善后按第四十九条规定于"
        f"{year + 1}年1月31日前公布。"
    )

    doc.add_heading("一、总体情况", level=1)
    channels = "，".join(f"{channel_label(ch)}{n}件" for ch, n in inter["by_channel"].items()) or "无"
    gongwen.add_body(
        doc,
        f"{year}年，本机关共受理群众来信、来电、留言等诉求{inter['total']}件，其中{channels}。"
        f"已按时答复{inter['answered_on_time']}件，超期答复{inter['answered_late']}件，"
        + (f"已办结但答复时间不详（导入的历史数据）{inter['answered_time_unknown']}件，" if inter["answered_time_unknown"] else "")
        + f"尚在办理{inter['open']}件"
        + (f"，因不属本机关职责退回{inter['returned']}件" if inter["returned"] else "")
        + (f"，12345平台撤单{inter['cancelled']}件" if inter["cancelled"] else "") + "。"
    )
    if inter["by_channel"]:
        _chart(doc, f"{year}年各渠道受理件数", [(channel_label(c), n) for c, n in inter["by_channel"].items()])
    if inter["by_kind"]:
        gongwen.add_body(doc, "按诉求类型统计如下：")
        _docx_table(doc, ["诉求类型", "件数"], [[kind_label(k), n] for k, n in inter["by_kind"].items()])
    gongwen.add_body(doc, "（请补充：主动公开、依申请公开、政府信息管理、平台建设、监督保障等方面的总体情况。）")

    doc.add_heading("二、主动公开政府信息情况", level=1)
    gongwen.add_body(doc, "（本节数据不在受理系统中，请按下表填写。）")
    tables2 = report_tables()["table2_2021" if report["template"] == "2021" else "table2_2019_trial"]
    for t in tables2:
        _caption(doc, t["caption"])
        _docx_table(doc, t["columns"], [[r] + [""] * (len(t["columns"]) - 1) for r in t["rows"]])

    doc.add_heading("三、收到和处理政府信息公开申请情况", level=1)
    gongwen.add_body(
        doc,
        f"{year}年，本机关新收政府信息公开申请{t3['new']['total']}件，上年结转{t3['carried_in']['total']}件，"
        f"本年度办结{t3['r7']['total']}件，结转下年度继续办理{t3['carried_out']['total']}件。"
    )
    _caption(doc, "表三 收到和处理政府信息公开申请情况")
    _docx_official_table(doc, table3_blocks(report), TABLE3_HEAD_ROWS + len(table3_rows(report["template"])),
                         TABLE3_WIDTHS_MM, TABLE3_HEAD_ROWS)
    _, body = _table3_matrix(report)
    outcomes = [(row[0], row[-1]) for row, r in zip(body, table3_rows(report["template"]))
                if r["key"] not in ("new", "carried_in", "carried_out", "r7") and row[-1]]
    if outcomes:
        _chart(doc, f"{year}年政府信息公开申请办理结果", [(label[:16], n) for label, n in outcomes])

    doc.add_heading("四、政府信息公开行政复议、行政诉讼情况", level=1)
    total4 = sum(report["table4"][k]["total"] for k in REVIEW_KINDS)
    gongwen.add_body(
        doc,
        f"{year}年，本机关因政府信息公开被申请行政复议{report['table4']['reconsideration']['total']}件，"
        f"被提起行政诉讼{report['table4']['litigation_direct']['total'] + report['table4']['litigation_after']['total']}件。"
        if total4 else f"{year}年，本机关未发生因政府信息公开引起的行政复议、行政诉讼案件。"
    )
    _caption(doc, "表四 政府信息公开行政复议、行政诉讼情况")
    _docx_official_table(doc, table4_blocks(report), TABLE4_HEAD_ROWS + 1, TABLE4_WIDTHS_MM, TABLE4_HEAD_ROWS)

    doc.add_heading("五、存在的主要问题及改进情况", level=1)
    gongwen.add_body(doc, "（请填写：存在的主要问题、上一年度问题的改进情况及下一步工作安排。）")

    doc.add_heading("六、其他需要报告的事项", level=1)
    gongwen.add_body(doc, "（请填写：依据《政府信息公开信息处理费管理办法》收取信息处理费的情况，人大代表建议和政协提案办理结果公开情况，"
                          "以及本机关认为需要报告的其他事项。）")
    gongwen.add_signature(doc, office, gongwen.cn_date(today or date.today()))

    # Not part of the published report: on a page of its own, for the officer.
    doc.add_heading("附：数据校验", level=2).paragraph_format.page_break_before = True
    failed = [c for c in report["checks"] if not c["ok"]]
    gongwen.add_body(doc, f"共 {len(report['checks'])} 条校验规则，" + ("全部通过。" if not failed else f"{len(failed)} 条未通过，请核对："))
    for c in failed:
        doc.add_paragraph(f"{check_label(c)}：{c.get('detail', '')}", style="List Bullet")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
