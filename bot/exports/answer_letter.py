"""答复书 drafts: a DOCX answer letter per outcome, filled with the case's
facts from templates the office can edit (bot/answer_letters/, or a copy in
<var_dir>/answer_letters/ which wins), laid out after GB/T 9704-2012
(gongwen.py). The letter speaks to the applicant as what they are: a person
(张三：…您) or an organisation (某某公司：…你单位)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.domain.disclosure import DisclosureError, DisclosureRecord
from bot.domain.vocabulary import ApplicantType

DEFAULT_DIR = Path(__file__).with_name("answer_letters")
# 7.2.5: 〔year〕 and the number, no 第; blank for staff to fill (the office's
# 机关代字 goes before it).
LETTER_NUMBER = "〔{year}〕\u3000\u3000号"
# A line that is a 文号: "X政公开〔2026〕3号", "（2026）第12号".
LETTER_NUMBER_LINE = re.compile(r"[〔（(]\s*\d{4}\s*[〕）)].*号$")


def template_dir(var_dir: str | None) -> Path:
    if var_dir:
        own = Path(var_dir) / "answer_letters"
        if (own / "letter.txt.j2").is_file() and (own / "outcomes.yaml").is_file():
            return own
    return DEFAULT_DIR


def letter_text(case, req: DisclosureRecord, *, office: str, var_dir: str | None = None,
                review_body: str = "（复议机关）") -> str:
    if req.outcome is None or req.decided_on is None:
        raise DisclosureError("尚未作出办理结果，不能生成答复书", "outcome", "not_decided")
    folder = template_dir(var_dir)
    outcomes = yaml.safe_load((folder / "outcomes.yaml").read_text(encoding="utf-8"))
    entry = outcomes.get(req.outcome)
    if entry is None:
        raise DisclosureError(f"答复书模板中没有办理结果 {req.outcome} 的条目", "outcome", "no_template")
    # Plain text into a Word file: no HTML escaping, but undefined names fail loudly.
    env = Environment(loader=FileSystemLoader(folder), undefined=StrictUndefined, autoescape=False,
                      keep_trailing_newline=True)
    person = req.applicant_type == ApplicantType.NATURAL_PERSON
    name = (req.applicant_name or "").strip()
    facts = {
        "office": office, "letter_number": LETTER_NUMBER.format(year=req.decided_on.year),
        "applicant_name": req.applicant_name, "case_number": case.number,
        "applicant_is_person": person, "salutation": name or ("申请人" if person else "（申请单位名称）"),
        "you": "您" if person else "你单位",
        "receipt_date": _cn(req.receipt_date), "description": req.description or case.text[:200],
        "delivery_form": req.delivery_form, "correction_sent_on": _cn(req.correction_sent_on),
        "correction_reply_due": _cn(req.correction_reply_due), "corrected_on": _cn(req.corrected_on),
        "extension_days": req.extension_days, "extension_notice_on": _cn(req.extension_notice_on),
        "decided_on": _cn(req.decided_on), "article": entry["article"], "review_body": review_body,
    }
    body = env.from_string(entry["body"]).render(**facts)
    remedy = env.from_string(outcomes.get("remedy", "")).render(**facts)
    return env.get_template("letter.txt.j2").render(**facts, body=body, remedy=remedy)


def letter_docx(text: str) -> bytes:
    """The letter's text as a 公文: the lines before the first empty one are
    the head (the title in 2号小标宋, a 文号 line in the body font), then the
    主送 (顶格) and the paragraphs (左空二字, no empty lines between them),
    and the last two lines are the 署名 and the 成文日期."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    from . import gongwen

    lines = text.strip("\n").split("\n")
    split = lines.index("") if "" in lines else min(3, len(lines))
    head, rest = lines[:split], [line.strip() for line in lines[split:] if line.strip()]
    closing, rest = (rest[-2:], rest[:-2]) if len(rest) >= 4 else ([], rest)
    doc = gongwen.new_document()
    title = [line for line in head if not LETTER_NUMBER_LINE.search(line.strip())]
    numbers = [line.strip() for line in head if LETTER_NUMBER_LINE.search(line.strip())]
    if title:
        gongwen.add_title(doc, *title, blank_after=not numbers)
    for number in numbers:
        p = gongwen.add_body(doc, number, indent=False)
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    if numbers:
        gongwen.add_body(doc, indent=False)
    for i, line in enumerate(rest):
        gongwen.add_body(doc, line, indent=not (i == 0 and line.endswith(("：", ":"))))
    if closing:
        gongwen.add_signature(doc, *closing)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _cn(day) -> str | None:
    return f"{day.year}年{day.month}月{day.day}日" if day else None
