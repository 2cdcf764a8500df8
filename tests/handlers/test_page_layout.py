"""Every staff page alike: each template extends the base layout, and each
page the route table serves under /inbox comes back in it (the inbox's
stylesheet, the favicon, the navigation); the favicon is served."""

from __future__ import annotations

import re
from pathlib import Path

from bot.domain.actors import Actor
from bot.routes import ROUTES
from bot.services import knowledge
from tests.handlers.test_inbox_cases import new_case
from tests.inbox_staff import add_user, login, page

TEMPLATES = Path(__file__).resolve().parents[2] / "handlers" / "templates"
# The citizens' pages have their own (plainer) layouts; the layouts themselves.
CITIZEN_LAYOUTS = {"letters_base.html", "track_base.html"}
LAYOUTS = {"base.html", *CITIZEN_LAYOUTS}
EXTENDS = re.compile(r'^\s*{%-?\s*extends\s+"([^"]+)"')


def test_every_staff_template_extends_the_base_layout():
    staff_templates = [p for p in TEMPLATES.glob("*.html")
                       if p.name not in LAYOUTS and not p.name.startswith(("letters_", "track"))]
    assert len(staff_templates) >= 14
    for path in staff_templates:
        m = EXTENDS.match(path.read_text(encoding="utf-8"))
        assert m and m.group(1) == "base.html", path.name
    for path in TEMPLATES.glob("*.html"):
        if path.name.startswith(("letters_", "track")) and path.name not in LAYOUTS:
            m = EXTENDS.match(path.read_text(encoding="utf-8"))
            assert m and m.group(1) in CITIZEN_LAYOUTS, path.name


def test_every_layout_names_the_favicon():
    for name in LAYOUTS:
        assert '<link rel="icon" href="/inbox/static/favicon.svg"' in (TEMPLATES / name).read_text(encoding="utf-8")


def staff_page_paths(case_id: int, kb_key: str) -> list[str]:
    """The GET pages of the route table under /inbox, parameters filled in
    (files and charts left out: they are downloads, not pages)."""
    out = []
    for r in ROUTES:
        path = getattr(r, "path", "")
        if getattr(r, "method", None) != "GET" or not path.startswith("/inbox") or "static" in path:
            continue
        if re.search(r"\.(svg|docx)$|\{fmt", path):
            continue
        out.append(path.replace("{case_id}", str(case_id)).replace("{key}", kb_key))
    return out


async def test_every_staff_page_comes_in_the_base_layout(server):
    rt = server.runtime
    await add_user(rt, "boss", role="admin", display_name="王主任")
    case = await new_case(rt, "申请公开本单位人防工程名录", kind="disclosure_request")
    assert (await login(server, "boss")).status == 303
    # A knowledge-base entry to open.
    await knowledge.save_entry(rt, Actor("user:boss", role="admin"), {
        "key": "siren-general", "title": "防空警报试鸣", "questions": ["警报什么时候试鸣"], "answer": "每年9月。"})

    paths = staff_page_paths(case.id, "siren-general")
    assert {"/inbox", "/inbox/outbox", "/inbox/kb", f"/inbox/cases/{case.id}", "/inbox/reports"} <= set(paths)
    for path in paths:
        html = await page(server, path)
        assert '<link rel="stylesheet" href="/inbox/static/inbox.css">' in html, path
        assert '<link rel="icon" href="/inbox/static/favicon.svg"' in html, path
        assert '<header class="top">' in html and "外发队列" in html, path
    # The outbox's own parts are styled like the rest: the counters and table of the inbox.
    outbox = await page(server, "/inbox/outbox")
    assert '<nav class="views">' in outbox
    assert 'class="notice"' not in outbox


async def test_the_favicon_is_served_as_svg_to_anyone(server):
    resp = await server.get("/inbox/static/favicon.svg")
    assert resp.status == 200
    assert resp.content_type == "image/svg+xml"
    assert (await resp.text()).lstrip().startswith("<svg")
    for path in ("/login", "/track", "/letters/new"):
        assert '<link rel="icon" href="/inbox/static/favicon.svg"' in await (await server.get(path)).text(), path
