"""The layout of GB/T 9704-2012 (党政机关公文格式) for python-docx documents:
A4, its margins (版心 156 × 225 mm), titles in 2号小标宋, the body in
3号仿宋 on 22 lines of 28 characters, page numbers "— 1 —" in 4号半角宋体
(odd pages right, even pages left, one character in), 成文日期 in Arabic
numerals and 署名 over it. The fonts are named for East Asian text
(w:eastAsia), and the font table names the font Word takes when a
document's own is missing (方正小标宋简体 → 宋体, 仿宋_GB2312 → 仿宋…)."""

from __future__ import annotations

from datetime import date

from docx.enum.section import WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

# 5.1, 5.2.1: A4; 天头 37 mm, 订口 28 mm, 版心 156 × 225 mm (so 35 mm below, 26 mm right).
PAGE_MM = (210, 297)
MARGINS_MM = {"top": 37, "bottom": 35, "left": 28, "right": 26}

TITLE_FONT = "方正小标宋简体"  # 7.3.1: 2号小标宋体
BODY_FONT = "仿宋_GB2312"  # 5.2.2: 3号仿宋体
HEADING_FONTS = ("黑体", "楷体_GB2312")  # 一级、二级标题 (一、 and （一）)
PAGE_NUMBER_FONT = "宋体"  # 7.5: 4号半角宋体
# What Word takes when the named font is not installed (w:altName): the
# fonts every Chinese Windows has. 仿宋_GB2312 in particular is 仿宋 on
# Windows 7 and later.
FALLBACK_FONTS = {TITLE_FONT: "宋体", BODY_FONT: "仿宋", "楷体_GB2312": "楷体", "黑体": "SimHei", "宋体": "SimSun"}

TITLE_PT = 22  # 2号
BODY_PT = 16  # 3号
PAGE_NUMBER_PT = 14  # 4号
TABLE_PT = 10.5  # 5号 for the report's wide tables (the standard gives tables no size)
# 5.2.3: 22 lines of 28 characters fill the 版心: the line pitch is 225 mm / 22
# = 28.95 pt (the body's exact line spacing and the document grid's pitch),
# and 28 characters of 16 pt are 2 mm too wide for 156 mm: the body's
# characters are set 0.25 pt closer (3号 of the old typesetting, 15.75 pt).
# (Word's character grid would do the same, but LibreOffice spreads a
# 3号 paragraph over two of its cells a character.)
LINE_PT = 28.95
BODY_CHAR_SPACING_PT = -0.25
# 7.5: the dashes of the page number stand 7 mm below the 版心.
PAGE_NUMBER_GAP_MM = 7

TABLE_STYLE = "公文表格文字"
TABLE_STYLE_ID = "GongwenTableText"

# What follows an element in its parent, in the schema's order (Word refuses a
# file whose elements are out of it).
RPR_AFTER_SPACING = ("w:w", "w:kern", "w:position", "w:sz", "w:szCs", "w:highlight", "w:u", "w:effect", "w:bdr",
                     "w:shd", "w:fitText", "w:vertAlign", "w:rtl", "w:cs", "w:em", "w:lang", "w:eastAsianLayout",
                     "w:specVanish", "w:oMath")
PPR_AFTER_SNAP_TO_GRID = ("w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
                          "w:textDirection", "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId",
                          "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange")


def new_document():
    """An empty A4 document with the 公文 page, styles, fonts and page numbers."""
    from docx import Document

    doc = Document()
    _page(doc.sections[0])
    _styles(doc)
    _page_numbers(doc)
    _font_table(doc)
    return doc


def set_fonts(rpr, east_asia: str, latin: str | None = None) -> None:
    """Name the font of an rPr (a style's or a run's) for East Asian and
    Latin text alike, dropping the theme fonts that would otherwise win."""
    fonts = rpr.get_or_add_rFonts()
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)
    latin = latin or east_asia
    for attr, name in (("w:ascii", latin), ("w:hAnsi", latin), ("w:eastAsia", east_asia), ("w:cs", latin)):
        fonts.set(qn(attr), name)


