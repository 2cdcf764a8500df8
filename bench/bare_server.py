"""The ceiling: an aiohttp server that reads the body and answers "success"."""

import sys

from aiohttp import web


async def wechat(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="success")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


app = web.Application()
app.router.add_post("/wechat", wechat)
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=lambda *_: None)
