"""The web letter box: letters posted through the form, beside a bare
baseline measured in the same run.

The real server started from the CLI (`intake serve`: migrations, CSRF
check, honeypot, per-address count, validation, classification, the one
recording path with the 查询码's hash, the receipt cookie): each client
(its own cookie jar, as a browser) fetches /letters/new once for its CSRF
cookie and token, then posts letters to POST /letters and expects 303. The
per-address limit is set out of the way (INTAKE_LETTERS_PER_ADDRESS), since
every client comes from 127.0.0.1. Baseline: a bare aiohttp handler that
serves a form with a cookie and, on POST, parses the form and answers 303.
Figures: letters/s, p50/p99 per letter, the server's CPU per letter;
afterwards the stored cases must equal the letters accepted.

    .venv/bin/python bench/bench_letters.py [-n 5000] [-c 8] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_hotline import count_cases  # noqa: E402
from bench.benchlib import VENV_BIN, cpu_seconds, free_port, run_in_cpu, start, stop, write_result  # noqa: E402

WARM_UP = 50  # letters, not measured (jieba loads its dictionary on first use)
TEXTS = ["请问小区人防车位开发商能否出售，产权归谁？我们业主想了解清楚。",
         "我要投诉物业把小区人防工程出租做仓库，堆放杂物，存在安全隐患，请尽快处理。",
         "建议在社区开展防空警报试鸣宣传，很多老人不知道警报的含义，听到后很紧张。",
         "小区地下人防工程漏水已经三个月，物业一直不修，车辆被泡，请相关部门督促维修。",
         "易地建设费应该怎么缴纳？在哪里办理？需要准备哪些材料？",
         "感谢人防办工作人员的耐心解答，问题已经解决，特此表扬。"]
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')

BARE_SERVER = '''
import secrets, sys
from aiohttp import web
FORM = '<form method="post" action="/letters"><input type="hidden" name="csrf_token" value="{}"></form>'
async def form(request):
    token = secrets.token_urlsafe(24)
    response = web.Response(text=FORM.format(token), content_type="text/html")
    response.set_cookie("form", token, httponly=True, samesite="Lax")
    return response
async def letter(request):
    data = await request.post()
    if data.get("csrf_token") != request.cookies.get("form"):
        return web.Response(status=403)
    return web.Response(status=303, headers={"Location": "/letters/done"})
async def healthz(request):
    return web.Response(text="ok")
app = web.Application(client_max_size=1024 * 1024)
app.router.add_get("/letters/new", form)
app.router.add_post("/letters", letter)
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=lambda *_: None)
'''


def letter(i: int) -> dict:
    return {"name": f"测试{i % 97}号", "phone": f"138{i % 10**8:08d}", "title": f"来信{i}：{TEXTS[i % len(TEXTS)][:12]}",
            "content": f"{TEXTS[i % len(TEXTS)]}（编号{i}）", "publish": "1" if i % 2 else ""}


async def post_letters(base: str, first: int, n: int, concurrency: int) -> dict:
    """``concurrency`` browsers, each fetching the form once, posting letters
    ``first`` .. ``first + n - 1`` between them."""
    import aiohttp

    queue = list(range(first + n - 1, first - 1, -1))
    accepted = refused = 0
    latencies: list[float] = []

    async def browser():
        nonlocal accepted, refused
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1, as a browser keeps them
        async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=60)) as session:
            async with session.get(base + "/letters/new") as resp:
                token = TOKEN.search(await resp.text()).group(1)
            while queue:
                i = queue.pop()
                t0 = time.perf_counter()
                async with session.post(base + "/letters", data={**letter(i), "csrf_token": token},
                                        allow_redirects=False) as resp:
                    await resp.read()
                    if resp.status == 303:
                        accepted += 1
                    else:
                        refused += 1
                latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(browser() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"per_s": round(accepted / elapsed, 1), "accepted": accepted, "refused": refused,
            "seconds": round(elapsed, 2), "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "p99_ms": round(latencies[max(int(len(latencies) * 0.99) - 1, 0)] * 1000, 1)}


def measure(proc, base: str, n: int, concurrency: int) -> dict:
    run_in_cpu("1", lambda: post_letters(base, 10**7, WARM_UP, concurrency))
    cpu0 = cpu_seconds(proc.pid)
    result = run_in_cpu("1", lambda: post_letters(base, 0, n, concurrency))
    result["server_cpu_us_per_letter"] = round((cpu_seconds(proc.pid) - cpu0) / n * 1e6)
    return result


def bench(args, tmp: Path) -> dict:
    db_url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'letters.db'}"
    env = {"INTAKE_DATABASE_URL": db_url, "INTAKE_VAR_DIR": str(tmp / "var"), "INTAKE_SECRET_KEY": "b" * 32,
           "INTAKE_LETTERS_PER_ADDRESS": str(10**9)}
    result = {"database": "postgresql" if "postgresql" in db_url else "sqlite", "letters": args.n,
              "concurrency": args.concurrency}
    port = free_port()
    bare = tmp / "bare_letters.py"
    bare.write_text(BARE_SERVER)
    proc = start([sys.executable, str(bare), str(port)], env, port, cpus="0")
    try:
        result["bare"] = measure(proc, f"http://127.0.0.1:{port}", args.n, args.concurrency)
    finally:
        stop(proc)
    port = free_port()
    proc = start([str(VENV_BIN / "intake"), "serve", "--port", str(port)], env, port, cpus="0", timeout=120)
    try:
        result["intake"] = measure(proc, f"http://127.0.0.1:{port}", args.n, args.concurrency)
    finally:
        stop(proc)
    stored = count_cases(db_url)
    result["stored_cases"] = stored
    result["each_stored_once"] = stored - WARM_UP == result["intake"]["accepted"] == args.n
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=5000, help="letters to post")
    p.add_argument("-c", "--concurrency", type=int, default=8, help="browsers posting at once")
    p.add_argument("--database-url", help="default: a fresh SQLite file (a PostgreSQL database must be empty)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_letters_") as d:
        r = bench(args, Path(d))
    i, b = r["intake"], r["bare"]
    print(f"letters ({args.n}, c={args.concurrency}, {r['database']}): intake {i['per_s']} letters/s "
          f"(p50 {i['p50_ms']} ms, p99 {i['p99_ms']} ms, {i['server_cpu_us_per_letter']} µs server CPU per letter, "
          f"refused {i['refused']}) vs bare aiohttp form handler {b['per_s']} letters/s "
          f"({b['server_cpu_us_per_letter']} µs CPU per letter); each letter stored once: {r['each_stored_once']}")
    print(f"written to {write_result('letters', r)}")
    return 0 if r["each_stored_once"] and not i["refused"] else 1


if __name__ == "__main__":
    sys.exit(main())
