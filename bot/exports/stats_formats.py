"""The 通报 table rendered: JSON (as the API gives it), CSV and XLSX with
Chinese headings and a 合计 row. Counts only: no personal data."""

from __future__ import annotations

import csv
import io
import json

from bot.domain.stats import BY_LABELS, FIELD_LABELS, FIELDS

FORMATS = ("json", "csv", "xlsx")
TEXT_FORMATS = frozenset({"json", "csv"})
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def render(stats: dict, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    return {"json": to_json, "csv": to_csv, "xlsx": to_xlsx}[fmt](stats)


def filename(stats: dict, fmt: str) -> str:
    return f"stats-{stats['by']}-{stats['from']}-{stats['to']}.{fmt}"


def title(stats: dict) -> str:
    return f"通报统计（{stats['from']} 至 {stats['to']}，按{BY_LABELS[stats['by']]}）"


def header(stats: dict) -> list[str]:
    return [BY_LABELS[stats["by"]]] + [FIELD_LABELS[f] for f in FIELDS]


def body(stats: dict) -> list[list]:
    """The rows, then 合计; an empty cell where a rate or an average has nothing to divide."""
    return [[row["label"]] + [row[f] for f in FIELDS] for row in [*stats["rows"], stats["total"]]]


def to_json(stats: dict) -> bytes:
    return (json.dumps(stats, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def to_csv(stats: dict) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header(stats))
    w.writerows([["" if v is None else v for v in row] for row in body(stats)])
    # UTF-8 with BOM so that Excel on Windows opens the Chinese correctly.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(stats: dict) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    thin = Side(style="thin", color="000000")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    bold = Font(bold=True)
    wb = Workbook()
    ws = wb.active
    ws.title = "通报统计"
    heads = header(stats)
    ws.cell(1, 1, title(stats)).font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(heads))
    for col, text in enumerate(heads, 1):
        cell = ws.cell(2, col, text)
        cell.font, cell.border = bold, border
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    rate_col, avg_col = 2 + FIELDS.index("satisfaction_rate"), 2 + FIELDS.index("avg_working_days")
    rows = body(stats)
    for r, values in enumerate(rows, 3):
        for col, value in enumerate(values, 1):
            cell = ws.cell(r, col, value)
            cell.border = border
            if col == rate_col:
                cell.number_format = "0.00%"
            elif col == avg_col:
                cell.number_format = "0.00"
            if r == 2 + len(rows):  # 合计
                cell.font = bold
    ws.column_dimensions["A"].width = 18
    for col in range(2, len(heads) + 1):
        ws.column_dimensions[get_column_letter(col)].width = 11
    ws.freeze_panes = "B3"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
