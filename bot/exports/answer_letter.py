"""答复书 drafts: a DOCX answer letter per outcome, filled with the case's
facts from templates the office can edit (bot/answer_letters/, or a copy in
<var_dir>/answer_letters/ which wins)."""

from __future__ import annotations

import io
from pathlib import Path

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.domain.disclosure import DisclosureError, DisclosureRecord

DEFAULT_DIR = Path(__file__).with_name("answer_letters")


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
    facts = {
        "office": office, "letter_number": f"（{req.decided_on.year}）第{case.number}号",
        "applicant_name": req.applicant_name, "case_number": case.number,
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
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    doc = Document()
    lines = text.strip("\n").split("\n")
    for i, line in enumerate(lines):
        p = doc.add_paragraph(line)
        if i < 3:
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif i >= len(lines) - 2:
            p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _cn(day) -> str | None:
    return f"{day.year}年{day.month}月{day.day}日" if day else None
