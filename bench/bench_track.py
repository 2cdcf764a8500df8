"""The citizens' pages, each figure beside a bare baseline measured in the same run.

1. Look-ups: a database of N cases (default 1,000,000) generated straight
   into SQLite (Core executemany), each with a 查询码 stored as its keyed
   hash under the bench's secret key; then look-ups of random existing
   cases with the right code, ``GET /track?number=…&code=…``, on the real
   server started from the CLI (`intake serve`: the per-address count, the
   case by number, the HMAC, the replies, the page), from an aiohttp client
   in this process pinned to another CPU, c at a time. Baseline: a bare
   aiohttp page that does an indexed SELECT by number (sqlite3) and answers
   a small HTML page. Every answer must be 200 with its case's number.

2. Letters: letters posted through the web letter box's form on the real
   server, beside a bare aiohttp form handler (bench/bench_letters.py, which
   also runs alone, and on PostgreSQL).

    .venv/bin/python bench/bench_track.py [--cases 1000000] [--lookups 20000] [-c 8] [--reuse] [--skip-lookups]
        [--letters 5000] [--skip-letters]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import time
from datetime import date, datetime, time as dtime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import OUT, VENV_BIN, cpu_seconds, free_port, run_in_cpu, start, stop, write_result  # noqa: E402
from bot.domain.tracking import ALPHABET, LENGTH, code_hash  # noqa: E402
from bot.domain.vocabulary import CHANNEL_PREFIX  # noqa: E402

SECRET = "bench-track-secret-key"
TZ = ZoneInfo("Asia/Shanghai")
WARM_UP = 300  # requests, before measuring (the server's first ANALYZE, imports, caches)
CHANNELS = ("portal", "letter", "in_person")
STATUSES = ("new", "assigned", "in_progress", "waiting", "answered", "closed")

BARE_SERVER = '''
import html, sqlite3, sys
from aiohttp import web
db = sqlite3.connect(sys.argv[2], check_same_thread=False)
async def track(request):
    row = db.execute("SELECT number, status, received_date, deadline_at FROM cases WHERE number = ?",
                     (request.query.get("number", ""),)).fetchone()
    if row is None:
        return web.Response(status=404, text="not found")
    return web.Response(text="<!doctype html><dl>" + "".join(f"<dd>{html.escape(str(v))}</dd>" for v in row) + "</dl>",
                        content_type="text/html")
async def healthz(request):
    return web.Response(text="ok")
app = web.Application()
app.router.add_get("/track", track)
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=lambda *_: None)
'''


def code_of(i: int) -> str:
    """The bench's 查询码 of case ``i``: spread over the alphabet, known to the client."""
    n = (i * 2654435761 + 97) % len(ALPHABET) ** LENGTH
    out = []
    for _ in range(LENGTH):
        n, r = divmod(n, len(ALPHABET))
        out.append(ALPHABET[r])
    return "".join(out)


def build(db: Path, n: int) -> None:
    from sqlalchemy import create_engine as create_sync_engine, insert

    from storage.db import create_engine
    from storage.migrate import upgrade
    from storage.models import Case

    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)

    async def migrate():
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    rng = random.Random(16)
    engine = create_sync_engine(f"sqlite:///{db}")
    begin = datetime(2019, 1, 1, tzinfo=timezone.utc)
    span = (datetime(2026, 11, 20, tzinfo=timezone.utc) - begin).total_seconds()
    now = datetime.now(timezone.utc)
    seq: dict[tuple[str, date], int] = {}
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.exec_driver_sql("PRAGMA synchronous=OFF")  # bulk load only
    chunk = 20_000
    for base in range(0, n, chunk):
        rows = []
        for i in range(base, min(base + chunk, n)):
            at = begin + timedelta(seconds=span * i / n + rng.random())
            day = at.astimezone(TZ).date()
            channel = CHANNELS[i % len(CHANNELS)]
            seq[(channel, day)] = seq.get((channel, day), 0) + 1
            status = STATUSES[rng.randrange(len(STATUSES))]
            answered = at + timedelta(days=5) if status in ("answered", "closed") else None
            rows.append({
                "id": i + 1, "number": f"{CHANNEL_PREFIX[channel]}{day:%Y%m%d}-{seq[(channel, day)]:04d}",
                "channel": channel, "kind": "consultation", "topic": "general", "confidence": 0.8, "matched": [],
                "needs_review": False, "classified_by": "rules", "status": status, "title": None,
                "text": f"人防工程咨询（{i}）", "received_at": at, "received_date": day, "received_year": day.year,
                "last_message_at": at, "deadline_days": 7, "deadline_error": None, "contact_id": None,
                "deadline_at": datetime.combine(day + timedelta(days=10), dtime(23, 59, 59), TZ).astimezone(timezone.utc),
                "assignee_id": None, "external_id": None, "answered_at": answered, "closed_at": None,
                "merged_into_id": None, "version": 1, "created_at": now, "updated_at": now, "search_tokens": None,
                "waiting_since": None, "paused_days": 0, "tracking_code_hash": code_hash(SECRET, code_of(i + 1)),
            })
        with engine.begin() as conn:
            conn.execute(insert(Case.__table__), rows)
    engine.dispose()
    elapsed = time.perf_counter() - t0
    print(f"built {n:,} cases in {elapsed:.1f} s ({n / elapsed:,.0f}/s)", flush=True)


