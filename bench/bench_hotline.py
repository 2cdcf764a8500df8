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

    .venv/bin/python bench/bench_hotline.py [--batches 200] [-c 8] [--rows 100000] [--database-url URL]
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

from bench.benchlib import REPO, VENV_BIN, free_port, pinned, start, stop, write_result  # noqa: E402
from bot.domain.hotline import sign  # noqa: E402

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
app = web.Application(client_max_size=4 * 1024 * 1024)
app.router.add_post("/hotline/orders", orders)
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


def signed_batches(n_batches: int, size: int, tag: str = "BENCH") -> list[tuple[bytes, dict]]:
    out = []
    for b in range(n_batches):
        body = json.dumps({"orders": [order(b * size + k, tag) for k in range(size)]}, ensure_ascii=False).encode()
        ts = str(int(time.time()))
        out.append((body, {"Content-Type": "application/json", "X-Intake-Timestamp": ts,
                           "X-Intake-Signature": sign(SECRET, ts, body)}))
    return out


async def fire(url: str, batches: list[tuple[bytes, dict]], concurrency: int) -> dict:
    import aiohttp

    queue = list(reversed(batches))
    accepted = failed = 0
    latencies: list[float] = []

    async def worker(session):
        nonlocal accepted, failed
        while queue:
            body, headers = queue.pop()
            t0 = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as resp:
                data = await resp.json()
                if resp.status == 200:
                    accepted += len(data["accepted"])
                else:
                    failed += 1
            latencies.append(time.perf_counter() - t0)

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"orders_per_s": round(accepted / elapsed, 1), "batches": len(batches), "accepted": accepted,
            "failed_requests": failed, "seconds": round(elapsed, 2),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1)}


def run_in_cpu(cpus: str, coro_factory):
    """Run the load generator pinned away from the server's CPU."""
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
        except OSError:
            pass
    return asyncio.run(coro_factory())


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
    batches = signed_batches(args.batches, 100)
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
    # The real server, fresh signatures (the 300 s window); warmed up like the
    # baseline (jieba loads its dictionary on first use) with other orders.
    warm = signed_batches(WARM_UP, 100, tag="WARM")
    batches = signed_batches(args.batches, 100)
    port = free_port()
    proc = start([str(VENV_BIN / "intake"), "serve", "--port", str(port)], env, port, cpus="0", timeout=120)
    try:
        run_in_cpu("1", lambda: fire(f"http://127.0.0.1:{port}/hotline/orders", warm, args.concurrency))
        result["intake"] = run_in_cpu("1", lambda: fire(f"http://127.0.0.1:{port}/hotline/orders", batches, args.concurrency))
    finally:
        stop(proc)
    stored = count_cases(db_url)
    result["stored_cases"] = stored
    result["nothing_lost"] = stored - WARM_UP * 100 == result["intake"]["accepted"] == args.batches * 100
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
    args = p.parse_args()
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench_hotline_") as d:
        tmp = Path(d)
        if not args.skip_push:
            out["push"] = bench_push(args, tmp)
            r = out["push"]
            print(f"push  (batches of 100, c={args.concurrency}, {r['database']}): intake {r['intake']['orders_per_s']} orders/s "
                  f"(p50 {r['intake']['p50_ms']} ms, p99 {r['intake']['p99_ms']} ms per batch) vs bare aiohttp "
                  f"{r['bare']['orders_per_s']} orders/s; every accepted order stored once: {r['nothing_lost']}")
        if not args.skip_import:
            out["import"] = bench_import(args, tmp)
            r = out["import"]
            print(f"import ({r['rows']} rows, {r['database']}): intake {r['intake_rows_per_s']} rows/s "
                  f"({r['intake_seconds']} s, peak RSS {r['peak_rss_mb']} MB) vs bare csv.reader "
                  f"{r['bare_csv_rows_per_s']} rows/s; {r['summary']}")
    print(f"written to {write_result('hotline', out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
