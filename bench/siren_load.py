"""Load generator for bench_siren.py (run in its own process).

Sends N text messages from N distinct users, spread evenly over DURATION
seconds (open loop: a request leaves at its scheduled time whatever the
server is doing, and its latency counts from that time), each signed and
encrypted in safe mode as WeChat does (tests/wechat_peer.py, written from
the spec without the product's code). Every reply is decrypted and checked:
it must carry ``--expect`` (a phrase of the right entry's answer) and a case
number. Prints one JSON summary line.

    python bench/siren_load.py --url http://127.0.0.1:8080/wechat --n 10000 --duration 60 --expect 试鸣时间
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.wechat_peer import WeChatPeer, case_number_in  # noqa: E402

# What people type on the siren day: varied cores, openings and endings.
CORES = [
    "今天几点拉警报", "刚才的警报是怎么回事", "警报响了是怎么回事", "外面拉警报了是出什么事了吗",
    "今天拉防空警报是演习吗", "防空警报今天几点响", "今天上午拉警报是几点", "外面警报一直在响怎么回事",
    "刚才的防空警报是怎么回事", "今天防空警报响几次", "今天警报几点开始", "拉警报是演习吗",
    "刚刚警报响了怎么回事", "现在外面的警报是怎么回事", "今天几点拉防空警报", "警报怎么响了",
    "防空警报今天几点拉", "为啥今天拉警报", "今天的警报是演习吗", "今天几点钟拉警报",
]
OPENINGS = ["", "请问", "你好，", "您好，", "麻烦问下，", "问一下", "喂，"]
ENDINGS = ["", "？", "?", "啊", "呀？", "！", "。谢谢", "？？", "…"]


def wordings(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(OPENINGS) + rng.choice(CORES) + rng.choice(ENDINGS) for _ in range(n)]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--expect", default="", help="phrase every reply must contain")
    ap.add_argument("--token", required=True)
    ap.add_argument("--aes-key", required=True)
    ap.add_argument("--app-id", required=True)
    args = ap.parse_args()

    peer = WeChatPeer(args.token, args.aes_key, args.app_id)
    texts = wordings(args.n)
    now = int(time.time())
    # Build and encrypt every push up front, so the generator's own work
    # does not delay the schedule.
    pushes = []
    for i, text in enumerate(texts):
        xml = peer.text(f"oSiren{i:06d}", text, msg_id=10**15 + i, create_time=now)
        pushes.append(peer.push(xml, "safe"))
    latencies: list[float | None] = [None] * args.n
    problems: dict[str, int] = {}
    numbers: set[str] = set()

    def fail(kind: str) -> None:
        problems[kind] = problems.get(kind, 0) + 1

    connector = aiohttp.TCPConnector(limit=1000)
    timeout = aiohttp.ClientTimeout(total=30)
    interval = args.duration / args.n
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.5

        async def one(i: int) -> None:
            scheduled = start + i * interval
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            query, body = pushes[i]
            try:
                async with http.post(args.url, params=query, data=body.encode()) as resp:
                    text = await resp.text()
                    status = resp.status
            except Exception as exc:  # counted, not fatal: the report says how many
                fail(f"transport:{type(exc).__name__}")
                return
            latencies[i] = loop.time() - scheduled
            if status != 200:
                fail(f"http_{status}")
                return
            try:
                reply = peer.open_reply(text, query)
            except Exception:
                fail("undecryptable_reply")
                return
            content = (reply or {}).get("Content") or ""
            if reply is None or reply.get("ToUserName") != f"oSiren{i:06d}":
                fail("wrong_or_empty_reply")
            elif args.expect and args.expect not in content:
                fail("wrong_answer")
            elif (number := case_number_in(content)) is None:
                fail("no_case_number")
            else:
                numbers.add(number)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(args.n)))
        wall = time.perf_counter() - t0
    done = sorted(x for x in latencies if x is not None)

    def pct(p: float) -> float | None:
        return round(done[min(int(len(done) * p), len(done) - 1)] * 1000, 1) if done else None

    print(json.dumps({
        "sent": args.n, "answered_ok": args.n - sum(problems.values()), "problems": problems,
        "distinct_case_numbers": len(numbers), "distinct_wordings": len(set(texts)),
        "wall_s": round(wall, 2), "latency_ms": {"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99),
                                                 "max": pct(1.0)},
    }, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
