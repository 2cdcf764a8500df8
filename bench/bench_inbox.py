"""Inbox list/filter/paginate/search with many cases on SQLite.

Builds a database of N synthetic cases (default 1,000,000; bulk-inserted
with Core executemany, FTS index maintained by its triggers as in
production), then times what the inbox does for each page view — the
per-view counters plus one page of the list, built by the same functions the
handler uses — against a bare baseline measured in the same run: the
cheapest indexed page, ``SELECT … FROM cases ORDER BY id DESC LIMIT 50``.
Finally a whole GET /inbox through the real aiohttp app and a logged-in
session, against GET /healthz on the same server.

    .venv/bin/python bench/bench_inbox.py [--cases 1000000] [--reuse]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from datetime import date, datetime, time as dtime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine as create_sync_engine, insert, select, text  # noqa: E402

from bot.domain.vocabulary import CHANNEL_PREFIX, CHANNELS  # noqa: E402
from nlp.search_tokens import document_tokens  # noqa: E402
from storage.models import Case  # noqa: E402

OUT = REPO / "bench" / "out"
TZ = ZoneInfo("Asia/Shanghai")
TEXTS = [
    "请问人防车位可以出售吗？小区开发商要求购买产权", "防空警报几点试鸣，今年是哪一天", "小区地下室人防工程漏水严重，请尽快处理",
    "举报某工地擅自拆除人防设施", "建议在社区开展防空防灾宣传教育", "感谢人防办工作人员耐心解答", "易地建设费的收费标准是什么",
    "申请公开2019年人防工程竣工验收备案表", "人防工程平时使用的审批手续怎么办理", "投诉物业把人防车位出租价格过高",
    "你好", "人防工程招投标信息在哪里查询", "地下车库是不是人防工程，如何查询", "请问人防疏散基地在哪里",
]
KINDS = ["consultation", "consultation", "complaint", "report", "suggestion", "praise", "consultation",
         "disclosure_request", "consultation", "complaint", "other", "consultation", "consultation", "consultation"]
TOPICS = ["parking", "siren", "shelter", "shelter", "education", "general", "fee", "shelter", "permit", "parking",
          "general", "procurement", "shelter", "shelter"]


def build(db: Path, n: int) -> None:
    from storage.db import create_engine
    from storage.migrate import upgrade

    if db.exists():
        db.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)

    async def migrate():
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    tokens = [document_tokens(None, t) for t in TEXTS]
    rng = random.Random(42)
    engine = create_sync_engine(f"sqlite:///{db}")
    table = Case.__table__
    start = datetime(2019, 1, 1, tzinfo=timezone.utc)
    span = (datetime(2026, 11, 20, tzinfo=timezone.utc) - start).total_seconds()
    now = datetime.now(timezone.utc)
    seq: dict[tuple[str, date], int] = {}
    t0 = time.perf_counter()
    chunk = 20_000
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.exec_driver_sql("PRAGMA synchronous=OFF")  # bulk load only
    for base in range(0, n, chunk):
        rows = []
        for i in range(base, min(base + chunk, n)):
            # Received times increase with the id, as in production.
            at = start + timedelta(seconds=span * i / n + rng.random())
            day = at.astimezone(TZ).date()
            channel = CHANNELS[rng.choice((0, 0, 0, 1, 2, 2, 3, 4, 5))]
            k = rng.randrange(len(TEXTS))
            seq[(channel, day)] = seq.get((channel, day), 0) + 1
            recent = i > n - n // 50  # the newest 2% are still open
            status = rng.choice(("new", "assigned", "in_progress", "waiting")) if recent else rng.choice(("answered", "closed"))
            deadline = datetime.combine(day + timedelta(days=10), dtime(23, 59, 59), TZ).astimezone(timezone.utc)
            rows.append({
                "number": f"{CHANNEL_PREFIX[channel]}{day:%Y%m%d}-{seq[(channel, day)]:04d}", "channel": channel,
                "kind": KINDS[k], "topic": TOPICS[k], "confidence": 0.8, "matched": [], "needs_review": False,
                "classified_by": "rules", "status": status, "title": None, "text": f"{TEXTS[k]}（{i}）",
                "received_at": at, "received_date": day, "received_year": day.year, "last_message_at": at,
                "deadline_at": deadline, "deadline_days": 7, "deadline_error": None, "contact_id": None,
                "assignee_id": None, "external_id": None, "answered_at": None if recent else at + timedelta(days=3),
                "closed_at": None, "merged_into_id": None, "version": 1, "created_at": now, "updated_at": now,
                "search_tokens": f"{tokens[k]} {i}", "waiting_since": None, "paused_days": 0,
            })
        with engine.begin() as conn:
            conn.execute(insert(table), rows)
    engine.dispose()
    print(f"built {n:,} cases in {time.perf_counter() - t0:.1f} s ({n / (time.perf_counter() - t0):,.0f}/s)")


def timed(fn, repeat: int) -> dict:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 2), "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2)}


async def sql_figures(db: Path, repeat: int) -> dict:
    """Each view as the inbox asks for it (bot.services.cases.inbox: one read
    with the open views' counters), beside a bare page of cases."""
    from bot.app import build_runtime
    from bot.config import Settings
    from bot.domain.actors import Actor
    from bot.domain.inbox import CaseFilter
    from bot.services import cases
    from storage.maintenance import refresh_planner_statistics

    settings = Settings(database_url=f"sqlite+aiosqlite:///{db}", secret_key="bench", var_dir=str(OUT / "var"))
    rt = build_runtime(settings, classifier=_NoClassifier())
    t = time.perf_counter()
    # What the app does when the table has no statistics or has doubled since.
    await refresh_planner_statistics(rt.db.engine, force=True)
    print(f"  planner statistics (ANALYZE; a write stall this long, rarely) took {time.perf_counter() - t:.2f} s")
    await rt.calendar.refresh(force=True)
    staff = Actor("user:bench", user_id=1, username="bench", role="staff")
    async with rt.db.engine.connect() as conn:
        mid_id = (await conn.execute(text("SELECT max(id) / 2 FROM cases"))).scalar_one()

    async def inbox_view(view="open", sort="newest", before=None, q=None, **filters):
        return await cases.inbox(rt, staff, view=view, selection=CaseFilter(**filters), search=q, sort=sort, page=0,
                                 before_id=before)

    async def bare():
        return await rt.db.read(lambda tx: tx.session.execute(
            select(Case).order_by(Case.id.desc()).limit(cases.PAGE_SIZE + 1)).scalars().all())

    async def measure(coro_fn) -> dict:
        await coro_fn()
        samples = []
        for _ in range(repeat):
            t = time.perf_counter()
            await coro_fn()
            samples.append((time.perf_counter() - t) * 1000)
        samples.sort()
        return {"median_ms": round(statistics.median(samples), 2),
                "p95_ms": round(samples[max(int(len(samples) * 0.95) - 1, 0)], 2)}

    runs = {
        "baseline: SELECT … ORDER BY id DESC LIMIT 51": bare,
        "open view (default) + counters": lambda: inbox_view("open"),
        "new view + counters": lambda: inbox_view("new"),
        "overdue view + counters": lambda: inbox_view("overdue"),
        "open view, most urgent first": lambda: inbox_view("open", sort="urgent"),
        "all view page 1 (+ capped total)": lambda: inbox_view("all"),
        "all view, keyset page at the middle (+ capped total)": lambda: inbox_view("all", before=mid_id),
        "all view, channel=letter (+ capped total)": lambda: inbox_view("all", channel="letter"),
        "all view, kind=report, year=2024 (+ capped total)": lambda: inbox_view("all", kind="report", year=2024),
        "closed view (+ capped total)": lambda: inbox_view("closed"),
        "search '车位' in open cases": lambda: inbox_view("open", q="车位"),
        "search '车位' in all cases (+ capped total)": lambda: inbox_view("all", q="车位"),
        "search '防空警报' in all cases (+ capped total)": lambda: inbox_view("all", q="防空警报"),
        "search a rare token (one case)": lambda: inbox_view("all", q=str(mid_id)),
        "case number lookup": lambda: inbox_view("all", q="WX20240315-0001"),
    }
    results = {}
    for name, fn in runs.items():
        results[name] = await measure(fn)
        print(f"  {name:<48} median {results[name]['median_ms']:>9.2f} ms   p95 {results[name]['p95_ms']:>9.2f} ms")
    await rt.db.close()
    return results


class _NoClassifier:
    def classify(self, text, *, hint_kind=None):
        raise AssertionError("the inbox classifies nothing")


async def http_figures(db: Path, repeat: int) -> dict:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_runtime, create_app
    from bot.config import Settings
    from storage.models import User
    from tests.inbox_staff import add_user, login

    settings = Settings(database_url=f"sqlite+aiosqlite:///{db}", secret_key="bench", var_dir=str(OUT / "var"))
    runtime = build_runtime(settings, classifier=_NoClassifier())
    client = TestClient(TestServer(create_app(settings, runtime), host="127.0.0.1"))
    await client.start_server()
    try:
        async with runtime.db.session() as s:
            known = (await s.execute(select(User.id).where(User.username == "bench"))).first()
        if known is None:
            await add_user(runtime, "bench")
        assert (await login(client, "bench")).status == 303

        async def get(path):
            resp = await client.get(path)
            assert resp.status == 200, (path, resp.status)
            await resp.read()

        results = {}
        for name, path in {"GET /healthz (baseline)": "/healthz", "GET /inbox": "/inbox",
                           "GET /inbox?view=all": "/inbox?view=all",
                           "GET /inbox?view=all&q=车位": "/inbox?view=all&q=%E8%BD%A6%E4%BD%8D",
                           "GET /inbox/dashboard (this year)": "/inbox/dashboard?year=2026"}.items():
            await get(path)
            samples = []
            for _ in range(repeat):
                t = time.perf_counter()
                await get(path)
                samples.append((time.perf_counter() - t) * 1000)
            samples.sort()
            results[name] = {"median_ms": round(statistics.median(samples), 2),
                             "p95_ms": round(samples[max(int(len(samples) * 0.95) - 1, 0)], 2)}
            print(f"  {name:<48} median {results[name]['median_ms']:>9.2f} ms   p95 {results[name]['p95_ms']:>9.2f} ms")
        return results
    finally:
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="keep an existing bench database of that size")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / f"inbox_{args.cases}.db"
    if not (args.reuse and db.exists()):
        build(db, args.cases)
    print(f"SQL ({args.cases:,} cases, {args.repeat} runs each):")
    sql = asyncio.run(sql_figures(db, args.repeat))
    print("HTTP (whole request through the app, logged in):")
    http = asyncio.run(http_figures(db, args.repeat))
    report = {"cases": args.cases, "sqlite": sql, "http": http, "at": datetime.now(timezone.utc).isoformat()}
    (OUT / "bench_inbox.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(f"wrote {OUT / 'bench_inbox.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
