"""Staff pages: one Jinja2 environment (autoescape on) over the template
folders and the navigation the assembly lists (bot/routes.py), and
``render``. Templates extend "base.html" (blocks: title, content, head)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiohttp import web
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from bot.domain.errors import DomainError
from bot.domain.masking import mask_phone, mask_text
from bot.domain.vocabulary import (
    CHANNEL_LABELS, KIND_LABELS, RATING_LABELS, RATING_SOURCE_LABELS, REPLY_TYPE_LABELS, STATUS_LABELS, TOPIC_LABELS,
)

from .errors import status_of
from .keys import RUNTIME
from .staff import STAFF, csrf_token

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STATIC = Path(__file__).resolve().parents[1] / "static"


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    admin_only: bool = False


class Pages:
    """The templates and the navigation of the staff pages."""

    def __init__(self, nav: Sequence[NavItem], template_dirs: Sequence[Path] = (TEMPLATES,)):
        self.nav = tuple(nav)
        self.env = Environment(
            loader=ChoiceLoader([FileSystemLoader(str(d)) for d in template_dirs]),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(REPLY_TYPE_LABELS=REPLY_TYPE_LABELS, RATING_LABELS=RATING_LABELS,
                                RATING_SOURCE_LABELS=RATING_SOURCE_LABELS,
                                CHANNEL_LABELS=CHANNEL_LABELS, STATUS_LABELS=STATUS_LABELS,
                                KIND_LABELS=KIND_LABELS, TOPIC_LABELS=TOPIC_LABELS)
        self.env.filters["mask_phone"] = mask_phone
        self.env.filters["mask_text"] = mask_text


PAGES = web.AppKey("pages", Pages)


def render(request: web.Request, template: str, status: int = 200, **context) -> web.Response:
    pages = request.app[PAGES]
    tz = request.app[RUNTIME].settings.tz
    staff = request.get(STAFF)

    def local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return moment.astimezone(tz).strftime(fmt) if moment else ""

    is_admin = staff is not None and staff.actor.is_admin
    nav = [n for n in pages.nav if not n.admin_only or is_admin]
    html = pages.env.get_template(template).render(
        request=request, staff=staff, csrf_token=csrf_token(request), nav=nav, local=local,
        path=request.path, **context,
    )
    resp = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@web.middleware
async def page_errors(request: web.Request, handler):
    """On staff pages, a refusal nobody caught and a missing page are shown
    as a page in the inbox's frame (never a bare 500 or 404)."""
    if not request.path.startswith("/inbox") or request.path.startswith("/inbox/static/"):
        return await handler(request)
    try:
        return await handler(request)
    except DomainError as exc:
        return render(request, "error.html", status=status_of(exc), message=exc.message)
    except web.HTTPNotFound:
        if STAFF in request:
            return render(request, "error.html", status=404, message="没有找到这个页面或案件。")
        raise