def targets(db: Path, n_cases: int, lookups: int) -> list[str]:
    """Query strings of ``lookups`` random existing cases with their right codes."""
    rng = random.Random(7)
    ids = [rng.randint(1, n_cases) for _ in range(lookups)]
    numbers: dict[int, str] = {}
    with sqlite3.connect(db) as conn:
        wanted = sorted(set(ids))
        for k in range(0, len(wanted), 500):
            part = wanted[k:k + 500]
            marks = ",".join("?" * len(part))
            numbers.update(conn.execute(f"SELECT id, number FROM cases WHERE id IN ({marks})", part).fetchall())
    return [urlencode({"number": numbers[i], "code": code_of(i)}) for i in ids]


async def fire(base: str, queries: list[str], concurrency: int) -> dict:
    import aiohttp

    queue = list(reversed(queries))
    ok = failed = 0
    latencies: list[float] = []

    async def worker(session):
        nonlocal ok, failed
        while queue:
            query = queue.pop()
            t = time.perf_counter()
            async with session.get(f"{base}/track?{query}") as resp:
                body = await resp.text()
                number = query.split("&", 1)[0].split("=", 1)[1]
                if resp.status == 200 and number in body:
                    ok += 1
                else:
                    failed += 1
            latencies.append(time.perf_counter() - t)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency),
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {"per_s": round(ok / elapsed, 1), "ok": ok, "failed": failed, "seconds": round(elapsed, 2),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99_ms": round(latencies[max(int(len(latencies) * 0.99) - 1, 0)] * 1000, 2)}




def measure(proc, port: int, warm: list[str], queries: list[str], concurrency: int) -> dict:
    base = f"http://127.0.0.1:{port}"
    run_in_cpu("1", lambda: fire(base, warm, concurrency))
    cpu0 = cpu_seconds(proc.pid)
    result = run_in_cpu("1", lambda: fire(base, queries, concurrency))
    result["server_cpu_us_per_lookup"] = round((cpu_seconds(proc.pid) - cpu0) / max(result["ok"], 1) * 1e6)
    return result


def bench_lookups(args) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / f"track_{args.cases}.db"
    if not (args.reuse and db.exists()):
        build(db, args.cases)
    queries = targets(db, args.cases, args.lookups + WARM_UP)
    warm, queries = queries[:WARM_UP], queries[WARM_UP:]
    result: dict = {"cases": args.cases, "lookups": args.lookups, "concurrency": args.concurrency}

    port = free_port()
    bare = OUT / "bare_track.py"
    bare.write_text(BARE_SERVER)
    proc = start([sys.executable, str(bare), str(port), str(db)], {}, port, cpus="0")
    try:
        result["bare"] = measure(proc, port, warm, queries, args.concurrency)
    finally:
        stop(proc)

    port = free_port()
    env = {"INTAKE_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "INTAKE_VAR_DIR": str(OUT / "var_track"),
           "INTAKE_SECRET_KEY": SECRET, "INTAKE_TRACK_LOOKUPS_PER_MINUTE": str(10**9)}
    proc = start([str(VENV_BIN / "intake"), "serve", "--port", str(port)], env, port, cpus="0", timeout=300)
    try:
        result["intake"] = measure(proc, port, warm, queries, args.concurrency)
    finally:
        stop(proc)
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=1_000_000, help="cases in the generated database")
    p.add_argument("--lookups", type=int, default=20_000, help="look-ups to time, after a warm-up")
    p.add_argument("-c", "--concurrency", type=int, default=8)
    p.add_argument("--reuse", action="store_true", help="keep an existing bench database of that size")
    p.add_argument("--skip-lookups", action="store_true")
    p.add_argument("--letters", type=int, default=5000, help="letters to post through the form")
    p.add_argument("--skip-letters", action="store_true")
    args = p.parse_args()
    out: dict = {}
    if not args.skip_lookups:
        out["lookups"] = r = bench_lookups(args)
        i, b = r["intake"], r["bare"]
        print(f"lookups ({r['cases']:,} cases, {r['lookups']} look-ups, c={r['concurrency']}, sqlite): "
              f"intake {i['per_s']} look-ups/s (p50 {i['p50_ms']} ms, p99 {i['p99_ms']} ms, "
              f"{i['server_cpu_us_per_lookup']} µs server CPU each, {i['failed']} failed) vs bare aiohttp "
              f"{b['per_s']} look-ups/s ({b['server_cpu_us_per_lookup']} µs CPU each, {b['failed']} failed)")
    if not args.skip_letters:
        import tempfile

        from bench import bench_letters

        with tempfile.TemporaryDirectory(prefix="bench_track_letters_") as d:
            out["letters"] = r = bench_letters.bench(
                argparse.Namespace(n=args.letters, concurrency=args.concurrency, database_url=None), Path(d))
        i, b = r["intake"], r["bare"]
        print(f"letters ({args.letters}, c={args.concurrency}, sqlite): intake {i['per_s']} letters/s "
              f"({i['server_cpu_us_per_letter']} µs server CPU per letter) vs bare aiohttp form handler "
              f"{b['per_s']} letters/s ({b['server_cpu_us_per_letter']} µs); each stored once: {r['each_stored_once']}")
    out["at"] = datetime.now(timezone.utc).isoformat()
    print(f"written to {write_result('track', out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
