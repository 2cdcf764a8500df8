"""WeChat pipeline throughput: distinct safe-mode pushes against the real
server started from the CLI (verify, decrypt, classify, durable write before
the reply, encrypted reply), load from wrk in a second process, and in the
same run a bare aiohttp server that only answers "success" as the ceiling.

    .venv/bin/python bench/bench_wechat.py [-d 15] [-c 32] [--workers 1] [--database-url URL]

wrk replays a list of N distinct pushes (each at most once) for the duration;
the stored-case count must equal the number of good replies (nothing lost).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import os
import sys
import tempfile
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
    ap.add_argument("--database-url")
    ap.add_argument("--distinct-texts", action="store_true",
                    help="every push a text of its own (by default the 240 dev texts recur, as real ones do)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
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

        port = free_port()
        env = {"INTAKE_DATABASE_URL": url, "INTAKE_WECHAT_TOKEN": TOKEN, "INTAKE_WECHAT_AES_KEY": AES_KEY,
               "INTAKE_WECHAT_APP_ID": APP_ID, "INTAKE_SECRET_KEY": "bench", "INTAKE_VAR_DIR": str(tmp / "var")}
        server_cpus = "0" if args.workers == 1 else None
        server = start([str(VENV_BIN / "intake"), "serve", "--port", str(port), "--workers", str(args.workers)],
                       env, port, cpus=server_cpus)
        try:
            cpu0 = cpu_seconds(server.pid)
            results["intake"] = wrk(f"http://127.0.0.1:{port}", script,
                                    {"REQUESTS": str(requests_file), "EXPECT": "<Encrypt>"},
                                    args.connections, duration=args.duration, cpus="1" if args.workers == 1 else None)
            cpu1 = cpu_seconds(server.pid)
            if not math.isnan(cpu1 - cpu0) and args.workers == 1:
                # Steadier than msgs/s on a shared machine: the server's own CPU per reply.
                results["intake"]["cpu_us_per_msg"] = round(1e6 * (cpu1 - cpu0) / max(1, results["intake"]["ok"]))
        finally:
            stop(server)
        cases, inbound = asyncio.run(count_stored(url))

    print(f"distinct safe-mode pushes for {args.duration} s per server, {args.connections} connections, "
          f"{args.workers} worker(s), {'SQLite' if 'sqlite' in url else 'PostgreSQL'}"
          f"{', every text distinct' if args.distinct_texts else ''}")
    print(f"{'server':<10}{'msgs/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'good':>9}{'bad':>6}")
    for name, r in results.items():
        rate = r["ok"] / (r["duration_us"] / 1e6)
        r["msgs_per_s"] = round(rate)
        print(f"{name:<10}{rate:>10.0f}{r['p50_us'] / 1000:>10.2f}{r['p99_us'] / 1000:>10.2f}{r['ok']:>9}{r['bad']:>6}")
        if r["exhausted"] and name != "bare":  # bare only says "success": repeats cost it nothing more
            print(f"  warning: {name} used up all {args.n} prepared pushes; raise -n")
    answered = results["intake"]["ok"]
    # Every reply must have its case stored (a few more may be stored whose
    # replies were still in flight when wrk stopped). Pushes answered without
    # a case (a disclosure dialog step, a keyword rule) are stored as messages.
    lost = max(0, answered - inbound)
    print(f"encrypted replies: {answered}; inbound messages stored: {inbound}; cases: {cases}; lost: {lost}")
    if "cpu_us_per_msg" in results["intake"]:
        print(f"server CPU (user+sys) per reply: {results['intake']['cpu_us_per_msg']} us")
    write_result(f"wechat_w{args.workers}{'_distinct' if args.distinct_texts else ''}",
                 {"n": args.n, "connections": args.connections, "workers": args.workers,
                  "distinct_texts": args.distinct_texts, "results": results, "stored_cases": cases, "lost": lost})
    if lost or results["intake"]["bad"]:
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