def cn_date(day: date) -> str:
    """7.3.5.4: 成文日期 in Arabic numerals, the year in full, no leading zeros."""
    return f"{day.year}年{day.month}月{day.day}日"


def add_title(doc, *lines: str, blank_after: bool = True):
    """The title, centred, one line per item (回行 where the words break), then
    the empty line before the 主送机关 or the body (7.3.1, 7.3.2)."""
    p = doc.add_paragraph(style="Title")
    for i, line in enumerate(lines):
        run = p.add_run(line)
        if i < len(lines) - 1:
            run.add_break()
    if blank_after:
        add_body(doc, indent=False)
    return p


def add_body(doc, text: str = "", *, indent: bool = True):
    """A paragraph of the body: 左空二字, 回行顶格 (or 顶格 for the 主送机关)."""
    p = doc.add_paragraph(text)  # Normal
    if not indent:
        _no_indent(p)
    return p


def add_signature(doc, office: str, when: str) -> None:
    """7.3.5.1 (a sealed document): the 成文日期 (``cn_date``) 右空四字, the
    署名 centred over it (a name too long for that ends at the margin); two
    empty lines above for the seal."""
    office_right = max(0.0, 4 + (_width(when) - _width(office)) / 2)
    for _ in range(2):
        add_body(doc, indent=False)
    for text, chars in ((office, office_right), (when, 4.0)):
        p = add_body(doc, text, indent=False)
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        p.paragraph_format.right_indent = Pt(BODY_PT * chars)


def add_table(doc, rows: int, cols: int, widths_mm: list[float]):
    """A bordered table in the 版心's width, its text in 5号仿宋, centred
    vertically. The cells are set through their XML, once each: python-docx's
    cell look-ups lay out the whole grid on every call."""
    table = doc.add_table(rows=rows, cols=cols)
    table.style = "Table Grid"
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    tbl_pr.insert_element_before(parse_xml(
        '<w:tblCellMar xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        '<w:left w:w="57" w:type="dxa"/><w:right w:w="57" w:type="dxa"/></w:tblCellMar>'),
        "w:tblLook", "w:tblCaption", "w:tblDescription", "w:tblPrChange")  # 1 mm each side
    for i, w in enumerate(widths_mm):
        table.columns[i].width = Mm(w)
    for tr in table._tbl.tr_lst:
        for i, tc in enumerate(tr.tc_lst):
            tc.width = Mm(widths_mm[i])
            tc.get_or_add_tcPr().vAlign_val = WD_CELL_VERTICAL_ALIGNMENT.CENTER
            tc.p_lst[0].get_or_add_pPr().style = TABLE_STYLE_ID
    return table


def fill_table(table, cells) -> None:
    """Write ``cells``: (first row, first column, last row, last column,
    value, bold, left-aligned), 0-based and inclusive; a cell over more than
    one row or column is merged (w:gridSpan across, w:vMerge down)."""
    grid = [list(tr.tc_lst) for tr in table._tbl.tr_lst]  # before any merge
    for r1, c1, r2, c2, value, bold, left in cells:
        tc = grid[r1][c1]
        if (r1, c1) != (r2, c2):
            tc = tc.merge(grid[r2][c2])
        _write(tc, value, bold=bold, left=left)


def _write(tc, value, *, bold: bool, left: bool) -> None:
    """A cell's one paragraph (a merge gathers the merged cells' paragraphs)."""
    first, *rest = tc.p_lst
    for p in rest:
        tc.remove(p)
    for r in first.r_lst:
        first.remove(r)
    ppr = first.get_or_add_pPr()
    ppr.style = TABLE_STYLE_ID
    ppr.jc_val = WD_ALIGN_PARAGRAPH.LEFT if left else WD_ALIGN_PARAGRAPH.CENTER
    run = first.add_r()
    run.text = "" if value is None else str(value)
    if bold:
        run.get_or_add_rPr().get_or_add_b()


def repeat_header(table, rows: int) -> None:
    """The first ``rows`` rows repeat on each page the table runs onto."""
    for tr in table._tbl.tr_lst[:rows]:
        tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))


# ---- the page ------------------------------------------------------------------


