#!/usr/bin/env python3
"""Siren-day burst (issue 7), a script, not a test.

    .venv/bin/python bench/bench_siren.py [--n 10000] [--duration 60] [--database-url URL] [--workers 1]

1. A fresh database (SQLite file by default), migrated; the starter
   knowledge base imported with the siren-test notice valid today
   (`intake db upgrade`, `intake kb import`).
2. The real server started from the CLI (`intake serve`, safe mode).
3. A load generator in another process (bench/siren_load.py) sends N
   "警报" questions in varied wording from N distinct users, spread evenly
   over DURATION seconds (open loop), decrypts every reply and checks it
   carries the siren-day answer and a case number; latency p50/p99/max.
4. The server is stopped; the database is counted: N cases, N inbound and
   N outbound messages, N answered on the spot, N auto-answers logged with
   the right entry — nothing lost.
5. Baseline in the same run: a bare aiohttp server doing only the WeChat
   protocol work (bench/siren_bare_server.py), same generator, same load.
6. Matching accuracy on the held-out paraphrases (tests/data/kb_paraphrases.csv,
   split 'test').

Prints a summary and writes bench/out/siren.json.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchlib import cpu_seconds, free_port, pinned, stop  # noqa: E402
PY = sys.executable
TOKEN, AES_KEY, APP_ID = "benchToken123", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx2c2769f8efd9abc2"
EXPECT = "试鸣时间"  # a phrase of the siren-test-day answer


def run_cli(env: dict, *args: str) -> str:
    out = subprocess.run([PY, "-c", "import sys; from bot.cli import main; sys.exit(main())", *args],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"intake {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def wait_ready(proc: subprocess.Popen, port: int, log, timeout: float = 90) -> None:
    """``log``: the file the server's stderr goes to (a pipe nobody reads
    would fill and block the server)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            sys.exit(f"server exited early:\n{log.read().decode(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("server did not become ready")


def loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


def measured(proc: subprocess.Popen, port: int, n: int, duration: float, expect: str) -> dict:
    """The load run plus what it cost the server: CPU time per request is
    a figure a busy machine does not distort the way latency is."""
    before, load_before = cpu_seconds(proc.pid), loadavg()
    result = load(port, n, duration, expect)
    used = cpu_seconds(proc.pid) - before
    result["server_cpu_ms_per_request"] = round(used / n * 1000, 3)
    result["machine_load_before_after"] = [load_before, loadavg()]
    return result


def load(port: int, n: int, duration: float, expect: str) -> dict:
    cmd = pinned([PY, str(ROOT / "bench/siren_load.py"), "--url", f"http://127.0.0.1:{port}/wechat",
                  "--n", str(n), "--duration", str(duration), "--expect", expect,
                  "--token", TOKEN, "--aes-key", AES_KEY, "--app-id", APP_ID], "1")
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"load generator failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


async def count_db(url: str) -> dict:
    from sqlalchemy import func, select

    from storage.db import create_engine
    from storage.models import Case, KbAnswer, Message

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            async def n(model, *where) -> int:
                return (await conn.execute(select(func.count()).select_from(model).where(*where))).scalar_one()

            return {
                "cases": await n(Case),
                "cases_answered_on_the_spot": await n(Case, Case.status == "answered",
                                                      Case.answered_at == Case.received_at),
                "messages_in": await n(Message, Message.direction == "in"),
                "messages_out": await n(Message, Message.direction == "out"),
                "auto_answers_siren_test_day": await n(KbAnswer, KbAnswer.entry_key == "siren-test-day"),
                "auto_answers_other_entries": await n(KbAnswer, KbAnswer.entry_key != "siren-test-day"),
            }
    finally:
        await engine.dispose()


def accuracy() -> dict:
    from bot.domain.answers import make_entry
    from bot.exports.documents import read_document
    from nlp import kb_match

    entries = [make_entry(d) for d in read_document(ROOT / "deploy/knowledge_base.yaml")["entries"]]
    matcher = kb_match.build(entries)
    normal = date(2026, 11, 25)
    with open(ROOT / "tests/data/kb_paraphrases.csv", encoding="utf-8") as f:
        rows = [(r["text"], r["expected"] or None, date.fromisoformat(r["day"]) if r["day"] else normal)
                for r in csv.DictReader(f) if r["split"] == "test"]
    result = kb_match.evaluate(matcher, rows)
    # Bare baseline: exact wording look-up (what a console keyword reply does).
    exact = {kb_match.normalize(q): e.key for e in entries for q in e.questions}
    exact_right = sum(exact.get(kb_match.normalize(t)) == exp for t, exp, _ in rows)
    lat = []  # CPU time of a match (wall-clock p99 on a shared machine measures the scheduler)
    for t, _, day in rows * 50:
        t0 = time.thread_time()
        matcher.match(t, day)
        lat.append(time.thread_time() - t0)
    lat.sort()
    return {"n": result["n"], "accuracy": round(result["accuracy"], 3), "recall": round(result["recall"], 3),
            "precision": round(result["precision"], 3), "wrong_entry": result["wrong_entry"],
            "answered_when_none_fits": result["answered_when_none_fits"],
            "baseline_exact_wording_accuracy": round(exact_right / len(rows), 3),
            "match_cpu_us": {"p50": round(lat[len(lat) // 2] * 1e6, 1), "p99": round(lat[int(len(lat) * 0.99)] * 1e6, 1)}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-siren-"))
    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'intake.db'}"
    port = free_port()
    env = {**os.environ, "INTAKE_DATABASE_URL": url, "INTAKE_VAR_DIR": str(tmp / "var"),
           "INTAKE_SECRET_KEY": "bench-secret", "INTAKE_WECHAT_TOKEN": TOKEN, "INTAKE_WECHAT_AES_KEY": AES_KEY,
           "INTAKE_WECHAT_APP_ID": APP_ID, "INTAKE_PORT": str(port), "PYTHONPATH": str(ROOT)}
    env.pop("INTAKE_CONFIG", None)

    # 1. database and knowledge base (this year's siren day = today)
    run_cli(env, "db", "upgrade")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    doc = yaml.safe_load((ROOT / "deploy/knowledge_base.yaml").read_text(encoding="utf-8"))
    for e in doc["entries"]:
        if e["key"] == "siren-test-day":
            e["valid_from"], e["valid_to"] = today - timedelta(days=1), today
    (tmp / "kb.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    print(run_cli(env, "kb", "import", str(tmp / "kb.yaml")).strip())

    # 2–4. the real server under the burst, then the database
    server_log = tempfile.TemporaryFile()
    server = subprocess.Popen(pinned([PY, "-c", "import sys; from bot.cli import main; sys.exit(main())",
                                      "serve", "--port", str(port), "--workers", str(args.workers)], "0"),
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=server_log)
    try:
        wait_ready(server, port, server_log)
        print(f"server up on :{port}; sending {args.n} questions over {args.duration:.0f} s …", flush=True)
        product = measured(server, port, args.n, args.duration, EXPECT)
    finally:
        stop(server)
    db = asyncio.run(count_db(url))

    # 5. bare baseline
    baseline = None
    if not args.skip_baseline:
        bport = free_port()
        bare_log = tempfile.TemporaryFile()
        bare = subprocess.Popen(pinned([PY, str(ROOT / "bench/siren_bare_server.py"), str(bport), TOKEN, AES_KEY,
                                        APP_ID], "0"), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=bare_log)
        try:
            wait_ready(bare, bport, bare_log)
            baseline = measured(bare, bport, args.n, args.duration, "")
        finally:
            stop(bare)

    # 6. matching accuracy
    acc = accuracy()

    n = args.n
    nothing_lost = (db["cases"] == n and db["messages_in"] == n and db["messages_out"] == n
                    and db["auto_answers_siren_test_day"] == n)
    result = {"n": n, "duration_s": args.duration, "workers": args.workers, "database": url.split(":")[0],
              "cpus": os.cpu_count(), "product": product, "database_after": db, "nothing_lost": nothing_lost,
              "baseline_bare_protocol_server": baseline, "matching_accuracy_held_out": acc}
    out = ROOT / "bench/out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "siren.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)
    if not nothing_lost or product["answered_ok"] != n:
        sys.exit(1)


if __name__ == "__main__":
    main()
