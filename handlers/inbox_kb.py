"""Knowledge-base pages in the staff inbox (/inbox/kb…): admins edit
entries; all staff see the automatic answers and correct wrong matches."""

from __future__ import annotations

from aiohttp import web

from bot.domain.answers import placeholders_in
from bot.domain.errors import DomainError
from bot.domain.vocabulary import TOPICS
from bot.services import knowledge

from .common.errors import status_of
from .common.guards import admin_required, login_required
from .common.keys import ACTOR, RUNTIME
from .common.params import path_id
from .common.render import render
from .common.staff import redirect

REVIEW_PAGE = 50


def _entry_form(entry) -> dict:
    return {
        "key": entry.key, "title": entry.title or "", "topic": entry.topic,
        "questions": "\n".join(entry.questions), "answer": entry.answer,
        "valid_from": entry.valid_from.isoformat() if entry.valid_from else "",
        "valid_to": entry.valid_to.isoformat() if entry.valid_to else "",
        "needs_person": entry.needs_person, "active": entry.active, "learned": list(entry.learned),
        "placeholders_allowed": entry.placeholders_allowed,
    }


def _form_data(form) -> dict:
    """The entry form as the data an entry is made from."""
    return {
        "key": str(form.get("key") or "").strip(),
        "title": str(form.get("title") or "").strip() or None,
        "topic": str(form.get("topic") or "general"),
        "questions": [q.strip() for q in str(form.get("questions") or "").splitlines() if q.strip()],
        "answer": str(form.get("answer") or ""),
        "valid_from": str(form.get("valid_from") or "").strip() or None,
        "valid_to": str(form.get("valid_to") or "").strip() or None,
        "needs_person": form.get("needs_person") == "1",
        "active": form.get("active", "1") == "1",
        "placeholders_allowed": form.get("placeholders_allowed") == "1",
    }


@login_required
async def kb_home(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    show_all = request.query.get("all") == "1"
    current = rt.knowledge.current
    entries = sorted(current.entries.values(), key=lambda e: (not e.active, e.label))
    rows = await knowledge.recent_answers(rt, limit=REVIEW_PAGE, unreviewed=not show_all)

    def entry_label(key: str) -> str:
        e = current.entries.get(key)
        return e.label if e is not None else "（已删除的条目）"

    return render(request, "kb.html", entries=entries, answers=rows, today=knowledge.office_today(rt),
                  show_all=show_all, topics=TOPICS, error=None, held_back=current.held_back, entry_label=entry_label)


@admin_required
async def entry_page(request: web.Request) -> web.Response:
    key = request.match_info.get("key")
    if key is None:
        return render(request, "kb_entry.html", form={"topic": "general", "active": True}, is_new=True,
                      error=None, topics=TOPICS)
    entry = request.app[RUNTIME].knowledge.current.entries.get(key)
    if entry is None:
        return render(request, "error.html", status=404, message=f"没有 key 为 {key} 的条目。")
    return render(request, "kb_entry.html", form=_entry_form(entry), is_new=False, error=None, topics=TOPICS,
                  placeholders=entry.placeholders)


@admin_required
async def entry_save(request: web.Request) -> web.Response:
    form = await request.post()
    key = request.match_info.get("key")
    data = _form_data(form)
    if key is not None:
        data["key"] = key
    try:
        await knowledge.save_entry(request.app[RUNTIME], request[ACTOR], data, key=key, create_only=key is None)
    except DomainError as exc:
        shown = {**data, "questions": "\n".join(data["questions"]), "valid_from": data["valid_from"] or "",
                 "valid_to": data["valid_to"] or ""}
        return render(request, "kb_entry.html", status=400, form=shown, is_new=key is None,
                      error=exc.message, field=exc.field, topics=TOPICS, placeholders=placeholders_in(data["answer"]))
    return redirect("/inbox/kb")


@login_required
async def judge(request: web.Request) -> web.Response:
    """A staff member says which entry an automatic answer should have used."""
    form = await request.post()
    answer_id = path_id(request, "answer_id", "没有这条自动答复记录")
    choice = str(form.get("entry") or "")
    try:
        await knowledge.judge_answer(request.app[RUNTIME], request[ACTOR], answer_id, None if choice == "-" else choice)
    except DomainError as exc:
        return render(request, "error.html", status=400 if exc.field == "entry" else status_of(exc), message=exc.message)
    return redirect("/inbox/kb")
