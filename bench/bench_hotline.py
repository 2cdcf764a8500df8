"""12345 throughput, each figure beside a bare baseline measured in the same run.

1. Push: signed batches of 100 distinct work orders to POST /hotline/orders
   on the real server started from the CLI (`intake serve`, migrations,
   signature check, validation, classification, one durable transaction
   per batch), from an aiohttp client in this process pinned to another
   CPU. Baseline: a bare aiohttp endpoint that reads the body, parses the
   JSON and answers the ids. Afterwards the stored-case count must equal
   the accepted count (nothing lost, nothing doubled).
2. Import: `intake import FILE --channel hotline` on a generated 12345
   export (default 100,000 rows) in a subprocess, with its peak RSS.
   Baseline: csv.reader over the same file.
3. Events: signed batches of 100 platform events (催办 and 督办 on 1,000
   orders pushed first) to POST /hotline/events on the real server, each
   applied through the lifecycle and recorded once. Baseline: the bare
   endpoint answering the event ids. Afterwards every event must be
   recorded exactly once.
4. Outbox: 10,000 queued 12345 messages delivered by the real outbox worker
   (claim, sign, POST, record) to a local platform that acknowledges them.
   Baseline: the same signed POSTs from a bare aiohttp client, 20 at a time
   (the worker's batch).

    .venv/bin/python bench/bench_hotline.py [--batches 200] [-c 8] [--rows 100000] [--events 100000]
        [--messages 10000] [--database-url URL] [--skip-push] [--skip-import] [--skip-events] [--skip-outbox]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import REPO, VENV_BIN, cpu_seconds, free_port, pinned, run_in_cpu, start, stop, write_result  # noqa: E402
from bot.domain.hotline_wire import sign  # noqa: E402

SECRET = "bench-hotline-secret"
WARM_UP = 10  # batches
TEXTS = ["咨询人防车位能否出售，产权归谁", "举报某工地施工时拆除了人防设施", "投诉物业把人防工程出租做仓库",
         "建议在社区开展防空警报试鸣宣传", "求助：小区人防地下室漏水没人管", "感谢人防办工作人员的耐心解答",
         "易地建设费应该怎么缴纳", "防空警报每年什么时候试鸣"]
TYPES = ["咨询", "举报", "投诉", "建议", "求助", "表扬", "咨询", None]

BARE_SERVER = '''
import json, sys
from aiohttp import web
async def orders(request):
    data = json.loads(await request.read())
    return web.json_response({"accepted": [o["order_id"] for o in data["orders"]], "duplicates": [], "rejected": []})
async def healthz(request):
    return web.Response(text="ok")
async def events(request):
    data = json.loads(await request.read())
    return web.json_response({"accepted": [e["event_id"] for e in data["events"]], "duplicates": [], "rejected": []})
app = web.Application(client_max_size=4 * 1024 * 1024)
app.router.add_post("/hotline/orders", orders)
app.router.add_post("/hotline/events", events)
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=lambda *_: None)
'''


START = datetime(2019, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))


def order(i: int, tag: str = "BENCH") -> dict:
    # In time order, as the platform dispatches them and as exports list them:
    # one every 13 minutes, about 110 a day, 100,000 over two years.
    received = START + timedelta(minutes=13 * i)
    o = {"order_id": f"12345-{tag}-{i:08d}", "received_at": received.isoformat(timespec="seconds"),
         "title": "", "content": f"{TEXTS[i % len(TEXTS)]}（{i}）",
         "caller": {"name": "张先生", "phone": f"138{i % 10**8:08d}"}}
    if TYPES[i % len(TYPES)]:
        o["request_type"] = TYPES[i % len(TYPES)]
    return o


def order_batches(n_batches: int, size: int, tag: str = "BENCH") -> list[bytes]:
    """Bodies of ``n_batches`` pushes (``fire`` signs each as it sends it)."""
    return [json.dumps({"orders": [order(b * size + k, tag) for k in range(size)]}, ensure_ascii=False).encode()
            for b in range(n_batches)]


def _body(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def signed_headers(body: bytes) -> dict:
    ts = str(int(time.time()))
    return {"Content-Type": "application/json", "X-Intake-Timestamp": ts, "X-Intake-Signature": sign(SECRET, ts, body)}


def event_batches(n_events: int, orders: int, size: int = 100) -> list[bytes]:
    """催办 and 督办 spread over ``orders`` orders, ``size`` to a batch."""
    at = datetime.now(timezone(timedelta(hours=8))).isoformat(timespec="seconds")
    out = []
    for b in range(0, n_events, size):
        events = [{"event_id": f"EV-{i:08d}", "order_id": f"12345-EVT-{i % orders:08d}",
                   "type": "urge" if i % 2 else "supervise", "note": "请尽快办理", "at": at}
                  for i in range(b, min(b + size, n_events))]
        out.append(_body({"events": events}))
    return out


async def fire(url: str, batches: list[bytes], concurrency: int) -> dict:
    """POST the bodies, ``concurrency`` at a time, each signed as it leaves:
    a long run outlasts the signatures' 300 s window."""
    import aiohttp

    queue = list(reversed(batches))
    accepted = failed = 0
    latencies: list[float] = []

    async def worker(session):
        nonlocal accepted, failed
        while queue:
            body = queue.pop()
            t0 = time.perf_counter()
            async with session.post(url, data=body, headers=signed_headers(body)) as resp:
                data = await resp.json()
                if resp.status == 200:
                    accepted += len(data["accepted"]) + len(data["duplicates"])
                else:
                    failed += 1
            latencies.append(time.perf_counter() - t0)

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"orders_per_s": round(accepted / elapsed, 1), "per_s": round(accepted / elapsed, 1),
            "batches": len(batches), "accepted": accepted,
            "failed_requests": failed, "seconds": round(elapsed, 2),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1)}




