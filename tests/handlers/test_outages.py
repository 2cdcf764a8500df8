"""Outages and slow clients over real HTTP: while writes fail, /healthz says
so (503) and each failed request is one log line, its traceback at most
once a minute per kind; slow headers and slow bodies are cut off at the
configured time; every error a person can meet reads in Chinese."""

from __future__ import annotations

import asyncio
import logging
import re
import time

import pytest_asyncio
from sqlalchemy.engine import make_url

from bot.logs import FailureLog
from tests.conftest import PG_URL, WECHAT, _pg_admin, make_settings, make_token, serve
from tests.wechat_peer import WeChatPeer

peer = WeChatPeer(WECHAT["token"], WECHAT["aes_key"], WECHAT["app_id"], WECHAT["account"])
LETTER = {"channel": "letter", "received_at": "2020-03-15 09:21", "text": "咨询人防车位能否买卖"}
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest_asyncio.fixture
async def app(db_url, tmp_path, classifier):
    settings = make_settings(db_url, tmp_path, header_timeout_seconds=1, body_timeout_seconds=1)
    async with serve(settings, classifier) as client:
        client.token = await make_token(client.runtime)
        yield client


async def writes_fail(client, on: bool) -> None:
    """Make the database refuse writes (reads go on), as a full disk or a
    read-only file system would: SQLite's query_only on the writer's own
    connection; PostgreSQL's read-only default, sessions restarted."""
    db = client.runtime.db
    if db.dialect == "sqlite":
        def pragma():  # on the writer's thread and connection, outside a transaction
            db.writer._connection().connection.dbapi_connection.execute(f"PRAGMA query_only = {int(on)}")

        await asyncio.get_running_loop().run_in_executor(db.writer._executor, pragma)
        return
    name = make_url(str(db.engine.url)).database
    admin = await _pg_admin(PG_URL)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await admin.close()
    await db.engine.dispose()


async def test_healthz_is_503_while_writes_fail_and_each_failure_is_one_line(app, caplog):
    auth = {"Authorization": f"Bearer {app.token}"}
    assert (await app.get("/healthz")).status == 200
    await writes_fail(app, True)
    try:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            statuses = []
            for i in range(12):
                query, body = peer.push(peer.text(f"oOut{i}", "请问人防车位可以买卖吗"))
                statuses.append((await app.post("/wechat", params=query, data=body.encode())).status)
                statuses.append((await app.post("/api/v1/cases", json=LETTER, headers=auth)).status)
        assert statuses == [503] * len(statuses), statuses  # try again later, on both databases
        failed = [r for r in caplog.records if r.name == "intake.errors"]
        assert len(failed) == len(statuses)  # one line per failed request …
        kinds = {r.getMessage().split("[")[1].split("]")[0].split(";")[0] for r in failed}
        assert sum(1 for r in failed if r.exc_info) == len(kinds)  # … a traceback once per kind
        assert all("\n" not in r.getMessage() for r in failed)
        health = await app.get("/healthz")
        assert health.status == 503 and "writes failing" in (await health.json())["database"]
    finally:
        await writes_fail(app, False)
    for _ in range(50):  # the probe write finds the database writable again
        if (await app.get("/healthz")).status == 200:
            break
        await asyncio.sleep(0.1)
    assert (await app.get("/healthz")).status == 200


def test_a_traceback_at_most_once_a_minute_per_kind(caplog):
    now = [1000.0]
    failures = FailureLog(logging.getLogger("test.failures"), clock=lambda: now[0])
    with caplog.at_level(logging.ERROR, "test.failures"):
        for _ in range(100):
            try:
                raise ConnectionRefusedError("db down")
            except ConnectionRefusedError as exc:
                failures.failed(exc, "GET /x failed: %d", 503)
        try:
            raise KeyError("other")
        except KeyError as exc:
            failures.failed(exc, "GET /y failed: %d", 500)
        now[0] += 61
        try:
            raise ConnectionRefusedError("db down")
        except ConnectionRefusedError as exc:
            failures.failed(exc, "GET /x failed: %d", 503)
    assert len(caplog.records) == 102
    with_tb = [r for r in caplog.records if r.exc_info]
    assert [r.getMessage().split(" [")[1] for r in with_tb] == [
        "ConnectionRefusedError]", "KeyError]", "ConnectionRefusedError] (99 more of this kind without traceback since "
        "the last one)"]


