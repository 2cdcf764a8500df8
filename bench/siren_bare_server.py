"""Baseline for bench_siren.py: a bare aiohttp server doing only the WeChat
protocol work (signature, AES decrypt, XML parse, encrypted reply) with a
fixed reply: no database, no matching, no case.

    python bench/siren_bare_server.py PORT TOKEN AES_KEY APP_ID
"""

import sys
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handlers.common.wechat_protocol import WeChatCrypto, open_push, parse, render_text  # noqa: E402

port, token, aes_key, app_id = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
crypto = WeChatCrypto(token, aes_key, app_id)
FIXED = "（基线）试鸣时间：10:00。受理编号 WX20260918-0001。"


async def wechat(request: web.Request) -> web.Response:
    opened = open_push(request.query, await request.read(), token, crypto)
    msg = parse(opened.xml)
    xml = render_text(to_user=msg.source, from_user=msg.target, content=FIXED)
    return web.Response(text=crypto.envelope(xml, request.query.get("nonce", ""), str(int(time.time()))),
                        content_type="application/xml")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


app = web.Application()
app.router.add_post("/wechat", wechat)
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=lambda *_: None)
