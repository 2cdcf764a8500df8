#!/usr/bin/env python3
"""Benchmark of the classifier (a script, not a test).

    .venv/bin/python bench/bench_classify.py [--n 50000] [--data ../shared/data/messages_dev.csv]

Reports, each beside a bare baseline measured in the same run:
1. start-up: load_classifier() (jieba + user dictionary, rules, model);
2. single-message latency in the server path (``clf.classify(text)`` on
   distinct ~100-character messages, cache not hit), p50/p99 — baseline:
   ``jieba.lcut(text, HMM=False)`` alone on the same texts;
3. batch throughput of ``intake classify --input FILE`` (python -m nlp.cli)
   on N short messages, start-up excluded (measured separately with an
   empty file) — baseline: a script that reads the same CSV and json-dumps
   one object per row without classifying. Run on one core (taskset when
   available).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASELINE_SCRIPT = r"""
import csv, json, sys
out = sys.stdout
with open(sys.argv[1], encoding="utf-8", newline="") as f:
    r = csv.reader(f)
    next(r)
    buf = []
    for rec in r:
        buf.append(json.dumps({"text": rec[0], "kind": "other", "topic": "general"}, ensure_ascii=False))
        if len(buf) >= 512:
            out.write("\n".join(buf) + "\n"); buf.clear()
    if buf:
        out.write("\n".join(buf) + "\n")
"""

FALLBACK = ["请问人防车位能买吗", "地下室漏水没人管", "警报几点响", "申请公开易地建设费明细", "在吗",
            "建议警报试鸣前发短信", "举报物业卖人防车位", "谢谢你们帮忙", "审批太慢了", "招标公告在哪看"]


def load_texts(path: Path) -> list[str]:
    if path.exists():
        with path.open(encoding="utf-8", newline="") as f:
            return [r["text"] for r in csv.DictReader(f) if r.get("text")]
    return FALLBACK


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def one_core_prefix() -> list[str]:
    return ["taskset", "-c", "0"] if shutil.which("taskset") else []


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000, help="messages in the batch file")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "messages_dev.csv"))
    ap.add_argument("--latency-n", type=int, default=5000)
    args = ap.parse_args()
    rng = random.Random(0)
    texts = load_texts(Path(args.data))

    # 1. start-up
    t0 = time.perf_counter()
    import nlp

    clf = nlp.load_classifier()
    startup = time.perf_counter() - t0
    print(f"start-up (load_classifier: jieba + user dict, rules, model): {startup * 1000:.0f} ms")

    # 2. single-message latency, ~100 characters, distinct texts (no cache hits)
    long_texts = []
    for i in range(args.latency_n):
        t = ""
        while len(t) < 100:
            t += rng.choice(texts)
        long_texts.append(t[:96] + f"{i:04d}")
    from nlp import segment

    tk = segment.init()
    for t in long_texts[:200]:  # warm-up
        clf.classify(t + "w")
    lat, base = [], []
    pc = time.perf_counter
    for t in long_texts:
        a = pc()
        tk.lcut(t, HMM=False)
        b = pc()
        clf.classify(t)
        c = pc()
        base.append(b - a)
        lat.append(c - b)
    print(f"single message, 100 chars, server path (clf.classify), n={len(lat)}: "
          f"p50 {statistics.median(lat) * 1e3:.3f} ms, p99 {pct(lat, 99) * 1e3:.3f} ms, mean {statistics.fmean(lat) * 1e3:.3f} ms")
    print(f"  baseline jieba.lcut(HMM=False) alone:                 "
          f"p50 {statistics.median(base) * 1e3:.3f} ms, p99 {pct(base, 99) * 1e3:.3f} ms")
    a = pc()
    for t in long_texts[:1000]:
        clf.classify(t)
    cached = (pc() - a) / 1000
    print(f"  same texts again (cache hit): mean {cached * 1e6:.1f} µs")

    # 3. batch throughput of the CLI
    short = [t for t in texts if len(t) <= 40] or FALLBACK
    tmp = Path(tempfile.mkdtemp(prefix="bench_classify_"))
    try:
        batch = tmp / "batch.csv"
        empty = tmp / "empty.csv"
        with batch.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text"])
            for i in range(args.n):
                # short messages, about one in three distinct (a number varies)
                t = rng.choice(short)
                if i % 3 == 0:
                    t = f"{t} {rng.randint(1, 99999)}"
                w.writerow([t])
        empty.write_text("text\n", encoding="utf-8")
        script = tmp / "baseline.py"
        script.write_text(BASELINE_SCRIPT, encoding="utf-8")
        pre = one_core_prefix()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        def run(cmd):
            a = time.perf_counter()
            subprocess.run(pre + cmd, stdout=subprocess.DEVNULL, check=True, env=env, cwd=ROOT)
            return time.perf_counter() - a

        cli = [sys.executable, "-m", "nlp.cli", "classify", "--input"]
        start_cli = min(run(cli + [str(empty)]) for _ in range(2))
        full_cli = min(run(cli + [str(batch)]) for _ in range(2))
        start_base = min(run([sys.executable, str(script), str(empty)]) for _ in range(2))
        full_base = min(run([sys.executable, str(script), str(batch)]) for _ in range(2))
        rate = args.n / max(full_cli - start_cli, 1e-9)
        rate_b = args.n / max(full_base - start_base, 1e-9)
        core = "one core (taskset -c 0)" if pre else "no taskset: not pinned"
        print(f"batch: intake classify --input, {args.n} short messages (avg {statistics.fmean(len(t) for t in short):.0f} chars), {core}:")
        print(f"  start-up {start_cli * 1000:.0f} ms (excluded), classify+write {full_cli - start_cli:.2f} s → {rate:,.0f} msg/s")
        print(f"  baseline read CSV + json.dumps only: start-up {start_base * 1000:.0f} ms, {full_base - start_base:.2f} s → {rate_b:,.0f} msg/s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
