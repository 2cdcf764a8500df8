"""WeChat pipeline throughput: distinct safe-mode pushes against the real
server started from the CLI (verify, decrypt, classify, durable write before
the reply, encrypted reply), load from wrk in a second process, and in the
same run a bare aiohttp server that only answers "success" as the ceiling.

    .venv/bin/python bench/bench_wechat.py [-d 15] [-c 32] [--workers 1] [--database postgresql]

wrk replays a list of N distinct pushes (each at most once) for the duration;
the stored-case count must equal the number of good replies (nothing lost).

``--database postgresql`` runs the server on a fresh PostgreSQL database
(made on the server of ``--postgres-url``, dropped after) right after the
same server on SQLite, in the same run, and prints both and their ratio,
with PostgreSQL's own CPU per reply (its backends serving the bench's
database). ``--database-url`` runs one given database instead (it must be
empty).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import REPO, VENV_BIN, cpu_seconds, free_port, start, stop, wrk, write_result  # noqa: E402
from tests.wechat_peer import WeChatPeer  # noqa: E402  (independent of the server's code)

TOKEN, AES_KEY, APP_ID = "benchToken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx2c2769f8efd9abc2"
FALLBACK = ["请问人防车位可以买卖吗？", "小区人防工程漏水没人管", "防空警报几点试鸣", "易地建设费怎么缴纳",
            "举报有人出售人防车位", "建议多开展防空演练", "申请公开人防工程竣工验收备案表", "谢谢你们的耐心解答"]


def texts() -> list[str]:
    dev = REPO / "tests" / "data" / "messages_dev.csv"  # the 240 dev messages (vendored from shared/data)
    if dev.exists():
        with dev.open(encoding="utf-8") as fh:
            return [row["text"] for row in csv.DictReader(fh) if row["text"].strip()]
    return FALLBACK


def build_requests(path: Path, n: int, distinct_texts: bool = False) -> None:
    """``distinct_texts``: no two pushes say the same thing (each text gets
    a number of its own), so nothing that is remembered by text (the
    classification, the knowledge-base match, the search tokens) is reused."""
    peer = WeChatPeer(TOKEN, AES_KEY, APP_ID)
    pool = texts()
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            text = pool[i % len(pool)].replace("\n", " ")
            if distinct_texts:
                text = f"{text} 第{i}号"
            xml = peer.text(f"oBenchUser{i:07d}", text, msg_id=10**15 + i)
            query, body = peer.push(xml, "safe")
            qs = "&".join(f"{k}={v}" for k, v in query.items())
            fh.write(f"/wechat?{qs}\t{body}\n")


PG_DEFAULT = os.environ.get("INTAKE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def _pg_admin(url: str, sql: str, *args) -> list:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = await asyncpg.connect(host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username or "postgres",
                                 password=u.password, database=u.database or "postgres", timeout=5)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def fresh_pg_database(admin_url: str) -> str:
    """A new empty database on ``admin_url``'s server; its URL."""
    from sqlalchemy.engine import make_url

    name = f"intake_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(admin_url, f'CREATE DATABASE "{name}"'))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(admin_url: str, url: str) -> None:
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    asyncio.run(_pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def pg_backend_cpu(admin_url: str, url: str) -> dict[int, float]:
    """pid → CPU seconds (user + system) used so far, of each PostgreSQL
    backend serving ``url``'s database (same machine only: /proc; a
    backend elsewhere reads NaN)."""
    from sqlalchemy.engine import make_url

    rows = asyncio.run(_pg_admin(admin_url, "SELECT pid FROM pg_stat_activity WHERE datname = $1",
                                 make_url(url).database))
    return {r["pid"]: cpu_seconds(r["pid"]) for r in rows}


def run_intake(url: str, requests_file: Path, script: Path, args, tmp: Path, pg_admin: str | None = None) -> dict:
    """The real server on ``url`` under wrk; its result, with CPU per reply."""
    port = free_port()
    env = {"INTAKE_DATABASE_URL": url, "INTAKE_WECHAT_TOKEN": TOKEN, "INTAKE_WECHAT_AES_KEY": AES_KEY,
           "INTAKE_WECHAT_APP_ID": APP_ID, "INTAKE_SECRET_KEY": "bench", "INTAKE_VAR_DIR": str(tmp / "var")}
    server_cpus = "0" if args.workers == 1 else None
    server = start([str(VENV_BIN / "intake"), "serve", "--port", str(port), "--workers", str(args.workers)],
                   env, port, cpus=server_cpus)
    try:
        cpu0 = cpu_seconds(server.pid)
        db0 = pg_backend_cpu(pg_admin, url) if pg_admin else {}
        result = wrk(f"http://127.0.0.1:{port}", script, {"REQUESTS": str(requests_file), "EXPECT": "<Encrypt>"},
                     args.connections, duration=args.duration, cpus="1" if args.workers == 1 else None)
        cpu1 = cpu_seconds(server.pid)
        db1 = pg_backend_cpu(pg_admin, url) if pg_admin else {}
        if not math.isnan(cpu1 - cpu0) and args.workers == 1:
            # Steadier than msgs/s on a shared machine: the server's own CPU per reply.
            result["cpu_us_per_msg"] = round(1e6 * (cpu1 - cpu0) / max(1, result["ok"]))
        if db1:
            # The pool's backends: opened during the load, they count from their start.
            db = sum(cpu - db0.get(pid, 0.0) for pid, cpu in db1.items())
            if not math.isnan(db):
                result["db_cpu_us_per_msg"] = round(1e6 * db / max(1, result["ok"]))
    finally:
        stop(server)
    result["stored_cases"], result["inbound"] = asyncio.run(count_stored(url))
    return result


async def count_stored(url: str) -> tuple[int, int]:
    from sqlalchemy import func, select

    from storage.db import create_engine
    from storage.models import Case, Message

    engine = create_engine(url)
    async with engine.connect() as conn:
        cases = (await conn.execute(select(func.count()).select_from(Case))).scalar_one()
        inbound = (await conn.execute(select(func.count()).select_from(Message).where(Message.direction == "in"))).scalar_one()
    await engine.dispose()
    return cases, inbound


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=80000, help="distinct pushes prepared (more than the run can use)")
    ap.add_argument("-d", "--duration", type=int, default=15, help="seconds of load per server")
    ap.add_argument("-c", "--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite",
                    help="postgresql: a fresh PostgreSQL database, after SQLite in the same run (the reference)")
    ap.add_argument("--postgres-url", default=PG_DEFAULT,
                    help="a PostgreSQL server to make the bench's database on (default: the tests' server, "
                         "INTAKE_TEST_POSTGRES_URL or TCP on 127.0.0.1; a local Unix socket: "
                         "postgresql+asyncpg://postgres@/test?host=/var/run/postgresql)")
    ap.add_argument("--database-url", help="run only this (empty) database instead")
    ap.add_argument("--distinct-texts", action="store_true",
                    help="every push a text of its own (by default the 240 dev texts recur, as real ones do)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        requests_file = tmp / "requests.txt"
        build_requests(requests_file, args.n, args.distinct_texts)
        script = REPO / "bench" / "wechat_load.lua"
        results = {}

        port = free_port()
        bare = start([str(VENV_BIN / "python"), str(REPO / "bench" / "bare_server.py"), str(port)], {}, port)
        try:
            results["bare"] = wrk(f"http://127.0.0.1:{port}", script, {"REQUESTS": str(requests_file), "EXPECT": "success"},
                                  args.connections, duration=args.duration)
        finally:
            stop(bare)

        if args.database_url:
            kind = "postgresql" if "postgresql" in args.database_url else "sqlite"
            results[kind] = run_intake(args.database_url, requests_file, script, args, tmp / kind)
        else:
            results["sqlite"] = run_intake(f"sqlite+aiosqlite:///{tmp / 'bench.db'}", requests_file, script, args,
                                           tmp / "sqlite")
            if args.database == "postgresql":
                pg_url = fresh_pg_database(args.postgres_url)
                try:
                    results["postgresql"] = run_intake(pg_url, requests_file, script, args, tmp / "postgresql",
                                                       pg_admin=args.postgres_url)
                finally:
                    drop_pg_database(args.postgres_url, pg_url)

    print(f"distinct safe-mode pushes for {args.duration} s per server, {args.connections} connections, "
          f"{args.workers} worker(s){', every text distinct' if args.distinct_texts else ''}")
    via = None
    if "postgresql" in results:
        from sqlalchemy.engine import make_url

        u = make_url(args.database_url or args.postgres_url)
        via = u.query.get("host") or f"TCP {u.host}:{u.port or 5432}"
        print(f"PostgreSQL reached through {via}")
    print(f"{'server':<12}{'msgs/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'good':>9}{'bad':>6}{'CPU/reply':>11}"
          f"{'DB CPU':>9}{'lost':>6}")
    failed = False
    for name, r in results.items():
        rate = r["ok"] / (r["duration_us"] / 1e6)
        r["msgs_per_s"] = round(rate)
        lost = ""
        if name != "bare":
            # Every reply must have its message stored (a few more may be
            # stored whose replies were still in flight when wrk stopped).
            r["lost"] = max(0, r["ok"] - r["inbound"])
            lost = r["lost"]
            failed = failed or bool(r["lost"] or r["bad"])
        cpu = f"{r['cpu_us_per_msg']} us" if "cpu_us_per_msg" in r else "-"
        db = f"{r['db_cpu_us_per_msg']} us" if "db_cpu_us_per_msg" in r else "-"
        print(f"{name:<12}{rate:>10.0f}{r['p50_us'] / 1000:>10.2f}{r['p99_us'] / 1000:>10.2f}{r['ok']:>9}{r['bad']:>6}"
              f"{cpu:>11}{db:>9}{lost!s:>6}")
        if r["exhausted"] and name != "bare":  # bare only says "success": repeats cost it nothing more
            print(f"  warning: {name} used up all {args.n} prepared pushes; raise -n")
    if "postgresql" in results and "sqlite" in results:
        print(f"PostgreSQL / SQLite: {results['postgresql']['msgs_per_s'] / max(1, results['sqlite']['msgs_per_s']):.0%} "
              f"of the msgs/s in this run")
    name = f"wechat_w{args.workers}{'_distinct' if args.distinct_texts else ''}"
    if len(results) > 2 or "postgresql" in results:
        name += "_pg"
    write_result(name, {"n": args.n, "connections": args.connections, "workers": args.workers,
                        "distinct_texts": args.distinct_texts, "postgresql_via": via, "results": results})
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
