"""Knowledge-base pages in the staff inbox (/inbox/kb…): admins edit entries;
all staff see the automatic answers and correct wrong matches."""

from __future__ import annotations

from aiohttp import web

from bot import knowledge as kb
from bot.answers import AnswersError
from bot.services import SERVICES
from nlp.base import TOPICS
from storage import kb_queries

from .inbox_auth import STAFF, admin_required, login_required, redirect
from .inbox_web import NAV, NavItem, render
from .wechat_answers import current, reload, today

REVIEW_PAGE = 50


def _entry_form(entry) -> dict:
    return {
        "key": entry.key, "title": entry.title or "", "topic": entry.topic,
        "questions": "\n".join(entry.questions), "answer": entry.answer,
        "valid_from": entry.valid_from.isoformat() if entry.valid_from else "",
        "valid_to": entry.valid_to.isoformat() if entry.valid_to else "",
        "needs_person": entry.needs_person, "active": entry.active, "learned": list(entry.learned),
    }


def _form_data(form) -> dict:
    """The entry form as the data make_entry reads."""
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
    }


@login_required
async def kb_home(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    knowledge = current(services)
    entries = sorted(knowledge.entries.values(), key=lambda e: (not e.active, e.key))
    async with services.sessions() as session:
        rows = await kb_queries.recent_answers(session, limit=REVIEW_PAGE,
                                               unreviewed=request.query.get("all") != "1")
    return render(request, "kb.html", entries=entries, answers=rows, today=today(services),
                  show_all=request.query.get("all") == "1", topics=TOPICS, error=None)


@admin_required
async def entry_page(request: web.Request) -> web.Response:
    key = request.match_info.get("key")
    if key is None:
        return render(request, "kb_entry.html", form={"topic": "general", "active": True}, is_new=True,
                      error=None, topics=TOPICS)
    entry = current(request.app[SERVICES]).entries.get(key)
    if entry is None:
        return render(request, "error.html", status=404, message=f"没有 key 为 {key} 的条目。")
    return render(request, "kb_entry.html", form=_entry_form(entry), is_new=False, error=None, topics=TOPICS)


@admin_required
async def entry_save(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    form = await request.post()
    key = request.match_info.get("key")
    data = _form_data(form)
    if key is not None:
        data["key"] = key
    async with services.sessions() as session:
        try:
            if key is None and await kb_queries.entry_by_key(session, data["key"]) is not None:
                raise AnswersError(f"key {data['key']} 已存在，请换一个，或去编辑那个条目", "key")
            await kb.save_entry(session, data, request[STAFF].actor.label, key=key)
        except AnswersError as exc:
            shown = {**data, "questions": "\n".join(data["questions"]), "valid_from": data["valid_from"] or "",
                     "valid_to": data["valid_to"] or ""}
            return render(request, "kb_entry.html", status=400, form=shown, is_new=key is None,
                          error=exc.message, field=exc.field, topics=TOPICS)
        await session.commit()
    await reload(services)
    return redirect("/inbox/kb")


@login_required
async def judge(request: web.Request) -> web.Response:
    """A staff member says which entry an automatic answer should have used."""
    services = request.app[SERVICES]
    form = await request.post()
    try:
        answer_id = int(request.match_info["answer_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    choice = str(form.get("entry") or "")
    staff = request[STAFF]
    async with services.sessions() as session:
        try:
            await kb.judge_answer(session, answer_id, None if choice == "-" else choice, staff.actor.label, staff.id)
        except AnswersError as exc:
            return render(request, "error.html", status=400 if exc.field == "entry" else 404, message=exc.message)
        await session.commit()
    await reload(services)
    return redirect("/inbox/kb")


def setup(app: web.Application) -> None:
    if not any(n.href == "/inbox/kb" for n in NAV):  # setup runs once per app; NAV is per process
        NAV.append(NavItem("/inbox/kb", "自动答复"))
    app.router.add_get("/inbox/kb", kb_home)
    app.router.add_get("/inbox/kb/new", entry_page)
    app.router.add_post("/inbox/kb/new", entry_save)
    app.router.add_get("/inbox/kb/entries/{key}", entry_page)
    app.router.add_post("/inbox/kb/entries/{key}", entry_save)
    app.router.add_post("/inbox/kb/answers/{answer_id}/judge", judge)