async def test_requests_aiohttp_refuses_itself_are_one_line_each_not_a_traceback_each(app, caplog):
    """A header past 8 KB or a broken request line is refused by aiohttp's
    parser before any middleware: each is one warning line, a traceback at
    most once a minute per kind (anyone on the internet can send them)."""
    with caplog.at_level(logging.DEBUG):
        for i in range(10):
            reader, writer = await _connect(app)
            if i % 2:
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
            else:
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(65536), 10)
            assert re.match(rb"HTTP/1.[01] 4", answer), answer[:100]
            writer.close()
    protocol = [r for r in caplog.records if r.name.startswith("intake.http.protocol")]
    assert protocol and all(r.levelno == logging.WARNING for r in protocol)
    assert sum(1 for r in protocol if r.exc_info) <= 2
    assert not [r for r in caplog.records if r.name == "aiohttp.server" and r.exc_info]


async def _connect(client):
    return await asyncio.open_connection(client.host, client.port)


async def test_slow_headers_are_disconnected_at_the_configured_time(app):
    reader, writer = await _connect(app)
    started = time.monotonic()
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    closed_at = None
    for byte in request:
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            closed_at = time.monotonic()
            break
        if reader.at_eof() or writer.transport.is_closing():
            closed_at = time.monotonic()
            break
        try:
            if await asyncio.wait_for(reader.read(1), 0.25) == b"":
                closed_at = time.monotonic()
                break
        except asyncio.TimeoutError:
            pass
        if time.monotonic() - started > 10:
            break
    writer.close()
    assert closed_at is not None and closed_at - started < 4, "a slow-headers client was held"


async def test_a_slow_body_gets_408_and_the_connection_closed(app):
    reader, writer = await _connect(app)
    started = time.monotonic()
    writer.write(b"POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + app.token.encode() + b"\r\nContent-Length: 100\r\n\r\n{\"a\"")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), 10)
    assert time.monotonic() - started < 4
    assert answer.startswith(b"HTTP/1.1 408") and "请求超时".encode() in answer
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed
    writer.close()


async def test_every_http_error_reads_in_chinese(app):
    auth = {"Authorization": f"Bearer {app.token}"}
    checks = [
        (await app.get("/no/such/page"), 404),
        (await app.put("/track"), 405),
        (await app.post("/login", data=b"x" * (3 * 1024 * 1024),
                        headers={"Content-Type": "application/octet-stream"}), 413),
        (await app.get("/api/v1/no-such", headers=auth), 404),
        (await app.get("/api/v1/cases"), 401),
        (await app.delete("/api/v1/cases", headers=auth), 405),
        (await app.post("/api/v1/cases", data=b"x" * (3 * 1024 * 1024), headers=auth), 413),
        (await app.post("/api/v1/cases", data=b"{}", headers={**auth, "Content-Type": "text/plain; charset=nope"}),
         415),
    ]
    for resp, status in checks:
        body = await resp.text()
        assert resp.status == status, (resp.url, resp.status, body[:200])
        assert CJK.search(body) and "Not Found" not in body and "Entity Too Large" not in body, body[:200]
        if resp.url.path.startswith("/api/"):
            assert (await resp.json())["error"]["code"]  # the code kept for programs


async def test_an_unexpected_error_is_a_chinese_500_not_a_traceback(app, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    resp = await app.get("/api/v1/cases", headers={"Authorization": f"Bearer {app.token}"},
                         params={"cursor": "x"})
    assert resp.status == 400  # an ordinary refusal stays one
    from bot.services import cases

    monkeypatch.setattr(cases, "list_cases", broken)
    resp = await app.get("/api/v1/cases", headers={"Authorization": f"Bearer {app.token}"})
    error = (await resp.json())["error"]
    assert resp.status == 500 and error["code"] == "internal" and CJK.search(error["message"])
    assert "a bug" not in await resp.text()