def count_cases(url: str) -> int:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT count(*) FROM cases").fetchone()[0]

    async def pg() -> int:
        from sqlalchemy import text

        from storage.db import create_engine

        engine = create_engine(url)
        async with engine.connect() as conn:
            n = (await conn.execute(text("SELECT count(*) FROM cases"))).scalar_one()
        await engine.dispose()
        return n

    return asyncio.run(pg())


def bench_push(args, tmp: Path) -> dict:
    db_url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'push.db'}"
    env = {"INTAKE_DATABASE_URL": db_url, "INTAKE_VAR_DIR": str(tmp / "var"), "INTAKE_SECRET_KEY": "b" * 32,
           "INTAKE_HOTLINE_SECRET": SECRET}
    batches = order_batches(args.batches, 100)
    result = {}
    # Bare baseline.
    port = free_port()
    bare = tmp / "bare_hotline.py"
    bare.write_text(BARE_SERVER)
    proc = start([sys.executable, str(bare), str(port)], env, port, cpus="0")
    try:
        run_in_cpu("1", lambda: fire(f"http://127.0.0.1:{port}/hotline/orders", batches[:WARM_UP], args.concurrency))
        result["bare"] = run_in_cpu("1", lambda: fire(f"http://127.0.0.1:{port}/hotline/orders", batches, args.concurrency))
    finally:
        stop(proc)
    # The real server, warmed up like the baseline (jieba loads its
    # dictionary on first use) with other orders.
    warm = order_batches(WARM_UP, 100, tag="WARM")
    port = free_port()
    proc = start([str(VENV_BIN / "intake"), "serve", "--port", str(port)], env, port, cpus="0", timeout=120)
    try:
        run_in_cpu("1", lambda: fire(f"http://127.0.0.1:{port}/hotline/orders", warm, args.concurrency))
        cpu0 = cpu_seconds(proc.pid)
        result["intake"] = run_in_cpu("1", lambda: fire(f"http://127.0.0.1:{port}/hotline/orders", batches, args.concurrency))
        result["intake"]["server_cpu_us_per_order"] = round((cpu_seconds(proc.pid) - cpu0) / (args.batches * 100) * 1e6)
    finally:
        stop(proc)
    stored = count_cases(db_url)
    result["stored_cases"] = stored
    result["nothing_lost"] = stored - WARM_UP * 100 == result["intake"]["accepted"] == args.batches * 100
    result["database"] = "postgresql" if "postgresql" in db_url else "sqlite"
    return result