def _page(section) -> None:
    section.start_type = WD_SECTION.NEW_PAGE
    section.page_width, section.page_height = Mm(PAGE_MM[0]), Mm(PAGE_MM[1])
    section.top_margin, section.bottom_margin = Mm(MARGINS_MM["top"]), Mm(MARGINS_MM["bottom"])
    section.left_margin, section.right_margin = Mm(MARGINS_MM["left"]), Mm(MARGINS_MM["right"])
    section.header_distance = Mm(15)
    # The footer's one line (exactly 4号 high) ends where its top is 7 mm below the 版心.
    section.footer_distance = Mm(MARGINS_MM["bottom"] - PAGE_NUMBER_GAP_MM) - Pt(PAGE_NUMBER_PT)
    grid = section._sectPr.find(qn("w:docGrid"))
    if grid is None:
        grid = OxmlElement("w:docGrid")
        section._sectPr.append(grid)
    grid.set(qn("w:type"), "lines")
    grid.set(qn("w:linePitch"), str(round(LINE_PT * 20)))


def _styles(doc) -> None:
    styles = doc.styles
    # Document defaults: Chinese text, no theme fonts.
    defaults = styles.element.find(qn("w:docDefaults"))
    rpr_default = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    set_fonts(rpr_default, BODY_FONT)
    lang = rpr_default.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr_default.append(lang)
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")
    # The document grid counts its characters in the default size: 3号.
    for tag in ("w:sz", "w:szCs"):
        el = rpr_default.find(qn(tag))
        if el is None:
            el = OxmlElement(tag)
            rpr_default.append(el)
        el.set(qn("w:val"), str(BODY_PT * 2))

    normal = styles["Normal"]
    _text(normal, BODY_FONT, BODY_PT)
    pf = normal.paragraph_format
    pf.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    pf.line_spacing = Pt(LINE_PT)
    pf.space_before = pf.space_after = Pt(0)
    pf.widow_control = False
    pf.first_line_indent = Pt(BODY_PT * 2)
    _chars_indent(normal.element.get_or_add_pPr(), 200)
    spacing = OxmlElement("w:spacing")
    spacing.set(qn("w:val"), str(round(BODY_CHAR_SPACING_PT * 20)))
    normal.element.get_or_add_rPr().insert_element_before(spacing, *RPR_AFTER_SPACING)

    title = styles["Title"]
    _text(title, TITLE_FONT, TITLE_PT)
    ppr = title.element.get_or_add_pPr()
    for tag in ("w:pBdr", "w:contextualSpacing"):
        for el in ppr.findall(qn(tag)):
            ppr.remove(el)
    rpr = title.element.get_or_add_rPr()
    for tag in ("w:spacing", "w:kern"):
        for el in rpr.findall(qn(tag)):
            rpr.remove(el)
    tf = title.paragraph_format
    tf.alignment = WD_ALIGN_PARAGRAPH.CENTER
    tf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    tf.line_spacing = Pt(LINE_PT * 1.2)
    tf.space_before = tf.space_after = Pt(0)
    tf.first_line_indent = Pt(0)
    _chars_indent(ppr, 0)
    _off_grid(ppr)  # 2号 characters on a 3号 grid would take two cells each

    for level, font in enumerate(HEADING_FONTS, start=1):
        heading = styles[f"Heading {level}"]
        _text(heading, font, BODY_PT)
        hf = heading.paragraph_format
        hf.space_before = hf.space_after = Pt(0)
        hf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        hf.line_spacing = Pt(LINE_PT)

    table_text = styles.add_style(TABLE_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    table_text.style_id = TABLE_STYLE_ID
    table_text.base_style = normal
    _text(table_text, BODY_FONT, TABLE_PT)
    tt = table_text.paragraph_format
    tt.alignment = WD_ALIGN_PARAGRAPH.CENTER
    tt.line_spacing_rule = WD_LINE_SPACING.SINGLE
    tt.first_line_indent = Pt(0)
    ppr = table_text.element.get_or_add_pPr()
    _chars_indent(ppr, 0)
    _off_grid(ppr)


def _off_grid(ppr) -> None:
    snap = OxmlElement("w:snapToGrid")
    snap.set(qn("w:val"), "0")
    ppr.insert_element_before(snap, *PPR_AFTER_SNAP_TO_GRID)


def _text(style, font: str, size: float) -> None:
    rpr = style.element.get_or_add_rPr()
    set_fonts(rpr, font)
    style.font.size = Pt(size)
    for el in rpr.findall(qn("w:color")):  # the template's blue headings: black, as 5.2.4 says
        rpr.remove(el)
    if style.name != "Normal":
        style.font.bold = False  # 黑体 and 小标宋 are heavy enough; Word's bold would smear them


def _chars_indent(ppr, chars: int) -> None:
    """The first-line indent in characters (w:firstLineChars, hundredths),
    which Word prefers to the length, so that it follows the font size."""
    ppr.get_or_add_ind().set(qn("w:firstLineChars"), str(chars))


def _no_indent(paragraph) -> None:
    paragraph.paragraph_format.first_line_indent = Pt(0)
    _chars_indent(paragraph._p.get_or_add_pPr(), 0)


def _width(text: str) -> float:
    """A line's width in characters of the body font: half-width for ASCII."""
    return sum(0.5 if ord(ch) < 128 else 1 for ch in text)


# ---- page numbers ------------------------------------------------------------------


def _page_numbers(doc) -> None:
    """7.5: "— 1 —", 单页码居右空一字, 双页码居左空一字."""
    doc.settings.odd_and_even_pages_header_footer = True
    section = doc.sections[0]
    for footer, align in ((section.footer, WD_ALIGN_PARAGRAPH.RIGHT), (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT)):
        footer.is_linked_to_previous = False
        p = footer.paragraphs[0]
        p.style = doc.styles["Normal"]
        _no_indent(p)
        p.alignment = align
        pf = p.paragraph_format
        pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        pf.line_spacing = Pt(PAGE_NUMBER_PT)
        one_char = Pt(PAGE_NUMBER_PT)
        if align == WD_ALIGN_PARAGRAPH.RIGHT:
            pf.right_indent = one_char
        else:
            pf.left_indent = one_char
        _page_number_run(p, "— ")
        _page_number_run(p, fld="begin")
        _page_number_run(p, instr=" PAGE ")
        _page_number_run(p, fld="separate")
        _page_number_run(p, "1")
        _page_number_run(p, fld="end")
        _page_number_run(p, " —")


def _page_number_run(p, text: str | None = None, *, fld: str | None = None, instr: str | None = None) -> None:
    run = p.add_run()
    rpr = run._r.get_or_add_rPr()
    set_fonts(rpr, PAGE_NUMBER_FONT)
    rpr.get_or_add_rFonts().set(qn("w:hint"), "eastAsia")  # the dashes are one 宋体 character wide
    run.font.size = Pt(PAGE_NUMBER_PT)
    if fld:
        el = OxmlElement("w:fldChar")
        el.set(qn("w:fldCharType"), fld)
        run._r.append(el)
    elif instr:
        el = OxmlElement("w:instrText")
        el.set(qn("xml:space"), "preserve")
        el.text = instr
        run._r.append(el)
    else:
        run.text = text


# ---- the font table ------------------------------------------------------------------


def _font_table(doc) -> None:
    """Entries for the fonts the document names, each with the font Word takes
    in its place (w:altName) and what kind of font it is (GB2312, serif or not)."""
    part = next(rel.target_part for rel in doc.part.rels.values() if rel.reltype == RT.FONT_TABLE)
    root = parse_xml(part.blob)
    have = {f.get(qn("w:name")) for f in root.findall(qn("w:font"))}
    for name, alt in FALLBACK_FONTS.items():
        if name in have:
            continue
        family = "modern" if name in ("黑体",) else "roman"
        pitch = "fixed" if name in ("宋体", "黑体") else "variable"
        root.append(parse_xml(
            f'<w:font xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" w:name="{name}">'
            f'<w:altName w:val="{alt}"/><w:charset w:val="86"/><w:family w:val="{family}"/>'
            f'<w:pitch w:val="{pitch}"/></w:font>'))
    from lxml import etree

    part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
