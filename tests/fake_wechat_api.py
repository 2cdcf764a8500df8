"""A local WeChat API server (api.weixin.qq.com) for tests, as the platform
behaves, written from WECHAT.md and WeChat's published API documentation,
without the product's code:

- ``POST /cgi-bin/stable_token``: issues tokens with ``expires_in``; in the
  normal mode the current token is returned while it is valid, with
  ``force_refresh`` a new one replaces it (the old one stops working).
- every other call takes ``?access_token=``: missing → 41001, unknown or
  replaced → 40001, expired → 42001.
- ``POST /cgi-bin/message/custom/send``: only within 48 h after the user last
  wrote (the test says when, with ``user_wrote``) → else 45015, and at most 5
  messages per window → else 45047. What was sent is kept in ``sent``.
- ``POST /cgi-bin/message/subscribe/bizsend`` (订阅通知): the template must
  be one the account added (``templates``: id → its keys) → else 40037; the
  user must have accepted it (``subscribe(openid, template_id)``) → else
  43101; every key of the template, and no other, with a value within its
  type's rules (thing ≤ 20 characters, character_string ≤ 32 letters,
  digits and symbols, phrase ≤ 5 Chinese characters, time a date and
  time, number digits) → else 47003 naming the field; ``page`` a web
  address → else 41030. What was sent is kept in ``notices``.
- ``POST /cgi-bin/menu/create``: WeChat's limits (≤3 buttons, ≤5 sub-buttons,
  name ≤16/≤60 bytes, click needs key ≤128 bytes, view needs url ≤1024 bytes).
- failures on demand: ``fail_next(path, errcode=…)``, ``http_status=500``, or
  ``hang=seconds``.

Use as ``async with FakeWeChatApi() as fake: fake.base_url …``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from dataclasses import dataclass, field

from aiohttp import web

APP_ID = "wx2c2769f8efd9abc2"
APP_SECRET = "fake-app-secret-0123456789abcdef"
WINDOW_SECONDS = 48 * 3600
MAX_PER_WINDOW = 5


@dataclass
class Failure:
    errcode: int | None = None
    errmsg: str = "injected failure"
    http_status: int | None = None
    hang: float | None = None
    body: str | None = None  # raw body to answer with (e.g. not JSON)


@dataclass
class Token:
    value: str
    expires_at: float
    valid: bool = True


@dataclass
class FakeWeChatApi:
    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    expires_in: int = 7200
    now: float | None = None  # fixed clock for tests; None = real time
    tokens: dict[str, Token] = field(default_factory=dict)
    current: str | None = None
    token_requests: list[dict] = field(default_factory=list)
    calls: list[tuple[str, dict]] = field(default_factory=list)  # (path, body) of every API call
    sent: list[dict] = field(default_factory=list)  # custom/send messages accepted
    templates: dict[str, list[str]] = field(default_factory=dict)  # subscription templates the account added
    subscriptions: set[tuple[str, str]] = field(default_factory=set)  # (openid, template id) accepted
    notices: list[dict] = field(default_factory=list)  # bizsend notices accepted
    menu: dict | None = None
    last_wrote: dict[str, float] = field(default_factory=dict)
    window_sent: dict[str, int] = field(default_factory=dict)
    failures: dict[str, list[Failure]] = field(default_factory=dict)

    # -- test controls ---------------------------------------------------------

    def clock(self) -> float:
        return self.now if self.now is not None else time.time()

    def user_wrote(self, openid: str, at: float | None = None) -> None:
        """The user sent a message at ``at``: a new 48-hour window opens."""
        self.last_wrote[openid] = self.clock() if at is None else at
        self.window_sent[openid] = 0

    def subscribe(self, openid: str, template_id: str) -> None:
        """The user accepted the template's notices (WeChat's subscription pop-up)."""
        self.subscriptions.add((openid, template_id))

    def expire_token(self) -> None:
        """The current token reaches its expiry (→ 42001)."""
        if self.current:
            self.tokens[self.current].expires_at = self.clock() - 1

    def invalidate_token(self) -> None:
        """The current token is revoked, as when another party forced a new
        one (→ 40001)."""
        if self.current:
            self.tokens[self.current].valid = False

    def fail_next(self, path: str, times: int = 1, **failure) -> None:
        """The next ``times`` calls to ``path`` (e.g. 'cgi-bin/message/custom/send')
        fail: errcode=…, http_status=…, hang=seconds, body='…'."""
        self.failures.setdefault(path.strip("/"), []).extend(Failure(**failure) for _ in range(times))

    # -- server ----------------------------------------------------------------

    async def __aenter__(self) -> "FakeWeChatApi":
        app = web.Application()
        app.router.add_post("/cgi-bin/stable_token", self._stable_token)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        app.router.add_post("/cgi-bin/message/subscribe/bizsend", self._bizsend)
        app.router.add_post("/cgi-bin/menu/create", self._menu_create)
        app.router.add_get("/cgi-bin/get_current_selfmenu_info", self._menu_get)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/"
        return self

    async def __aexit__(self, *exc) -> None:
        await self._runner.cleanup()

    @staticmethod
    def _json(data: dict) -> web.Response:
        return web.Response(text=json.dumps(data, ensure_ascii=False), content_type="application/json")

    async def _injected(self, path: str) -> web.Response | None:
        queue = self.failures.get(path)
        if not queue:
            return None
        f = queue.pop(0)
        if f.hang:
            await asyncio.sleep(f.hang)
        if f.http_status:
            return web.Response(status=f.http_status, text="<html>server error</html>")
        if f.body is not None:
            return web.Response(text=f.body, content_type="text/plain")
        if f.errcode is not None:
            return self._json({"errcode": f.errcode, "errmsg": f.errmsg})
        return None

    async def _body(self, request: web.Request) -> dict | None:
        try:
            data = json.loads(await request.text())
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    async def _call(self, path: str, request: web.Request) -> tuple[dict, None] | tuple[None, web.Response]:
        """What every API call does first, as WeChat does: record it, fail
        if told to, check the access token, read the JSON body."""
        data = await self._body(request)
        self.calls.append((path, data or {}))
        if (failed := await self._injected(path)) is not None:
            return None, failed
        if (bad := self._token_error(request)) is not None:
            return None, bad
        if data is None:
            return None, self._json({"errcode": 47001, "errmsg": "data format error"})
        return data, None

    async def _stable_token(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        if data is None:
            return self._json({"errcode": 47001, "errmsg": "data format error"})
        self.token_requests.append(data)
        if (failed := await self._injected("cgi-bin/stable_token")) is not None:
            return failed
        if data.get("grant_type") != "client_credential":
            return self._json({"errcode": 40002, "errmsg": "invalid grant_type"})
        if data.get("appid") != self.app_id:
            return self._json({"errcode": 40013, "errmsg": "invalid appid"})
        if data.get("secret") != self.app_secret:
            return self._json({"errcode": 40125, "errmsg": "invalid appsecret"})
        now = self.clock()
        cur = self.tokens.get(self.current or "")
        if data.get("force_refresh") or cur is None or not cur.valid or cur.expires_at <= now:
            if cur is not None and data.get("force_refresh"):
                cur.valid = False  # a forced refresh replaces the previous token
            value = "TOKEN_" + secrets.token_urlsafe(24)
            self.tokens[value] = Token(value, now + self.expires_in)
            self.current = value
            cur = self.tokens[value]
        return self._json({"access_token": cur.value, "expires_in": max(int(cur.expires_at - now), 0)})

    def _token_error(self, request: web.Request) -> web.Response | None:
        value = request.query.get("access_token")
        if not value:
            return self._json({"errcode": 41001, "errmsg": "access_token missing"})
        tok = self.tokens.get(value)
        if tok is None or not tok.valid:
            return self._json({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"})
        if tok.expires_at <= self.clock():
            return self._json({"errcode": 42001, "errmsg": "access_token expired"})
        return None

    async def _custom_send(self, request: web.Request) -> web.Response:
        data, refused = await self._call("cgi-bin/message/custom/send", request)
        if refused is not None:
            return refused
        openid = data.get("touser")
        if not isinstance(openid, str) or not openid:
            return self._json({"errcode": 40003, "errmsg": "invalid openid"})
        if data.get("msgtype") != "text" or not isinstance(data.get("text"), dict) \
                or not isinstance(data["text"].get("content"), str) or not data["text"]["content"]:
            return self._json({"errcode": 44002, "errmsg": "empty post data"})
        wrote = self.last_wrote.get(openid)
        if wrote is None or self.clock() - wrote > WINDOW_SECONDS:
            return self._json({"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"})
        if self.window_sent.get(openid, 0) >= MAX_PER_WINDOW:
            return self._json({"errcode": 45047, "errmsg": "out of response count limit"})
        self.window_sent[openid] = self.window_sent.get(openid, 0) + 1
        self.sent.append({"touser": openid, "content": data["text"]["content"]})
        return self._json({"errcode": 0, "errmsg": "ok"})

    async def _bizsend(self, request: web.Request) -> web.Response:
        data, refused = await self._call("cgi-bin/message/subscribe/bizsend", request)
        if refused is not None:
            return refused
        openid, template_id = data.get("touser"), data.get("template_id")
        if not isinstance(openid, str) or not openid:
            return self._json({"errcode": 40003, "errmsg": "invalid openid"})
        if template_id not in self.templates:
            return self._json({"errcode": 40037, "errmsg": "invalid template_id"})
        if (openid, template_id) not in self.subscriptions:
            return self._json({"errcode": 43101, "errmsg": "user refuse to accept the msg"})
        page = data.get("page")
        if page is not None and (not isinstance(page, str) or not page.startswith(("http://", "https://"))
                                 or len(page) > 1024):
            return self._json({"errcode": 41030, "errmsg": "invalid page"})
        fields = data.get("data")
        if not isinstance(fields, dict):
            return self._json({"errcode": 47003, "errmsg": "argument invalid! data is empty"})
        keys = self.templates[template_id]
        for key in sorted(set(keys) | set(fields)):
            if key not in keys:
                return self._json({"errcode": 47003, "errmsg": f"argument invalid! data.{key} not exist"})
            item = fields.get(key)
            value = item.get("value") if isinstance(item, dict) else None
            problem = template_value_problem(key, value)
            if problem:
                return self._json({"errcode": 47003, "errmsg": f"argument invalid! data.{key}.value {problem}"})
        self.notices.append({"touser": openid, "template_id": template_id, "page": page,
                             "data": {k: fields[k]["value"] for k in keys}})
        return self._json({"errcode": 0, "errmsg": "ok"})

    async def _menu_create(self, request: web.Request) -> web.Response:
        data, refused = await self._call("cgi-bin/menu/create", request)
        if refused is not None:
            return refused
        problem = menu_problem(data)
        if problem is not None:
            return self._json({"errcode": problem[0], "errmsg": problem[1]})
        self.menu = data
        return self._json({"errcode": 0, "errmsg": "ok"})

    async def _menu_get(self, request: web.Request) -> web.Response:
        if (bad := self._token_error(request)) is not None:
            return bad
        return self._json({"is_menu_open": 1 if self.menu else 0, "selfmenu_info": self.menu or {}})


_TIME = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日( \d{1,2}:\d{2})?|\d{4}-\d{1,2}-\d{1,2}( \d{1,2}:\d{2})?|\d{1,2}:\d{2}")


def template_value_problem(key: str, value: object) -> str | None:
    """Why WeChat refuses a value for a template key of this type, or None."""
    if not isinstance(value, str) or not value:
        return "is empty"
    kind = key.rstrip("0123456789")
    if kind == "thing" and len(value) > 20:
        return "exceeds limit"
    if kind == "character_string" and (len(value) > 32 or not all(33 <= ord(c) < 127 for c in value)):
        return "invalid"
    if kind == "phrase" and (len(value) > 5 or not all("\u4e00" <= c <= "\u9fff" for c in value)):
        return "invalid"
    if kind == "time" and not _TIME.fullmatch(value):
        return "invalid"
    if kind == "number" and (len(value) > 32 or not re.fullmatch(r"\d+(\.\d+)?", value)):
        return "invalid"
    if "\n" in value:
        return "invalid"
    return None


def _nbytes(s: object) -> int:
    return len(str(s).encode("utf-8"))


def menu_problem(menu: dict) -> tuple[int, str] | None:
    """WeChat's own checks of a menu, with its error codes."""
    buttons = menu.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return 40016, "invalid button size"
    for b in buttons:
        if not isinstance(b, dict) or not b.get("name") or _nbytes(b["name"]) > 16:
            return 40018, "invalid button name size"
        subs = b.get("sub_button")
        if subs:
            if not isinstance(subs, list) or len(subs) > 5:
                return 40023, "invalid sub button size"
            for s in subs:
                if not isinstance(s, dict) or not s.get("name") or _nbytes(s["name"]) > 60:
                    return 40025, "invalid sub button name size"
                if s.get("type") not in ("click", "view"):
                    return 40024, "invalid sub button type"
                if s["type"] == "click" and (not s.get("key") or _nbytes(s["key"]) > 128):
                    return 40026, "invalid sub button key size"
                if s["type"] == "view" and (not s.get("url") or _nbytes(s["url"]) > 1024):
                    return 40027, "invalid sub button url size"
            continue
        if b.get("type") not in ("click", "view"):
            return 40017, "invalid button type"
        if b["type"] == "click" and (not b.get("key") or _nbytes(b["key"]) > 128):
            return 40019, "invalid button key size"
        if b["type"] == "view" and (not b.get("url") or _nbytes(b["url"]) > 1024):
            return 40020, "invalid button url size"
    return None