def count_rows(url: str, table: str) -> int:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("///", 1)[1]) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    async def pg() -> int:
        from sqlalchemy import text

        from storage.db import create_engine

        engine = create_engine(url)
        async with engine.connect() as conn:
            n = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
        await engine.dispose()
        return n

    return asyncio.run(pg())


def bench_events(args, tmp: Path) -> dict:
    db_url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'events.db'}"
    env = {"INTAKE_DATABASE_URL": db_url, "INTAKE_VAR_DIR": str(tmp / "var"), "INTAKE_SECRET_KEY": "b" * 32,
           "INTAKE_HOTLINE_SECRET": SECRET, "INTAKE_HOTLINE_AUTO_ACCEPT": "0"}
    n_orders = 1000
    result = {}
    port = free_port()
    bare = tmp / "bare_hotline.py"
    bare.write_text(BARE_SERVER)
    proc = start([sys.executable, str(bare), str(port)], env, port, cpus="0")
    try:
        url = f"http://127.0.0.1:{port}/hotline/events"
        run_in_cpu("1", lambda: fire(url, event_batches(WARM_UP * 100, n_orders), args.concurrency))
        result["bare"] = run_in_cpu("1", lambda: fire(url, event_batches(args.events, n_orders), args.concurrency))
    finally:
        stop(proc)
    port = free_port()
    proc = start([str(VENV_BIN / "intake"), "serve", "--port", str(port)], env, port, cpus="0", timeout=120)
    try:
        base = f"http://127.0.0.1:{port}"
        orders = [_body({"orders": [{**order(b * 100 + k), "order_id": f"12345-EVT-{b * 100 + k:08d}"}
                                      for k in range(100)]}) for b in range(n_orders // 100)]
        run_in_cpu("1", lambda: fire(base + "/hotline/orders", orders, args.concurrency))
        batches = event_batches(args.events, n_orders)
        cpu0 = cpu_seconds(proc.pid)
        result["intake"] = run_in_cpu("1", lambda: fire(base + "/hotline/events", batches, args.concurrency))
        result["intake"]["server_cpu_us_per_event"] = round((cpu_seconds(proc.pid) - cpu0) / args.events * 1e6)
    finally:
        stop(proc)
    recorded = count_rows(db_url, "hotline_events")
    result["recorded_events"] = recorded
    result["each_once"] = recorded == result["intake"]["accepted"] == args.events
    result["database"] = "postgresql" if "postgresql" in db_url else "sqlite"
    return result


RECEIVER = '''
import sys
from aiohttp import web
seen = set()
async def messages(request):
    await request.read()
    seen.add(request.headers.get("X-Intake-Delivery-Id"))
    return web.json_response({"code": 0})
async def count(request):
    return web.json_response({"received": len(seen)})
async def healthz(request):
    return web.Response(text="ok")
app = web.Application()
app.router.add_post("/messages", messages)
app.router.add_get("/count", count)
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=lambda *_: None)
'''


async def _outbox_run(db_url: str, callback: str, n: int) -> dict:
    """Queue ``n`` messages, then let the real worker deliver them all."""
    import aiohttp

    from bot.app import migrate
    from bot.config import Settings
    from bot.domain.hotline import progress_message
    from bot.outbound.hotline_client import HotlineSender
    from bot.outbound.outbox import OutboxOptions, OutboxWorker
    from storage.database import Database
    from storage.models import OutboxItem

    settings = Settings(database_url=db_url, secret_key="b" * 32, hotline_secret=SECRET, hotline_callback_url=callback)
    db = Database(db_url)
    await migrate(db)
    now = datetime.now(timezone.utc)
    async with db.session() as s:
        s.add_all(OutboxItem(target="hotline", payload=progress_message(order_id=f"12345-OUT-{i:08d}",
                                                                       reply="已转相关部门办理。", replied_at=now),
                             next_attempt_at=now) for i in range(n))
        await s.commit()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        worker = OutboxWorker(db, {"hotline": HotlineSender(settings, lambda: http)}, OutboxOptions())
        cpu0, t0 = time.process_time(), time.perf_counter()
        while await worker.run_once():
            pass
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await db.close()
    return {"messages": worker.sent, "failed": worker.failed, "per_s": round(worker.sent / elapsed, 1),
            "seconds": round(elapsed, 2), "cpu_us_per_message": round(cpu / max(worker.sent, 1) * 1e6)}


async def _bare_posts(callback: str, n: int, concurrency: int = 20) -> dict:
    import aiohttp

    from bot.domain import hotline_wire
    from bot.domain.hotline import progress_message

    now = datetime.now(timezone.utc)
    tz = timezone(timedelta(hours=8))
    async with aiohttp.ClientSession() as http:
        cpu0, t0 = time.process_time(), time.perf_counter()
        for start_i in range(0, n, concurrency):
            async def one(i):
                body = json.dumps(hotline_wire.encode_message(progress_message(
                    order_id=f"12345-BARE-{i:08d}", reply="已转相关部门办理。", replied_at=now), tz),
                    ensure_ascii=False).encode()
                headers = hotline_wire.signed_headers(SECRET, body, time.time())
                headers[hotline_wire.DELIVERY_HEADER] = f"bare-{i}"
                async with http.post(callback, data=body, headers=headers) as resp:
                    await resp.read()
            await asyncio.gather(*(one(i) for i in range(start_i, min(start_i + concurrency, n))))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"messages": n, "per_s": round(n / elapsed, 1), "seconds": round(elapsed, 2),
            "cpu_us_per_message": round(cpu / n * 1e6)}


def bench_outbox(args, tmp: Path) -> dict:
    port = free_port()
    receiver = tmp / "receiver.py"
    receiver.write_text(RECEIVER)
    proc = start([sys.executable, str(receiver), str(port)], {}, port, cpus="0")
    callback = f"http://127.0.0.1:{port}/messages"
    db_url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'outbox.db'}"
    try:
        result = {"bare": run_in_cpu("1", lambda: _bare_posts(callback, args.messages)),
                  "intake": run_in_cpu("1", lambda: _outbox_run(db_url, callback, args.messages))}
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/count") as r:
            received = json.load(r)["received"]
    finally:
        stop(proc)
    result["received_by_platform"] = received
    result["each_once"] = received == 2 * args.messages and result["intake"]["messages"] == args.messages
    result["database"] = "postgresql" if "postgresql" in db_url else "sqlite"
    return result


