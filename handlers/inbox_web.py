"""What every staff page shares: the Jinja2 environment (autoescape on), the
navigation other features append to, and ``render``.

Other features add their pages like this::

    from handlers.inbox_web import NAV, NavItem, render
    from handlers.inbox_auth import login_required
    NAV.append(NavItem("/inbox/reports", "年度报表"))

and write templates that ``{% extends "base.html" %}`` (blocks: title,
content, head).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiohttp import web
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from bot.cases import CHANNEL_LABELS, STATUS_LABELS, mask_phone, mask_text
from bot.services import SERVICES
from nlp.base import KIND_LABELS, TOPIC_LABELS

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    admin_only: bool = False


# The staff navigation, in order. Features append their own entries.
NAV: list[NavItem] = [
    NavItem("/inbox", "收件箱"),
    NavItem("/inbox/dashboard", "统计图表"),
    NavItem("/inbox/canned", "常用答复"),
    NavItem("/inbox/admin/calendar", "节假日", admin_only=True),
    NavItem("/inbox/admin/users", "账号", admin_only=True),
]

# Other features may add template folders (their own pages) here before the
# first page renders.
TEMPLATE_DIRS: list[Path] = [TEMPLATES]

_env: Environment | None = None


def environment() -> Environment:
    global _env
    if _env is None:
        _env = Environment(
            loader=ChoiceLoader([FileSystemLoader(str(d)) for d in TEMPLATE_DIRS]),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _env.globals.update(
            CHANNEL_LABELS=CHANNEL_LABELS, STATUS_LABELS=STATUS_LABELS, KIND_LABELS=KIND_LABELS,
            TOPIC_LABELS=TOPIC_LABELS,
        )
        _env.filters["mask_phone"] = mask_phone
        _env.filters["mask_text"] = mask_text
    return _env


def render(request: web.Request, template: str, status: int = 200, **context) -> web.Response:
    from .inbox_auth import STAFF, csrf_token

    services = request.app[SERVICES]
    tz = services.settings.tz
    staff = request.get(STAFF)

    def local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return moment.astimezone(tz).strftime(fmt) if moment else ""

    nav = [n for n in NAV if not n.admin_only or (staff is not None and staff.role == "admin")]
    html = environment().get_template(template).render(
        request=request, staff=staff, csrf_token=csrf_token(request), nav=nav, local=local,
        path=request.path, **context,
    )
    resp = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    resp.headers["Cache-Control"] = "no-store"
    return resp
