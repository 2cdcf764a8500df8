"""The WeChat server API (outbound calls), on aiohttp's client.

One access token for all worker processes: it lives in the ``kv`` table
(key ``wechat.access_token``). A worker that finds it missing or about to
expire takes a short lease row (``wechat.access_token.lease``) so only one
process asks WeChat for a new one while the others wait and then read it —
several processes each fetching tokens is WeChat's "40001 storm". The lease
is a row, not a held transaction, so on SQLite the intake writers are never
blocked behind an HTTP call.

Tokens come from ``POST cgi-bin/stable_token`` (WECHAT.md); a call answered
with 40001/40014/42001 refreshes the token (forcing a new one only if no
other worker already replaced the failing token) and is retried once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp

from bot.config import Settings
from storage.database import Database
from storage.queries import kv

log = logging.getLogger(__name__)

TOKEN_KEY = "wechat.access_token"
LEASE_KEY = "wechat.access_token.lease"
TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid / illegal / expired access_token
# Errors worth retrying later; everything else (out of the 48-hour window,
# over the 5-message limit, bad openid…) will fail the same way again.
RETRYABLE_ERRORS = frozenset({-1, 45009, 45011}) | TOKEN_ERRORS
REFRESH_MARGIN = timedelta(minutes=5)  # refresh this long before WeChat's expiry
LEASE_SECONDS = 15.0


class WeChatApiError(Exception):
    """WeChat answered with a non-zero errcode (or could not be reached:
    errcode -1, as WeChat itself reports "system busy")."""

    def __init__(self, errcode: int, errmsg: str):
        self.errcode = errcode
        self.errmsg = errmsg
        super().__init__(f"WeChat API error {errcode}: {errmsg}")

    @property
    def retryable(self) -> bool:
        return self.errcode in RETRYABLE_ERRORS


class WeChatUnavailable(WeChatApiError):
    """Timeout, connection failure, HTTP error or a body that is not JSON."""

    def __init__(self, reason: str):
        super().__init__(-1, reason)


class WeChatApi:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        timeout: aiohttp.ClientTimeout | None = None,
        session: aiohttp.ClientSession | None = None,
    ):
        if not settings.wechat_app_id or not settings.wechat_app_secret:
            raise ValueError("INTAKE_WECHAT_APP_ID and INTAKE_WECHAT_APP_SECRET are needed for the WeChat API")
        self._app_id = settings.wechat_app_id
        self._secret = settings.wechat_app_secret
        self._base = settings.wechat_api_base.rstrip("/") + "/"
        self._db = db
        # WeChat answers in well under a second; a hung peer must not hold a
        # sender (or a CLI) for long.
        self._timeout = timeout or aiohttp.ClientTimeout(total=10, connect=3, sock_read=8)
        self._session = session
        self._own_session = session is None
        self._token: tuple[str, datetime] | None = None  # this process's copy
        self._lock = asyncio.Lock()  # one refresh per process at a time
        self._worker = secrets.token_hex(6)
        self.token_fetches = 0  # tokens this instance obtained from WeChat

    # -- HTTP ------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()

    async def _post(self, path: str, payload: dict, params: dict | None = None) -> dict:
        url = self._base + path.lstrip("/")
        # ensure_ascii=False: WeChat shows \uXXXX escapes literally in some messages.
        body = json.dumps(payload, ensure_ascii=False).encode()
        try:
            async with self._http().post(url, params=params, data=body,
                                         headers={"Content-Type": "application/json"}) as resp:
                if resp.status != 200:
                    raise WeChatUnavailable(f"HTTP {resp.status} from {path}")
                text = await resp.text()
        except asyncio.TimeoutError:
            raise WeChatUnavailable(f"timeout calling {path}") from None
        except aiohttp.ClientError as exc:
            raise WeChatUnavailable(f"cannot reach WeChat ({type(exc).__name__}) calling {path}") from None
        try:
            data = json.loads(text)
        except ValueError:
            raise WeChatUnavailable(f"{path} answered with something that is not JSON") from None
        if not isinstance(data, dict):
            raise WeChatUnavailable(f"{path} answered with a JSON {type(data).__name__}")
        return data

    # -- access token ------------------------------------------------------------

    async def access_token(self) -> str:
        now = datetime.now(timezone.utc)
        if self._token and self._token[1] - REFRESH_MARGIN > now:
            return self._token[0]
        async with self._lock:
            return await self._refresh(stale=None)

    async def _read_shared(self) -> tuple[str, datetime] | None:
        return await self._db.read(lambda tx: kv.get_with_expiry(tx.session, TOKEN_KEY))

    async def _refresh(self, stale: str | None) -> str:
        """Return a usable token: this process's, the shared one, or a new
        one from WeChat (one process at a time, by lease). ``stale`` is a
        token WeChat just refused: it is replaced even if not expired."""
        def usable(tok: tuple[str, datetime] | None) -> bool:
            return tok is not None and tok[0] != stale and tok[1] - REFRESH_MARGIN > datetime.now(timezone.utc)

        if usable(self._token):
            return self._token[0]  # type: ignore[index]
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + LEASE_SECONDS + 5
        while True:
            shared = await self._read_shared()
            if usable(shared):
                self._token = shared
                return shared[0]  # type: ignore[index]
            if await self._take_lease():
                break
            if loop.time() > give_up_at:
                raise WeChatUnavailable("another worker holds the token lease and no token appeared")
            await asyncio.sleep(0.05 + secrets.randbelow(50) / 1000)
        try:
            # Someone may have stored a fresh token between our read and the lease.
            shared = await self._read_shared()
            if usable(shared):
                self._token = shared
                return shared[0]  # type: ignore[index]
            token, expires_at = await self._fetch_token(force=stale is not None and shared is not None
                                                        and shared[0] == stale)
            await self._db.write(lambda tx: kv.put_expiring(tx.session, TOKEN_KEY, token, expires_at))
            self._token = (token, expires_at)
            return token
        finally:
            await self._release_lease()

    async def _take_lease(self) -> bool:
        until = datetime.now(timezone.utc) + timedelta(seconds=LEASE_SECONDS)
        return await self._db.write(lambda tx: kv.take_lease(tx.session, LEASE_KEY, self._worker, until))

    async def _release_lease(self) -> None:
        try:
            await self._db.write(lambda tx: kv.release_lease(tx.session, LEASE_KEY, self._worker))
        except Exception:  # the lease expires by itself
            log.warning("wechat: could not release the token lease", exc_info=True)

    async def _fetch_token(self, *, force: bool) -> tuple[str, datetime]:
        payload: dict[str, Any] = {"grant_type": "client_credential", "appid": self._app_id, "secret": self._secret}
        if force:
            payload["force_refresh"] = True
        data = await self._post("cgi-bin/stable_token", payload)
        if data.get("errcode"):
            raise WeChatApiError(int(data["errcode"]), str(data.get("errmsg", "")))
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise WeChatUnavailable("stable_token answered without access_token/expires_in")
        self.token_fetches += 1
        log.info("wechat: obtained a new access token (valid %d s%s)", expires_in, ", forced" if force else "")
        return token, datetime.now(timezone.utc) + timedelta(seconds=expires_in)

    # -- calls -------------------------------------------------------------------

    async def call(self, path: str, payload: dict) -> dict:
        """POST ``payload`` to ``path`` with the access token; the answer's
        JSON when errcode is 0 (or absent), else WeChatApiError."""
        token = await self.access_token()
        data = await self._post(path, payload, {"access_token": token})
        code = int(data.get("errcode") or 0)
        if code in TOKEN_ERRORS:
            log.info("wechat: %s refused the access token (errcode %d); refreshing", path, code)
            self._token = None
            async with self._lock:
                token = await self._refresh(stale=token)
            data = await self._post(path, payload, {"access_token": token})
            code = int(data.get("errcode") or 0)
        if code:
            raise WeChatApiError(code, str(data.get("errmsg", "")))
        return data

    async def send_text(self, openid: str, text: str) -> dict:
        """A customer-service text message (within 48 h of the user's last
        message, at most 5 per window: errcodes 45015 / 45047 otherwise)."""
        return await self.call("cgi-bin/message/custom/send",
                               {"touser": openid, "msgtype": "text", "text": {"content": text}})

    async def send_notice(self, openid: str, template_id: str, data: dict, page: str | None) -> dict:
        """A subscription notice (订阅通知): needs the user's subscription to
        the template (errcode 43101 otherwise); ``page`` is the web page the
        card opens."""
        payload: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": data}
        if page:
            payload["page"] = page
        return await self.call("cgi-bin/message/subscribe/bizsend", payload)

    async def create_menu(self, menu: dict) -> dict:
        return await self.call("cgi-bin/menu/create", menu)