def make_export(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["工单编号", "来电时间", "诉求类型", "标题", "诉求内容", "来电人", "联系电话", "办理时限"])
        for i in range(rows):
            o = order(i)
            w.writerow([f"IMP-{i:08d}", o["received_at"][:16].replace("T", " "), o.get("request_type", ""), "",
                        o["content"], "张先生", o["caller"]["phone"], ""])


def bench_import(args, tmp: Path) -> dict:
    path = tmp / "export.csv"
    make_export(path, args.rows)
    t0 = time.perf_counter()
    with path.open(encoding="utf-8-sig", newline="") as fh:
        n = sum(1 for _ in csv.reader(fh)) - 1
    bare_s = time.perf_counter() - t0
    db_url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'import.db'}"
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url, "INTAKE_VAR_DIR": str(tmp / "var"),
           "INTAKE_SECRET_KEY": "b" * 32}
    # Apply migrations first so the timing is the import alone.
    subprocess.run([str(VENV_BIN / "intake"), "db", "upgrade"], env=env, cwd=REPO, check=True, capture_output=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    run = subprocess.run(pinned([str(VENV_BIN / "intake"), "import", str(path), "--channel", "hotline"], "0"),
                         env=env, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if run.returncode != 0:
        raise RuntimeError(run.stderr[-2000:])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"rows": n, "intake_rows_per_s": round(n / elapsed, 1), "intake_seconds": round(elapsed, 1),
            "bare_csv_rows_per_s": round(n / bare_s, 1), "summary": run.stdout.strip().splitlines()[-1],
            "peak_rss_mb": round(max(peak_kb, before) / 1024, 1),
            "database": "postgresql" if "postgresql" in db_url else "sqlite"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=200, help="batches of 100 orders to push")
    p.add_argument("-c", "--concurrency", type=int, default=8)
    p.add_argument("--rows", type=int, default=100_000, help="rows in the generated export")
    p.add_argument("--database-url", help="default: a fresh SQLite file per part")
    p.add_argument("--skip-push", action="store_true")
    p.add_argument("--skip-import", action="store_true")
    p.add_argument("--events", type=int, default=100_000, help="platform events to push, in batches of 100")
    p.add_argument("--messages", type=int, default=10_000, help="outbox messages to deliver")
    p.add_argument("--skip-events", action="store_true")
    p.add_argument("--skip-outbox", action="store_true")
    args = p.parse_args()
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench_hotline_") as d:
        tmp = Path(d)
        if not args.skip_push:
            out["push"] = bench_push(args, tmp)
            r = out["push"]
            print(f"push  (batches of 100, c={args.concurrency}, {r['database']}): intake {r['intake']['orders_per_s']} orders/s "
                  f"(p50 {r['intake']['p50_ms']} ms, p99 {r['intake']['p99_ms']} ms per batch, "
                  f"{r['intake']['server_cpu_us_per_order']} µs server CPU per order) vs bare aiohttp "
                  f"{r['bare']['orders_per_s']} orders/s; every accepted order stored once: {r['nothing_lost']}")
        if not args.skip_import:
            out["import"] = bench_import(args, tmp)
            r = out["import"]
            print(f"import ({r['rows']} rows, {r['database']}): intake {r['intake_rows_per_s']} rows/s "
                  f"({r['intake_seconds']} s, peak RSS {r['peak_rss_mb']} MB) vs bare csv.reader "
                  f"{r['bare_csv_rows_per_s']} rows/s; {r['summary']}")
        if not args.skip_events:
            out["events"] = bench_events(args, tmp)
            r = out["events"]
            print(f"events (batches of 100, c={args.concurrency}, {r['database']}): intake {r['intake']['per_s']} events/s "
                  f"(p50 {r['intake']['p50_ms']} ms, p99 {r['intake']['p99_ms']} ms per batch, "
                  f"{r['intake']['server_cpu_us_per_event']} µs server CPU per event) vs bare aiohttp "
                  f"{r['bare']['per_s']} events/s; every event recorded once: {r['each_once']}")
        if not args.skip_outbox:
            out["outbox"] = bench_outbox(args, tmp)
            r = out["outbox"]
            print(f"outbox ({args.messages} messages, {r['database']}): worker {r['intake']['per_s']} messages/s "
                  f"({r['intake']['cpu_us_per_message']} µs CPU each) vs bare signed POSTs {r['bare']['per_s']}/s "
                  f"({r['bare']['cpu_us_per_message']} µs CPU each); each delivered once: {r['each_once']}")
    print(f"written to {write_result('hotline', out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
